"""Proposals: every write is planned as field-level changes with before/after values, approved
by the requester (or an owner/admin), executed once in one transaction with a before-state
snapshot, and can be undone for 30 seconds or restored within the plan's retention."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.routing.assignment import hand_out
from core.routing.notices import tell_assignee
from core.team.identity import Principal
from core.team.invitations import DEFAULT_BASE_URL, settle_invitations
from core.team.plans import SCHEDULE_QUOTAS
from core.training.fetch import request_fetch
from delivery.outbox.queue import enqueue
from models.deliverable import Deliverable
from models.task import Route
from storage.domain import (
    AiAgent,
    Assist,
    AssistEvent,
    Integration,
    Invitation,
    Proposal,
    QaPair,
    Schedule,
    Snapshot,
    TrainingSource,
    TrainingSuggestion,
)
from storage.integrations import ImportRun, IntegrationAccount
from storage.models import ApiKey, AuditEntry, Base, Member, Workspace

if TYPE_CHECKING:
    from core.assists.mail import AssistMailer

PROPOSAL_TTL = timedelta(hours=24)
UNDO_WINDOW = timedelta(seconds=30)
CREATE = "__row__"  # a Change on this field creates (before None) or deletes (after None) a row
# A proposed value (or a value inside a created row) that becomes the moment the proposal is
# executed: a key revoked after a night's wait is revoked at approval, not when it was asked.
AT_EXECUTION = "__executed_at__"

# The entities a proposal may change. Each is a model whose rows carry workspace_id.
ENTITIES: dict[str, type[Base]] = {
    "assist": Assist,
    "assist_event": AssistEvent,
    "qa_pair": QaPair,
    "training_source": TrainingSource,
    "training_suggestion": TrainingSuggestion,
    "agent": AiAgent,
    "member": Member,
    "invitation": Invitation,
    "api_key": ApiKey,
    "schedule": Schedule,
    "integration": Integration,
    "import": ImportRun,
    "integration_account": IntegrationAccount,
}


class Change(BaseModel):
    """One field of one row, from its current value to the proposed one."""

    model_config = ConfigDict(frozen=True)

    entity: str
    key: str
    field: str
    before: Any = None
    after: Any = None
    label: str
    # How a person reads the values (a member's name rather than their id); optional.
    shown_before: str | None = None
    shown_after: str | None = None

    def at(self, now: datetime) -> Change:
        """This change as executed at NOW: every AT_EXECUTION in `after` becomes NOW."""
        after = _stamped(self.after, now.isoformat())
        return self if after == self.after else self.model_copy(update={"after": after})

    def inverse(self) -> Change:
        return self.model_copy(
            update={
                "before": self.after,
                "after": self.before,
                "shown_before": self.shown_after,
                "shown_after": self.shown_before,
            }
        )


def _stamped(value: Any, stamp: str) -> Any:
    if value == AT_EXECUTION:
        return stamp
    if isinstance(value, dict):
        return {k: _stamped(v, stamp) for k, v in value.items()}
    if isinstance(value, list):
        return [_stamped(v, stamp) for v in value]
    return value


class Message(BaseModel):
    """Something sent when the proposal executes (a reply to a customer): not undoable."""

    model_config = ConfigDict(frozen=True)

    channel: str
    address: str
    text: str
    subject: str | None = None
    # An email to an assist's customer goes in the assist's thread (reply address, headers).
    assist_id: str | None = None


class Draft(BaseModel):
    """What a write tool returns: the plan, never the change itself."""

    model_config = ConfigDict(frozen=True)

    tool: str
    summary: str
    changes: tuple[Change, ...]
    estimated_count: int | None = None
    reversible: bool = True
    notice: str | None = None  # shown with the proposal, e.g. "the email is sent at once"
    messages: tuple[Message, ...] = ()
    restores_snapshot: int | None = None  # marked restored when this executes
    # The tool's arguments as asked, kept with the proposal so the request can be repeated
    # (learning mode makes an approved bulk action recurring).
    call_args: dict[str, Any] | None = None
    # Assists this closes: on execution their customers get the resolution and a CSAT survey.
    closes: tuple[str, ...] = ()


class ProposalError(Exception):
    """A proposal cannot be approved, rejected, undone or restored; the message says why."""


class StaleChange(ProposalError):
    pass


@dataclass
class Decision:
    proposal: Proposal
    executed: bool
    message: str
    applied: list[Change] = field(default_factory=list)
    reversible: bool = False


def key_value(model: type[Base], key: str) -> Any:
    column = model.__table__.c.id
    return int(key) if column.type.python_type is int else key


def field_value(row: Any, name: str) -> Any:
    head, _, rest = name.partition(".")
    value = getattr(row, head)
    if rest:
        return (value or {}).get(rest)
    return _jsonable(value)


def _set_field(row: Any, name: str, value: Any) -> None:
    head, _, rest = name.partition(".")
    if rest:
        current = dict(getattr(row, head) or {})
        if value is None:
            current.pop(rest, None)
        else:
            current[rest] = value
        setattr(row, head, current)
    else:
        column = row.__table__.c[head]
        if value is not None and column.type.python_type is datetime:
            value = datetime.fromisoformat(value)
        setattr(row, head, value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def row_state(row: Any) -> dict[str, Any]:
    """Every column of ROW as JSON values, for snapshots of created or deleted rows."""
    return {c.name: _jsonable(getattr(row, c.key)) for c in row.__table__.c}


async def apply_changes(
    session: AsyncSession, workspace_id: str, changes: Sequence[Change]
) -> None:
    """Apply CHANGES, checking each current value first; raises StaleChange naming the field."""
    for change in changes:
        model = ENTITIES[change.entity]
        key = key_value(model, change.key)
        row = await session.scalar(
            select(model).where(
                model.__table__.c.id == key, model.__table__.c.workspace_id == workspace_id
            )
        )
        if change.field == CREATE:
            if change.before is None:  # create
                if row is not None:
                    raise StaleChange(f"{change.label} exists already")
                values = dict(change.after)
                row = model()
                for name, value in values.items():
                    _set_field(row, name, value)
                session.add(row)
            else:  # delete
                if row is None:
                    raise StaleChange(f"{change.label} no longer exists")
                await session.delete(row)
            await session.flush()
            continue
        if row is None:
            raise StaleChange(f"{change.label} no longer exists")
        current = field_value(row, change.field)
        if current != change.before:
            raise StaleChange(
                f"{change.label} changed since this was proposed "
                f"(it was {change.before!r} and is now {current!r})"
            )
        _set_field(row, change.field, change.after)
    await session.flush()


async def check_invariants(session: AsyncSession, workspace_id: str) -> None:
    """Rules that must hold after any write, checked at execution (drafts may race):
    an active owner remains, recurring briefings stay within the plan's quota per agent, no
    URL is a training source twice, and no account has two imports going. Raises StaleChange
    naming the broken rule."""
    owners = await session.scalar(
        select(func.count())
        .select_from(Member)
        .where(
            Member.workspace_id == workspace_id,
            Member.role == "owner",
            Member.status == "active",
        )
    )
    if not owners:
        raise StaleChange("the workspace would be left without an active owner")
    plan = await session.scalar(select(Workspace.plan).where(Workspace.id == workspace_id))
    limit = SCHEDULE_QUOTAS.get(plan or "plus", 0)
    if limit is not None:
        per_agent = await session.execute(
            select(Schedule.agent_id, func.count())
            .where(
                Schedule.workspace_id == workspace_id,
                Schedule.active.is_(True),
                Schedule.one_off_at.is_(None),
            )
            .group_by(Schedule.agent_id)
        )
        counts = dict(per_agent.all())
        unassigned = counts.pop(None, 0)
        busiest = max(counts.values(), default=0) + unassigned
        if busiest > limit:
            raise StaleChange(
                f"the {plan} plan allows {limit} recurring briefings per AI agent and this "
                f"would make {busiest}"
            )
    duplicate = await session.scalar(
        select(TrainingSource.url)
        .where(
            TrainingSource.workspace_id == workspace_id,
            TrainingSource.kind == "url",
            TrainingSource.active.is_(True),
        )
        .group_by(TrainingSource.url)
        .having(func.count() > 1)
        .limit(1)
    )
    if duplicate is not None:
        raise StaleChange(f"{duplicate} would be a training source twice")
    # One import run going per account (two approved proposals must not start two).
    doubled = await session.scalar(
        select(ImportRun.account_id)
        .where(ImportRun.workspace_id == workspace_id, ImportRun.status.in_(("queued", "running")))
        .group_by(ImportRun.account_id)
        .having(func.count() > 1)
        .limit(1)
    )
    if doubled is not None:
        raise StaleChange("an import from that account is already going")


async def _new_code(session: AsyncSession, workspace_id: str, rng: random.Random) -> str:
    taken = set(
        await session.scalars(
            select(Proposal.code).where(
                Proposal.workspace_id == workspace_id, Proposal.status == "pending"
            )
        )
    )
    while True:
        code = f"{rng.randrange(1000, 10000)}"
        if code not in taken:
            return code


async def propose(
    session: AsyncSession,
    principal: Principal,
    drafts: Sequence[Draft],
    *,
    now: datetime,
    task_id: str | None = None,
    rng: random.Random | None = None,
) -> Proposal:
    """Persist one proposal holding every draft of a request (compound requests approve once)."""
    assert principal.member_id is not None, "only members propose writes"
    counts = [d.estimated_count for d in drafts if d.estimated_count is not None]
    proposal = Proposal(
        workspace_id=principal.workspace_id,
        code=await _new_code(session, principal.workspace_id, rng or random.SystemRandom()),
        requester_id=principal.member_id,
        task_id=task_id,
        summary="; ".join(d.summary for d in drafts),
        changes=[
            {
                "tool": d.tool,
                "reversible": d.reversible and not d.messages,
                "changes": [c.model_dump(mode="json") for c in d.changes],
                "messages": [m.model_dump(mode="json") for m in d.messages],
                **({"restores": d.restores_snapshot} if d.restores_snapshot is not None else {}),
                **({"args": d.call_args} if d.call_args is not None else {}),
                **({"closes": list(d.closes)} if d.closes else {}),
            }
            for d in drafts
        ],
        estimated_count=sum(counts) if counts else None,
        status="pending",
        created_at=now,
        expires_at=now + PROPOSAL_TTL,
    )
    session.add(proposal)
    await session.flush()
    return proposal


def proposal_messages(proposal: Proposal) -> list[Message]:
    return [
        Message.model_validate(m) for part in proposal.changes for m in part.get("messages", [])
    ]


def proposal_changes(proposal: Proposal) -> list[Change]:
    return [Change.model_validate(c) for part in proposal.changes for c in part["changes"]]


def proposal_payload(proposal: Proposal) -> dict[str, Any]:
    """What the API and channel renderers show: id, code, changes with before/after, count."""
    return {
        "id": proposal.id,
        "code": proposal.code,
        "summary": proposal.summary,
        "status": proposal.status,
        "expires_at": proposal.expires_at.isoformat(),
        "estimated_count": proposal.estimated_count,
        "changes": [
            {
                "label": c.label,
                "field": c.field,
                "before": c.shown_before if c.shown_before is not None else c.before,
                "after": c.shown_after if c.shown_after is not None else _shown(c.after),
            }
            for c in proposal_changes(proposal)
        ],
    }


def _shown(value: Any) -> Any:
    return "on approval" if value == AT_EXECUTION else value


def _fmt(value: Any) -> str:
    if value == AT_EXECUTION:
        return str(_shown(value))
    if value is None:
        return "—"
    if isinstance(value, dict):
        return "new" if value else "—"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "—"
    return str(value)


def render_proposal(proposal: Proposal, notices: Sequence[str] = ()) -> str:
    """Plain-text rendering: each change with current and proposed value side by side."""
    lines = [f"Proposed: {proposal.summary}"]
    if proposal.estimated_count is not None:
        lines.append(f"This will touch {proposal.estimated_count} item(s).")
    shown = proposal_changes(proposal)
    for change in shown[:20]:
        if change.field == CREATE:
            verb = "create" if change.before is None else "delete"
            detail = f" ({change.shown_after})" if change.shown_after else ""
            lines.append(f"- {change.label}: {verb}{detail}")
        else:
            before = change.shown_before if change.shown_before is not None else change.before
            after = change.shown_after if change.shown_after is not None else change.after
            lines.append(f"- {change.label}: {_fmt(before)} → {_fmt(after)}")
    if len(shown) > 20:
        lines.append(f"- … and {len(shown) - 20} more changes")
    lines.extend(notices)
    lines.append(
        f'Reply "approve {proposal.code}" to go ahead or "reject {proposal.code}" to cancel '
        "(expires in 24 hours)."
    )
    return "\n".join(lines)


async def find_pending(
    session: AsyncSession, principal: Principal, code: str | None, *, now: datetime
) -> Proposal:
    """The proposal a member means: by code, else their most recent pending one."""
    query = select(Proposal).where(Proposal.workspace_id == principal.workspace_id)
    if code:
        query = query.where(Proposal.code == code.strip()).order_by(Proposal.created_at.desc())
    else:
        query = query.where(
            Proposal.requester_id == principal.member_id, Proposal.status == "pending"
        ).order_by(Proposal.created_at.desc())
    rows = list(await session.scalars(query.limit(5)))
    pending = [p for p in rows if p.status == "pending"]
    if pending:
        return pending[0]
    if rows:
        return rows[0]  # not pending any more: decide() explains why
    raise ProposalError(
        f"I can't find a proposal with code {code}."
        if code
        else "You have nothing waiting for approval."
    )


def _may_decide(principal: Principal, proposal: Proposal) -> bool:
    if principal.member_id is None:
        return False
    return principal.member_id == proposal.requester_id or principal.role in ("owner", "admin")


async def decide(
    session: AsyncSession,
    principal: Principal,
    proposal: Proposal,
    *,
    approve: bool,
    now: datetime,
    mailer: AssistMailer | None = None,
) -> Decision:
    """Approve (execute) or reject PROPOSAL for PRINCIPAL; executes at most once. MAILER sends
    the emails about assists (threaded replies, the CSAT survey on closing); without it a reply
    goes as a plain email and closing sends no survey."""
    if principal.workspace_id != proposal.workspace_id or not _may_decide(principal, proposal):
        raise ProposalError("Only the person who asked, or an owner or admin, can decide this.")
    if proposal.status != "pending":
        return Decision(proposal, False, _decided(proposal.code, proposal.status))
    if proposal.expires_at <= now:
        await session.execute(
            update(Proposal).where(Proposal.id == proposal.id).values(status="expired")
        )
        return Decision(proposal, False, f"Proposal {proposal.code} has expired; ask again.")
    # Claim the decision atomically: of two approvals racing, exactly one updates the row.
    claimed = await session.execute(
        update(Proposal)
        .where(Proposal.id == proposal.id, Proposal.status == "pending")
        .values(
            status="executed" if approve else "rejected",
            decided_by=principal.member_id,
            decided_at=now,
        )
    )
    if cast("CursorResult[Any]", claimed).rowcount != 1:
        # Another approval won the race (a double tap): say what became of the proposal.
        status = await session.scalar(select(Proposal.status).where(Proposal.id == proposal.id))
        return Decision(proposal, False, _decided(proposal.code, status or "decided"))
    actor = f"member:{principal.member_id}"
    if not approve:
        _audit(session, proposal, actor, "proposal.reject", now)
        return Decision(proposal, False, f"Cancelled: {proposal.summary}. Nothing was changed.")
    changes = [c.at(now) for c in proposal_changes(proposal)]
    try:
        async with session.begin_nested():
            await apply_changes(session, proposal.workspace_id, changes)
            await check_invariants(session, proposal.workspace_id)
    except StaleChange as exc:
        await session.execute(
            update(Proposal)
            .where(Proposal.id == proposal.id)
            .values(status="stale", outcome=str(exc))
        )
        _audit(session, proposal, actor, "proposal.stale", now, reason=str(exc))
        return Decision(proposal, False, f"Stopped, nothing was changed: {exc}.")
    for index, message in enumerate(proposal_messages(proposal)):
        assist = (
            await session.get(Assist, message.assist_id)
            if message.assist_id and message.channel == "email" and mailer is not None
            else None
        )
        if assist is not None and assist.workspace_id == proposal.workspace_id:
            assert mailer is not None
            await mailer.email_customer(session, assist, message.address, message.text, None)
            continue
        enqueue(
            session,
            workspace_id=proposal.workspace_id,
            route=Route(channel=message.channel, address=message.address),  # type: ignore[arg-type]
            deliverables=[Deliverable(text=message.text, title=message.subject)],
            dedupe_prefix=f"proposal:{proposal.id}:{index}",
        )
    await _settle_invitations(session, proposal.workspace_id, changes, mailer, actor, now)
    await _settle_availability(session, proposal.workspace_id, changes, mailer, now)
    await _settle_assignments(session, proposal.workspace_id, changes, mailer, now)
    if mailer is not None:
        for assist_id in [a for part in proposal.changes for a in part.get("closes", [])]:
            closed = await session.get(Assist, assist_id)
            if closed is not None and closed.workspace_id == proposal.workspace_id:
                await mailer.after_closing(session, closed, survey=True, now=now)
    reversible = all(part.get("reversible", True) for part in proposal.changes)
    snapshot = Snapshot(
        workspace_id=proposal.workspace_id,
        proposal_id=proposal.id,
        member_id=proposal.requester_id,
        summary=proposal.summary,
        before=[c.model_dump(mode="json") for c in changes] if reversible else [],
        created_at=now,
    )
    session.add(snapshot)
    await session.flush()
    restored = [p["restores"] for p in proposal.changes if p.get("restores") is not None]
    if restored:
        await session.execute(
            update(Snapshot)
            .where(Snapshot.workspace_id == proposal.workspace_id, Snapshot.id.in_(restored))
            .values(restored_at=now)
        )
    await request_fetch(session, proposal.workspace_id, _sources_touched(changes))
    await session.execute(
        update(Proposal).where(Proposal.id == proposal.id).values(outcome="executed")
    )
    _audit(
        session,
        proposal,
        actor,
        "proposal.execute",
        now,
        tools=[part["tool"] for part in proposal.changes],
        changes=len(changes),
        snapshot_id=snapshot.id,
        messages=len(proposal_messages(proposal)),
    )
    return Decision(
        proposal, True, f"Done: {proposal.summary}.", applied=changes, reversible=reversible
    )


def _decided(code: str, status: str) -> str:
    state = {
        "executed": "was already approved and carried out",
        "rejected": "was rejected",
        "expired": "has expired",
        "stale": "could not be carried out because the data changed",
        "pending": "was already decided",
    }.get(status, f"is {status}")
    return f"Proposal {code} {state}."


async def undo_last(
    session: AsyncSession,
    principal: Principal,
    *,
    now: datetime,
    mailer: AssistMailer | None = None,
) -> str:
    """Revert the member's last write if it is at most 30 seconds old. MAILER's links point a
    re-opened invitation's new email at the console."""
    snap = await session.scalar(
        select(Snapshot)
        .where(
            Snapshot.workspace_id == principal.workspace_id,
            Snapshot.member_id == principal.member_id,
            Snapshot.undone_at.is_(None),
        )
        .order_by(Snapshot.created_at.desc())
        .limit(1)
    )
    if snap is None:
        raise ProposalError("There is nothing of yours to undo.")
    age = now - snap.created_at
    if age > UNDO_WINDOW:
        raise ProposalError(
            f'Undo works for 30 seconds; "{snap.summary}" was {int(age.total_seconds())} '
            f"seconds ago. Use show history and restore snapshot {snap.id} instead."
        )
    if not snap.before:
        raise ProposalError(f'"{snap.summary}" cannot be undone (it sent something out).')
    inverse = [Change.model_validate(c).inverse() for c in reversed(snap.before)]
    try:
        async with session.begin_nested():
            await apply_changes(session, principal.workspace_id, inverse)
            # Undoing a cancellation must not take briefings past the plan's quota either.
            await check_invariants(session, principal.workspace_id)
    except StaleChange as exc:
        raise ProposalError(f"Can't undo: {exc}.") from exc
    snap.undone_at = now
    actor = f"member:{principal.member_id}"
    await _settle_invitations(session, principal.workspace_id, inverse, mailer, actor, now)
    await _settle_availability(session, principal.workspace_id, inverse, mailer, now)
    proposal = await session.get(Proposal, snap.proposal_id) if snap.proposal_id else None
    if proposal is not None:
        restored = [p["restores"] for p in proposal.changes if p.get("restores") is not None]
        if restored:  # an undone restore leaves those snapshots restorable again
            await session.execute(
                update(Snapshot)
                .where(Snapshot.workspace_id == snap.workspace_id, Snapshot.id.in_(restored))
                .values(restored_at=None)
            )
    await request_fetch(session, principal.workspace_id, _sources_touched(inverse))
    session.add(
        AuditEntry(
            workspace_id=snap.workspace_id,
            actor=f"member:{principal.member_id}",
            action="snapshot.undo",
            target=str(snap.id),
            details={"proposal_id": snap.proposal_id, "changes": len(inverse)},
            created_at=now,
        )
    )
    return f"Undone: {snap.summary}."


async def _settle_invitations(
    session: AsyncSession,
    workspace_id: str,
    changes: Sequence[Change],
    mailer: AssistMailer | None,
    actor: str,
    now: datetime,
) -> None:
    """An invitation a write made pending (created, renewed, re-opened) is emailed its link in
    this transaction; one it cancelled or removed has its links stop working. Links point at
    MAILER's console, else at the default listening address."""
    touched = [c.key for c in changes if c.entity == "invitation" and c.field in (CREATE, "status")]
    if touched:
        base = mailer.links.console_base if mailer is not None else None
        await settle_invitations(
            session, workspace_id, touched, base or DEFAULT_BASE_URL, actor=actor, now=now
        )


async def _settle_assignments(
    session: AsyncSession,
    workspace_id: str,
    changes: Sequence[Change],
    mailer: AssistMailer | None,
    now: datetime,
) -> None:
    """Whoever a write assigned an assist to is told (email, default channel, the link)."""
    base = mailer.links.base_url if mailer is not None else None
    for change in changes:
        if change.entity != "assist" or change.field != "assignee_id" or not change.after:
            continue
        assist = await session.get(Assist, change.key)
        member = await session.get(Member, change.after)
        if assist is None or member is None or assist.workspace_id != workspace_id:
            continue
        assist.assigned_at = now
        await tell_assignee(session, assist, member, base_url=base)


async def _settle_availability(
    session: AsyncSession,
    workspace_id: str,
    changes: Sequence[Change],
    mailer: AssistMailer | None,
    now: datetime,
) -> None:
    """A member a write made available (or gave a schedule) is handed the waiting assists at
    once on Enterprise, as the console's toggle does."""
    if any(
        c.entity == "member"
        and (c.field == "work_schedule" or (c.field == "availability" and c.after == "available"))
        for c in changes
    ):
        await session.flush()
        base = mailer.links.base_url if mailer is not None else None
        await hand_out(session, workspace_id, now=now, base_url=base)


def _sources_touched(changes: Sequence[Change]) -> list[int]:
    """Training sources a write changed: a URL source that is (again) active afterwards is
    fetched anew, since its page may have changed while the snapshot kept the old text."""
    return [int(c.key) for c in changes if c.entity == "training_source"]


def _audit(
    session: AsyncSession,
    proposal: Proposal,
    actor: str,
    action: str,
    now: datetime,
    **details: Any,
) -> None:
    session.add(
        AuditEntry(
            workspace_id=proposal.workspace_id,
            actor=actor,
            action=action,
            target=proposal.id,
            details={"code": proposal.code, "summary": proposal.summary, **details},
            created_at=now,
        )
    )
