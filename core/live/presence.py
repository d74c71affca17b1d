"""Who is live: a member on chosen workflows (AI agents of their groups), held either by the
console's WebSocket, which sends a heartbeat every HEARTBEAT seconds (a member whose
heartbeats stop for the presence timeout, 30 s by default, is taken off), or by a chat message
("go live on billing"), which holds until they go offline or CHAT_HOLD passes. The rows are in
the database, so every node sees the same live operators."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from core.live import access, groups
from core.team.directory import DirectoryError, audit
from delivery.live import notify
from storage.db import upsert_insert
from storage.domain import AiAgent
from storage.live import LiveSession, OperatorPresence
from storage.models import Member, Workspace

HEARTBEAT = 10.0  # seconds between the console's heartbeats
DEFAULT_TIMEOUT = 30.0  # seconds without one before a member is taken off
CHAT_HOLD = timedelta(hours=12)  # a presence taken by chat message ends by itself after this


def is_live(now: datetime, timeout: float) -> ColumnElement[bool]:
    """The presence rows that hold at NOW."""
    return or_(
        and_(
            OperatorPresence.via == "console",
            OperatorPresence.seen_at >= now - timedelta(seconds=timeout),
        ),
        and_(OperatorPresence.via == "chat", OperatorPresence.until > now),
    )


@dataclass(frozen=True)
class LiveOperator:
    member_id: str
    name: str
    email: str | None
    workflows: list[dict[str, str]]
    via: str
    since: datetime
    active_sessions: int

    def to_json(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "name": self.name,
            "email": self.email,
            "workflows": self.workflows,
            "via": self.via,
            "since": self.since.isoformat(),
            "active_sessions": self.active_sessions,
        }


async def active_counts(session: AsyncSession, workspace_id: str) -> dict[str, int]:
    """Sessions each operator holds now (offers waiting for them count too: they are about
    to hold them)."""
    held = await session.execute(
        select(LiveSession.operator_id, func.count())
        .where(LiveSession.workspace_id == workspace_id, LiveSession.status == "active")
        .group_by(LiveSession.operator_id)
    )
    counts = {str(m): int(n) for m, n in held.all() if m}
    offered = await session.execute(
        select(LiveSession.offered_to, func.count())
        .where(LiveSession.workspace_id == workspace_id, LiveSession.status == "offered")
        .group_by(LiveSession.offered_to)
    )
    for member_id, n in offered.all():
        if member_id:
            counts[str(member_id)] = counts.get(str(member_id), 0) + int(n)
    return counts


async def live_operators(
    session: AsyncSession,
    workspace_id: str,
    *,
    now: datetime,
    stale_after: float = DEFAULT_TIMEOUT,
    agent_id: str | None = None,
) -> list[LiveOperator]:
    """The members live now (on AGENT_ID, when given), the longest live first."""
    rows = (
        await session.execute(
            select(OperatorPresence, Member)
            .join(Member, Member.id == OperatorPresence.member_id)
            .where(
                OperatorPresence.workspace_id == workspace_id,
                Member.status == "active",
                is_live(now, stale_after),
            )
            .order_by(OperatorPresence.since, Member.name)
        )
    ).all()
    if not rows:
        return []
    names = dict(
        (
            await session.execute(
                select(AiAgent.id, AiAgent.name).where(AiAgent.workspace_id == workspace_id)
            )
        ).all()
    )
    counts = await active_counts(session, workspace_id)
    found = []
    for presence, member in rows:
        flows = [str(f) for f in presence.workflows or [] if f in names]
        if agent_id is not None and agent_id not in flows:
            continue
        found.append(
            LiveOperator(
                member.id,
                member.name,
                member.email,
                [{"id": f, "name": names[f]} for f in flows],
                presence.via,
                presence.since,
                counts.get(member.id, 0),
            )
        )
    return found


async def presence_of(
    session: AsyncSession, member_id: str, *, now: datetime, stale_after: float = DEFAULT_TIMEOUT
) -> OperatorPresence | None:
    """MEMBER_ID's presence, when it holds."""
    return await session.scalar(
        select(OperatorPresence).where(
            OperatorPresence.member_id == member_id, is_live(now, stale_after)
        )
    )


async def _workflows(
    session: AsyncSession, workspace_id: str, member_id: str, chosen: Iterable[str] | None
) -> list[str]:
    mine = {a.id: a for a in await groups.workflows_of(session, workspace_id, member_id)}
    if not mine:
        raise DirectoryError(
            "You are in no operator group that handles a workflow; a manager adds you to one "
            "under Live."
        )
    if chosen is None:
        return list(mine)
    picked = list(dict.fromkeys(chosen))
    if not picked:
        raise DirectoryError("Pick at least one workflow to go live on.")
    other = [w for w in picked if w not in mine]
    if other:
        raise DirectoryError(
            "You can go live only on your groups' workflows: "
            + ", ".join(a.name for a in mine.values())
        )
    return picked


async def go_live(
    session: AsyncSession,
    workspace: Workspace,
    member: Member,
    *,
    workflows: Iterable[str] | None,
    via: str,
    now: datetime,
    connection: str | None = None,
    node: str | None = None,
    route: dict[str, Any] | None = None,
) -> OperatorPresence:
    """MEMBER goes live on WORKFLOWS (agent ids; None: every workflow of their groups), by
    the console (VIA `console`, held by CONNECTION's heartbeats) or by chat (`chat`: offers
    reach them on ROUTE until CHAT_HOLD passes). Going live again changes the workflows."""
    access.check(workspace, member, access.WRITE)
    if via not in ("console", "chat"):
        raise DirectoryError("via is console or chat")
    flows = await _workflows(session, workspace.id, member.id, workflows)
    values: dict[str, Any] = {
        "workspace_id": workspace.id,
        "workflows": flows,
        "via": via,
        "route": route,
        "connection": connection,
        "node": node,
        "seen_at": now,
        "until": now + CHAT_HOLD if via == "chat" else None,
    }
    was = await session.get(OperatorPresence, member.id, populate_existing=True)
    await session.execute(
        upsert_insert(session)(OperatorPresence)
        .values(member_id=member.id, since=now, **values)
        .on_conflict_do_update(index_elements=["member_id"], set_=values)
    )
    if was is None:
        await audit(
            session,
            workspace.id,
            f"member:{member.id}",
            "live.online",
            member.id,
            {"workflows": flows, "via": via},
        )
    # The live dashboards of the workspace show who is live: they hear of every change.
    await notify(session, workspace.id, None, "live_presence", {"member_id": member.id})
    found = await session.get(OperatorPresence, member.id, populate_existing=True)
    assert found is not None
    return found


async def heartbeat(
    session: AsyncSession, member_id: str, connection: str, *, now: datetime, node: str | None
) -> bool:
    """CONNECTION's heartbeat: whether MEMBER_ID is still live through it. A connection that
    reconnects (another tab, another node after a restart) takes the presence over."""
    result = await session.execute(
        update(OperatorPresence)
        .where(OperatorPresence.member_id == member_id, OperatorPresence.via == "console")
        .values(seen_at=now, connection=connection, node=node)
    )
    return bool(getattr(result, "rowcount", 0))


async def take_off(
    session: AsyncSession, workspace_id: str, member_id: str, *, reason: str
) -> bool:
    """Remove MEMBER_ID's presence at once (they went offline, signed out, timed out);
    whether they were live. Their sessions are handed on by `sessions.release`."""
    result = await session.execute(
        delete(OperatorPresence).where(
            OperatorPresence.workspace_id == workspace_id,
            OperatorPresence.member_id == member_id,
        )
    )
    gone = bool(getattr(result, "rowcount", 0))
    if gone:
        await notify(session, workspace_id, None, "live_presence", {"member_id": member_id})
        await audit(
            session,
            workspace_id,
            f"member:{member_id}",
            "live.offline",
            member_id,
            {"reason": reason},
        )
    return gone


async def stale(
    session: AsyncSession, *, now: datetime, stale_after: float, limit: int = 100
) -> list[tuple[str, str]]:
    """Presence rows that no longer hold: (workspace_id, member_id)."""
    rows = await session.execute(
        select(OperatorPresence.workspace_id, OperatorPresence.member_id)
        .where(~is_live(now, stale_after))
        .limit(limit)
    )
    return [(str(w), str(m)) for w, m in rows.all()]
