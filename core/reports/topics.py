"""What customers ask about: conversations by topic, against the period before."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

from core.reports import analytics
from core.reports.report import Report, ReportInput
from core.reports.scope import Scope


@dataclass(frozen=True)
class TopicBreakdown:
    total: int
    previous: Counter[str]
    top: list[tuple[str, int]]


async def topic_breakdown(
    ctx: Scope, current: analytics.Window, previous: analytics.Window, limit: int
) -> TopicBreakdown:
    """The LIMIT biggest topics of CURRENT, every topic's count in PREVIOUS, and the total."""
    ws = ctx.principal.workspace_id
    counted = await analytics.topic_counts_pair(ctx.session, ws, current, previous)
    if counted is not None:
        now, earlier = counted
        return TopicBreakdown(
            total=sum(n for n, _ in now.values()),
            previous=Counter({topic: n for topic, (n, _) in earlier.items()}),
            top=analytics.ranked_topics(now, limit),
        )
    rows, rows_before = await analytics.conversations_pair(ctx.session, ws, current, previous)
    return TopicBreakdown(
        total=len(rows),
        previous=Counter(r.topic or "other" for r in rows_before),
        top=analytics.top_topics(rows, limit),
    )


@dataclass(frozen=True)
class TopicRow:
    topic: str
    conversations: int
    share: float
    previous: int
    resolution_rate: float
    escalated: int


async def topics_report(r: ReportInput) -> Report:
    ws = r.ctx.principal.workspace_id
    rows, earlier = await analytics.conversations_pair(r.ctx.session, ws, r.current, r.previous)
    before = Counter(c.topic or "other" for c in earlier)
    if not rows:
        return Report(lines=["No conversations."], rows=[], suggestion="Nothing to act on yet.")
    groups: dict[str, list[analytics.ConversationRow]] = {}
    for c in rows:
        groups.setdefault(c.topic or "other", []).append(c)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    out = [
        TopicRow(
            topic=topic,
            conversations=len(group),
            share=100 * len(group) / len(rows),
            previous=before.get(topic, 0),
            resolution_rate=100 * sum(c.resolved_by_ai for c in group) / len(group),
            escalated=sum(c.escalated for c in group),
        )
        for topic, group in ordered
    ]
    lines = [
        f"{o.topic}: {o.conversations} ({o.share:.0f}%, "
        f"{o.conversations - o.previous:+d} vs the period before), "
        f"{o.resolution_rate:.0f}% resolved by AI, {o.escalated} escalated"
        for o in out
    ]
    worst = max(out, key=lambda o: (o.escalated, o.conversations))
    advice = (
        f"Add Q&A for {worst.topic}: {worst.escalated} of its {worst.conversations} "
        "conversations were escalated, the most of any topic."
    )
    return Report(
        lines=[f"{len(rows)} conversations", *lines],
        rows=[asdict(o) for o in out],
        units=(("share", "%"), ("resolution_rate", "%")),
        suggestion=advice,
    )
