"""Briefings built from the workspace's data when a schedule fires: the figures as a card, and a
chart as a PNG file the channels upload (or link, where they take no files)."""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz
from sqlalchemy import select

from core.reports import analytics
from core.reports.documents import report_chart
from core.reports.figures import PRIORITY_ORDER, age_text, change_text, member_names, same_question
from core.reports.inbox import inbox_advice, inbox_assists
from core.reports.report import ReportInput
from core.reports.roi import MINUTES_SAVED_PER_CONVERSATION, human_cost_per_conversation, roi_report
from core.schedules.follow_ups import FOLLOW_UP_AFTER
from core.schedules.scope import TaskScope
from delivery import charts
from delivery.media import MediaStore
from models.deliverable import CardField, Deliverable
from storage.domain import Assist, KnowledgeGap, Snapshot, TrainingSuggestion

BRIEFING_TYPES = (
    "daily_inbox_summary",
    "weekly_performance_digest",
    "weekly_knowledge_gaps",
    "monthly_roi",
)
DIGEST_METRICS = ("resolution_rate", "csat", "volume", "first_response_time")
DAY = timedelta(days=1)
GAPS_SHOWN = 5
# A pending suggestion answers a gap when their questions read this alike (rapidfuzz, 0-100).
SAME_QUESTION_SCORE = 85


@dataclass(frozen=True)
class Briefing:
    """A briefing's card and how to draw its chart (called in a thread)."""

    card: Deliverable
    chart: Callable[[], bytes] | None
    chart_caption: str


class ChartCache:
    """Charts drawn lately, by what they show. Every member of a workspace who gets the same
    briefing at the same time gets the same chart: it is drawn once (80 ms of matplotlib),
    and concurrent requests for it wait for that one drawing."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._drawn: OrderedDict[str, bytes] = OrderedDict()
        self._drawing: dict[str, asyncio.Future[bytes]] = {}

    async def png(self, chart: Callable[[], bytes]) -> bytes:
        key = _chart_key(chart)
        if key is None:
            return await asyncio.to_thread(chart)
        if key in self._drawn:
            self._drawn.move_to_end(key)
            return self._drawn[key]
        if key in self._drawing:
            return await asyncio.shield(self._drawing[key])
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._drawing[key] = future
        try:
            png = await asyncio.to_thread(chart)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a failure reaches the waiters, not the loop's log
            raise
        finally:
            del self._drawing[key]
        future.set_result(png)
        self._drawn[key] = png
        if len(self._drawn) > self._size:
            self._drawn.popitem(last=False)
        return png


def _chart_key(chart: Callable[[], bytes]) -> str | None:
    """A digest of a chart's function and arguments; None when it is not a plain partial."""
    if not isinstance(chart, partial):
        return None
    spec = repr((chart.func.__qualname__, chart.args, sorted(chart.keywords.items())))
    return hashlib.sha256(spec.encode()).hexdigest()


async def deliverables(
    ctx: TaskScope,
    briefing_type: str,
    params: dict[str, Any],
    charts: ChartCache | None = None,
) -> list[Deliverable]:
    """The briefing as [card, chart file] (by email one card with the chart inline); empty when
    there is nothing to send (a follow-up of a change that was undone). Raises KeyError for an
    unknown briefing type."""
    briefing = await BUILDERS[briefing_type](ctx, params)
    if briefing is None:
        return []
    if briefing.chart is None:
        return [briefing.card]
    png = await (charts or ChartCache(0)).png(briefing.chart)
    day = ctx.now.astimezone(ZoneInfo(ctx.principal.timezone)).date()
    # Media expiry follows the wall clock, not the (possibly past) time the briefing is for.
    media = MediaStore.add(
        ctx.session,
        workspace_id=ctx.principal.workspace_id,
        filename=f"{briefing_type.replace('_', '-')}-{day:%Y-%m-%d}.png",
        content_type="image/png",
        data=png,
    )
    chart = Deliverable(
        kind="file",
        title=media.filename,
        text=briefing.chart_caption,
        data={
            "media": {
                "id": media.id,
                "filename": media.filename,
                "content_type": media.content_type,
                "size": media.size,
                "expires_at": media.expires_at.isoformat(),
            }
        },
    )
    if ctx.task.reply_route.channel == "email":
        # One email: the card with its chart inline (the email renderer shows an image's media
        # in the HTML body, its caption as the alt text).
        return [
            briefing.card.model_copy(
                update={"data": {**briefing.card.data, "media": chart.data["media"]}}
            )
        ]
    return [briefing.card, chart]


def _card(
    briefing_type: str,
    title: str,
    pairs: Sequence[tuple[str, str]],
    advice: str,
    data: dict[str, Any],
    extra: Sequence[str] = (),
) -> Deliverable:
    text = (
        f"{title}\n"
        + "\n".join(f"- {label}: {value}" for label, value in pairs)
        + "".join(f"\n{line}" for line in extra)
        + f"\nNext step: {advice}"
    )
    return Deliverable(
        kind="card",
        title=title,
        text=text,
        fields=tuple(CardField(label=label, value=value) for label, value in pairs),
        data={"briefing": briefing_type, **data, "suggestion": advice},
    )


def _day_label(ctx: TaskScope) -> str:
    return ctx.now.astimezone(ZoneInfo(ctx.principal.timezone)).strftime("%a %d %b")


# --- daily inbox summary -------------------------------------------------------------------------


def attention(open_now: Sequence[Assist], now: datetime, names: dict[str, str]) -> list[str]:
    """Open assists that need someone now: urgent ones, then unassigned high-priority ones,
    then any waiting more than two days; at most five, most pressing first."""
    picked: list[tuple[tuple[int, datetime], str, Assist]] = []
    for x in open_now:
        waiting = now - x.created_at
        if x.priority == "urgent":
            why = "urgent"
        elif x.priority == "high" and x.assignee_id is None:
            why = "high priority"
        elif waiting > 2 * DAY:
            why = f"waiting {age_text(waiting)}"
        else:
            continue
        rank = (PRIORITY_ORDER.get(x.priority, 9), x.created_at)
        picked.append((rank, why, x))
    picked.sort(key=lambda item: item[0])
    return [
        f"{x.ref} ({why}, {names.get(x.assignee_id or '', 'unassigned')}): "
        f"{x.subject or x.summary[:60]}"
        for _, why, x in picked[:5]
    ]


async def daily_inbox_summary(ctx: TaskScope, _params: dict[str, Any]) -> Briefing:
    now = ctx.now
    assists = [x for x in await inbox_assists(ctx, now - 2 * DAY) if x.created_at <= now]
    open_now = [x for x in assists if x.status != "closed"]
    new = [x for x in assists if now - DAY <= x.created_at]
    new_before = [x for x in assists if now - 2 * DAY <= x.created_at < now - DAY]
    closed = [x for x in assists if x.closed_at is not None and now - DAY <= x.closed_at <= now]
    unassigned = [x for x in open_now if x.assignee_id is None]
    urgent = sorted((x for x in open_now if x.priority == "urgent"), key=lambda x: x.created_at)
    high = [x for x in open_now if x.priority == "high"]
    pending = sum(x.status == "pending" for x in open_now)
    oldest = min(open_now, key=lambda x: x.created_at) if open_now else None
    names = await member_names(ctx)
    pairs = [
        ("New (24 h)", f"{len(new)}, {change_text(len(new), len(new_before))}"),
        ("Open", f"{len(open_now)} ({pending} pending)"),
        ("Unassigned", str(len(unassigned))),
        (
            "Oldest",
            f"{oldest.ref}, open {age_text(now - oldest.created_at)}: {oldest.subject}"
            if oldest
            else "none",
        ),
        (
            "Urgent",
            f"{len(urgent)}: {', '.join(x.ref for x in urgent)}" if urgent else "none",
        ),
        ("High priority", str(len(high))),
        ("Closed (24 h)", str(len(closed))),
    ]
    needs = attention(open_now, now, names)
    extra = ["Needs attention:", *(f"- {line}" for line in needs)] if needs else []
    advice = inbox_advice(open_now, now, team=True)
    priorities = ("urgent", "high", "normal", "low")
    chart = partial(
        charts.bar_chart,
        "Open assists by priority",
        list(priorities),
        {
            "Assigned": [
                sum(x.priority == p and x.assignee_id is not None for x in open_now)
                for p in priorities
            ],
            "Unassigned": [sum(x.priority == p for x in unassigned) for p in priorities],
        },
        value_label="Assists",
        category_label="Priority",
    )
    card = _card(
        "daily_inbox_summary",
        f"Daily inbox summary, {_day_label(ctx)}",
        pairs,
        advice,
        {
            "new": len(new),
            "new_previous": len(new_before),
            "open": len(open_now),
            "pending": pending,
            "unassigned": len(unassigned),
            "oldest": oldest.ref if oldest else None,
            "urgent": [x.ref for x in urgent],
            "high": len(high),
            "closed": len(closed),
            "attention": needs,
        },
        extra,
    )
    return Briefing(card, chart, "Open assists by priority, assigned and unassigned.")


# --- weekly performance digest ---------------------------------------------------------------


async def weekly_performance_digest(ctx: TaskScope, _params: dict[str, Any]) -> Briefing:
    ws, tz = ctx.principal.workspace_id, ctx.principal.timezone
    current, previous = analytics.windows("last_7_days", ctx.now, tz)
    rows = await analytics.conversations(ctx.session, ws, current)
    before = await analytics.conversations(ctx.session, ws, previous)
    pairs: list[tuple[str, str]] = []
    figures: dict[str, dict[str, Any]] = {}
    worse: list[str] = []
    for metric in DIGEST_METRICS:
        value, prior = analytics.compute(metric, rows), analytics.compute(metric, before)
        trend = analytics.trend(metric, value, prior)
        if trend.endswith("(worse)"):
            worse.append(metric)
        pairs.append((analytics.METRIC_LABELS[metric], f"{analytics.fmt(metric, value)}, {trend}"))
        figures[metric] = {"value": value, "previous": prior, "trend": trend}
    focus = next((m for m in worse if m != "volume"), "resolution_rate")
    advice = analytics.suggestion(focus, rows)
    points = analytics.daily_series("resolution_rate", rows, current, tz)
    earlier = [v for _, v in analytics.daily_series("resolution_rate", before, previous, tz)]
    chart = partial(
        charts.line_chart,
        "Resolution rate per day",
        points,
        previous=earlier,
        y_label="Resolution rate",
        percent=True,
    )
    card = _card(
        "weekly_performance_digest",
        f"Weekly performance digest, week to {_day_label(ctx)}",
        pairs,
        advice,
        {"metrics": figures, "conversations": len(rows), "start": current.start.isoformat()},
    )
    return Briefing(card, chart, "Resolution rate per day, this week against the week before.")


# --- weekly knowledge gaps -------------------------------------------------------------------


def matching_suggestion(
    question: str, suggestions: Sequence[TrainingSuggestion]
) -> TrainingSuggestion | None:
    """The best pending suggestion that answers QUESTION, if any reads like the same question."""
    wanted = same_question(question)
    scored = [
        (fuzz.token_sort_ratio(wanted, same_question(s.question)), s.quality, -s.id, s)
        for s in suggestions
    ]
    scored = [item for item in scored if item[0] >= SAME_QUESTION_SCORE]
    return max(scored, key=lambda item: item[:3])[3] if scored else None


async def weekly_knowledge_gaps(ctx: TaskScope, _params: dict[str, Any]) -> Briefing:
    ws = ctx.principal.workspace_id
    week_ago = ctx.now - 7 * DAY
    gaps = list(
        await ctx.session.scalars(
            select(KnowledgeGap)
            .where(
                KnowledgeGap.workspace_id == ws,
                KnowledgeGap.resolved.is_(False),
                KnowledgeGap.last_seen >= week_ago,
                KnowledgeGap.first_seen <= ctx.now,
            )
            .order_by(KnowledgeGap.occurrences.desc(), KnowledgeGap.question)
        )
    )
    pending = list(
        await ctx.session.scalars(
            select(TrainingSuggestion).where(
                TrainingSuggestion.workspace_id == ws, TrainingSuggestion.status == "pending"
            )
        )
    )
    top = gaps[:GAPS_SHOWN]
    rows: list[dict[str, Any]] = []
    lines: list[str] = []
    for gap in top:
        match = matching_suggestion(gap.question, pending)
        if match is not None:
            train = f'approve training suggestion {match.id} ("{match.answer}")'
        else:
            train = f'add a Q&A pair for "{gap.question}"'
        rows.append(
            {
                "question": gap.question,
                "topic": gap.topic,
                "occurrences": gap.occurrences,
                "suggestion_id": match.id if match else None,
            }
        )
        lines.append(f'- "{gap.question}" asked {gap.occurrences} times: {train}')
    new = sum(g.first_seen >= week_ago for g in gaps)
    asks = sum(g.occurrences for g in gaps)
    pairs = [
        ("Open gaps seen this week", f"{len(gaps)} ({new} new)"),
        ("Times asked", str(asks)),
    ]
    if top:
        first = rows[0]
        advice = (
            f"say 'approve training suggestion {first['suggestion_id']}'"
            if first["suggestion_id"] is not None
            else f'add a Q&A pair for "{first["question"]}"'
        )
        advice = f"{advice[0].upper()}{advice[1:]}: it was asked {first['occurrences']} times."
        extra = ["Top unanswered questions and the training that would answer them:", *lines]
    else:
        advice = "Nothing went unanswered this week: keep the answers current."
        extra = []
    chart = (
        partial(
            charts.bar_chart,
            "Most asked unanswered questions this week",
            [row["question"] for row in rows],
            {"Times asked": [row["occurrences"] for row in rows]},
            value_label="Times asked",
            category_label="Question",
        )
        if rows
        else None
    )
    card = _card(
        "weekly_knowledge_gaps",
        f"Weekly knowledge gaps, week to {_day_label(ctx)}",
        pairs,
        advice,
        {"gaps": rows, "open": len(gaps), "new": new, "asks": asks},
        extra,
    )
    return Briefing(card, chart, "The most asked questions the agent could not answer.")


# --- monthly ROI ---------------------------------------------------------------------------------


async def monthly_roi(ctx: TaskScope, _params: dict[str, Any]) -> Briefing:
    current, previous = analytics.windows("last_30_days", ctx.now, ctx.principal.timezone)
    r = ReportInput(ctx, current, previous)
    report = await roi_report(r)
    figures = {row["metric"]: row for row in report.rows}
    total = int(figures["conversations"]["value"])
    resolved = int(figures["resolved_by_ai"]["value"])
    rate = await human_cost_per_conversation(ctx)
    pairs = [(f.label, f.value) for f in report.fields]
    pairs.append(
        (
            "Cost comparison",
            f"${total * rate:,.2f} if people handled all {total} conversations, "
            f"${(total - resolved) * rate:,.2f} with the AI resolving {resolved}",
        )
    )
    card = _card(
        "monthly_roi",
        f"Monthly ROI, 30 days to {_day_label(ctx)}",
        pairs,
        report.suggestion,
        {
            "conversations": total,
            "resolved_by_ai": resolved,
            "hours_saved": figures["hours_saved"]["value"],
            "cost_avoided": figures["human_cost_avoided_usd"]["value"],
            "cost_without_ai": total * rate,
            "cost_with_ai": (total - resolved) * rate,
            "previous": {k: v["previous"] for k, v in figures.items()},
            "minutes_per_conversation": MINUTES_SAVED_PER_CONVERSATION,
        },
    )
    chart = await report_chart(r, "roi", report)
    return Briefing(
        card, chart, "Conversations resolved by the AI per day, against the month before."
    )


# --- training follow-up --------------------------------------------------------------------------


async def training_follow_up(ctx: TaskScope, params: dict[str, Any]) -> Briefing | None:
    """A week after a training change: the resolution rate since, against the rate recorded at
    approval (over the week before it). Nothing is sent if the change was undone."""
    proposal_id = params.get("proposal_id")
    if proposal_id:
        undone = await ctx.session.scalar(
            select(Snapshot.id).where(
                Snapshot.workspace_id == ctx.principal.workspace_id,
                Snapshot.proposal_id == proposal_id,
                Snapshot.undone_at.is_not(None),
            )
        )
        if undone is not None:
            return None
    since = datetime.fromisoformat(params["since"])
    window = analytics.Window(since, min(since + FOLLOW_UP_AFTER, ctx.now), "since the change")
    rows = await analytics.conversations(ctx.session, ctx.principal.workspace_id, window)
    rate = analytics.compute("resolution_rate", rows)
    baseline = params.get("baseline")
    trend = analytics.trend("resolution_rate", rate, baseline)
    change = params.get("change", "a training change")
    approved = since.astimezone(ZoneInfo(ctx.principal.timezone)).strftime("%a %d %b")
    pairs = [
        (
            "Resolution rate since",
            f"{analytics.fmt('resolution_rate', rate)} over {len(rows)} conversations",
        ),
        (
            "The week before",
            f"{analytics.fmt('resolution_rate', baseline)} over "
            f"{params.get('baseline_conversations', 0)} conversations",
        ),
        ("Change", trend),
    ]
    better = rate is not None and baseline is not None and rate > baseline
    advice = (
        "Keep it: look for the next most asked gap to train."
        if better
        else analytics.suggestion("resolution_rate", rows)
    )
    card = _card(
        "training_follow_up",
        f"One week after: {change} (approved {approved})",
        pairs,
        advice,
        {
            "rate": rate,
            "baseline": baseline,
            "conversations": len(rows),
            "since": since.isoformat(),
        },
    )
    chart = partial(
        charts.bar_chart,
        "Resolution rate before and after the change",
        ["7 days before", "since the change"],
        {"Resolution rate (%)": [baseline, rate]},
        value_label="Resolution rate (%)",
        category_label="",
    )
    return Briefing(card, chart, "Resolution rate in the week before and the week after.")


BUILDERS: dict[str, Callable[[TaskScope, dict[str, Any]], Awaitable[Briefing | None]]] = {
    "daily_inbox_summary": daily_inbox_summary,
    "weekly_performance_digest": weekly_performance_digest,
    "weekly_knowledge_gaps": weekly_knowledge_gaps,
    "monthly_roi": monthly_roi,
    "training_follow_up": training_follow_up,
}
