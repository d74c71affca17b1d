"""Freshdesk imports against the simulator, with more open and pending tickets than its 300
a run (and than one search's 10 pages of 30): runs import 300 with the conversation, go on
below the oldest day seen, skip what they have, wait out a 429, keep what they imported when
the provider fails midway, and a run whose worker died is resumed without duplicates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update

from core.integrations.providers import PROVIDERS
from storage.db import Database
from storage.integrations import ImportRun
from storage.types import utcnow
from tests.helpers import wait_until
from tests.integrations.importing import LABEL, Desk, connect_desk
from tests.sims.freshdesk import FreshdeskSim

CAP = PROVIDERS["freshdesk"].per_run
OPEN = 350


@pytest.fixture
async def freshdesk() -> AsyncIterator[FreshdeskSim]:
    async with FreshdeskSim(tickets=OPEN, closed=20) as sim:
        yield sim


async def _desk(db: Database, sim: FreshdeskSim) -> Desk:
    return await connect_desk(
        db, "freshdesk", {"domain": "acme", "api_key": sim.api_key, "api_url": sim.url}
    )


def _newest_first(sim: FreshdeskSim) -> list[int]:
    return sorted(sim.open_ids(), reverse=True)  # ids grow with the creation time


async def test_runs_import_the_cap_then_the_rest_then_skip_everything(
    db: Database, freshdesk: FreshdeskSim
) -> None:
    assert CAP == 300
    desk = await _desk(db, freshdesk)

    first = await desk.run()
    assert (first["status"], first["imported"], first["skipped"], first["error"]) == (
        "done",
        CAP,
        0,
        None,
    )
    assists = await desk.assists()
    assert len(assists) == CAP and all(a.labels == [LABEL] for a in assists)
    newest = next(t for t in freshdesk.tickets if t["id"] == _newest_first(freshdesk)[0])
    assist = assists[0]
    number = newest["id"]
    assert assist.subject == newest["subject"]
    assert assist.customer_details["email"] == f"client{number}@example.com"
    # The description first, then the public replies in order; the private note left out.
    assert [(m["from"], m["text"]) for m in assist.transcript] == [
        ("customer", f"Please refund invoice {number}."),
        ("agent", f"We are looking into invoice {number}."),
        ("customer", "Thanks, any news?"),
    ]
    assert assist.status == ("pending" if newest["status"] == 3 else "open")
    statuses = {a.status for a in assists}
    assert statuses == {"open", "pending"}

    second = await desk.run()
    assert (second["status"], second["imported"]) == ("done", OPEN - CAP)
    imported = await desk.imported_ids()
    assert sorted(imported) == sorted(str(i) for i in freshdesk.open_ids())  # no closed one
    assert len(imported) == len(set(imported))

    third = await desk.run()
    assert (third["status"], third["imported"], third["skipped"]) == ("done", 0, OPEN)
    assert await desk.assist_count() == OPEN
    # Never past the search's 10th page.
    assert all(
        int(r.query.get("page", "1")) <= 10 for r in freshdesk.calls("/api/v2/search/tickets")
    )


async def test_a_429_midway_is_waited_out(db: Database, freshdesk: FreshdeskSim) -> None:
    desk = await _desk(db, freshdesk)
    target = _newest_first(freshdesk)[12]
    freshdesk.throttle(retry_after=1, times=1, path=f"/tickets/{target}/conversations")

    run = await desk.run()

    assert (run["status"], run["imported"]) == ("done", CAP)
    asked = freshdesk.calls(f"/tickets/{target}/conversations")
    assert [r.fault for r in asked] == ["throttle", None]
    assert asked[1].at - asked[0].at >= 0.9


async def test_a_failure_midway_keeps_what_was_imported_and_the_next_run_goes_on(
    db: Database, freshdesk: FreshdeskSim
) -> None:
    desk = await _desk(db, freshdesk)
    broken = _newest_first(freshdesk)[45]
    freshdesk.fail(500, times=None, path=f"/tickets/{broken}/conversations")

    failed = await desk.run()

    assert failed["status"] == "failed" and failed["imported"] == 45
    assert "Freshdesk answered 500" in (failed["error"] or "")
    freshdesk.clear_faults()
    again = await desk.run()
    assert (again["status"], again["imported"]) == ("done", CAP)
    last = await desk.run()
    assert (last["status"], last["imported"]) == ("done", OPEN - 45 - CAP)
    ids = await desk.imported_ids()
    assert len(ids) == len(set(ids)) == OPEN
    assert await desk.assist_count() == OPEN


async def test_a_run_whose_worker_died_is_resumed_without_duplicates(
    db: Database, freshdesk: FreshdeskSim
) -> None:
    desk = await _desk(db, freshdesk)
    hung = _newest_first(freshdesk)[70]
    freshdesk.stall(times=1, path=f"/tickets/{hung}/conversations")
    run_id = await desk.start()
    dying = desk.worker(lease_seconds=30, poll_interval=0.05)
    task = asyncio.create_task(dying.run())
    await wait_until(lambda: freshdesk.stalled == 1, timeout=20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await desk.state(run_id))["imported"] == 70
    async with db.session() as session:  # the dead node's lease lapses
        await session.execute(
            update(ImportRun).where(ImportRun.id == run_id).values(lease_until=utcnow())
        )
    other = desk.worker()
    claimed = await other.claim()
    assert claimed is not None and claimed[0] == run_id
    await other.work(*claimed)

    done = await desk.state(run_id)
    assert (done["status"], done["imported"]) == ("done", CAP)
    ids = await desk.imported_ids()
    assert len(ids) == len(set(ids)) == CAP
    assert str(hung) in ids
