"""Zendesk imports against the simulator, with more open tickets than one run takes: runs
import 200 at a time with the conversation, go on where the last stopped, skip what they
have, wait out a 429, keep what they imported when the provider fails midway, and a run whose
worker died is resumed by another without a ticket twice."""

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
from tests.sims.zendesk import ZendeskSim

CAP = PROVIDERS["zendesk"].per_run
OPEN = 250


@pytest.fixture
async def zendesk() -> AsyncIterator[ZendeskSim]:
    async with ZendeskSim(tickets=OPEN, closed=20) as sim:
        yield sim


async def _desk(db: Database, sim: ZendeskSim) -> Desk:
    return await connect_desk(
        db,
        "zendesk",
        {
            "subdomain": "acme",
            "email": sim.email,
            "api_token": sim.api_token,
            "api_url": sim.url,
        },
    )


async def test_runs_import_the_cap_then_the_rest_then_skip_everything(
    db: Database, zendesk: ZendeskSim
) -> None:
    desk = await _desk(db, zendesk)

    first = await desk.run()
    assert first == {
        "id": first["id"],
        "status": "done",
        "imported": CAP,
        "skipped": 0,
        "error": None,
    }
    assists = await desk.assists()
    assert len(assists) == CAP
    assert all(a.labels == [LABEL] for a in assists)
    # The oldest open ticket first, with its whole public conversation in order.
    ticket = zendesk.tickets[0]
    assist = assists[0]
    assert assist.subject == ticket["subject"]
    assert assist.customer_details["email"] == "customer1@example.com"
    assert [(m["from"], m["text"], m["at"]) for m in assist.transcript] == [
        ("customer", "Where is my order 1?", "2026-01-05T09:00:00Z"),
        ("agent", "Sorry! Order 1 left our warehouse yesterday.", "2026-01-05T09:10:00Z"),
        ("customer", "It is still not here <b>today</b>.", "2026-01-05T09:20:00Z"),
    ]
    assert [m.get("name") for m in assist.transcript] == ["Customer 1", "Ada Agent", "Customer 1"]
    # Zendesk's pending stays pending; open stays open.
    pending = {str(t["id"]) for t in zendesk.tickets if t["status"] == "pending"}
    by_subject = {a.subject: a.status for a in assists}
    assert {by_subject[t["subject"]] for t in zendesk.tickets[:50] if str(t["id"]) in pending} == {
        "pending"
    }
    assert "open" in by_subject.values()

    second = await desk.run()
    assert (second["status"], second["imported"], second["skipped"]) == ("done", OPEN - CAP, 0)
    imported = await desk.imported_ids()
    assert sorted(imported) == sorted(str(i) for i in zendesk.open_ids())  # no closed one

    third = await desk.run()
    assert (third["status"], third["imported"], third["skipped"]) == ("done", 0, OPEN)
    assert await desk.assist_count() == OPEN


async def test_a_429_midway_is_waited_out(db: Database, zendesk: ZendeskSim) -> None:
    desk = await _desk(db, zendesk)
    target = zendesk.open_ids()[10]
    zendesk.throttle(retry_after=1, times=1, path=f"/tickets/{target}/comments.json")

    run = await desk.run()

    assert (run["status"], run["imported"]) == ("done", CAP)
    asked = [r for r in zendesk.calls(f"/tickets/{target}/comments.json")]
    assert [r.fault for r in asked] == ["throttle", None]
    assert asked[1].at - asked[0].at >= 0.9  # waited for Retry-After


async def test_a_failure_midway_keeps_what_was_imported_and_the_next_run_goes_on(
    db: Database, zendesk: ZendeskSim
) -> None:
    desk = await _desk(db, zendesk)
    broken = zendesk.open_ids()[30]
    zendesk.fail(500, times=None, path=f"/tickets/{broken}/comments.json")

    failed = await desk.run()

    assert failed["status"] == "failed" and failed["imported"] == 30
    assert "Zendesk answered 500" in (failed["error"] or "")
    assert await desk.assist_count() == 30
    zendesk.clear_faults()
    again = await desk.run()
    assert (again["status"], again["imported"], again["skipped"]) == ("done", CAP, 0)
    ids = await desk.imported_ids()
    assert len(ids) == len(set(ids)) == 30 + CAP
    assert await desk.assist_count() == 30 + CAP


async def test_a_run_whose_worker_died_is_resumed_without_duplicates(
    db: Database, zendesk: ZendeskSim
) -> None:
    desk = await _desk(db, zendesk)
    hung = zendesk.open_ids()[40]
    zendesk.stall(times=1, path=f"/tickets/{hung}/comments.json")
    run_id = await desk.start()
    dying = desk.worker(lease_seconds=30, poll_interval=0.05)
    task = asyncio.create_task(dying.run())
    await wait_until(lambda: zendesk.stalled == 1, timeout=20)
    task.cancel()  # the node dies mid-run: no goodbye, the run stays "running"
    with pytest.raises(asyncio.CancelledError):
        await task
    state = await desk.state(run_id)
    assert (state["status"], state["imported"]) == ("running", 40)
    other = desk.worker(lease_seconds=30)
    assert await other.claim() is None  # the lease still holds
    async with db.session() as session:  # ... until it lapses
        await session.execute(
            update(ImportRun).where(ImportRun.id == run_id).values(lease_until=utcnow())
        )
    claimed = await other.claim()
    assert claimed is not None and claimed[0] == run_id
    await other.work(*claimed)

    done = await desk.state(run_id)
    assert (done["status"], done["imported"], done["skipped"]) == ("done", CAP, 0)
    ids = await desk.imported_ids()
    assert len(ids) == len(set(ids)) == CAP
    assert await desk.assist_count() == CAP
    # The stalled ticket was imported once, by the second worker.
    assert str(hung) in ids


async def test_wrong_credentials_fail_the_run_saying_so(db: Database, zendesk: ZendeskSim) -> None:
    desk = await connect_desk(
        db,
        "zendesk",
        {"subdomain": "acme", "email": zendesk.email, "api_token": "wrong", "api_url": zendesk.url},
    )
    run = await desk.run()
    assert run["status"] == "failed" and run["imported"] == 0
    assert "refused the credentials (401)" in (run["error"] or "")
    assert "wrong" not in (run["error"] or "")


async def test_a_worker_stopped_on_shutdown_hands_its_run_back(
    db: Database, zendesk: ZendeskSim
) -> None:
    desk = await _desk(db, zendesk)
    held = zendesk.open_ids()[20]
    zendesk.stall(times=1, path=f"/tickets/{held}/comments.json")
    run_id = await desk.start()
    worker = desk.worker(poll_interval=0.05)
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: zendesk.stalled == 1, timeout=20)

    worker.stop()  # the node shuts down: the ticket in hand is finished, the run handed back
    zendesk.release_stalled()
    await asyncio.wait_for(task, timeout=20)

    state = await desk.state(run_id)
    assert (state["status"], state["imported"]) == ("queued", 21)
    other = desk.worker()
    claimed = await other.claim()
    assert claimed is not None and claimed[0] == run_id
    await other.work(*claimed)
    assert (await desk.state(run_id))["imported"] == CAP
    ids = await desk.imported_ids()
    assert len(ids) == len(set(ids)) == CAP


async def test_a_provider_that_keeps_throttling_fails_the_run_after_bounded_waits(
    db: Database, zendesk: ZendeskSim
) -> None:
    desk = await _desk(db, zendesk)
    zendesk.throttle(retry_after=0, times=None, path="/api/v2/search.json")

    run = await desk.run()

    assert run["status"] == "failed" and run["imported"] == 0
    assert "kept answering 429" in (run["error"] or "")
    assert len(zendesk.calls("/api/v2/search.json")) == 5
