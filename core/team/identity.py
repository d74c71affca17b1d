"""Identity resolution: channel identity → member → workspace and role; others are customers."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.task import Task
from storage.models import ChannelIdentity, Member, Workspace
from storage.statements import Statement

# A phone number is one identity across SMS, WhatsApp and voice.
_PHONE_CHANNELS = ("sms", "whatsapp", "voice")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking, as far as the workspace knows."""

    workspace_id: str
    workspace_name: str
    plan: str
    timezone: str
    member_id: str | None = None
    name: str | None = None
    role: str | None = None

    @property
    def is_member(self) -> bool:
        return self.member_id is not None

    @property
    def is_customer(self) -> bool:
        return self.member_id is None


_workspaces = Workspace.__table__
_members = Member.__table__
_identities = ChannelIdentity.__table__
_WORKSPACE = (_workspaces.c.id, _workspaces.c.name, _workspaces.c.plan, _workspaces.c.timezone)
_MEMBER = (
    _members.c.id.label("member_id"),
    _members.c.name.label("member_name"),
    _members.c.role,
    _members.c.status,
)
# Every task resolves its sender, so the workspace and its member come back in one statement,
# built once (bound parameters only): the workspace row, outer-joined to the member the
# sender's address names in it (none for a customer).
_BY_MEMBER_ID = Statement(
    select(*_WORKSPACE, *_MEMBER)
    .select_from(
        _workspaces.outerjoin(
            _members,
            and_(
                _members.c.id == bindparam("address"),
                _members.c.workspace_id == _workspaces.c.id,
            ),
        )
    )
    .where(_workspaces.c.id == bindparam("workspace_id"))
)


@functools.cache
def _by_identity(channels: tuple[str, ...]) -> Statement:
    """The lookup by a sender's address on CHANNELS (one statement per channel or group of
    phone channels, built once). The channels are compared one by one, not with an IN of an
    expanding parameter: that is rendered again at every execution (about a tenth of a
    millisecond of each task's CPU)."""
    return Statement(
        select(*_WORKSPACE, *_MEMBER)
        .select_from(
            # Two outer joins, not one to a join of the identity and its member: SQLite
            # materialised that join from every identity of every workspace, at every task.
            # An identity always has its member (a foreign key, deleted with it).
            _workspaces.outerjoin(
                _identities,
                and_(
                    _identities.c.workspace_id == _workspaces.c.id,
                    or_(*(_identities.c.channel == channel for channel in channels)),
                    _identities.c.address == bindparam("address"),
                ),
            ).outerjoin(_members, _members.c.id == _identities.c.member_id)
        )
        .where(_workspaces.c.id == bindparam("workspace_id"))
        .limit(1)
    )


async def resolve(session: AsyncSession, task: Task) -> Principal:
    """The principal behind TASK; raises LookupError if the workspace is gone."""
    address = task.sender.address
    if task.sender.channel in ("web", "schedule"):
        # These senders are member ids put there by our own authenticated edge.
        query = _BY_MEMBER_ID
    else:
        channels = (
            _PHONE_CHANNELS if task.sender.channel in _PHONE_CHANNELS else (task.sender.channel,)
        )
        address = address.removeprefix("whatsapp:")
        if task.sender.channel == "email":
            address = address.lower()
        query = _by_identity(tuple(channels))
    params = {"workspace_id": task.workspace_id, "address": address}
    rows = await query.rows(session, params)
    row = rows[0] if rows else None
    if row is None:
        raise LookupError(f"workspace {task.workspace_id} does not exist")
    base = {
        "workspace_id": row.id,
        "workspace_name": row.name,
        "plan": row.plan,
        "timezone": row.timezone,
    }
    if row.member_id is None or row.status != "active":
        return Principal(**base)
    return Principal(**base, member_id=row.member_id, name=row.member_name, role=row.role)
