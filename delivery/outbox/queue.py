"""Writing replies into the outbox inside the caller's transaction, and replaying dead letters."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import CursorResult, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from delivery.outbox.claims import OUTBOX
from models.deliverable import Deliverable
from models.task import Route
from storage.models import OutboxRow
from storage.statements import Statement
from storage.types import new_id, utcnow

_INSERT_REPLIES = Statement(insert(OUTBOX))


def reply_rows(
    *,
    workspace_id: str,
    route: Route,
    deliverables: Iterable[Deliverable],
    dedupe_prefix: str,
    task_id: str | None = None,
) -> list[dict[str, Any]]:
    """The outbox rows of DELIVERABLES: the dedupe key `<prefix>:<n>` makes a second enqueue
    of the same result impossible."""
    now = utcnow()
    return [
        {
            "id": new_id(),
            "workspace_id": workspace_id,
            "task_id": task_id,
            "dedupe_key": f"{dedupe_prefix}:{seq}",
            "seq": seq,
            "channel": route.channel,
            "address": route.address,
            "thread": route.thread,
            "deliverable": deliverable.model_dump(mode="json"),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for seq, deliverable in enumerate(deliverables)
    ]


def enqueue(
    session: AsyncSession,
    *,
    workspace_id: str,
    route: Route,
    deliverables: Iterable[Deliverable],
    dedupe_prefix: str,
    task_id: str | None = None,
) -> list[str]:
    """Add replies to the outbox inside the caller's transaction (written at its next flush);
    returns their ids."""
    rows = reply_rows(
        workspace_id=workspace_id,
        route=route,
        deliverables=deliverables,
        dedupe_prefix=dedupe_prefix,
        task_id=task_id,
    )
    session.add_all(OutboxRow(**row) for row in rows)
    return [row["id"] for row in rows]


async def insert_rows(on: AsyncSession | AsyncConnection, rows: list[dict[str, Any]]) -> list[str]:
    """ROWS (from `reply_rows`) written at once with one compiled INSERT and no unit of work:
    for the pipeline, which writes a reply for every task (the ORM's flush of the rows cost
    about a tenth of a task's CPU), run by the driver (`storage.statements`). Returns their
    ids."""
    await _INSERT_REPLIES.run_many(on, rows)
    return [row["id"] for row in rows]


async def replay(session: AsyncSession, workspace_id: str, outbox_id: str | None = None) -> int:
    """Put dead-lettered rows back in the queue (one, or all of the workspace's); returns count."""
    where = [OUTBOX.c.workspace_id == workspace_id, OUTBOX.c.status == "dead"]
    if outbox_id is not None:
        where.append(OUTBOX.c.id == outbox_id)
    result = await session.execute(
        update(OUTBOX)
        .where(*where)
        .values(status="pending", attempts=0, next_attempt_at=utcnow(), last_error=None)
    )
    # An UPDATE's result is a CursorResult; the session's signature only promises a Result.
    return cast("CursorResult[Any]", result).rowcount or 0
