"""Live consoles: what changes through one gateway node reaches the open consoles of another
within a bounded wait (SQLite and PostgreSQL), scoped to the workspace, and `notify` events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from api.state import GATEWAY
from core.assists.records import create_assist
from core.team import directory
from delivery.live import MAX_PAYLOAD, notify
from storage.db import Database
from storage.domain import Assist, Customer
from storage.types import utcnow
from tests.channels.email_helpers import INBOUND_DOMAIN, Mailroom, email_settings
from tests.channels.email_payloads import inbound_parse, simple_email
from tests.console.helpers import origin
from tests.console.inbox_helpers import (
    MARIA,
    OLIVIA,
    SAM,
    Console,
    EventStream,
    assist_row,
    seeded,
)
from tests.factories import make_member, make_workspace
from tests.sims.sendgrid import SendGridSim
from tests.write_cases import ask

BASE = "http://gw.example"


async def _api_key(db: Database, workspace_id: str) -> dict[str, str]:
    async with db.session() as session:
        key = await directory.create_api_key(session, workspace_id, name="live")
    return {"Authorization": f"Bearer {key.secret}"}


async def test_a_status_change_on_one_node_reaches_a_console_on_another(
    db: Database, make_client: Any
) -> None:
    seed = await seeded(db)
    auth = await _api_key(db, seed.workspace_id)
    node_a, node_b = await make_client(), await make_client()
    await Console.open(node_b, db, seed.member_ids[SAM])
    stream = await EventStream.open(node_b)

    changed = await node_a.patch("/api/v1/assists/A-1042", json={"status": "pending"}, headers=auth)
    assert changed.status == 200

    await stream.until("assist", ref="A-1042", status="pending")
    rows = await node_b.get("/console/inbox/rows?status=pending")
    assert "A-1042" in [r["ref"] for r in (await rows.json())["rows"]]
    stream.close()


async def test_a_new_assist_and_an_approved_write_reach_open_consoles(
    db: Database, make_client: Any
) -> None:
    seed = await seeded(db)
    node = await make_client()
    await Console.open(node, db, seed.member_ids[MARIA])
    stream = await EventStream.open(node)

    # Another node's escalation opens an assist (here: a writer on its own connection).
    async with db.session() as session:
        customer = await session.scalar(
            select(Customer).where(Customer.workspace_id == seed.workspace_id).limit(1)
        )
        created = await create_assist(
            session,
            workspace_id=seed.workspace_id,
            subject="Where is my parcel?",
            summary="Asked for a person about a late parcel.",
            customer=customer,
        )
        ref = created.ref
    await stream.until("assist", ref=ref, status="open")
    rows = await (await node.get("/console/inbox/rows")).json()
    assert rows["rows"][0]["ref"] == ref and rows["rows"][0]["unread"] is True

    # The operator's write, approved in chat, changes rows field by field: heard too.
    owner = "olivia@demo.example"
    now = utcnow()
    await ask(
        db, seed, owner, "set_assist_priority", {"assist": "A-1045", "priority": "urgent"}, now
    )
    await ask(db, seed, owner, "approve_proposal", {}, now)
    await stream.until("changed", action="proposal.execute")
    stream.close()


async def test_a_customer_email_reply_reaches_a_console_on_another_node(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    seed = await seeded(db)
    settings = email_settings(sendgrid_sim, PUBLIC_BASE_URL=BASE)
    node_a, node_b = await make_client(**settings), await make_client(**settings)
    console = await Console.open(node_b, db, seed.member_ids[SAM])
    await console.post("/console/assists/A-1043/reply", {"text": "Could you send a photo?"})
    await sendgrid_sim.wait_for(1)
    mail = sendgrid_sim.mails()[0]
    customer = str((await assist_row(db, seed.workspace_id, 1043)).customer_details["email"])
    assert (await assist_row(db, seed.workspace_id, 1043)).status == "pending"
    stream = await EventStream.open(node_b)

    # The customer answers; Inbound Parse reaches node A.
    raw = simple_email(
        sender=customer,
        to=mail["reply_to"]["email"],
        subject=f"Re: {mail['subject']}",
        text="Here it is, the box was crushed.",
        message_id="<photo@mail.example>",
    )
    answered = await Mailroom(node_a, db).deliver(
        inbound_parse(raw, envelope_to=[mail["reply_to"]["email"]])
    )
    assert answered["assist"] == "A-1043"

    await stream.until("assist", ref="A-1043", status="open")  # pending → open
    state = await (await node_b.get("/console/assists/A-1043/state")).json()
    assert state["unread"] is True and state["status"] == "open"
    assert state["items"][-1]["kind"] == "customer_reply"
    assert state["items"][-1]["text"] == "Here it is, the box was crushed."
    rows = await (await node_b.get("/console/inbox/rows")).json()
    (row,) = [r for r in rows["rows"] if r["ref"] == "A-1043"]
    assert row["unread"] is True
    assert INBOUND_DOMAIN in mail["reply_to"]["email"]
    stream.close()


async def test_events_stay_in_their_workspace(db: Database, make_client: Any) -> None:
    seed = await seeded(db)
    async with db.session() as session:
        other = await make_workspace(session)
        stranger = await make_member(session, other.id, role="owner")
    node_a, node_b = await make_client(), await make_client()
    await Console.open(node_a, db, seed.member_ids[SAM])
    await Console.open(node_b, db, stranger.id)
    ours, theirs = await EventStream.open(node_a), await EventStream.open(node_b)
    ours_auth = await _api_key(db, seed.workspace_id)
    theirs_auth = await _api_key(db, other.id)
    async with db.session() as session:
        mine = await create_assist(
            session, workspace_id=other.id, subject="Theirs", summary="Their customer."
        )
        their_ref = mine.ref

    patched = await node_a.patch(
        "/api/v1/assists/A-1046", json={"priority": "urgent"}, headers=ours_auth
    )
    assert patched.status == 200
    await ours.until("assist", ref="A-1046")
    patched = await node_b.patch(
        f"/api/v1/assists/{their_ref}", json={"status": "pending"}, headers=theirs_auth
    )
    assert patched.status == 200
    await theirs.until("assist", ref=their_ref, status="pending")

    assert all(data.get("ref") != "A-1046" for _, data in theirs.seen)
    assert all(data.get("ref") != their_ref for _, data in ours.seen)
    ours.close()
    theirs.close()


async def test_notify_reaches_the_member_named_and_only_after_the_commit(
    db: Database, make_client: Any
) -> None:
    seed = await seeded(db)
    node = await make_client()
    sam, maria = seed.member_ids[SAM], seed.member_ids[MARIA]
    # Two members' browsers on the same node (their own cookie jars).
    sam_client, maria_client = node, TestClient(node.server)
    await maria_client.start_server()
    await Console.open(sam_client, db, sam)
    await Console.open(maria_client, db, maria)
    sam_stream = await EventStream.open(sam_client)
    maria_stream = await EventStream.open(maria_client)
    # On PostgreSQL a NOTIFY from any node (here: another connection pool) reaches every
    # node; SQLite serves one node, whose own database handle writes.
    writer = db if db.is_postgres else node.server.app[GATEWAY].db

    with pytest.raises(RuntimeError):
        async with writer.session() as session:
            await notify(session, seed.workspace_id, None, "operator_answer", {"n": 0})
            raise RuntimeError("rolled back")
    async with writer.session() as session:
        await notify(session, seed.workspace_id, maria, "operator_answer", {"n": 1})
    async with writer.session() as session:
        await notify(session, seed.workspace_id, None, "operator_answer", {"n": 2})

    await maria_stream.until("operator_answer", n=1)
    await maria_stream.until("operator_answer", n=2)
    await sam_stream.until("operator_answer", n=2)
    assert [d["n"] for k, d in sam_stream.seen if k == "operator_answer"] == [2]
    assert 0 not in [d.get("n") for _, d in maria_stream.seen]
    with pytest.raises(ValueError):
        async with writer.session() as session:
            await notify(session, seed.workspace_id, None, "big", {"x": "y" * MAX_PAYLOAD})
    sam_stream.close()
    maria_stream.close()
    await maria_client.session.close()


async def test_signing_out_on_one_node_ends_the_stream_on_another(
    db: Database, make_client: Any
) -> None:
    seed = await seeded(db)
    node_a, node_b = await make_client(), await make_client()
    console = await Console.open(node_a, db, seed.member_ids[SAM])
    # The same browser session, its requests reaching node B.
    cookie = node_a.session.cookie_jar.filter_cookies(node_a.make_url("/"))["sb_session"]
    node_b.session.cookie_jar.update_cookies({"sb_session": cookie.value}, node_b.make_url("/"))
    stream = await EventStream.open(node_b)

    out = await node_a.post(
        "/console/logout",
        data={"csrf_token": console.csrf},
        headers=origin(node_a),
        allow_redirects=False,
    )
    assert out.status == 302

    await stream.until("signed-out")
    with pytest.raises(EOFError):
        await stream.until("hello", timeout=5)
    again = await node_b.get("/console/events", allow_redirects=False)
    assert again.status == 302  # the cookie no longer works anywhere


async def test_a_change_stamped_before_a_slow_commit_is_still_heard(
    db: Database, make_client: Any
) -> None:
    """A writer stamps `updated_at` when its transaction starts (an escalation then waits for
    the model): the feed reads a margin back, so the commit a minute later still reaches."""
    seed = await seeded(db)
    node = await make_client()
    await Console.open(node, db, seed.member_ids[SAM])
    stream = await EventStream.open(node)
    async with db.session() as session:
        row = await session.scalar(
            select(Assist).where(Assist.workspace_id == seed.workspace_id, Assist.number == 1047)
        )
        assert row is not None
        row.priority = "urgent"
        row.updated_at = utcnow() - timedelta(seconds=60)
    await stream.until("assist", ref="A-1047")
    stream.close()


async def test_an_operator_answer_is_announced_to_its_member_when_it_commits(
    db: Database, make_client: Any
) -> None:
    """The operator panel learns its answer is ready from the stream, on any node."""
    seed = await seeded(db)
    if db.is_postgres:  # asked on node B, which runs no pipeline: another node's worker answers
        await make_client()
        node_b = await make_client(SWITCHBOARD_WORKERS=0)
    else:  # SQLite serves one node
        node_b = await make_client()
    olivia = seed.member_ids[OLIVIA]
    csrf = (await Console.open(node_b, db, olivia)).csrf
    stream = await EventStream.open(node_b)
    posted = await node_b.post(
        "/console/operator/messages",
        json={"text": "how is our resolution rate this week?"},
        headers={"X-CSRF-Token": csrf, **origin(node_b)},
    )
    assert posted.status == 202, await posted.text()
    task_id = (await posted.json())["task_id"]
    await stream.until("operator_answer", task_id=task_id)
    answer = await node_b.get(f"/console/operator/tasks/{task_id}")
    assert (await answer.json())["finished"] is True
    stream.close()
