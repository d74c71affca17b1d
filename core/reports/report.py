"""A report document's content and inputs, whatever it is rendered into."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.reports import analytics
from core.reports.scope import Scope
from models.deliverable import CardField

REPORT_TITLES = {
    "performance": "Performance report",
    "inbox": "AI Inbox report",
    "assists": "Assists report",
    "topics": "Topics report",
    "knowledge_gaps": "Knowledge gaps report",
    "workload": "Workload report",
    "roi": "ROI report",
    "csat": "CSAT report",
}


@dataclass(frozen=True)
class Report:
    """A report's content, whatever it is rendered into later (text now, PDF/XLSX/CSV later)."""

    lines: list[str]
    rows: list[dict[str, Any]]
    suggestion: str
    fields: tuple[CardField, ...] = ()
    # The unit of a column whose every value is in one ("share": "%"); shown in its heading.
    units: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReportInput:
    ctx: Scope
    current: analytics.Window
    previous: analytics.Window
