"""The Task pipeline end to end: web channel → journal → worker → outbox → reply."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import OperationalError

from config.metrics import Metrics
from core.processing.pipeline import Outcome, PipelineWorker, TaskProcessor
from core.team import directory
from core.team.identity import Principal
from core.tools.catalogue import default_registry
from models.classification import Classification, ToolCall
from models.deliverable import Deliverable
from models.task import Route, Sender, Task
from storage.db import Database
from storage.journal import TaskJournal
from storage.models import OutboxRow, TaskRow, Workspace
from storage.types import new_id, utcnow
from tests.factories import make_task
from tests.helpers import driver_statements, wait_until


class HelpClassifier:
    """Always chooses `help`; counts calls so tests can tell whether a task ran twice."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def classify(self, text: str, principal: Principal, now: Any) -> Classification:
        self.texts.append(text)
        return Classification(calls=(ToolCall(tool="help"),))


class ExplodingClassifier:
    async def classify(self, text: str, principal: Principal, now: Any) -> Classification:
        raise RuntimeError("classifier bug")


async def seed(db: Database, *, plan: str = "pro") -> tuple[str, str]:
    async with db.session() as session:
        ws = await directory.create_workspace(session, "Acme", plan=plan)
        member = await directory.add_member(
            session,
            ws.id,
            name="Olivia",
            role="owner",
            email="olivia@acme.test",
            identities={"sms": "+15550001111"},
        )
        return ws.id, member.id


def web_task(workspace_id: str, member_id: str, text: str = "help", **kw: Any) -> Task:
    return Task(
        id=new_id(),
        workspace_id=workspace_id,
        channel="web",
        external_id=kw.pop("external_id", new_id()),
        sender=Sender(channel="web", address=member_id),
        conversation=f"web:{member_id}",
        text=text,
        received_at=utcnow(),
        reply_route=Route(channel="web", address=member_id),
        **kw,
    )


async def api_key(db: Database, workspace_id: str) -> dict[str, str]:
    """An Authorization header for WORKSPACE_ID's web channel (it needs a key by default)."""
    async with db.session() as session:
        key = await directory.create_api_key(session, workspace_id)
    return {"Authorization": f"Bearer {key.secret}"}


async def replies_for(db: Database, task_id: str) -> list[OutboxRow]:
    async with db.session() as session:
        rows = await session.scalars(select(OutboxRow).where(OutboxRow.task_id == task_id))
        return list(rows)


async def test_message_gets_one_reply_through_the_outbox(
    db: Database, make_client: Any, database_url: str
) -> None:
    ws_id, member_id = await seed(db)
    auth = await api_key(db, ws_id)
    classifier = HelpClassifier()
    client = await make_client(build={"classifier": classifier})

    resp = await client.post(
        "/api/v1/messages",
        json={"member": "Olivia@acme.test", "text": "what can you do?"},
        headers=auth,
    )
    assert resp.status == 202
    task_id = (await resp.json())["task_id"]

    async def delivered() -> dict[str, Any] | None:
        body = await (await client.get(f"/api/v1/tasks/{task_id}", headers=auth)).json()
        if (
            body["status"] == "done"
            and body["replies"]
            and body["replies"][0]["delivery"] == "sent"
        ):
            return body
        return None

    body = await wait_until(delivered, timeout=10)
    assert len(body["replies"]) == 1
    assert body["replies"][0]["text"].startswith("Hi Olivia")
    assert body["replies"][0]["address"] == member_id
    assert classifier.texts == ["what can you do?"]


async def test_retried_request_yields_one_task_and_one_reply(
    db: Database, make_client: Any
) -> None:
    ws_id, _ = await seed(db)
    classifier = HelpClassifier()
    client = await make_client(build={"classifier": classifier})
    headers = {"Idempotency-Key": "req-42", **await api_key(db, ws_id)}
    payload = {"member": "olivia@acme.test", "text": "help"}

    first = await (await client.post("/api/v1/messages", json=payload, headers=headers)).json()
    second = await (await client.post("/api/v1/messages", json=payload, headers=headers)).json()

    assert second == {"task_id": first["task_id"], "duplicate": True}
    await wait_until(lambda: replies_for(db, first["task_id"]), timeout=10)
    # A third retry after processing is still the same task, and nothing is answered again.
    third = await (await client.post("/api/v1/messages", json=payload, headers=headers)).json()
    assert third["task_id"] == first["task_id"]
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(TaskRow)) == 1
    assert len(await replies_for(db, first["task_id"])) == 1
    assert classifier.texts == ["help"]


async def test_journal_dedupes_concurrent_retries_in_one_batch(db: Database) -> None:
    ws_id, member_id = await seed(db)
    journal = TaskJournal(db)
    await journal.start()
    try:
        import asyncio

        tasks = [web_task(ws_id, member_id, external_id="same") for _ in range(5)]
        tasks += [web_task(ws_id, member_id, external_id=f"other-{i}") for i in range(20)]
        results = await asyncio.gather(*(journal.append(t) for t in tasks))
        # A later batch: a retry of a committed request among new ones.
        later = [web_task(ws_id, member_id, external_id=f"new-{i}") for i in range(3)]
        later.insert(1, web_task(ws_id, member_id, external_id="same"))
        again = await asyncio.gather(*(journal.append(t) for t in later))
    finally:
        await journal.close()
    same = {r.task_id for r in results[:5]}
    assert len(same) == 1
    assert sum(r.created for r in results[:5]) == 1
    assert all(r.created for r in results[5:])
    assert [r.created for r in again] == [True, False, True, True]
    assert again[1].task_id in same
    assert [r.task_id for r in again if r.created] == [
        t.id for t in later if t.external_id != "same"
    ]
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(TaskRow)) == 24


async def test_journal_dedupes_a_retry_arriving_alone(db: Database) -> None:
    """A batch of one row (a steady load's usual batch; on PostgreSQL the driver's own
    statement): a new request is committed, a retry of a committed one is not, and is
    answered with the first one's task."""
    ws_id, member_id = await seed(db)
    journal = TaskJournal(db)
    await journal.start()
    try:
        first = await journal.append(web_task(ws_id, member_id, external_id="alone"))
        retry = await journal.append(web_task(ws_id, member_id, external_id="alone"))
        other = await journal.append(web_task(ws_id, member_id, external_id="another"))
    finally:
        await journal.close()
    assert (first.created, retry.created, other.created) == (True, False, True)
    assert retry.task_id == first.task_id != other.task_id
    async with db.session() as session:
        ids = set(await session.scalars(select(TaskRow.id)))
    assert ids == {first.task_id, other.task_id}


def make_worker(db: Database, classifier: Any, node: str, **kw: Any) -> PipelineWorker:
    return PipelineWorker(
        db, TaskProcessor(classifier, default_registry()), node_id=node, metrics=Metrics(), **kw
    )


async def test_task_of_a_dead_node_is_reclaimed_after_its_lease(db: Database) -> None:
    ws_id, member_id = await seed(db)
    journal = TaskJournal(db)
    await journal.start()
    accepted = await journal.append(web_task(ws_id, member_id))
    await journal.close()

    # Node A claims the task and dies without finishing it.
    dead = make_worker(db, HelpClassifier(), "node-a", lease_seconds=30)
    claimed = await dead.claim()
    assert [row.id for row, _ in claimed] == [accepted.task_id]

    survivor_classifier = HelpClassifier()
    survivor = make_worker(db, survivor_classifier, "node-b")
    assert await survivor.claim() == []  # the lease still holds

    async with db.session() as session:  # time passes: the lease runs out
        await session.execute(update(TaskRow).values(lease_until=utcnow() - timedelta(seconds=1)))
    reclaimed = await survivor.claim()
    assert [row.id for row, _ in reclaimed] == [accepted.task_id]
    await survivor._handle(*reclaimed[0])

    # Node A wakes up late and tries to finish: its claim token is stale, nothing is written.
    await dead._handle(*claimed[0])
    rows = await replies_for(db, accepted.task_id)
    assert len(rows) == 1
    async with db.session() as session:
        task = await session.get(TaskRow, accepted.task_id)
        assert task is not None
        assert (task.status, task.claimed_by, task.attempts) == ("done", "node-b", 2)


async def test_a_claim_is_a_transaction_of_its_own(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim is one statement: on PostgreSQL the server commits it as it runs it (no
    BEGIN, no COMMIT), and the task it took is held by its lease against another node."""
    ws_id, member_id = await seed(db)
    journal = TaskJournal(db)
    await journal.start()
    accepted = await journal.append(web_task(ws_id, member_id))
    await journal.close()
    sent = driver_statements(monkeypatch) if db.is_postgres else None

    claimed = await make_worker(db, HelpClassifier(), "node-a", lease_seconds=30).claim()

    assert [row.id for row, _ in claimed] == [accepted.task_id]
    assert await make_worker(db, HelpClassifier(), "node-b").claim() == []
    async with db.session() as session:
        task = await session.get(TaskRow, accepted.task_id)
        assert task is not None
        assert (task.status, task.claimed_by, task.attempts) == ("running", "node-a", 1)
    if sent is not None:
        claims = sent.matching("UPDATE tasks", "RETURNING")
        assert [(s[1], s[2]) for s in claims] == [(False, "autocommit")] * 2


async def test_processing_error_is_recorded_and_the_user_told(db: Database) -> None:
    ws_id, member_id = await seed(db)
    journal = TaskJournal(db)
    await journal.start()
    accepted = await journal.append(web_task(ws_id, member_id))
    await journal.close()
    worker = make_worker(db, ExplodingClassifier(), "node-a")
    for row, token in await worker.claim():
        await worker._handle(row, token)
    async with db.session() as session:
        task = await session.get(TaskRow, accepted.task_id)
        assert task is not None and task.status == "failed"
        assert task.error is not None and "classifier bug" in task.error
    (reply,) = await replies_for(db, accepted.task_id)
    assert reply.deliverable["kind"] == "error"
    assert "went wrong" in reply.deliverable["text"]
    assert "classifier bug" not in reply.deliverable["text"]  # internals stay internal
    # The reference quoted is part of the task's id that support can search the logs for, and
    # the part that tells it from tasks of the same minute.
    assert f"(reference {accepted.task_id[-8:]})" in reply.deliverable["text"]


async def test_unlinked_sender_is_a_customer_and_never_reaches_tools(db: Database) -> None:
    ws_id, _ = await seed(db)
    classifier = HelpClassifier()
    task = Task(
        id=new_id(),
        workspace_id=ws_id,
        channel="sms",
        external_id="SM123",
        sender=Sender(channel="sms", address="+15559998888"),
        conversation="+15559998888:+15550000000",
        text="close every assist",
        received_at=utcnow(),
        reply_route=Route(channel="sms", address="+15559998888"),
    )
    async with db.session() as session:
        outcome = await TaskProcessor(classifier, default_registry()).process(
            session, task, utcnow()
        )
    assert classifier.texts == []
    assert outcome.member_id is None
    assert "support team" in outcome.deliverables[0].text


async def test_phone_identity_is_shared_by_sms_whatsapp_and_voice(db: Database) -> None:
    ws_id, member_id = await seed(db)
    from core.team.identity import resolve

    for channel, address in (
        ("sms", "+15550001111"),
        ("whatsapp", "whatsapp:+15550001111"),
        ("voice", "+15550001111"),
    ):
        async with db.session() as session:
            principal = await resolve(session, make_task(ws_id, channel, address))
        assert (principal.member_id, principal.role) == (member_id, "owner"), channel


async def test_shutdown_releases_claimed_work(db: Database) -> None:
    ws_id, member_id = await seed(db)
    journal = TaskJournal(db)
    await journal.start()
    accepted = await journal.append(web_task(ws_id, member_id))
    await journal.close()
    worker = make_worker(db, HelpClassifier(), "node-a")
    assert len(await worker.claim()) == 1
    await worker.release()
    async with db.session() as session:
        task = await session.get(TaskRow, accepted.task_id)
        assert task is not None and (task.status, task.lease_until) == ("queued", None)


class LockedOnceClassifier(HelpClassifier):
    """The first classification finds the database locked by another writer (SQLite refuses a
    read transaction that a concurrent commit overtook); later ones go through."""

    async def classify(self, text: str, principal: Principal, now: Any) -> Classification:
        self.texts.append(text)
        if len(self.texts) == 1:
            raise OperationalError(
                "UPDATE tasks", {}, sqlite3.OperationalError("database is locked")
            )
        return Classification(calls=(ToolCall(tool="help"),))


async def _handled_once(db: Database, classifier: Any) -> str:
    """One web task journaled, claimed and handled by a worker using CLASSIFIER; its id."""
    ws_id, member_id = await seed(db)
    journal = TaskJournal(db)
    await journal.start()
    accepted = await journal.append(web_task(ws_id, member_id))
    await journal.close()
    worker = make_worker(db, classifier, "node-a")
    for row, token in await worker.claim():
        await worker._handle(row, token)
    return accepted.task_id


async def test_a_transaction_refused_for_a_concurrent_writer_is_run_again(db: Database) -> None:
    classifier = LockedOnceClassifier()
    task_id = await _handled_once(db, classifier)

    assert len(classifier.texts) == 2
    (reply,) = await replies_for(db, task_id)
    assert reply.deliverable["kind"] != "error"
    async with db.session() as session:
        task = await session.get(TaskRow, task_id)
    assert task is not None and (task.status, task.attempts) == ("done", 1)


class ReadThenWrite(TaskProcessor):
    """A tool's pattern (undo's, say): in a savepoint, read, then write, while another writer of
    this node (the outbox recording a receipt) commits in between if it can. On SQLite that
    write is refused at once: the read's snapshot is no longer the newest."""

    def __init__(self, db: Database, workspace_id: str) -> None:
        super().__init__(HelpClassifier(), default_registry())
        self._db = db
        self._workspace_id = workspace_id
        self.runs = 0
        self.elsewhere: list[asyncio.Task[None]] = []

    async def process(self, session: Any, task: Task, now: Any) -> Outcome:
        self.runs += 1
        async with session.begin_nested():
            await session.execute(select(OutboxRow.id).limit(1))  # the read
            other = asyncio.create_task(self._commit_elsewhere())
            self.elsewhere.append(other)
            await asyncio.wait([other], timeout=0.3)  # it commits now, unless it must wait
            await session.execute(
                update(Workspace).where(Workspace.id == self._workspace_id).values(name="Acme 2")
            )
        return Outcome(task.reply_route, [Deliverable(text="done")], None)

    async def _commit_elsewhere(self) -> None:
        async with self._db.write() as conn:  # a change (SQLite skips rewriting a same row)
            await conn.execute(update(Workspace).values(timezone=f"Etc/GMT-{self.runs}"))


async def test_a_read_then_write_raced_by_this_node_s_writers_gets_its_turn_when_run_again(
    db: Database,
) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite's one write lock: PostgreSQL writes rows, not the file")
    ws_id, member_id = await seed(db)
    journal = TaskJournal(db)
    await journal.start()
    accepted = await journal.append(web_task(ws_id, member_id))
    await journal.close()
    processor = ReadThenWrite(db, ws_id)
    worker = PipelineWorker(db, processor, node_id="node-a", metrics=Metrics())
    for row, token in await worker.claim():
        await worker._handle(row, token)
    await asyncio.gather(*processor.elsewhere)
    # The first run was refused; the second held the node's write turn, so the other writer
    # waited for its commit instead of overtaking its read.
    assert processor.runs == 2
    (reply,) = await replies_for(db, accepted.task_id)
    assert reply.deliverable == {**reply.deliverable, "kind": "text", "text": "done"}
    async with db.session() as session:
        workspace = await session.get(Workspace, ws_id)
    assert workspace is not None and workspace.name == "Acme 2"


async def test_a_database_error_that_is_not_a_conflict_fails_the_task_at_once(
    db: Database,
) -> None:
    class Broken(HelpClassifier):
        async def classify(self, text: str, principal: Principal, now: Any) -> Classification:
            self.texts.append(text)
            raise OperationalError("SELECT", {}, sqlite3.OperationalError("disk I/O error"))

    classifier = Broken()
    task_id = await _handled_once(db, classifier)

    assert len(classifier.texts) == 1
    async with db.session() as session:
        task = await session.get(TaskRow, task_id)
    assert task is not None and task.status == "failed"


@pytest.fixture
async def pg_db(postgres_url: str) -> AsyncIterator[Database]:
    """A migrated PostgreSQL database of its own (only PostgreSQL's connections can be cut)."""
    db = Database(postgres_url)
    await db.migrate()
    try:
        yield db
    finally:
        await db.dispose()


async def test_a_task_survives_its_database_connections_being_cut(
    pg_db: Database, postgres_url: str
) -> None:
    """A PostgreSQL restart or failover closes every pooled connection. The pool does not
    ping before each use (a round trip per checkout): the task's transaction fails on the
    dead connection, the pool is invalidated, and the transaction is run again on a new one."""
    db = pg_db
    ws_id, member_id = await seed(db)
    journal = TaskJournal(db)
    await journal.start()
    accepted = await journal.append(web_task(ws_id, member_id))
    await journal.close()
    classifier = HelpClassifier()
    worker = make_worker(db, classifier, "node-a")
    claimed = await worker.claim()
    assert [row.id for row, _ in claimed] == [accepted.task_id]

    assert await _restart(postgres_url) >= 1
    for row, token in claimed:
        await worker._handle(row, token)

    async with db.session() as session:
        task = await session.get(TaskRow, accepted.task_id)
    assert task is not None and (task.status, task.attempts) == ("done", 1)
    (reply,) = await replies_for(db, accepted.task_id)
    assert reply.deliverable["kind"] != "error"


async def test_a_webhook_is_journaled_although_the_connections_were_cut(
    pg_db: Database, postgres_url: str
) -> None:
    db = pg_db
    ws_id, member_id = await seed(db)
    journal = TaskJournal(db)
    await journal.start()
    try:
        first = await journal.append(web_task(ws_id, member_id, external_id="before"))
        assert await _restart(postgres_url) >= 1
        after = await journal.append(web_task(ws_id, member_id, external_id="after"))
    finally:
        await journal.close()
    assert first.created and after.created
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(TaskRow)) == 2


async def test_a_batch_is_journaled_although_the_connections_were_cut(
    pg_db: Database, postgres_url: str
) -> None:
    """A batch of several rows (PostgreSQL: the runs sent together, no transaction around
    them) meeting a cut connection is written again on a new one, each row once."""
    db = pg_db
    ws_id, member_id = await seed(db)
    journal = TaskJournal(db)
    await journal.start()
    try:
        first = await journal.append(web_task(ws_id, member_id, external_id="before"))
        assert await _restart(postgres_url) >= 1
        batch = [web_task(ws_id, member_id, external_id=f"after-{i}") for i in range(3)]
        batch.append(web_task(ws_id, member_id, external_id="before"))
        after = await asyncio.gather(*(journal.append(task) for task in batch))
    finally:
        await journal.close()
    assert [a.created for a in after] == [True, True, True, False]
    assert after[3].task_id == first.task_id
    async with db.session() as session:
        ids = set(await session.scalars(select(TaskRow.id)))
    assert ids == {first.task_id, *(a.task_id for a in after[:3])}


async def _restart(postgres_url: str) -> int:
    """What a PostgreSQL restart does to the gateway: every connection to the database but
    this one is closed. Returns how many were."""
    admin = Database(postgres_url)
    try:
        async with admin.session() as session:
            cut = await session.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await admin.dispose()
    return int(cut or 0)
