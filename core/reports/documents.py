"""The reports run_report offers: each one's builder, its chart, and its file (PDF, XLSX, CSV)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from functools import partial
from zoneinfo import ZoneInfo

from core.reports import analytics
from core.reports.figures import PRIORITY_ORDER
from core.reports.inbox import assists_report, inbox_report
from core.reports.knowledge_gaps import knowledge_gaps_report
from core.reports.performance import csat_report, performance_report
from core.reports.report import Report, ReportInput
from core.reports.roi import roi_report
from core.reports.topics import topics_report
from core.reports.workload import workload_report
from delivery import charts
from delivery.media import MediaStore
from delivery.reports import CONTENT_TYPES, ReportContent, ReportFormat
from delivery.reports import render as render_report
from models.deliverable import Deliverable

REPORTS: dict[str, Callable[[ReportInput], Awaitable[Report]]] = {
    "performance": performance_report,
    "inbox": inbox_report,
    "assists": assists_report,
    "topics": topics_report,
    "knowledge_gaps": knowledge_gaps_report,
    "workload": workload_report,
    "roi": roi_report,
    "csat": csat_report,
}


FILE_FORMAT_NAMES = {"pdf": "PDF", "xlsx": "spreadsheet (XLSX)", "csv": "CSV"}


async def report_file(
    r: ReportInput, kind: str, fmt: ReportFormat, title: str, report: Report
) -> Deliverable:
    """The report rendered as FMT (off the event loop) and stored in the media store."""
    tz = ZoneInfo(r.ctx.principal.timezone)
    first = r.current.start.astimezone(tz).date()
    last = (r.current.end - timedelta(microseconds=1)).astimezone(tz).date()
    span = (f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}")
    content = ReportContent(
        title=title,
        period=f"{r.current.label} ({span[0]}{'' if first == last else ' to ' + span[1]})",
        rows=report.rows,
        summary=report.lines,
        fields=tuple((f.label, f.value) for f in report.fields),
        suggestion=report.suggestion,
        generated_at=r.ctx.now.astimezone(tz),
        units=dict(report.units),
    )
    chart = await report_chart(r, kind, report) if fmt == "pdf" else None
    data = await asyncio.to_thread(_render_report, fmt, content, chart)
    dates = span[0] if first == last else f"{span[0]}-to-{span[1]}"
    filename = f"{kind.replace('_', '-')}-report-{dates}.{fmt}"
    media = MediaStore.add(
        r.ctx.session,
        workspace_id=r.ctx.principal.workspace_id,
        filename=filename,
        content_type=CONTENT_TYPES[fmt],
        data=data,
        now=r.ctx.now,
    )
    return Deliverable(
        kind="file",
        title=filename,
        text=f"{title} as {FILE_FORMAT_NAMES[fmt]}: {len(report.rows)} row(s).",
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


def _render_report(
    fmt: ReportFormat, content: ReportContent, chart: Callable[[], bytes] | None
) -> bytes:
    if chart is not None:
        content = replace(content, chart_png=chart())
    return render_report(fmt, content)


async def report_chart(r: ReportInput, kind: str, report: Report) -> Callable[[], bytes] | None:
    """How to draw the report's chart (run later, in a thread): a daily series where the report
    follows conversations over time, bars where it compares categories."""
    rows = report.rows
    if kind in ("performance", "roi"):
        ws, tz = r.ctx.principal.workspace_id, r.ctx.principal.timezone
        now, before = await analytics.conversations_pair(r.ctx.session, ws, r.current, r.previous)
        if kind == "roi":
            now = [c for c in now if c.resolved_by_ai]
            before = [c for c in before if c.resolved_by_ai]
        metric = "resolution_rate" if kind == "performance" else "volume"
        points = analytics.daily_series(metric, now, r.current, tz)
        earlier = [v for _, v in analytics.daily_series(metric, before, r.previous, tz)]
        return partial(
            charts.line_chart,
            "Resolution rate per day" if kind == "performance" else "Resolved by AI per day",
            points,
            previous=earlier,
            y_label="Resolution rate" if kind == "performance" else "Conversations",
            percent=kind == "performance",
        )
    if not rows:
        return None
    if kind == "inbox":
        figures = {row["metric"]: row for row in rows}
        keys = [("opened", "Opened"), ("closed", "Closed"), ("open_now", "Open now")]
        return partial(
            charts.bar_chart,
            "AI Inbox: assists opened and closed",
            [label for _, label in keys],
            {"This period": [figures[k]["value"] for k, _ in keys]},
            previous=[figures[k]["previous"] for k, _ in keys],
            value_label="Assists",
            category_label="",
        )
    if kind == "assists":
        by_priority = Counter(row["priority"] for row in rows)
        order = sorted(by_priority, key=lambda p: (PRIORITY_ORDER.get(p, 9), p))
        return partial(
            charts.bar_chart,
            "Assists opened by priority",
            order,
            {"Opened": [by_priority[p] for p in order]},
            value_label="Assists",
            category_label="Priority",
        )
    if kind == "topics":
        return partial(
            charts.bar_chart,
            "Conversations by topic",
            [row["topic"] for row in rows],
            {"This period": [row["conversations"] for row in rows]},
            previous=[row["previous"] for row in rows],
            value_label="Conversations",
            category_label="Topic",
        )
    if kind == "knowledge_gaps":
        return partial(
            charts.bar_chart,
            "Most asked unanswered questions",
            [row["question"] for row in rows],
            {"Times asked": [row["occurrences"] for row in rows]},
            value_label="Times asked",
            category_label="Question",
        )
    if kind == "workload":
        return partial(
            charts.bar_chart,
            "Assists per member",
            [row["member"] for row in rows],
            {"Open": [row["open"] for row in rows], "Closed": [row["closed"] for row in rows]},
            value_label="Assists",
            category_label="Member",
        )
    if kind == "csat":
        return partial(
            charts.bar_chart,
            "CSAT by topic",
            [row["topic"] for row in rows],
            {"CSAT": [row["csat"] for row in rows]},
            value_label="Average rating (1-5)",
            category_label="Topic",
        )
    return None
