"""The run_report read tool: a report as a card, and as a file when a format is asked."""

from __future__ import annotations

from pydantic import BaseModel

from core.reports import analytics
from core.reports.documents import REPORTS, report_file
from core.reports.report import REPORT_TITLES, ReportInput
from core.tools import args as a
from core.tools.registry import ToolContext
from models.deliverable import Deliverable


async def run_report(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.RunReportArgs)
    period = args.period or "last_30_days"
    current, previous = analytics.windows(period, ctx.now, ctx.principal.timezone)
    r = ReportInput(ctx, current, previous)
    report = await REPORTS[args.report](r)
    title = f"{REPORT_TITLES[args.report]}, {current.label}"
    text = (
        f"{title}:\n"
        + "\n".join(f"- {line}" for line in report.lines)
        + f"\nNext step: {report.suggestion}"
    )
    card = Deliverable(
        kind="card" if report.fields else "list",
        title=title,
        text=text,
        fields=report.fields,
        items=() if report.fields else tuple(report.lines),
        data={
            "report": args.report,
            "period": period,
            "format": args.format or "pdf",
            "rows": report.rows,
            "title": title,
            "start": current.start.isoformat(),
            "end": current.end.isoformat(),
            "suggestion": report.suggestion,
        },
    )
    if not args.format:
        return [card]
    return [card, await report_file(r, args.report, args.format, title, report)]


HANDLERS = {
    "run_report": run_report,
}
