"""Figures and phrases every report shares: changes in words, durations, member names."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core.reports import analytics
from core.reports.scope import Scope
from storage.models import Member

PRIORITY_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def duration(seconds: float | None) -> str:
    """A span a person reads at a glance: 45 s, 32 min, 14.5 h, 2.1 days."""
    if seconds is None:
        return "no data"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def age_text(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


def _count(value: float) -> str:
    return f"{value:.0f}"


def change_text(
    current: float | None,
    previous: float | None,
    *,
    show: Callable[[float], str] = _count,
    relative: bool = False,
    better: Literal["higher", "lower"] | None = None,
) -> str:
    """CURRENT against PREVIOUS in words; BETTER is "higher", "lower" or None (neutral)."""
    if current is None or previous is None:
        return "no earlier data to compare"
    delta = current - previous
    if abs(delta) < 1e-9:
        return "unchanged from the period before"
    size = f"{abs(delta) / previous * 100:.0f}%" if relative and previous else show(abs(delta))
    text = f"{'up' if delta > 0 else 'down'} {size} on the period before"
    if better is not None:
        good = (delta > 0) == (better == "higher")
        text += f" ({'better' if good else 'worse'})"
    return text


def local_time(when: datetime, tz: str) -> str:
    return when.astimezone(ZoneInfo(tz)).strftime("%a %d %b %H:%M %Z")


def inside(when: datetime | None, window: analytics.Window) -> bool:
    return when is not None and window.start <= when < window.end


async def member_names(ctx: Scope) -> dict[str, str]:
    """Every member's name, former members included: history and reports name them too."""
    rows = await ctx.session.execute(
        select(Member.id, Member.name).where(Member.workspace_id == ctx.principal.workspace_id)
    )
    return {member_id: name for member_id, name in rows}


def same_question(text: str) -> str:
    return " ".join(text.casefold().rstrip("?!. ").split())
