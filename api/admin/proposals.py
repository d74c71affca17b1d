"""`/api/v1/proposals` and `/api/v1/snapshots`: proposed writes and the executed ones."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from api.admin.auth import Caller
from api.admin.listing import filtered_rows
from api.admin.models import Page, ProposalOut, SnapshotOut
from api.http import json_ok, problem, query_int
from api.state import Gateway
from core.approvals.proposals import proposal_payload
from storage.domain import Proposal, Snapshot


def _proposal_out(p: Proposal) -> ProposalOut:
    return ProposalOut(
        id=p.id,
        code=p.code,
        status=p.status,
        summary=p.summary,
        requester_id=p.requester_id,
        estimated_count=p.estimated_count,
        changes=proposal_payload(p)["changes"],
        created_at=p.created_at,
        expires_at=p.expires_at,
        decided_by=p.decided_by,
        decided_at=p.decided_at,
        outcome=p.outcome,
    )


async def list_proposals(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    statuses = ("pending", "executed", "rejected", "expired", "stale")
    rows = await filtered_rows(request, gw, who, Proposal, statuses, Proposal.created_at.desc())
    return json_ok(Page[ProposalOut](items=[_proposal_out(p) for p in rows]))


async def get_proposal(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    proposal_id = request.match_info["proposal_id"]
    async with gw.db.session() as session:
        row = await session.scalar(
            select(Proposal).where(
                Proposal.id == proposal_id, Proposal.workspace_id == who.workspace_id
            )
        )
        if row is None:
            raise problem(404, f"no proposal {proposal_id!r}")
        return json_ok(_proposal_out(row))


async def list_snapshots(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """Executed writes, newest first: the history that undo and restore work from."""
    limit = query_int(request, "limit", 50, lo=1, hi=500)
    async with gw.db.session() as session:
        rows = await session.scalars(
            select(Snapshot)
            .where(Snapshot.workspace_id == who.workspace_id)
            .order_by(Snapshot.created_at.desc(), Snapshot.id.desc())
            .limit(limit)
        )
        items = [
            SnapshotOut(
                id=s.id,
                proposal_id=s.proposal_id,
                member_id=s.member_id,
                summary=s.summary,
                reversible=bool(s.before),
                created_at=s.created_at,
                undone_at=s.undone_at,
                restored_at=s.restored_at,
            )
            for s in rows
        ]
    return json_ok(Page[SnapshotOut](items=items))
