"""The agent's performance: one metric's card, every metric's report, CSAT by topic."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from core.reports import analytics
from core.reports.report import Report, ReportInput
from core.reports.scope import Scope
from models.deliverable import CardField


async def metric_card(
    ctx: Scope,
    metric: str,
    current: analytics.Window,
    previous: analytics.Window,
    channel: str | None,
) -> analytics.MetricSummary:
    """METRIC over CURRENT against PREVIOUS (on CHANNEL only, when given), with its daily
    series and a next step."""
    ws, tz = ctx.principal.workspace_id, ctx.principal.timezone
    # Counted by the database where it can; the rows only for what needs them (a median).
    summary = await analytics.metric_summary(
        ctx.session, ws, metric, current, previous, tz, channel
    )
    if summary is not None:
        return summary
    rows, before = await analytics.conversations_pair(ctx.session, ws, current, previous)
    if channel:
        rows = [r for r in rows if r.channel == channel]
        before = [r for r in before if r.channel == channel]
    return analytics.MetricSummary(
        count=len(rows),
        value=analytics.compute(metric, rows),
        previous=analytics.compute(metric, before),
        series=analytics.daily_series(metric, rows, current, tz),
        suggestion=analytics.suggestion(metric, rows),
    )


async def performance_report(r: ReportInput) -> Report:
    ws = r.ctx.principal.workspace_id
    rows, before = await analytics.conversations_pair(r.ctx.session, ws, r.current, r.previous)
    out: list[dict[str, Any]] = []
    fields: list[CardField] = []
    worse: list[str] = []
    for metric, label in analytics.METRIC_LABELS.items():
        value, prior = analytics.compute(metric, rows), analytics.compute(metric, before)
        trend = analytics.trend(metric, value, prior)
        if trend.endswith("(worse)"):
            worse.append(metric)
        shown = analytics.fmt(metric, value)
        out.append(
            {
                "metric": metric,
                "label": label,
                "value": value,
                "previous": prior,
                "unit": analytics.METRIC_UNITS[metric],
                "trend": trend,
            }
        )
        fields.append(CardField(label=label, value=f"{shown}, {trend}"))
    focus = next((m for m in worse if m != "volume"), "resolution_rate")
    return Report(
        lines=[f"{f.label}: {f.value}" for f in fields],
        rows=out,
        suggestion=_slowest_channel(rows)
        if focus == "first_response_time"
        else analytics.suggestion(focus, rows),
        fields=tuple(fields),
    )


def _slowest_channel(rows: Sequence[analytics.ConversationRow]) -> str:
    """Where first responses are slowest: the channel whose settings to look at first."""
    times: dict[str, list[float]] = {}
    for c in rows:
        if c.first_response_seconds is not None:
            times.setdefault(c.channel, []).append(c.first_response_seconds)
    if not times:
        return analytics.suggestion("first_response_time", rows)
    channel, values = max(times.items(), key=lambda kv: (statistics.median(kv[1]), kv[0]))
    return (
        f"First responses are slowest on {channel} (median "
        f"{analytics.fmt('first_response_time', statistics.median(values))}): check its "
        "business hours and away message."
    )


@dataclass(frozen=True)
class CsatRow:
    topic: str
    responses: int
    csat: float


async def csat_report(r: ReportInput) -> Report:
    ws = r.ctx.principal.workspace_id
    current, before = await analytics.conversations_pair(r.ctx.session, ws, r.current, r.previous)
    rows = [c for c in current if c.csat is not None]
    value, prior = analytics.compute("csat", rows), analytics.compute("csat", before)
    trend = analytics.trend("csat", value, prior)
    spread = Counter(c.csat for c in rows)
    groups: dict[str, list[int]] = {}
    for c in rows:
        groups.setdefault(c.topic or "other", []).append(c.csat or 0)
    out = sorted(
        (CsatRow(topic, len(scores), statistics.fmean(scores)) for topic, scores in groups.items()),
        key=lambda o: (o.csat, o.topic),
    )
    fields = (
        CardField(label="CSAT", value=f"{analytics.fmt('csat', value)}, {trend}"),
        CardField(label="Responses", value=str(len(rows))),
        CardField(
            label="Scores", value=", ".join(f"{k}★ {spread.get(k, 0)}" for k in range(5, 0, -1))
        ),
    )
    lines = [f"{f.label}: {f.value}" for f in fields] + [
        f"{o.topic}: {o.csat:.2f}/5 over {o.responses} rating(s)" for o in out
    ]
    # A topic needs a few ratings before it is singled out.
    rated = [o for o in out if o.responses >= 3] or out
    if rated:
        low = rated[0]
        advice = (
            f"Review the answers for {low.topic}: lowest CSAT at {low.csat:.2f}/5 over "
            f"{low.responses} ratings."
        )
    else:
        advice = "No ratings yet: ask customers to rate their conversation."
    return Report(
        lines=lines,
        rows=[asdict(o) for o in out],
        suggestion=advice,
        fields=fields,
        units=(("csat", "out of 5"),),
    )
