"""The outbox rows a worker holds: claiming due rows under a lease, putting back, releasing."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update

from models.deliverable import Deliverable
from models.task import Route
from storage.db import Database
from storage.models import OutboxRow
from storage.sqlite_driver import inline
from storage.statements import Statement
from storage.types import utcnow

OUTBOX = OutboxRow.metadata.tables[OutboxRow.__tablename__]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ClaimedReply:
    id: str
    workspace_id: str
    route: Route
    deliverable: Deliverable
    attempts: int
    parts_sent: int = 0
    created_at: datetime | None = None
    seq: int = 0
    # The part at parts_sent may already be at the provider (see OutboxRow.in_doubt).
    in_doubt: bool = False
    # The task whose reply this is (None for replies no task wrote), named on its log lines.
    task_id: str | None = None


@dataclass(frozen=True)
class PutBack:
    """A held row going back to the queue, due again at DUE, with what it has sent so far."""

    row_id: str
    parts_sent: int
    in_doubt: bool
    due: datetime


class Reservation:
    """Room in a node's outbox for replies its pipeline is about to commit. They are written
    already claimed by the node (`columns`), so the outbox needs no claim of its own: after
    the commit, `adopt` hands them over; if the transaction does not commit, `cancel`. A
    node that dies in between leaves them to the lease, as it would a claim."""

    __slots__ = ("_adopt", "_cancel", "_open", "columns", "count")

    def __init__(
        self,
        count: int,
        columns: dict[str, Any],
        adopt: Callable[[list[ClaimedReply]], None],
        cancel: Callable[[int], None],
    ) -> None:
        self.count = count
        self.columns = columns
        self._adopt = adopt
        self._cancel = cancel
        self._open = True

    def adopt(self, rows: Sequence[dict[str, Any]]) -> None:
        """ROWS (as written, with `columns`) committed: the outbox takes them from here."""
        if self._open:
            self._open = False
            fresh = {"parts_sent": 0, "in_doubt": False}  # the columns' defaults
            self._adopt([claimed_reply(SimpleNamespace(**fresh, **row)) for row in rows])

    def cancel(self) -> None:
        if self._open:
            self._open = False
            self._cancel(self.count)


async def claim_due(
    db: Database, *, node_id: str, lease: timedelta, limit: int, ids: Collection[str] = ()
) -> list[ClaimedReply]:
    """Claim replies whose time has come, or whose claim outlived its lease, oldest first;
    with IDS, those of them still waiting (just committed: no search, no sort)."""
    stmt = claim_statement(node_id=node_id, lease=lease, limit=limit, ids=ids, now=utcnow())
    async with db.writing(), db.session() as session:
        rows = (await session.execute(stmt)).all()
    # RETURNING follows no order: sort again, so one conversation's replies keep theirs.
    rows = sorted(rows, key=lambda r: (r.created_at, r.seq, r.id))
    return [claimed_reply(row) for row in rows]


def claim_statement(
    *, node_id: str, lease: timedelta, limit: int, ids: Collection[str], now: datetime
) -> Any:
    """The UPDATE ... RETURNING that claims (see `claim_due`)."""
    due = (
        select(OUTBOX.c.id)
        .where(
            or_(
                and_(OUTBOX.c.status == "pending", OUTBOX.c.next_attempt_at <= now),
                and_(OUTBOX.c.status == "sending", OUTBOX.c.lease_until < now),
            )
        )
        # Oldest first: a reply put back for its slot is taken again before newer ones,
        # and one conversation's replies keep the order they were written in.
        .order_by(OUTBOX.c.created_at, OUTBOX.c.seq, OUTBOX.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    # Another node may claim the same rows at the same time: the status condition, read
    # again once its row lock is released, lets only one have each. It compares
    # `status || ''`, which no index holds: given the bare column and more than one id,
    # SQLite's planner took the status index and read every pending row (760 µs a claim
    # under load, against 80 by primary key).
    where = (
        and_(OUTBOX.c.id.in_(ids), OUTBOX.c.status.concat("") == "pending")
        if ids
        else OUTBOX.c.id.in_(due.scalar_subquery())
    )
    stmt = (
        update(OUTBOX)
        .where(where)
        .values(
            status="sending",
            claimed_by=node_id,
            lease_until=now + lease,
            # Taken over from a node whose lease ran out: it may have died mid-call.
            in_doubt=or_(OUTBOX.c.in_doubt, OUTBOX.c.status == "sending"),
        )
        .returning(
            OUTBOX.c.id,
            OUTBOX.c.workspace_id,
            OUTBOX.c.channel,
            OUTBOX.c.address,
            OUTBOX.c.thread,
            OUTBOX.c.deliverable,
            OUTBOX.c.attempts,
            OUTBOX.c.parts_sent,
            OUTBOX.c.created_at,
            OUTBOX.c.seq,
            OUTBOX.c.in_doubt,
            OUTBOX.c.task_id,
        )
    )
    return stmt


def claimed_reply(row: Any) -> ClaimedReply:
    """The claimed reply ROW holds (a row of the claim's RETURNING, or one as written)."""
    return ClaimedReply(
        id=row.id,
        workspace_id=row.workspace_id,
        route=Route(channel=row.channel, address=row.address, thread=row.thread),
        deliverable=Deliverable.model_validate(row.deliverable),
        attempts=row.attempts,
        parts_sent=row.parts_sent or 0,
        created_at=row.created_at,
        seq=row.seq,
        in_doubt=bool(row.in_doubt),
        task_id=row.task_id,
    )


# Put back for a later slot: compiled once and run by the driver (through a session it cost
# some 200 µs of CPU a put-back more); one row alone is its own transaction on PostgreSQL.
_PUT_BACK = Statement(
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("row_id"))
    .values(
        status="pending",
        lease_until=None,
        parts_sent=bindparam("parts"),
        in_doubt=bindparam("doubt"),
        next_attempt_at=bindparam("due"),
    )
)


async def put_back(db: Database, rows: Sequence[PutBack]) -> None:
    """Rate limit: back in the queue for a later slot, no attempt counted."""
    params = [
        {"row_id": row.row_id, "parts": row.parts_sent, "doubt": row.in_doubt, "due": row.due}
        for row in rows
    ]
    if not params:
        return
    with inline(len(params)):  # the statements and their commit
        async with db.write() as conn:
            if len(params) == 1:
                await _PUT_BACK.run_alone(conn, params[0])
            else:
                await _PUT_BACK.run_many(conn, params)


async def release(db: Database, node_id: str) -> None:
    """Hand back rows NODE_ID claimed but did not finish."""
    async with db.writing(), db.session() as session:
        await session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.status == "sending", OUTBOX.c.claimed_by == node_id)
            .values(status="pending", lease_until=None)
        )
