"""Snoozing an assist: through the admin API, reopening at its time once (whichever scheduler
runs it, across a restart), and at once when the customer replies by email."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from api.state import GATEWAY
from core.assists import snooze
from core.assists.inbox import find_assist
from core.team import directory
from models.email_threads import token_of
from scheduler.housekeeping import SnoozeWake
from scheduler.leader import SingleNode
from scheduler.runner import BriefingScheduler
from storage.db import Database
from storage.domain import Assist, Schedule
from storage.models import AuditEntry
from storage.types import utcnow
from tests.channels.email_helpers import INBOUND_DOMAIN, Mailroom, email_settings, seed
from tests.channels.email_payloads import eml, inbound_parse
from tests.helpers import wait_until
from tests.scheduler import FakeClock
from tests.sims.sendgrid import SendGridSim

Client = Any


async def _quiet_seed(db: Database) -> tuple[str, dict[str, str]]:
    """The demo workspace (its briefings off) and an API key's header."""
    seeded = await seed(db)
    async with db.session() as session:
        await session.execute(update(Schedule).values(active=False))
        key = await directory.create_api_key(session, seeded.workspace_id, name="snooze")
    return seeded.workspace_id, {"Authorization": f"Bearer {key.secret}"}


async def _assist(db: Database, number: int) -> Assist:
    async with db.session() as session:
        row = await session.scalar(select(Assist).where(Assist.number == number))
        assert row is not None
        return row


async def _wakes(db: Database, ref: str) -> list[dict[str, Any]]:
    """The audit entries of REF's reopenings."""
    async with db.session() as session:
        rows = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "assist.woken", AuditEntry.target == ref)
        )
        return [dict(r.details) for r in rows]


async def _snooze(db: Database, ws: str, number: int, until: datetime) -> None:
    async with db.session() as session:
        assist = await find_assist(session, ws, str(number))
        assert assist is not None
        await snooze.snooze(session, assist, until, actor="test", now=utcnow())


async def _nowhere(task: Any) -> Any:
    raise AssertionError(f"nothing is scheduled, yet {task} was fired")


def _scheduler(db: Database, clock: FakeClock) -> tuple[BriefingScheduler, SnoozeWake]:
    waker = SnoozeWake(db)
    return BriefingScheduler(
        db, _nowhere, leadership=SingleNode(), clock=clock, every_tick=waker
    ), waker


async def _call(client: Client, auth: dict[str, str], method: str, path: str, **kw: Any) -> Any:
    response = await client.request(method, path, headers=auth, **kw)
    return response.status, await response.json()


async def test_snoozing_through_the_api_moves_it_from_open_to_snoozed(
    db: Database, make_client: Any
) -> None:
    _ws, auth = await _quiet_seed(db)
    client = await make_client()
    until = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    status, body = await _call(
        client,
        auth,
        "PATCH",
        "/api/v1/assists/A-1042",
        json={"status": "snoozed", "snoozed_until": until.isoformat()},
    )
    assert status == 200, body
    assert body["status"] == "snoozed"
    assert datetime.fromisoformat(body["snoozed_until"]) == until
    _, shown = await _call(client, auth, "GET", "/api/v1/assists/A-1042")
    assert (shown["status"], datetime.fromisoformat(shown["snoozed_until"])) == ("snoozed", until)
    _, opened = await _call(client, auth, "GET", "/api/v1/assists?status=open")
    _, snoozed = await _call(client, auth, "GET", "/api/v1/assists?status=snoozed")
    assert "A-1042" not in [a["ref"] for a in opened["items"]]
    assert "A-1040" in [a["ref"] for a in opened["items"]]
    assert [a["ref"] for a in snoozed["items"]] == ["A-1042"]

    # Reopened by a member: the snooze ends.
    status, body = await _call(
        client, auth, "PATCH", "/api/v1/assists/A-1042", json={"status": "open"}
    )
    assert (status, body["status"], body["snoozed_until"]) == (200, "open", None)
    assert await _wakes(db, "A-1042") == [{"by": "member"}]
    schema = await (await client.get("/api/v1/openapi.json")).json()
    patch = schema["components"]["schemas"]["AssistPatch"]["properties"]
    assert "snoozed" in str(patch["status"]) and "snoozed_until" in patch


async def test_a_bad_snooze_is_refused_with_400_and_changes_nothing(
    db: Database, make_client: Any
) -> None:
    ws, auth = await _quiet_seed(db)
    client = await make_client()
    async with db.session() as session:
        closed = await session.scalar(
            select(Assist.number).where(Assist.workspace_id == ws, Assist.status == "closed")
        )
    now = utcnow()
    soon = (now + timedelta(hours=1)).isoformat()
    bad: list[tuple[int, dict[str, Any], str]] = [
        (1042, {"status": "snoozed", "priority": "low"}, "needs snoozed_until"),
        (1042, {"status": "snoozed", "snoozed_until": (now - timedelta(minutes=1)).isoformat()},
         "in the future"),
        (1042, {"status": "snoozed", "snoozed_until": (now + timedelta(days=91)).isoformat(),
                "priority": "low"}, "at most 90 days"),
        (1042, {"status": "snoozed", "snoozed_until": "2031-01-01T09:00:00"}, "time zone"),
        (1042, {"status": "snoozed", "snoozed_until": "next tuesday"}, "snoozed_until"),
        (1042, {"snoozed_until": soon}, "with status snoozed"),
        (closed or 0, {"status": "snoozed", "snoozed_until": soon}, "is closed"),
    ]  # fmt: skip
    for number, payload, why in bad:
        before = await _assist(db, number)
        status, body = await _call(
            client, auth, "PATCH", f"/api/v1/assists/A-{number}", json=payload
        )
        assert status == 400, (payload, body)
        assert why in str(body), (why, body)
        after = await _assist(db, number)
        assert (after.status, after.snoozed_until, after.priority, after.updated_at) == (
            before.status,
            before.snoozed_until,
            before.priority,
            before.updated_at,
        )


async def test_it_reopens_at_its_time_once(db: Database) -> None:
    ws, _ = await _quiet_seed(db)
    at = (utcnow() + timedelta(hours=3)).replace(microsecond=0)
    await _snooze(db, ws, 1042, at)
    clock = FakeClock(at - timedelta(seconds=1))
    scheduler, waker = _scheduler(db, clock)
    await scheduler.tick()
    assert (await _assist(db, 1042)).status == "snoozed"
    clock.set(at)
    await scheduler.tick()
    assist = await _assist(db, 1042)
    assert (assist.status, assist.snoozed_until) == ("open", None)
    clock.set(at + timedelta(minutes=5))
    await scheduler.tick()
    assert waker.woken == 1
    assert await _wakes(db, "A-1042") == [{"by": "time", "until": at.isoformat()}]


async def test_two_schedulers_racing_on_postgresql_wake_each_assist_once(
    postgres_url: str,
) -> None:
    nodes = [Database(postgres_url), Database(postgres_url)]
    await nodes[0].migrate()
    try:
        ws, _ = await _quiet_seed(nodes[0])
        at = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
        refs = [f"A-{n}" for n in range(1040, 1052) if n != 1043]  # A-1043 is pending
        for ref in refs:
            await _snooze(nodes[0], ws, int(ref[2:]), at)
        clock = FakeClock(at)
        # Both believe they lead (the worst case: a lock lost and taken in the same moment).
        pairs = [_scheduler(node, clock) for node in nodes]
        for _ in range(3):
            await asyncio.gather(*(s.tick() for s, _ in pairs))
        assert sum(w.woken for _, w in pairs) == len(refs)
        for ref in refs:
            assert len(await _wakes(nodes[0], ref)) == 1, ref
            assert (await _assist(nodes[0], int(ref[2:]))).status == "open"
    finally:
        for node in nodes:
            await node.dispose()


async def test_it_wakes_after_a_restart_past_its_time(db: Database, make_client: Any) -> None:
    """The gateway stops before the time; a new one, started after it, reopens the assist."""
    _ws, auth = await _quiet_seed(db)
    settings = {"SWITCHBOARD_SCHEDULER": True, "SWITCHBOARD_SCHEDULER_POLL_INTERVAL": 0.05}
    now = utcnow()
    until = (now + timedelta(hours=1)).replace(microsecond=0)
    first = await make_client(build={"clock": FakeClock(now)}, **settings)
    status, body = await _call(
        first,
        auth,
        "PATCH",
        "/api/v1/assists/A-1042",
        json={"status": "snoozed", "snoozed_until": until.isoformat()},
    )
    assert status == 200, body
    scheduler = first.server.app[GATEWAY].scheduler
    await wait_until(lambda: scheduler.is_leader)
    await scheduler.tick()  # it runs before the time: nothing to wake
    await first.close()  # stopped before the time
    assert (await _assist(db, 1042)).status == "snoozed"

    second = await make_client(build={"clock": FakeClock(until + timedelta(minutes=1))}, **settings)
    await wait_until(lambda: second.server.app[GATEWAY].scheduler.is_leader)

    async def reopened() -> bool:
        return (await _assist(db, 1042)).status == "open"

    await wait_until(reopened)
    _, shown = await _call(second, auth, "GET", "/api/v1/assists/A-1042")
    assert (shown["status"], shown["snoozed_until"]) == ("open", None)
    assert await _wakes(db, "A-1042") == [{"by": "time", "until": until.isoformat()}]


async def test_a_customer_email_reply_reopens_it_at_once_and_not_again_at_its_time(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    _ws, auth = await _quiet_seed(db)
    mailroom = Mailroom(await make_client(**email_settings(sendgrid_sim)), db)
    until = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    status, body = await _call(
        mailroom.client,
        auth,
        "PATCH",
        "/api/v1/assists/A-1043",
        json={"status": "snoozed", "snoozed_until": until.isoformat()},
    )
    assert status == 200, body
    status, body = await _call(
        mailroom.client,
        auth,
        "POST",
        "/api/v1/assists/A-1043/replies",
        json={"text": "We have refunded order #5521."},
    )
    assert status == 201, body
    assert (await _assist(db, 1043)).status == "snoozed"  # the team's reply leaves it snoozed
    await sendgrid_sim.wait_for(1)
    first = sendgrid_sim.mails()[0]
    reply_to = first["reply_to"]["email"]
    assert token_of(reply_to, INBOUND_DOMAIN) is not None
    customer = str((await _assist(db, 1043)).customer_details["email"])
    raw = eml(
        "gmail_reply.eml",
        sender=customer,
        sender_name="Customer 4",
        to=reply_to,
        subject=f"Re: {first['subject']}",
        message_id="<snooze-reply-1@mail.gmail.com>",
    )
    answer = await mailroom.deliver(inbound_parse(raw, envelope_to=[reply_to]))
    assert (answer["status"], answer["assist"]) == ("threaded", "A-1043")
    assist = await _assist(db, 1043)
    assert (assist.status, assist.snoozed_until, assist.unread) == ("open", None, True)
    await sendgrid_sim.wait_for(2)
    notice = sendgrid_sim.mails()[1]
    text = {c["type"]: c["value"] for c in notice["content"]}["text/plain"]
    assert "A-1043 was snoozed and is open again." in text

    # The old time passes: nothing happens again.
    async with db.session() as session:
        await session.execute(
            update(Assist).where(Assist.number == 1043).values(status="pending")
        )  # the team answered meanwhile
    scheduler, waker = _scheduler(db, FakeClock(until + timedelta(minutes=1)))
    await scheduler.tick()
    assert waker.woken == 0
    assert (await _assist(db, 1043)).status == "pending"
    assert await _wakes(db, "A-1043") == []
