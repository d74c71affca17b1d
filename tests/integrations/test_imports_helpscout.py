"""Help Scout imports against the simulator, with more active and pending conversations than
one run takes: the OAuth2 client-credentials token is fetched (and fetched again when it
expires mid-run), runs import 200 with the threads, go on where the last stopped, skip what
they have, wait out a 429, keep what they imported when the provider fails midway, and a run
whose worker died is resumed without duplicates."""

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
from tests.sims.helpscout import HelpScoutSim

CAP = PROVIDERS["helpscout"].per_run
OPEN = 240


@pytest.fixture
async def helpscout() -> AsyncIterator[HelpScoutSim]:
    async with HelpScoutSim(conversations=OPEN, closed=15) as sim:
        yield sim


async def _desk(db: Database, sim: HelpScoutSim, secret: str | None = None) -> Desk:
    return await connect_desk(
        db,
        "helpscout",
        {
            "client_id": sim.client_id,
            "client_secret": secret or sim.client_secret,
            "api_url": sim.url,
        },
    )


def _active_then_pending(sim: HelpScoutSim) -> list[int]:
    by_status = [c for c in sim.conversations if c["status"] == "active"] + [
        c for c in sim.conversations if c["status"] == "pending"
    ]
    return [c["id"] for c in by_status]


async def test_runs_import_the_cap_then_the_rest_then_skip_everything(
    db: Database, helpscout: HelpScoutSim
) -> None:
    desk = await _desk(db, helpscout)

    first = await desk.run()
    assert (first["status"], first["imported"], first["skipped"], first["error"]) == (
        "done",
        CAP,
        0,
        None,
    )
    token_calls = helpscout.calls("/v2/oauth2/token")
    assert len(token_calls) == 1 and token_calls[0].form["grant_type"] == "client_credentials"
    assists = await desk.assists()
    assert len(assists) == CAP and all(a.labels == [LABEL] for a in assists)
    assist = assists[0]
    assert assist.subject == "Login problem 1"
    assert assist.customer_details["email"] == "guest1@example.com"
    # Oldest first, the note left out.
    assert [(m["from"], m["text"], m.get("name")) for m in assist.transcript] == [
        ("customer", "I cannot log in (1).", "Guest 1"),
        ("agent", "Please reset your password.", "Hana Agent"),
        ("customer", "Still locked out.", "Guest 1"),
    ]
    assert {a.status for a in assists} == {"open", "pending"}

    helpscout.expire_in = 10  # the token expires mid-run: a new one is got and the run goes on
    second = await desk.run()
    assert (second["status"], second["imported"], second["skipped"]) == ("done", OPEN - CAP, 0)
    assert len(helpscout.calls("/v2/oauth2/token")) == 3
    imported = await desk.imported_ids()
    assert sorted(imported) == sorted(str(i) for i in helpscout.open_ids())

    third = await desk.run()
    assert (third["status"], third["imported"], third["skipped"]) == ("done", 0, OPEN)


async def test_a_429_midway_is_waited_out(db: Database, helpscout: HelpScoutSim) -> None:
    desk = await _desk(db, helpscout)
    target = _active_then_pending(helpscout)[7]
    helpscout.throttle(retry_after=1, times=1, path=f"/conversations/{target}/threads")

    run = await desk.run()

    assert (run["status"], run["imported"]) == ("done", CAP)
    asked = helpscout.calls(f"/conversations/{target}/threads")
    assert [r.fault for r in asked] == ["throttle", None]
    assert asked[1].at - asked[0].at >= 0.9


async def test_a_failure_midway_keeps_what_was_imported_and_the_next_run_goes_on(
    db: Database, helpscout: HelpScoutSim
) -> None:
    desk = await _desk(db, helpscout)
    broken = _active_then_pending(helpscout)[20]
    helpscout.fail(503, times=None, path=f"/conversations/{broken}/threads")

    failed = await desk.run()

    assert failed["status"] == "failed" and failed["imported"] == 20
    assert "Help Scout answered 503" in (failed["error"] or "")
    helpscout.clear_faults()
    again = await desk.run()
    assert (again["status"], again["imported"]) == ("done", CAP)
    ids = await desk.imported_ids()
    assert len(ids) == len(set(ids)) == 20 + CAP


async def test_a_run_whose_worker_died_is_resumed_without_duplicates(
    db: Database, helpscout: HelpScoutSim
) -> None:
    desk = await _desk(db, helpscout)
    hung = _active_then_pending(helpscout)[30]
    helpscout.stall(times=1, path=f"/conversations/{hung}/threads")
    run_id = await desk.start()
    task = asyncio.create_task(desk.worker(poll_interval=0.05).run())
    await wait_until(lambda: helpscout.stalled == 1, timeout=20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await desk.state(run_id))["imported"] == 30
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


async def test_a_wrong_app_secret_fails_the_run_saying_so(
    db: Database, helpscout: HelpScoutSim
) -> None:
    desk = await _desk(db, helpscout, secret="not-the-secret")
    run = await desk.run()
    assert run["status"] == "failed" and run["imported"] == 0
    assert "Help Scout refused the credentials (401)" in (run["error"] or "")
