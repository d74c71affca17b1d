"""History: the workspace's executed writes, newest first, each with its before-state and a
Restore that goes through approval (a `restore snapshot N` task, the same write tool and
proposal engine as in chat), within the plan's retention."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.console import exchanges
from api.console.exchanges import decided_notice
from api.console.scripted import MAX_KEY, check_json_csrf, require_json, valid_key, wants_json
from api.console.session import ConsoleError, check_csrf, page, require
from api.console.templating import local_time
from api.http import Input, json_ok, problem, read_json
from api.state import GATEWAY
from core.approvals.proposals import Change
from core.approvals.snapshots import SnapshotState, snapshot_state
from core.team.plans import retention
from core.team.signin import SignedIn
from storage.domain import Proposal, Snapshot
from storage.models import Member
from storage.types import new_id, utcnow

PAGE_SIZE = 30


class RestoreIn(Input):
    # One per rendering of the page: a double click on Restore proposes once.
    key: str | None = Field(None, max_length=MAX_KEY)


class SnapshotView(BaseModel):
    id: int
    created_at: datetime
    who: str
    summary: str
    changes: list[exchanges.ChangeView]
    restorable: bool
    # Why Restore is off (undone, restored, sent out, past retention); None when it is on.
    reason: str | None
    state: str
    # Restore proposals waiting for a decision: shown with Approve / Reject in place.
    pending: list[exchanges.ProposalView]


def before_state(snap: Snapshot) -> list[exchanges.ChangeView]:
    """Each change the write made: its label, the value before and the value it set."""
    views = []
    for recorded in snap.before:
        change = Change.model_validate(recorded)
        before = change.shown_before if change.shown_before is not None else change.before
        after = change.shown_after if change.shown_after is not None else change.after
        if change.field == "__row__" and change.shown_after is None:
            after = None if change.after is None else "created"
        views.append(
            exchanges.ChangeView(
                label=change.label,
                before=exchanges.shown_value(before, field=change.field, side="before"),
                after=exchanges.shown_value(after, field=change.field, side="after"),
            )
        )
    return views


def why_not(state: SnapshotState, who: SignedIn) -> tuple[str, str | None]:
    """(the entry's state as a badge, why Restore is off or None)."""
    when = local_time(state.since, who.timezone) if state.since else ""
    if state.blocked == "undone":
        return "Undone", f"Undone {when}: the change was already taken back."
    if state.blocked == "restored":
        return "Restored", f"Restored {when}."
    if state.blocked == "not_reversible":
        return "Sent out", "It sent something out (an email or a message): that cannot be undone."
    if state.blocked == "expired":
        return "Past retention", (
            f"Older than the {state.retention_days}-day retention of the {who.plan.capitalize()} "
            "plan: kept for the record, no longer restorable."
        )
    return "Can be restored", None


def restores_of(proposal: Proposal) -> list[int]:
    return [int(p["restores"]) for p in proposal.changes if p.get("restores") is not None]


async def pending_restores(
    session: AsyncSession, workspace_id: str, now: datetime
) -> dict[int, list[Proposal]]:
    """Restore proposals still waiting for a decision, by the snapshot each restores."""
    rows = await session.scalars(
        select(Proposal).where(
            Proposal.workspace_id == workspace_id,
            Proposal.status == "pending",
            Proposal.expires_at > now,
        )
    )
    found: dict[int, list[Proposal]] = {}
    for row in rows:
        for snap_id in restores_of(row):
            found.setdefault(snap_id, []).append(row)
    return found


async def history_page(request: web.Request) -> web.Response:
    who = await require(request, "history")
    gateway = request.app[GATEWAY]
    try:
        number = max(1, int(request.query.get("page", "1")))
    except ValueError:
        number = 1
    now = utcnow()
    async with gateway.db.session() as session:
        where = Snapshot.workspace_id == who.workspace_id
        total = await session.scalar(select(func.count()).select_from(Snapshot).where(where)) or 0
        pages = max(1, -(-total // PAGE_SIZE))
        number = min(number, pages)
        snaps = list(
            await session.scalars(
                select(Snapshot)
                .where(where)
                .order_by(Snapshot.created_at.desc(), Snapshot.id.desc())
                .offset((number - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE)
            )
        )
        # Former members too: history names whoever made the change.
        rows = await session.execute(
            select(Member.id, Member.name).where(Member.workspace_id == who.workspace_id)
        )
        names = {member_id: name for member_id, name in rows}
        waiting = await pending_restores(session, who.workspace_id, now)
    entries = []
    for snap in snaps:
        state = snapshot_state(snap, plan=who.plan, now=now)
        badge, reason = why_not(state, who)
        pending = [exchanges.proposal_view(p, [], now) for p in waiting.get(snap.id, [])]
        entries.append(
            SnapshotView(
                id=snap.id,
                created_at=snap.created_at,
                who=names.get(snap.member_id or "", "someone"),
                summary=snap.summary,
                changes=before_state(snap),
                restorable=state.restorable,
                reason=reason,
                state="Restore waiting for approval" if pending else badge,
                pending=pending,
            )
        )
    result = None
    task_id = request.query.get("task", "")
    if task_id:
        result = await exchanges.load_exchange(gateway, who, task_id)
    notice = await decided_notice(gateway, who, request.query.get("decided", ""))
    return page(
        request,
        "history.html",
        who,
        title="History",
        entries=entries,
        total=total,
        page_number=number,
        pages=pages,
        result=result,
        notice=notice,
        key=new_id(),
        retention_days=retention(who.plan).days,
        now=now,
    )


async def post_restore(request: web.Request) -> web.Response:
    """Restore: proposes `restore snapshot N` for this member (nothing changes until it is
    approved). A restore already waiting is shown rather than proposed twice, and the page's
    key makes a double click one request."""
    gateway = request.app[GATEWAY]
    as_json = wants_json(request)
    if as_json:
        who = await require_json(request, "history")
        check_json_csrf(request, who)
        key = valid_key((await read_json(request, RestoreIn)).key)
    else:
        who = await require(request, "history")
        form = await request.post()
        check_csrf(request, who, form)
        key = valid_key(form.get("key"))
    raw_id = request.match_info["snapshot_id"]
    snap_id = int(raw_id) if raw_id.isascii() and raw_id.isdigit() and len(raw_id) < 12 else None
    now = utcnow()
    async with gateway.db.session() as session:
        snap = (
            await session.scalar(
                select(Snapshot).where(
                    Snapshot.id == snap_id, Snapshot.workspace_id == who.workspace_id
                )
            )
            if snap_id is not None
            else None
        )
        if snap is None:
            if as_json:
                raise problem(404, "no such snapshot")
            raise ConsoleError(404, "No such change", "History has no such entry.")
        state = snapshot_state(snap, plan=who.plan, now=now)
        waiting = (await pending_restores(session, who.workspace_id, now)).get(snap.id, [])
    if not state.restorable:
        _, reason = why_not(state, who)
        if as_json:
            raise problem(409, reason or "this change cannot be restored")
        raise ConsoleError(409, "This change cannot be restored", reason or "")
    anchor = f"#snapshot-{snap.id}"
    if waiting:
        if as_json:
            return json_ok({"task_id": None, "proposal_id": waiting[0].id})
        raise web.HTTPSeeOther(f"/console/history{anchor}")
    task = exchanges.member_task(
        who, f"restore snapshot {snap.id}", key=f"restore:{snap.id}:{key}", kind="command"
    )
    accepted = await gateway.ingest(task)
    if as_json:
        return json_ok({"task_id": accepted.task_id, "duplicate": not accepted.created}, 202)
    raise web.HTTPSeeOther(f"/console/history?task={accepted.task_id}{anchor}")


def setup(app: web.Application) -> None:
    app.router.add_get("/console/history", history_page)
    app.router.add_post("/console/history/{snapshot_id}/restore", post_restore)
