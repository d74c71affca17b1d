"""Questions the agent could not answer, most asked first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, bindparam, func, select

from core.reports import analytics
from core.reports.figures import change_text
from core.reports.report import Report, ReportInput
from core.reports.scope import Scope
from storage.domain import KnowledgeGap
from storage.statements import Statement

_gaps = KnowledgeGap.__table__


def _open_gaps(since: bool) -> Statement:
    query = select(_gaps.c.question, _gaps.c.occurrences).where(
        _gaps.c.workspace_id == bindparam("workspace_id"), _gaps.c.resolved.is_(False)
    )
    if since:
        query = query.where(_gaps.c.last_seen >= bindparam("since"))
    return Statement(
        query.order_by(_gaps.c.occurrences.desc()).limit(bindparam("limit", type_=Integer))
    )


_OPEN_GAPS = {since: _open_gaps(since) for since in (False, True)}


async def open_gaps(ctx: Scope, since: datetime | None, limit: int) -> list[Any]:
    """The LIMIT most asked open gaps (last seen since SINCE, when given) as (`question`,
    `occurrences`) rows: only what a reply shows, not whole gaps."""
    params: dict[str, Any] = {"workspace_id": ctx.principal.workspace_id, "limit": limit}
    if since is not None:
        params["since"] = since
    return await _OPEN_GAPS[since is not None].rows(ctx.session, params)


async def knowledge_gaps_report(r: ReportInput) -> Report:
    gaps = list(
        await r.ctx.session.scalars(
            select(KnowledgeGap)
            .where(
                KnowledgeGap.workspace_id == r.ctx.principal.workspace_id,
                KnowledgeGap.resolved.is_(False),
                KnowledgeGap.last_seen >= r.current.start,
            )
            .order_by(KnowledgeGap.occurrences.desc(), KnowledgeGap.question)
        )
    )
    if not gaps:
        return Report(
            lines=["No open knowledge gaps."], rows=[], suggestion="Nothing is missing right now."
        )

    async def first_seen_in(window: analytics.Window) -> int:
        return (
            await r.ctx.session.scalar(
                select(func.count())
                .select_from(KnowledgeGap)
                .where(
                    KnowledgeGap.workspace_id == r.ctx.principal.workspace_id,
                    KnowledgeGap.first_seen >= window.start,
                    KnowledgeGap.first_seen < window.end,
                )
            )
            or 0
        )

    new_now, new_before = await first_seen_in(r.current), await first_seen_in(r.previous)
    out = [
        {
            "question": g.question,
            "topic": g.topic,
            "occurrences": g.occurrences,
            "first_seen": g.first_seen.isoformat(),
            "last_seen": g.last_seen.isoformat(),
        }
        for g in gaps
    ]
    lines = [
        f"{len(gaps)} open gap(s), {new_now} new: {change_text(new_now, new_before)}",
        *(f'"{g.question}" ({g.topic or "no topic"}): asked {g.occurrences} times' for g in gaps),
    ]
    top = gaps[0]
    advice = f'Add a Q&A pair for "{top.question}" ({top.occurrences} asks), the most asked.'
    return Report(lines=lines, rows=out, suggestion=advice)
