"""Live events for open consoles: what changed in a workspace (a new assist, a customer's reply,
a status change, an operator's answer), pushed within a second or two on every node.

Two sources feed each node's `LiveHub`:
- **The change feed**, polled every half second for the workspaces that have a console open:
  `assists.updated_at` (every writer of an assist stamps it: escalations, customer replies by
  email or chat, CSAT ratings, the team's actions) and the audit log's executed and undone
  proposals (the operator's writes, which change rows field by field). Polling the database
  works the same on SQLite and across PostgreSQL nodes, and catches writers that know nothing
  of consoles.
- **`notify`**, for events no table shows (an operator's answer is ready): sent with the
  caller's transaction, so nobody hears of work that was rolled back. On PostgreSQL it is a
  NOTIFY every node's hub LISTENs to; SQLite serves one node, whose hubs get it after the
  commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, cast, event, literal, select, text, union_all
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.domain import Assist
from storage.models import AuditEntry, ConsoleSession
from storage.types import utcnow

log = logging.getLogger(__name__)

CHANNEL = "switchboard_live"  # the PostgreSQL NOTIFY channel
MAX_PAYLOAD = 7000  # bytes of JSON; PostgreSQL refuses a NOTIFY payload over 8000
POLL_INTERVAL = 0.5
# Rows stamped this long ago are read again on every poll: a transaction that stamped its row
# earlier may commit later (an escalation waits for the model), and nodes' clocks differ.
CHANGE_MARGIN = timedelta(minutes=2)
# Audit actions that change assists without stamping them: proposals carried out or undone.
_AUDITED = ("proposal.execute", "snapshot.undo")
QUEUE_SIZE = 200


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """Something an open console of WORKSPACE_ID should show; only MEMBER_ID's consoles when
    it is set. KIND names it (`assist`, `changed`, or what a `notify` caller chose); DATA is
    small JSON (ids and states: a console fetches the rest through its own pages)."""

    workspace_id: str
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    member_id: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {"w": self.workspace_id, "m": self.member_id, "k": self.kind, "d": self.data},
            separators=(",", ":"),
            default=str,
        )

    @classmethod
    def from_json(cls, raw: str) -> LiveEvent:
        """Raises ValueError (or KeyError, TypeError) on a payload not made by `to_json`."""
        body = json.loads(raw)
        return cls(
            workspace_id=str(body["w"]),
            kind=str(body["k"]),
            data=dict(body["d"]),
            member_id=body["m"],
        )


# The hubs of this process, by the engine whose commits they hear (SQLite: one node, so an
# event needs to go no further). Weak: a disposed database leaves nothing behind.
_LOCAL_HUBS: weakref.WeakKeyDictionary[Engine, set[LiveHub]] = weakref.WeakKeyDictionary()


async def notify(
    session: AsyncSession,
    workspace_id: str,
    member_id: str | None,
    kind: str,
    payload: dict[str, Any] | None = None,
) -> LiveEvent:
    """Push an event to the open consoles of WORKSPACE_ID (only MEMBER_ID's when given) once
    SESSION's transaction commits; nothing is pushed if it rolls back. Consoles receive it as
    a Server-Sent Event named KIND whose data is PAYLOAD (JSON).

    Raises:
        ValueError: PAYLOAD is over MAX_PAYLOAD bytes as JSON (send ids, not documents).
    """
    live = LiveEvent(workspace_id, kind, dict(payload or {}), member_id)
    body = live.to_json()
    if len(body.encode()) > MAX_PAYLOAD:
        raise ValueError(f"a live event's payload is limited to {MAX_PAYLOAD} bytes of JSON")
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_notify(:channel, :body)"), {"channel": CHANNEL, "body": body}
        )
        return live
    hubs = _LOCAL_HUBS.get(bind.engine)
    if hubs:

        def delivered(_session: Any) -> None:
            for hub in list(hubs):
                hub.deliver(live)

        event.listen(session.sync_session, "after_commit", delivered, once=True)
    return live


class Subscription:
    """One open console's queue of events; `resync` when it fell too far behind."""

    def __init__(
        self, workspace_id: str, member_id: str | None, session_id: str | None = None
    ) -> None:
        self.workspace_id = workspace_id
        self.member_id = member_id
        self.session_id = session_id  # a console session: its stream ends when it is revoked
        self.queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(QUEUE_SIZE)
        self.closed = False

    def put(self, live: LiveEvent) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(live)
        except asyncio.QueueFull:
            # A console this far behind reloads its views instead of replaying every event.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(LiveEvent(self.workspace_id, "resync"))

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)

    async def next(self, within: float) -> LiveEvent | None:
        """The next event, or None after WITHIN seconds; raises EOFError once closed."""
        try:
            item = await asyncio.wait_for(self.queue.get(), within)
        except TimeoutError:
            if self.closed:
                raise EOFError from None
            return None
        if item is None:
            raise EOFError
        return item


class LiveHub:
    """One per node: the open consoles by workspace, the change feed polled for them, and (on
    PostgreSQL) a LISTEN connection for `notify`'s events. Starts with its first subscriber."""

    def __init__(self, db: Database, *, interval: float = POLL_INTERVAL) -> None:
        self._db = db
        self._interval = interval
        self._subscribers: dict[str, set[Subscription]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._seen: dict[tuple[str, str, datetime], datetime] = {}
        self._started: datetime | None = None
        self._primed = False
        self._closed = False
        self._wake = asyncio.Event()
        self._polled = asyncio.Event()  # the feed has been read once
        self._listening = asyncio.Event()  # the NOTIFY listener is registered (PostgreSQL)
        _LOCAL_HUBS.setdefault(db.engine.sync_engine, set()).add(self)

    @contextlib.contextmanager
    def subscribe(
        self, workspace_id: str, member_id: str | None, session_id: str | None = None
    ) -> Iterator[Subscription]:
        """A console of MEMBER_ID in WORKSPACE_ID listens while the block runs; when its
        console SESSION_ID is revoked (signed out, on any node) it gets `signed-out` and
        its stream ends."""
        if self._closed:
            raise RuntimeError("the live hub is closed")
        sub = Subscription(workspace_id, member_id, session_id)
        self._subscribers.setdefault(workspace_id, set()).add(sub)
        self._start()
        try:
            yield sub
        finally:
            sub.close()
            subs = self._subscribers.get(workspace_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[workspace_id]

    def deliver(self, live: LiveEvent) -> None:
        """Hand LIVE to the open consoles it is for (this node only)."""
        for sub in list(self._subscribers.get(live.workspace_id, ())):
            if live.member_id is None or live.member_id == sub.member_id:
                sub.put(live)

    async def ready(self) -> None:
        """Wait until every change from now on will be heard: the feed has been read once
        and, on PostgreSQL, the NOTIFY listener is registered."""
        await self._polled.wait()
        if self._db.is_postgres:
            await self._listening.wait()

    def _start(self) -> None:
        if self._tasks:
            return
        self._started = utcnow()
        self._tasks.append(asyncio.create_task(self._poll_forever(), name="live-feed"))
        if self._db.is_postgres:
            self._tasks.append(asyncio.create_task(self._listen_forever(), name="live-listen"))

    async def close(self) -> None:
        """Stop polling and listening; every open console's stream ends."""
        self._closed = True
        self._wake.set()
        for subs in list(self._subscribers.values()):
            for sub in list(subs):
                sub.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        hubs = _LOCAL_HUBS.get(self._db.engine.sync_engine)
        if hubs is not None:
            hubs.discard(self)

    # --- the change feed ---------------------------------------------------------------------

    async def _poll_forever(self) -> None:
        while not self._closed:
            try:
                await self.poll()
            except Exception:
                # The database may be restarting: the next poll tries again.
                log.exception("live feed poll failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)

    async def poll(self) -> int:
        """Read what changed lately in the workspaces with open consoles and hand on what was
        not seen before (the first poll learns, without handing on, what changed before the
        hub started). Returns how many."""
        workspaces = list(self._subscribers)
        if not workspaces:
            self._polled.set()
            return 0
        since = utcnow() - CHANGE_MARGIN
        assists = select(
            literal("assist").label("source"),
            Assist.id.label("key"),
            Assist.workspace_id,
            Assist.number,
            Assist.status.label("state"),
            Assist.updated_at.label("at"),
        ).where(Assist.workspace_id.in_(workspaces), Assist.updated_at >= since)
        audited = select(
            literal("audit").label("source"),
            AuditEntry.id.label("key"),
            AuditEntry.workspace_id,
            cast(None, Integer).label("number"),
            cast(AuditEntry.action, String).label("state"),
            AuditEntry.created_at.label("at"),
        ).where(
            AuditEntry.workspace_id.in_(workspaces),
            AuditEntry.created_at >= since,
            AuditEntry.action.in_(_AUDITED),
        )
        parts: list[Any] = [assists, audited]
        sessions = {
            sub.session_id
            for subs in self._subscribers.values()
            for sub in subs
            if sub.session_id is not None
        }
        if sessions:
            parts.append(
                select(
                    literal("session").label("source"),
                    ConsoleSession.id.label("key"),
                    ConsoleSession.workspace_id,
                    cast(None, Integer).label("number"),
                    literal("revoked").label("state"),
                    ConsoleSession.revoked_at.label("at"),
                ).where(ConsoleSession.id.in_(sessions), ConsoleSession.revoked_at.is_not(None))
            )
        async with self._db.session() as session:
            rows = (await session.execute(union_all(*parts))).all()
        handed = 0
        for row in rows:
            if row.source == "session":
                self._signed_out(row.workspace_id, row.key)
                continue
            at = _aware(row.at)
            key = (row.source, row.key, at)
            if key in self._seen:
                continue
            self._seen[key] = at
            if not self._primed and self._started is not None and at < self._started:
                continue
            if row.source == "assist":
                live = LiveEvent(
                    row.workspace_id, "assist", {"ref": f"A-{row.number}", "status": row.state}
                )
            else:
                live = LiveEvent(row.workspace_id, "changed", {"action": row.state})
            self.deliver(live)
            handed += 1
        self._primed = True
        self._polled.set()
        for key, at in list(self._seen.items()):
            if at < since:
                del self._seen[key]
        return handed

    def _signed_out(self, workspace_id: str, session_id: str) -> None:
        for sub in list(self._subscribers.get(workspace_id, ())):
            if sub.session_id == session_id and not sub.closed:
                sub.put(LiveEvent(workspace_id, "signed-out"))
                sub.close()

    # --- NOTIFY (PostgreSQL) -----------------------------------------------------------------

    async def _listen_forever(self) -> None:
        while not self._closed:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live listener lost its connection; listening again")
            self._listening.clear()
            if not self._closed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)

    async def _listen(self) -> None:
        async with self._db.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            pg: Any = raw.driver_connection
            lost = asyncio.Event()

            def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
                try:
                    live = LiveEvent.from_json(payload)
                except (ValueError, KeyError, TypeError):
                    log.warning("ignored a malformed live event on %s", CHANNEL)
                    return
                self.deliver(live)

            pg.add_termination_listener(lambda _conn: lost.set())
            await pg.add_listener(CHANNEL, on_notify)
            self._listening.set()
            try:
                stop = asyncio.create_task(self._wake.wait())
                gone = asyncio.create_task(lost.wait())
                try:
                    await asyncio.wait((stop, gone), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stop.cancel()
                    gone.cancel()
            finally:
                if not lost.is_set():
                    with contextlib.suppress(Exception):
                        await pg.remove_listener(CHANNEL, on_notify)


def _aware(value: datetime) -> datetime:
    """A union's timestamp as an aware UTC datetime (SQLite hands back naive text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=utcnow().tzinfo)
