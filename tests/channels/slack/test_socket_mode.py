"""Slack over Socket Mode (SLACK_APP_TOKEN) against the simulated Socket Mode server: every
envelope acknowledged only once its task is committed (checked in the database at the moment
the ack arrives), answered once, and still once across a lost ack and a reconnect."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal
from urllib.parse import parse_qsl

import pytest
import pytest_asyncio
from slack_bolt.response import BoltResponse
from sqlalchemy import func, select

from channels.slack.manifest import METHODS_CALLED
from channels.slack.socket_mode import SocketMode
from cli.seed import Seeded, seed_workspace
from config import SettingsError, load_settings
from storage.db import Database
from storage.models import TaskRow
from storage.types import utcnow
from tests.api import HelpClassifier, count_rows
from tests.channels.slack_payloads import (
    CHANNEL,
    SIGNING_SECRET,
    block_actions,
    mention,
    post,
    slash_command,
)
from tests.helpers import settled, wait_until
from tests.sims.slack_socket import Ack, SlackSocketSim

OLIVIA = "U0DEMO001"  # the seeded owner's Slack user id


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SlackSocketSim]:
    async with SlackSocketSim() as started:
        yield started
    assert not started.handler_errors, started.handler_errors


async def start(make_client: Any, sim: SlackSocketSim, **build: Any) -> Any:
    client = await make_client(
        build=build,
        SLACK_BOT_TOKEN=sim.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=sim.api_url,
        SLACK_APP_TOKEN=sim.app_token,
    )
    await sim.connected()
    return client


async def seeded(db: Database) -> Seeded:
    async with db.session() as session:
        return await seed_workspace(session, now=utcnow())


async def tasks_with(db: Database, external_id: str) -> int:
    async with db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(TaskRow).where(TaskRow.external_id == external_id)
        )
    return int(count or 0)


def committed_at_ack(db: Database, sim: SlackSocketSim, external_id: str) -> dict[str, int]:
    """For each ack (by envelope id): how many tasks with EXTERNAL_ID the database held at
    the moment the ack reached the simulator."""
    seen: dict[str, int] = {}

    async def look(ack: Ack) -> None:
        seen[ack.envelope_id] = await tasks_with(db, external_id)

    sim.on_ack = look
    return seen


def form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode()))


async def test_event_is_acknowledged_after_its_task_is_committed_and_answered_once(
    sim: SlackSocketSim, db: Database, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await seeded(db)
    await start(make_client, sim, classifier=HelpClassifier())
    payload = mention("what can you do?", user=OLIVIA)
    at_ack = committed_at_ack(db, sim, payload["event_id"])

    envelope = await sim.send("events_api", payload)
    ack = await sim.acked(envelope)

    assert at_ack == {ack.envelope_id: 1}  # the task was committed when the ack was sent
    assert ack.payload is None
    (message,) = await wait_until(lambda: sim.posted(), timeout=10)
    assert message["channel"] == CHANNEL
    assert message["thread_ts"] == payload["event"]["ts"]
    await settled(db)
    assert len(sim.posted()) == 1
    assert await tasks_with(db, payload["event_id"]) == 1
    assert "Socket Mode on (SLACK_APP_TOKEN)" in caplog.text
    assert sim.app_token not in caplog.text and sim.token not in caplog.text
    # The app asks for the scope of every Web API method it was seen calling (the manifest).
    called = {r.path.rsplit("/", 1)[-1] for r in sim.requests if r.path.startswith("/api/")}
    assert called - {"apps.connections.open"} <= set(METHODS_CALLED)


async def test_lost_ack_is_redelivered_after_reconnect_and_still_one_task_one_reply(
    sim: SlackSocketSim, db: Database, make_client: Any
) -> None:
    await seeded(db)
    await start(make_client, sim, classifier=HelpClassifier())
    payload = mention("what can you do?", user=OLIVIA)
    at_ack = committed_at_ack(db, sim, payload["event_id"])
    sim.lose_acks(1)  # the connection breaks before the first ack reaches Slack

    envelope = await sim.send("events_api", payload)
    ack = await sim.acked(envelope)

    assert len(envelope.ids) == 2  # delivered, then delivered again on the new connection
    first, second = sim.acks_of(envelope)
    assert first.lost and not second.lost
    assert (first.connection, second.connection) == (1, 2)
    assert at_ack == {first.envelope_id: 1, second.envelope_id: 1}
    assert ack == second
    await wait_until(lambda: sim.posted(), timeout=10)
    await settled(db)
    assert await tasks_with(db, payload["event_id"]) == 1
    assert len(sim.posted()) == 1


@pytest.mark.parametrize("how", ["disconnect", "close"])
async def test_after_a_disconnect_or_a_cut_it_reconnects_and_envelopes_keep_flowing(
    sim: SlackSocketSim, db: Database, make_client: Any, how: Literal["disconnect", "close"]
) -> None:
    await seeded(db)
    await start(make_client, sim, classifier=HelpClassifier())

    await sim.drop(how)  # Slack refreshing the connection, or the connection cut
    await wait_until(lambda: sim.connections_opened == 2, timeout=10)
    payload = mention("what can you do?", user=OLIVIA)
    envelope = await sim.send("events_api", payload)
    ack = await sim.acked(envelope)

    assert ack.connection == 2
    await wait_until(lambda: sim.posted(), timeout=10)
    await settled(db)
    assert await tasks_with(db, payload["event_id"]) == 1
    assert len(sim.posted()) == 1


async def test_slash_command_is_acknowledged_with_the_ephemeral_answer(
    sim: SlackSocketSim, db: Database, make_client: Any
) -> None:
    await seeded(db)
    await start(make_client, sim)
    trigger = "13345224609.738474920.8088930838d88f"
    at_ack = committed_at_ack(db, sim, f"command:{trigger}")

    envelope = await sim.send(
        "slash_commands", form(slash_command("help", user=OLIVIA, trigger_id=trigger))
    )
    ack = await sim.acked(envelope)

    assert at_ack == {ack.envelope_id: 1}
    assert ack.payload == {"response_type": "ephemeral", "text": "Working on it…"}
    (message,) = await wait_until(lambda: sim.posted(), timeout=10)
    assert message["channel"] == CHANNEL
    assert "What I can do" in message["text"]
    async with db.session() as session:
        task = await session.scalar(select(TaskRow))
    assert task is not None and (task.kind, task.text) == ("command", "help")
    assert "response_url" not in task.raw and "token" not in task.raw


async def test_approval_button_over_socket_mode_executes_once(
    sim: SlackSocketSim, db: Database, make_client: Any
) -> None:
    await seeded(db)
    await start(make_client, sim)
    await sim.send("events_api", mention("set A-1045 to urgent", user=OLIVIA))
    (card,) = await wait_until(lambda: sim.posted(), timeout=10)
    (actions,) = [b for b in card["blocks"] if b["type"] == "actions"]
    proposal_id = actions["elements"][0]["value"]
    click = form(
        block_actions(
            user=OLIVIA,
            action_id="proposal_approve",
            value=proposal_id,
            channel=CHANNEL,
            message=card,
        )
    )
    payload = json.loads(click["payload"])
    external_id = f"action:{proposal_id}:{OLIVIA}:approve"
    at_ack = committed_at_ack(db, sim, external_id)

    envelope = await sim.send("interactive", payload)
    ack = await sim.acked(envelope)
    again = await sim.acked(await sim.send("interactive", payload))  # a double click

    assert at_ack == {ack.envelope_id: 1, again.envelope_id: 1}
    (update,) = await wait_until(lambda: sim.args("chat.update"), timeout=10)
    assert update["ts"] == card["ts"]
    updated = next(m for m in sim.messages if m["ts"] == card["ts"])
    assert "Approved by" in json.dumps(updated["blocks"], ensure_ascii=False)
    await settled(db)
    assert await tasks_with(db, external_id) == 1
    assert len(sim.args("chat.update")) == 1
    assert len(sim.posted()) == 1  # the card, updated in place; nothing else posted


async def test_malformed_envelope_is_acknowledged_and_changes_nothing(
    sim: SlackSocketSim, db: Database, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await seeded(db)
    await start(make_client, sim, classifier=HelpClassifier())
    before = await count_rows(db)
    broken = mention("hello", user=OLIVIA)
    del broken["event"]["channel"]

    ack = await sim.acked(await sim.send("events_api", broken))

    assert ack.payload is None  # acknowledged: delivering it again would not mend it
    assert await count_rows(db) == before
    assert "refused and acknowledged" in caplog.text


async def test_a_refused_app_token_is_logged_and_http_events_still_work(
    sim: SlackSocketSim, db: Database, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await seeded(db)
    client = await make_client(
        SLACK_BOT_TOKEN=sim.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=sim.api_url,
        SLACK_APP_TOKEN="xapp-1-A0SIMAPP1-1-revoked",
    )

    await wait_until(lambda: "SLACK_APP_TOKEN was refused" in caplog.text, timeout=10)
    assert "invalid_auth" in caplog.text
    assert "xapp-" not in caplog.text
    assert sim.connections_opened == 0
    payload = mention("hello", user=OLIVIA)
    response = await post(client, payload)
    assert response.status == 200
    assert await tasks_with(db, payload["event_id"]) == 1


def test_an_app_token_that_is_not_one_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(_env_file=None, SLACK_APP_TOKEN="xoxb-1111-2222-notanapptoken")

    assert "SLACK_APP_TOKEN" in str(refused.value)
    assert "xapp-" in str(refused.value) and "connections:write" in str(refused.value)
    assert "notanapptoken" not in str(refused.value)


async def test_each_node_holds_a_connection_and_a_retry_on_the_other_is_the_same_task(
    sim: SlackSocketSim, db: Database, make_client: Any
) -> None:
    await seeded(db)
    await start(make_client, sim, classifier=HelpClassifier())
    await start(make_client, sim, classifier=HelpClassifier())  # a second node, same database
    await wait_until(lambda: len(sim.open_connections) == 2, timeout=10)
    first, second = sim.open_connections
    payload = mention("what can you do?", user=OLIVIA)
    at_ack = committed_at_ack(db, sim, payload["event_id"])

    envelope = await sim.send("events_api", payload, connection=first)
    await sim.resend(envelope, connection=second)  # Slack retrying on the other connection
    await wait_until(lambda: len(sim.acks_of(envelope)) == 2, timeout=10)

    assert {a.connection for a in sim.acks_of(envelope)} == {first, second}
    assert list(at_ack.values()) == [1, 1]
    await wait_until(lambda: sim.posted(), timeout=10)
    await settled(db)
    assert await tasks_with(db, payload["event_id"]) == 1
    assert len(sim.posted()) == 1


async def test_an_envelope_whose_commit_fails_is_not_acknowledged_and_comes_again(
    sim: SlackSocketSim,
) -> None:
    """The receive path (the channel's parse and journal commit) fails once: no ack, so
    Slack delivers it again, and the second delivery is acknowledged once committed."""
    calls: list[object] = []

    async def receive(payload: object, *, retry: str | None) -> BoltResponse | None:
        calls.append(payload)
        if len(calls) == 1:
            raise RuntimeError("database is unavailable")
        return None

    socket = SocketMode(receive, app_token=sim.app_token, api_url=sim.api_url)
    await socket.start()
    try:
        await sim.connected()
        envelope = await sim.send("events_api", mention("hello", user=OLIVIA))
        await wait_until(lambda: len(calls) == 1, timeout=10)
        assert sim.acks_of(envelope) == []

        await sim.drop("close")  # Slack's retry, here on the next connection
        ack = await sim.acked(envelope)
    finally:
        await socket.stop()

    assert len(calls) == 2
    assert ack.envelope_id == envelope.ids[1] and ack.connection == 2


async def test_stopping_acknowledges_what_is_in_flight_and_takes_nothing_new(
    sim: SlackSocketSim,
) -> None:
    committing = asyncio.Event()
    commit = asyncio.Event()

    async def receive(payload: object, *, retry: str | None) -> BoltResponse | None:
        committing.set()
        await commit.wait()
        return None

    socket = SocketMode(receive, app_token=sim.app_token, api_url=sim.api_url)
    await socket.start()
    await sim.connected()
    in_flight = await sim.send("events_api", mention("first", user=OLIVIA))
    await committing.wait()

    stopping = asyncio.create_task(socket.stop(grace=10))
    await wait_until(lambda: socket.closing, timeout=5)
    late = await sim.send("events_api", mention("second", user=OLIVIA))
    commit.set()
    await stopping

    assert (await sim.acked(in_flight)).envelope_id == in_flight.ids[0]
    assert sim.acks_of(late) == []  # not acknowledged: Slack delivers it to another connection
    assert sim.unacknowledged == [late]
