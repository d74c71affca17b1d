"""A task that only reads is finished apart from its session, which commits nothing: on
PostgreSQL its reads run before any transaction (no BEGIN is sent for them) and the fenced
update with the one reply's insert is one statement the server commits as it runs it; on SQLite
the two are a short write transaction of the driver's. A task that writes keeps its one
transaction; a node whose claim was taken over writes nothing either way."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from config.metrics import Metrics
from core.processing.pipeline import PipelineWorker, TaskProcessor
from core.team.identity import Principal
from core.tools.catalogue import default_registry
from models.classification import Classification, ToolCall
from storage.db import Database
from storage.domain import Proposal
from storage.journal import TaskJournal
from storage.models import OutboxRow, TaskRow
from storage.types import utcnow
from tests.factories import make_task
from tests.helpers import DriverStatements, driver_statements
from tests.pipeline.test_pipeline import seed

PHONE = "+15550001111"  # Olivia's, in `seed`
CSAT = ToolCall(tool="get_metrics", args={"metric": "csat", "period": "this_week"})
INVITE = ToolCall(tool="invite_member", args={"email": "maria@acme.test", "role": "manager"})


class Calls:
    def __init__(self, *calls: ToolCall) -> None:
        self.calls = calls

    async def classify(self, text: str, principal: Principal, now: Any) -> Classification:
        return Classification(calls=self.calls)


def _worker(db: Database, classifier: Any, node: str) -> PipelineWorker:
    return PipelineWorker(
        db, TaskProcessor(classifier, default_registry()), node_id=node, metrics=Metrics()
    )


async def _journaled(db: Database, text: str) -> str:
    ws_id, _member_id = await seed(db)
    journal = TaskJournal(db)
    await journal.start()
    accepted = await journal.append(make_task(ws_id, "sms", PHONE, text))
    await journal.close()
    return accepted.task_id


async def _state(db: Database, task_id: str) -> tuple[TaskRow, list[OutboxRow]]:
    async with db.session() as session:
        task = await session.get(TaskRow, task_id)
        assert task is not None
        replies = await session.scalars(select(OutboxRow).where(OutboxRow.task_id == task_id))
        return task, list(replies)


@pytest.fixture
def sent(db: Database, monkeypatch: pytest.MonkeyPatch) -> DriverStatements:
    return driver_statements(monkeypatch) if db.is_postgres else DriverStatements()


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> list[AsyncSession]:
    """The sessions committed from now on."""
    committed: list[AsyncSession] = []
    commit = AsyncSession.commit

    async def counted(self: AsyncSession) -> None:
        committed.append(self)
        await commit(self)

    monkeypatch.setattr(AsyncSession, "commit", counted)
    return committed


async def test_a_task_that_only_reads_sends_no_begin(
    db: Database, sent: DriverStatements, commits: list[AsyncSession]
) -> None:
    task_id = await _journaled(db, "csat this week")
    worker = _worker(db, Calls(CSAT), "node-a")
    ((row, token),) = await worker.claim()
    sent.statements.clear()

    await worker._handle(row, token)
    ran = DriverStatements(list(sent.statements))
    assert commits == []  # its session only read: nothing of it to commit

    task, replies = await _state(db, task_id)
    assert (task.status, task.claimed_by, task.lease_until) == ("done", "node-a", None)
    assert task.finished_at is not None and task.member_id is not None
    assert len(replies) == 1
    (reply,) = replies
    assert (reply.channel, reply.address, reply.dedupe_key) == ("sms", PHONE, f"task:{task_id}:0")
    assert "CSAT" in reply.deliverable["text"] or "csat" in reply.deliverable["text"].lower()
    if db.is_postgres:
        # The member's identity, the metric, then the one write: each outside any transaction.
        assert len(ran.statements) == 3
        assert {(in_transaction, level) for _, in_transaction, level in ran.statements} == {
            (False, "autocommit")
        }
        assert [sql.startswith("SELECT") for sql, _, _ in ran.statements] == [True, True, False]
        assert ran.statements[-1][0].startswith("WITH finished AS")


async def test_a_node_that_lost_its_claim_writes_nothing(
    db: Database, sent: DriverStatements
) -> None:
    task_id = await _journaled(db, "csat this week")
    late = _worker(db, Calls(CSAT), "node-a")
    ((row, token),) = await late.claim()
    async with db.session() as session:  # time passes: node A's lease runs out
        await session.execute(update(TaskRow).values(lease_until=utcnow() - timedelta(seconds=1)))
    survivor = _worker(db, Calls(CSAT), "node-b")
    ((taken, its_token),) = await survivor.claim()
    await survivor._handle(taken, its_token)
    sent.statements.clear()

    await late._handle(row, token)  # too late: its token is stale
    ran = DriverStatements(list(sent.statements))

    task, replies = await _state(db, task_id)
    assert (task.status, task.claimed_by) == ("done", "node-b")
    assert len(replies) == 1
    if db.is_postgres:
        assert len(ran.matching("WITH finished AS")) == 1  # tried, and it wrote neither


async def test_a_task_that_writes_keeps_its_transaction(
    db: Database, sent: DriverStatements, commits: list[AsyncSession]
) -> None:
    task_id = await _journaled(db, "csat, and invite maria as a manager")
    worker = _worker(db, Calls(CSAT, INVITE), "node-a")
    ((row, token),) = await worker.claim()
    sent.statements.clear()

    await worker._handle(row, token)
    ran = DriverStatements(list(sent.statements))
    assert len(commits) == 1  # the proposal, the task's end and its replies: one transaction

    task, replies = await _state(db, task_id)
    assert task.status == "done" and len(replies) >= 1
    async with db.session() as session:
        proposals = list(await session.scalars(select(Proposal)))
    assert len(proposals) == 1 and "maria@acme.test" in proposals[0].summary
    if db.is_postgres:
        assert ran.matching("WITH finished AS") == []
        (mark,) = ran.matching("UPDATE tasks")
        assert mark[1] is True  # in the transaction that wrote the proposal
