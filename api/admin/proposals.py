"""`/api/v1/proposals` and `/api/v1/snapshots`: proposed writes and the executed ones."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from api.admin.auth import Caller
from api.admin.listing import newest_first
from api.admin.models import Page, ProposalOut, SnapshotOut
from api.admin.pagination import Order
from api.http import json_ok, problem
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


PROPOSAL_STATUSES = ("pending", "executed", "rejected", "expired", "stale")
PROPOSALS = Order("proposals", ("datetime", "str"), descending=True)
SNAPSHOTS = Order("snapshots", ("datetime", "int"), descending=True)


async def list_proposals(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """Newest first; `?status=`, `?requester_id=`, `?created_after=`, `?created_before=`."""
    found = await newest_first(
        request,
        gw,
        who,
        Proposal,
        Proposal.created_at,
        PROPOSALS,
        filters={"status": Proposal.status, "requester_id": Proposal.requester_id},
    )
    items = [_proposal_out(p) for p in found.items]
    return json_ok(Page[ProposalOut](items=items, next_cursor=found.next_cursor))


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
    """Executed writes, newest first: the history that undo and restore work from;
    `?member_id=`, `?proposal_id=`, `?created_after=`, `?created_before=`."""
    found = await newest_first(
        request,
        gw,
        who,
        Snapshot,
        Snapshot.created_at,
        SNAPSHOTS,
        filters={"member_id": Snapshot.member_id, "proposal_id": Snapshot.proposal_id},
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
        for s in found.items
    ]
    return json_ok(Page[SnapshotOut](items=items, next_cursor=found.next_cursor))
