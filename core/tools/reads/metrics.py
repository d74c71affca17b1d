"""Read tools on the agent's figures: a metric, topics, knowledge gaps, recurring issues."""

from __future__ import annotations

from pydantic import BaseModel

from core.reports import analytics
from core.reports.figures import change_text
from core.reports.knowledge_gaps import open_gaps
from core.reports.patterns import PATTERN_SUBJECTS, biggest_riser, pattern_advice, pattern_counts
from core.reports.performance import metric_card
from core.reports.topics import topic_breakdown
from core.tools import args as a
from core.tools.registry import ToolContext
from models.deliverable import CardField, Deliverable


async def get_metrics(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.GetMetricsArgs)
    period = args.period or "this_week"
    current, previous = analytics.windows(period, ctx.now, ctx.principal.timezone)
    card = await metric_card(ctx, args.metric, current, previous, args.channel or None)
    value, prior, series, advice = card.value, card.previous, card.series, card.suggestion
    label = analytics.METRIC_LABELS[args.metric]
    points = [v for _, v in series if v is not None]
    trend = analytics.trend(args.metric, value, prior)
    where = f" on {args.channel}" if args.channel else ""
    text = (
        f"{label} {current.label}{where}: {analytics.fmt(args.metric, value)}, {trend}.\n"
        + (f"Daily: {analytics.sparkline(points)}\n" if len(points) > 1 else "")
        + f"Next step: {advice}"
    )
    return [
        Deliverable(
            kind="card",
            title=f"{label}, {current.label}",
            text=text,
            fields=(
                CardField(label=label, value=analytics.fmt(args.metric, value)),
                CardField(label="Before", value=analytics.fmt(args.metric, prior)),
                CardField(label="Trend", value=trend),
                CardField(label="Conversations", value=str(card.count)),
            ),
            data={
                "metric": args.metric,
                "period": period,
                "value": value,
                "previous": prior,
                "series": series,
                "suggestion": advice,
                "chart": {"type": "line", "metric": args.metric},
            },
        )
    ]


async def get_topic_breakdown(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.GetTopicBreakdownArgs)
    period = args.period or "this_month"
    current, previous = analytics.windows(period, ctx.now, ctx.principal.timezone)
    breakdown = await topic_breakdown(ctx, current, previous, args.limit or 5)
    total, before, top = breakdown.total, breakdown.previous, breakdown.top
    if not total:
        return [Deliverable(text=f"No conversations {current.label}.")]
    items = []
    for topic, count in top:
        share = 100 * count / total
        change = count - before.get(topic, 0)
        items.append(f"{topic}: {count} ({share:.0f}%, {change:+d} vs the period before)")
    lead = top[0][0]
    text = (
        f"Top topics {current.label} ({total} conversations):\n"
        + "\n".join(f"- {i}" for i in items)
        + f"\nNext step: review the answers for {lead}, the biggest driver."
    )
    return [
        Deliverable(
            kind="list",
            title=f"Topics, {current.label}",
            text=text,
            items=tuple(items),
            data={"topics": top, "total": total, "chart": {"type": "bar"}},
        )
    ]


async def get_knowledge_gaps(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.GetKnowledgeGapsArgs)
    since = None
    if args.period:
        current, _ = analytics.windows(args.period, ctx.now, ctx.principal.timezone)
        since = current.start
    gaps = await open_gaps(ctx, since, args.limit or 10)
    if not gaps:
        return [Deliverable(text="No open knowledge gaps: the agent answered everything asked.")]
    items = tuple(f"{g.question} (asked {g.occurrences} times)" for g in gaps)
    text = (
        "Questions the agent could not answer:\n"
        + "\n".join(f"- {i}" for i in items)
        + f'\nNext step: add a Q&A pair for "{gaps[0].question}" ({gaps[0].occurrences} asks).'
    )
    return [Deliverable(kind="list", title="Knowledge gaps", text=text, items=items)]


async def analyze_patterns(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.AnalyzePatternsArgs)
    focus = args.focus or "escalations"
    period = args.period or "last_30_days"
    current, previous = analytics.windows(period, ctx.now, ctx.principal.timezone)
    now, before = await pattern_counts(ctx, focus, current, previous)
    subject = PATTERN_SUBJECTS[focus]
    total, prior = sum(now.values()), sum(before.values())
    if not total:
        return [Deliverable(text=f"No {subject} {current.label}: nothing recurring to report.")]
    top = sorted(now.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    items = tuple(
        f"{key}: {n} ({100 * n / total:.0f}%, {n - before.get(key, 0):+d} vs the period before)"
        for key, n in top
    )
    riser = biggest_riser(now, before)
    lead, lead_count = top[0]
    advice = await pattern_advice(ctx, focus, lead, lead_count, total)
    rise = (
        f"Biggest riser: {riser[0]}, {riser[1]} from {riser[2]} (+{riser[1] - riser[2]})."
        if riser
        else "Nothing rose against the period before."
    )
    text = (
        f"Recurring issues {current.label}: {total} {subject} "
        f"({change_text(total, prior, relative=True)}).\n"
        + "\n".join(f"- {i}" for i in items)
        + f"\n{rise}\nNext step: {advice}"
    )
    return [
        Deliverable(
            kind="list",
            title=f"Patterns in {subject}, {current.label}",
            text=text,
            items=items,
            data={
                "focus": focus,
                "period": period,
                "total": total,
                "previous_total": prior,
                "top": top,
                "riser": list(riser) if riser else None,
                "suggestion": advice,
                "chart": {"type": "bar"},
            },
        )
    ]


HANDLERS = {
    "get_metrics": get_metrics,
    "get_topic_breakdown": get_topic_breakdown,
    "get_knowledge_gaps": get_knowledge_gaps,
    "analyze_patterns": analyze_patterns,
}
