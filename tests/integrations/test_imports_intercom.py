"""Intercom imports against the simulator, with more open and snoozed conversations than one
run takes: runs import 200 with the conversation parts, go on from the search cursor where the
last stopped, skip what they have, wait out a 429 that names only X-RateLimit-Reset, keep
what they imported when the provider fails midway, and a run whose worker died is resumed
without duplicates."""

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
from tests.sims.intercom import IntercomSim

CAP = PROVIDERS["intercom"].per_run
OPEN = 230


@pytest.fixture
async def intercom() -> AsyncIterator[IntercomSim]:
    async with IntercomSim(conversations=OPEN, closed=15) as sim:
        yield sim


async def _desk(db: Database, sim: IntercomSim) -> Desk:
    return await connect_desk(
        db, "intercom", {"access_token": sim.access_token, "api_url": sim.url}
    )


async def test_runs_import_the_cap_then_the_rest_then_skip_everything(
    db: Database, intercom: IntercomSim
) -> None:
    desk = await _desk(db, intercom)

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
    assert assist.subject == "My invoice 1 is wrong"  # a chat has no subject: its first words
    assert assist.customer_details["email"] == "visitor1@example.com"
    assert [(m["from"], m["text"], m["at"]) for m in assist.transcript] == [
        ("customer", "My invoice 1 is wrong", "2026-01-05T09:00:00Z"),
        ("agent", "Let me fix that for you.", "2026-01-05T09:02:00Z"),
        ("customer", "Thank you!", "2026-01-05T09:04:00Z"),
    ]
    assert {a.status for a in assists} == {"open", "pending"}  # snoozed is pending

    second = await desk.run()
    assert (second["status"], second["imported"], second["skipped"]) == ("done", OPEN - CAP, 0)
    assert sorted(await desk.imported_ids()) == sorted(intercom.open_ids())

    third = await desk.run()
    assert (third["status"], third["imported"], third["skipped"]) == ("done", 0, OPEN)


async def test_a_429_midway_is_waited_out(db: Database, intercom: IntercomSim) -> None:
    desk = await _desk(db, intercom)
    target = intercom.open_ids()[5]
    intercom.throttle(retry_after=1, times=1, path=f"/conversations/{target}")

    run = await desk.run()

    assert (run["status"], run["imported"]) == ("done", CAP)
    asked = intercom.calls(f"/conversations/{target}")
    assert [r.fault for r in asked] == ["throttle", None]
    assert asked[1].at - asked[0].at >= 0.9  # waited until X-RateLimit-Reset


async def test_a_failure_midway_keeps_what_was_imported_and_the_next_run_goes_on(
    db: Database, intercom: IntercomSim
) -> None:
    desk = await _desk(db, intercom)
    broken = intercom.open_ids()[160]  # on the search's second page
    intercom.fail(500, times=None, path=f"/conversations/{broken}")

    failed = await desk.run()

    assert failed["status"] == "failed" and failed["imported"] == 160
    assert "Intercom answered 500" in (failed["error"] or "")
    intercom.clear_faults()
    again = await desk.run()
    assert (again["status"], again["imported"]) == ("done", OPEN - 160)
    ids = await desk.imported_ids()
    assert len(ids) == len(set(ids)) == OPEN


async def test_a_run_whose_worker_died_is_resumed_without_duplicates(
    db: Database, intercom: IntercomSim
) -> None:
    desk = await _desk(db, intercom)
    hung = intercom.open_ids()[50]
    intercom.stall(times=1, path=f"/conversations/{hung}")
    run_id = await desk.start()
    task = asyncio.create_task(desk.worker(poll_interval=0.05).run())
    await wait_until(lambda: intercom.stalled == 1, timeout=20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await desk.state(run_id))["imported"] == 50
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
    assert len(ids) == len(set(ids)) == CAP and hung in ids
