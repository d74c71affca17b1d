"""The inbound journal with group commit: one writer batches rows from many requests.

Each webhook handler hands its Task to `TaskJournal.append` and awaits its own row's commit
before answering 2xx. The writer commits whatever is queued as soon as the previous commit
returns, so under load one fsync covers many requests and SQLite keeps a single writer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from models.task import Task
from storage.db import Database
from storage.models import TaskRow
from storage.sqlite_driver import inline
from storage.statements import Statement

log = logging.getLogger(__name__)
_tasks = TaskRow.metadata.tables[TaskRow.__tablename__]
KEY = tuple[str, str, str]  # a task's (workspace, channel, external id)


@dataclass(frozen=True, slots=True)
class Accepted:
    """The journal's answer: the task id that holds this request, and whether it is new."""

    task_id: str
    created: bool


class Handoff(Protocol):
    """Room in the node's pipeline for a batch about to be committed (see `TaskJournal`): its
    rows are written with `columns` (already claimed by the node), and once they are
    committed the ones inserted are handed over with `adopt`; `cancel` if the commit failed."""

    columns: dict[str, Any]

    def adopt(self, tasks: Sequence[Task]) -> None: ...

    def cancel(self) -> None: ...


class JournalClosed(RuntimeError):
    """The journal is shutting down and takes no more rows."""


def task_values(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "workspace_id": task.workspace_id,
        "channel": task.channel,
        "external_id": task.external_id,
        "kind": task.kind,
        "sender_channel": task.sender.channel,
        "sender_address": task.sender.address,
        "conversation": task.conversation,
        "text": task.text,
        "attachments": [a.model_dump(mode="json") for a in task.attachments],
        "reply_route": task.reply_route.model_dump(mode="json"),
        "raw": task.raw,
        "approval": task.approval.model_dump(mode="json") if task.approval else None,
        "briefing": task.briefing.model_dump(mode="json") if task.briefing else None,
        "sender_name": task.sender_name,
        "email_record": task.email_record,
        "received_at": task.received_at,
        "status": "queued",
        "attempts": 0,
    }


def _key(row: dict[str, Any]) -> KEY:
    return (row["workspace_id"], row["channel"], row["external_id"])


# A row whose (workspace, channel, external id) is taken is skipped. On SQLite the insert is
# run by the driver, whose row count says how many were not; PostgreSQL's returns the ids
# of the rows it inserted.
_KEY_COLUMNS = ["workspace_id", "channel", "external_id"]
_INSERT_NEW = Statement(sqlite_insert(_tasks).on_conflict_do_nothing(index_elements=_KEY_COLUMNS))
# PostgreSQL: run by the driver, compiled once, where SQLAlchemy's execution of the insert
# (its many-values form, RETURNING) cost some 70 µs of CPU more for one row and 19-21 µs a row
# in larger batches; and as a transaction of its own (no BEGIN, no COMMIT: one round trip to
# the server instead of three), a batch's rows sent together and written all or none
# (`rows_many_alone`). A retry's lookup after it only reads.
_INSERT_RETURNING = Statement(
    pg_insert(_tasks).on_conflict_do_nothing(index_elements=_KEY_COLUMNS).returning(_tasks.c.id)
)


async def _existing(conn: AsyncConnection, rows: list[dict[str, Any]]) -> dict[KEY, str]:
    """The ids of the tasks that hold ROWS' keys, by key."""
    keys = or_(
        *(
            and_(
                _tasks.c.workspace_id == r["workspace_id"],
                _tasks.c.channel == r["channel"],
                _tasks.c.external_id == r["external_id"],
            )
            for r in rows
        )
    )
    query = select(
        _tasks.c.id, _tasks.c.workspace_id, _tasks.c.channel, _tasks.c.external_id
    ).where(keys)
    return {
        (row.workspace_id, row.channel, row.external_id): row.id
        for row in await conn.execute(query)
    }


_Queued = tuple[Task, dict[str, Any], "asyncio.Future[Accepted]"]


class TaskJournal:
    """Commits tasks in batches; `append` returns once the task's row is durable.

    With RESERVE (the node's pipeline), a batch the pipeline has room for is written already
    claimed by it and handed over after the commit (`Handoff`): no claim transaction is made
    for it, as the pipeline does for its replies and the outbox. Without room, the rows are
    written queued and ON_COMMIT is told how many, for a worker to claim them."""

    def __init__(
        self,
        db: Database,
        *,
        on_commit: Callable[[int], None] | None = None,
        reserve: Callable[[int], Handoff | None] | None = None,
        max_batch: int = 500,
    ) -> None:
        self._db = db
        self._on_commit = on_commit
        self._reserve = reserve
        self._max_batch = max_batch
        self._queue: list[_Queued] = []
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        self._writer = asyncio.create_task(self._run(), name="task-journal-writer")

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        self._closed = True
        self._wakeup.set()
        if self._writer is not None:
            await self._writer
            self._writer = None

    async def append(self, task: Task) -> Accepted:
        """Journal TASK; raises JournalClosed or the database error if the commit failed."""
        if self._closed:
            raise JournalClosed("the gateway is shutting down")
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._queue.append((task, task_values(task), future))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                await self._commit(batch)
            if self._closed:
                return

    async def _write(self, rows: list[dict[str, Any]]) -> tuple[set[str], dict[KEY, str]]:
        """Insert ROWS (skipping duplicates) in one transaction; the ids inserted, and the ids
        of the tasks already there for the others, by (workspace, channel, external id)."""
        with inline(len(rows)):  # the statements and their commit
            async with self._db.write() as conn:
                if self._db.is_sqlite:
                    # The driver's executemany, which counts the rows it inserted but gives
                    # no RETURNING rows: when all were inserted, that is all there is to know.
                    if await _INSERT_NEW.run_many(conn, rows) == len(rows):
                        return {r["id"] for r in rows}, {}
                    existing = await _existing(conn, rows)
                    inserted = {r["id"] for r in rows if existing.get(_key(r)) == r["id"]}
                else:
                    if len(rows) == 1:
                        returned = await _INSERT_RETURNING.rows_alone(conn, rows[0])
                    else:
                        returned = await _INSERT_RETURNING.rows_many_alone(conn, rows)
                    inserted = {row.id for row in returned}
                    missing = [r for r in rows if r["id"] not in inserted]
                    existing = await _existing(conn, missing) if missing else {}
        return inserted, existing

    @staticmethod
    def _fail(batch: list[_Queued], exc: BaseException, handoff: Handoff | None) -> None:
        """Every waiting handler must hear of the failure."""
        log.error("journal commit failed for %d tasks", len(batch), exc_info=exc)
        if handoff is not None:
            handoff.cancel()
        for _, _, future in batch:
            if not future.done():
                future.set_exception(exc)

    async def _commit(self, batch: list[_Queued]) -> None:
        handoff = self._reserve(len(batch)) if self._reserve is not None else None
        rows = [values for _, values, _ in batch]
        if handoff is not None:
            rows = [{**values, **handoff.columns} for values in rows]
        for attempt in (1, 2):
            try:
                inserted, existing = await self._write(rows)
                break
            except DBAPIError as exc:
                # A connection found cut (a database restart) invalidated the pool: once more,
                # on a new connection, before the handlers hear of it.
                if attempt == 1 and exc.connection_invalidated:
                    log.warning("journal: database connection lost; writing again")
                    continue
                self._fail(batch, exc, handoff)
                return
            except Exception as exc:
                self._fail(batch, exc, handoff)
                return
        if handoff is not None:
            # Committed: the pipeline takes the new ones (a handler gone away included: its
            # task is durable all the same); a duplicate's row is another request's.
            handoff.adopt([task for task, values, _ in batch if values["id"] in inserted])
        for _, values, future in batch:
            if future.done():  # the handler went away (client disconnected)
                continue
            if values["id"] in inserted:
                future.set_result(Accepted(values["id"], True))
            else:
                key = (values["workspace_id"], values["channel"], values["external_id"])
                future.set_result(Accepted(existing[key], False))
        if inserted and handoff is None and self._on_commit is not None:
            self._on_commit(len(inserted))
