"""HappyFox imports against the simulator, with more unresolved tickets than one run takes:
runs import 200 with their messages, go on where the last stopped, skip what they have, wait
out a 429, keep what they imported when the provider fails midway, and a run whose worker
died is resumed without duplicates."""

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
from tests.sims.happyfox import HappyFoxSim

CAP = PROVIDERS["happyfox"].per_run
OPEN = 220


@pytest.fixture
async def happyfox() -> AsyncIterator[HappyFoxSim]:
    async with HappyFoxSim(tickets=OPEN, closed=15) as sim:
        yield sim


async def _desk(db: Database, sim: HappyFoxSim) -> Desk:
    return await connect_desk(
        db,
        "happyfox",
        {
            "subdomain": "acme",
            "api_key": sim.api_key,
            "auth_code": sim.auth_code,
            "api_url": sim.url,
        },
    )


async def test_runs_import_the_cap_then_the_rest_then_skip_everything(
    db: Database, happyfox: HappyFoxSim
) -> None:
    desk = await _desk(db, happyfox)

    first = await desk.run()
    assert (first["status"], first["imported"], first["skipped"], first["error"]) == (
        "done",
        CAP,
        0,
        None,
    )
    assists = await desk.assists()
    assert len(assists) == CAP and all(a.labels == [LABEL] for a in assists)
    assist = assists[0]
    assert assist.subject == "Cannot export report 1"
    assert assist.customer_details["email"] == "patron1@example.com"
    # Oldest first; the private note and the status change left out.
    assert [(m["from"], m["text"], m.get("name")) for m in assist.transcript] == [
        ("customer", "Export of report 1 fails.", "Patron 1"),
        ("agent", "Which browser do you use?", "Sam Staff"),
        ("customer", "Firefox.", "Patron 1"),
    ]
    assert {a.status for a in assists} == {"open", "pending"}  # On Hold is pending

    second = await desk.run()
    assert (second["status"], second["imported"], second["skipped"]) == ("done", OPEN - CAP, 0)
    assert sorted(await desk.imported_ids()) == sorted(str(i) for i in happyfox.open_ids())

    third = await desk.run()
    assert (third["status"], third["imported"], third["skipped"]) == ("done", 0, OPEN)


async def test_a_429_midway_is_waited_out(db: Database, happyfox: HappyFoxSim) -> None:
    desk = await _desk(db, happyfox)
    target = happyfox.open_ids()[5]
    happyfox.throttle(retry_after=1, times=1, path=f"/ticket/{target}/")

    run = await desk.run()

    assert (run["status"], run["imported"]) == ("done", CAP)
    asked = happyfox.calls(f"/ticket/{target}/")
    assert [r.fault for r in asked] == ["throttle", None]
    assert asked[1].at - asked[0].at >= 0.9


async def test_a_failure_midway_keeps_what_was_imported_and_the_next_run_goes_on(
    db: Database, happyfox: HappyFoxSim
) -> None:
    desk = await _desk(db, happyfox)
    broken = happyfox.open_ids()[60]
    happyfox.fail(500, times=None, path=f"/ticket/{broken}/")

    failed = await desk.run()

    assert failed["status"] == "failed" and failed["imported"] == 60
    assert "HappyFox answered 500" in (failed["error"] or "")
    happyfox.clear_faults()
    again = await desk.run()
    assert (again["status"], again["imported"]) == ("done", OPEN - 60)
    ids = await desk.imported_ids()
    assert len(ids) == len(set(ids)) == OPEN


async def test_a_run_whose_worker_died_is_resumed_without_duplicates(
    db: Database, happyfox: HappyFoxSim
) -> None:
    desk = await _desk(db, happyfox)
    hung = happyfox.open_ids()[75]
    happyfox.stall(times=1, path=f"/ticket/{hung}/")
    run_id = await desk.start()
    task = asyncio.create_task(desk.worker(poll_interval=0.05).run())
    await wait_until(lambda: happyfox.stalled == 1, timeout=20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await desk.state(run_id))["imported"] == 75
    async with db.session() as session:
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
    assert len(ids) == len(set(ids)) == CAP and str(hung) in ids
