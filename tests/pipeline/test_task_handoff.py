"""A task journaled while the node's pipeline has room is written already claimed by it and
handed over after the commit: no claim transaction, processed once, nothing overtaking a task
queued before it, nothing lost when the node dies in between."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from core.processing.pipeline import PipelineWorker
from core.team.identity import Principal
from models.classification import Classification
from storage.db import Database
from storage.journal import TaskJournal
from storage.models import TaskRow
from storage.types import utcnow
from tests.helpers import wait_until
from tests.pipeline.test_pipeline import HelpClassifier, make_worker, replies_for, seed, web_task


def counting_claims(worker: PipelineWorker) -> list[list[str]]:
    """The ids each of WORKER's claims took, one list per claim made."""
    made: list[list[str]] = []
    claim = worker.claim

    async def counted(limit: int | None = None) -> list[tuple[Any, str]]:
        claimed = await claim(limit)
        made.append([row.id for row, _ in claimed])
        return claimed

    worker.claim = counted  # type: ignore[method-assign]
    return made


@asynccontextmanager
async def running(
    db: Database, worker: PipelineWorker, *, handoff: bool = True
) -> AsyncIterator[TaskJournal]:
    """A journal feeding WORKER as the gateway wires them, with WORKER running and past its
    first look at the queue (tasks may wait from before it started)."""
    journal = TaskJournal(db, on_commit=worker.wake, reserve=worker.reserve if handoff else None)
    await journal.start()
    run = asyncio.create_task(worker.run())
    try:
        await wait_until(
            lambda: worker._polled_at > -math.inf or None, timeout=5, message="the first claim"
        )
        yield journal
    finally:
        await journal.close()
        worker.stop()
        await asyncio.wait_for(run, 10)


async def done(db: Database, task_id: str) -> TaskRow | None:
    async with db.session() as session:
        row = await session.get(TaskRow, task_id)
    return row if row is not None and row.status == "done" else None


async def test_a_task_journaled_with_room_is_processed_without_a_claim(db: Database) -> None:
    ws_id, member_id = await seed(db)
    classifier = HelpClassifier()
    worker = make_worker(db, classifier, "node-a")
    claims = counting_claims(worker)
    async with running(db, worker) as journal:
        assert claims == [[]]
        accepted = await journal.append(web_task(ws_id, member_id, text="what can you do?"))
        row = await wait_until(lambda: done(db, accepted.task_id), timeout=5)
    assert claims == [[]]  # none for the task: it was written claimed
    assert (row.claimed_by, row.attempts, row.lease_until) == ("node-a", 1, None)
    assert classifier.texts == ["what can you do?"]
    assert len(await replies_for(db, accepted.task_id)) == 1


async def test_a_retry_in_the_same_batch_is_handed_over_once(db: Database) -> None:
    ws_id, member_id = await seed(db)
    classifier = HelpClassifier()
    worker = make_worker(db, classifier, "node-a", concurrency=4)
    claims = counting_claims(worker)
    async with running(db, worker) as journal:
        same = [web_task(ws_id, member_id, text="help", external_id="req-1") for _ in range(3)]
        results = await asyncio.gather(*(journal.append(t) for t in same))
        (task_id,) = {r.task_id for r in results}
        await wait_until(lambda: done(db, task_id), timeout=5)
        # A second processing would have been started with the first: none is left.
        await wait_until(lambda: worker._room() == 4 or None, timeout=5)
    assert [r.created for r in results].count(True) == 1
    assert classifier.texts == ["help"]
    assert len(await replies_for(db, task_id)) == 1
    assert claims == [[]]


class HeldClassifier(HelpClassifier):
    """Holds each classification until released, so the worker's places stay taken."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def classify(self, text: str, principal: Principal, now: Any) -> Classification:
        await self.release.wait()
        return await super().classify(text, principal, now)


async def test_without_room_tasks_are_queued_and_none_overtakes_an_earlier_one(
    db: Database,
) -> None:
    """One place, held: the next tasks are written queued and claimed in the order they came,
    and one journaled while they wait is not handed over ahead of them."""
    ws_id, member_id = await seed(db)
    classifier = HeldClassifier()
    worker = make_worker(db, classifier, "node-a", concurrency=1)
    claims = counting_claims(worker)
    async with running(db, worker) as journal:
        first = await journal.append(web_task(ws_id, member_id, text="first"))
        await wait_until(lambda: worker._room() == 0 or None, timeout=5)
        queued = [await journal.append(web_task(ws_id, member_id, text=t)) for t in ("2", "3")]
        async with db.session() as session:
            statuses = await session.scalars(
                select(TaskRow.status).where(TaskRow.id.in_([q.task_id for q in queued]))
            )
            assert sorted(statuses) == ["queued", "queued"]
        classifier.release.set()
        last = await journal.append(web_task(ws_id, member_id, text="4"))
        for accepted in (first, *queued, last):
            await wait_until(lambda a=accepted: done(db, a.task_id), timeout=5)
    assert classifier.texts == ["first", "2", "3", "4"]
    # The first was handed over; the others were claimed one place at a time, oldest first.
    assert [ids for ids in claims if ids][:2] == [[queued[0].task_id], [queued[1].task_id]]


async def test_a_place_freed_wakes_the_claims_only_when_tasks_wait(db: Database) -> None:
    """Polls an hour apart: tasks queued behind a held place are claimed as soon as it frees
    (a finished task wakes the loop while a backlog is known), and a task finishing when none
    waits (its own, handed over) leaves the loop asleep until its poll."""
    ws_id, member_id = await seed(db)
    classifier = HeldClassifier()
    worker = make_worker(db, classifier, "node-a", concurrency=1, poll_interval=3600)
    async with running(db, worker) as journal:
        first = await journal.append(web_task(ws_id, member_id, text="first"))
        await wait_until(lambda: worker._room() == 0 or None, timeout=5)
        queued = [await journal.append(web_task(ws_id, member_id, text=t)) for t in ("2", "3")]
        classifier.release.set()
        for accepted in (first, *queued):
            await wait_until(lambda a=accepted: done(db, a.task_id), timeout=5)
        await wait_until(lambda: not worker._backlog or None, timeout=5)

        await wait_until(lambda: not worker._wakeup.is_set() or None, timeout=5)
        turns: list[None] = []  # the loop clears its event at the top of each turn
        clear = worker._wakeup.clear
        worker._wakeup.clear = lambda: (turns.append(None), clear())[1]  # type: ignore[method-assign]
        alone = await journal.append(web_task(ws_id, member_id, text="alone"))
        await wait_until(lambda: done(db, alone.task_id), timeout=5)
        await wait_until(lambda: not worker._running or None, timeout=5)
        assert await done(db, alone.task_id)  # a few turns of the event loop for it to wake
        assert not worker._wakeup.is_set() and turns == []
    assert classifier.texts == ["first", "2", "3", "alone"]


async def test_a_task_queued_while_a_claim_is_under_way_does_not_wait_for_the_poll(
    db: Database,
) -> None:
    """Polls an hour apart. A task is journaled queued (the node is looking at the queue, so
    none is handed over) while a claim that cannot see it is under way, and the claim finds
    the queue empty: the task is claimed at once all the same, not at the next poll."""
    ws_id, member_id = await seed(db)
    classifier = HelpClassifier()
    worker = make_worker(db, classifier, "node-a", poll_interval=3600)
    claim = worker.claim
    late: list[Any] = []

    async def claim_then_journal(limit: int | None = None) -> list[tuple[Any, str]]:
        claimed = await claim(limit)
        if not late:  # the first claim made once patched in
            late.append(await journal.append(web_task(ws_id, member_id, text="late")))
        return claimed

    async with running(db, worker) as journal:
        worker.claim = claim_then_journal  # type: ignore[method-assign]
        worker._polled_at = -math.inf  # the poll is due: the next turn claims
        worker._wakeup.set()
        await wait_until(lambda: late or None, timeout=5, message="the task journaled")
        await wait_until(lambda: done(db, late[0].task_id), timeout=5)
    assert classifier.texts == ["late"]


async def test_a_handed_over_task_whose_node_died_is_claimed_after_its_lease(
    db: Database,
) -> None:
    """The node commits the task already claimed and dies before processing it: the lease
    holds it, then another node takes it and answers once."""
    ws_id, member_id = await seed(db)
    dead = make_worker(db, HelpClassifier(), "node-a", lease_seconds=30)
    dead._backlog = False  # it has looked at the queue: room to take what it journals
    dead._adopt = lambda *args: None  # type: ignore[method-assign]  # died after the commit
    journal = TaskJournal(db, on_commit=dead.wake, reserve=dead.reserve)
    await journal.start()
    accepted = await journal.append(web_task(ws_id, member_id))
    await journal.close()
    async with db.session() as session:
        row = await session.get(TaskRow, accepted.task_id)
        assert row is not None and (row.status, row.claimed_by) == ("running", "node-a")

    classifier = HelpClassifier()
    survivor = make_worker(db, classifier, "node-b")
    assert await survivor.claim() == []  # the lease still holds
    async with db.session() as session:  # time passes: the lease runs out
        await session.execute(update(TaskRow).values(lease_until=utcnow() - timedelta(seconds=1)))
    for row, token in await survivor.claim():
        await survivor._handle(row, token)
    assert classifier.texts == ["help"]
    assert len(await replies_for(db, accepted.task_id)) == 1
    async with db.session() as session:
        task = await session.get(TaskRow, accepted.task_id)
        assert task is not None
        assert (task.status, task.claimed_by, task.attempts) == ("done", "node-b", 2)


async def test_places_promised_to_a_batch_that_did_not_commit_are_given_back(
    db: Database,
) -> None:
    worker = make_worker(db, HelpClassifier(), "node-a", concurrency=2)
    worker._backlog = False
    promised = worker.reserve(2)
    assert promised is not None
    assert worker.reserve(1) is None  # both places promised
    promised.cancel()
    assert worker.reserve(2) is not None
    worker.stop()
    assert worker.reserve(1) is None  # stopping: nothing more is taken


async def test_a_node_busy_with_its_own_tasks_still_takes_a_dead_node_s_at_each_poll(
    db: Database,
) -> None:
    """Handing over its own tasks, the node makes no claim for them; the queue is still looked
    at every poll, so a task whose node died (its lease run out) is not left behind while
    new tasks keep coming."""
    ws_id, member_id = await seed(db)
    journal = TaskJournal(db)
    await journal.start()
    orphan = await journal.append(web_task(ws_id, member_id, text="orphan"))
    await journal.close()
    dead = make_worker(db, HelpClassifier(), "node-a")
    assert [row.id for row, _ in await dead.claim()] == [orphan.task_id]
    async with db.session() as session:  # node A died long ago: its lease ran out
        await session.execute(update(TaskRow).values(lease_until=utcnow() - timedelta(seconds=1)))

    classifier = HelpClassifier()
    busy = make_worker(db, classifier, "node-b", poll_interval=0.3)
    claims = counting_claims(busy)
    busy._backlog = False  # as after its first look at the queue
    busy._polled_at = time.monotonic()
    async with running(db, busy) as journal:
        for n in range(30):  # a new task every 50 ms, each handed over: the node never idles
            await journal.append(web_task(ws_id, member_id, text=f"new {n}"))
            await asyncio.sleep(0.05)
            if await done(db, orphan.task_id):
                break
        row = await wait_until(lambda: done(db, orphan.task_id), timeout=2)
    assert row.claimed_by == "node-b"
    # Claimed at a poll, beside any new task journaled while that poll looked at the queue
    # (queued then, not handed over, so that none overtakes what is queued before it).
    assert any(orphan.task_id in claimed for claimed in claims)
    assert "orphan" in classifier.texts[:12]  # at the first poll, not after the load
