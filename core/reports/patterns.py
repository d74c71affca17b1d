"""Recurring issues: what grew in escalations, unresolved conversations, assists or poor ratings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import func, select

from core.reports import analytics
from core.reports.inbox import assists_opened
from core.reports.scope import Scope
from storage.domain import Assist, KnowledgeGap

PATTERN_SUBJECTS = {
    "escalations": "escalated conversations",
    "conversations": "conversations the AI did not resolve",
    "assists": "assists",
    "feedback": "conversations rated 1 or 2",
}


def _pattern_keys(focus: str, rows: Sequence[analytics.ConversationRow]) -> list[str]:
    if focus == "escalations":
        picked = [r for r in rows if r.escalated]
    elif focus == "conversations":
        picked = [r for r in rows if not r.resolved_by_ai]
    else:  # feedback
        picked = [r for r in rows if r.csat is not None and r.csat <= 2]
    return [r.topic or "other" for r in picked]


def biggest_riser(now: Counter[str], before: Counter[str]) -> tuple[str, int, int] | None:
    """The key that grew most against the period before: (key, count now, count before)."""
    rises = [(key, n, before.get(key, 0)) for key, n in now.items() if n > before.get(key, 0)]
    if not rises:
        return None
    return min(rises, key=lambda r: (r[2] - r[1], -r[1], r[0]))


async def pattern_counts(
    ctx: Scope, focus: str, current: analytics.Window, previous: analytics.Window
) -> tuple[Counter[str], Counter[str]]:
    """How often each topic (each category, for assists) came up in CURRENT and in PREVIOUS."""
    if focus == "assists":
        opened = await assists_opened(ctx, current)
        now = Counter(x.category or "other" for x in opened)
        before = Counter(x.category or "other" for x in await assists_opened(ctx, previous))
        return now, before
    ws = ctx.principal.workspace_id
    rows, earlier = await analytics.conversations_pair(ctx.session, ws, current, previous)
    return Counter(_pattern_keys(focus, rows)), Counter(_pattern_keys(focus, earlier))


async def pattern_advice(ctx: Scope, focus: str, lead: str, lead_count: int, total: int) -> str:
    """The next step for LEAD, the biggest key: train from a resolved case or add Q&A."""
    ws = ctx.principal.workspace_id
    if focus == "assists":
        example = await ctx.session.scalar(
            select(Assist)
            .where(
                Assist.workspace_id == ws,
                Assist.status == "closed",
                func.lower(Assist.category) == lead.lower(),
            )
            .order_by(Assist.closed_at.desc())
            .limit(1)
        )
        return (
            f"Most assists are about {lead} ({lead_count}): say 'promote {example.ref} to "
            f"training' so the agent learns from that resolved {lead} case."
            if example
            else f"Most assists are about {lead} ({lead_count}): add Q&A for {lead}."
        )
    gap = await ctx.session.scalar(
        select(KnowledgeGap)
        .where(
            KnowledgeGap.workspace_id == ws,
            KnowledgeGap.resolved.is_(False),
            KnowledgeGap.topic == lead,
        )
        .order_by(KnowledgeGap.occurrences.desc())
        .limit(1)
    )
    subject = PATTERN_SUBJECTS[focus]
    return f"Add Q&A for {lead}, {100 * lead_count / total:.0f}% of the {subject}" + (
        f', starting with "{gap.question}" (asked {gap.occurrences} times unanswered).'
        if gap
        else "."
    )
