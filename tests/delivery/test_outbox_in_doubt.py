"""A reply part that may already be at the provider is looked for there before it is sent again.

Two ways a call can go through without the outbox knowing: the node making it dies after the
provider accepted it (another node takes the row over when its lease runs out), or the
provider's answer never arrives (a timeout). Slack messages carry their outbox reference as
message metadata and are found with conversations.history / conversations.replies; Twilio
messages are found by sender, recipient and text. Both run the real SDKs against simulators.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select, update

from api.state import GATEWAY
from channels.slack.sender import SlackSender
from config.metrics import Metrics
from core.team import directory
from delivery.outbox.queue import enqueue
from delivery.outbox.worker import OutboxWorker
from delivery.senders import Op, Sender
from models.deliverable import Deliverable, Receipt
from models.task import Route
from storage.db import Database
from storage.models import DeliveryReceipt, OutboxRow
from storage.types import utcnow
from tests.channels.twilio_helpers import OUR_NUMBER, twilio_settings
from tests.helpers import wait_until
from tests.sims.slack import SlackSim
from tests.sims.twilio import TwilioSim

MEMBER_PHONE = "+15550001234"


class DiesAfterTheCall:
    """A node that makes the provider call and dies before it can record it: the real
    sender's call goes through, then this node never answers again."""

    def __init__(self, sender: Sender) -> None:
        self._sender = sender
        self.called = asyncio.Event()

    def plan(self, route: Route, deliverable: Deliverable) -> list[Op]:
        return self._sender.plan(route, deliverable)

    async def perform(self, route: Route, op: Op) -> Receipt:
        await self._sender.perform(route, op)
        self.called.set()
        await asyncio.Event().wait()  # never returns: cancelled when the node is "killed"
        raise AssertionError("unreachable")


def _worker(db: Database, channel: str, sender: Sender, node: str) -> OutboxWorker:
    return OutboxWorker(
        db,
        {channel: sender},
        node_id=node,
        metrics=Metrics(),
        rng=random.Random(3),
        lease_seconds=30,
        backoff_base=0.01,
        backoff_max=0.02,
    )


async def _enqueue(db: Database, route: Route, *texts: str) -> list[str]:
    async with db.session() as session:
        ws = await directory.create_workspace(session, "Acme")
        return enqueue(
            session,
            workspace_id=ws.id,
            route=route,
            deliverables=[Deliverable(text=t) for t in texts],
            dedupe_prefix="doubt:1",
        )


async def _row(db: Database, row_id: str) -> OutboxRow:
    async with db.session() as session:
        row = await session.get(OutboxRow, row_id)
        assert row is not None
        return row


async def _killed_mid_call(db: Database, channel: str, sender: Sender, row_id: str) -> None:
    """Node A claims the row and makes the call; it is killed before recording it, and its
    lease has run out by the time node B looks."""
    dying = DiesAfterTheCall(sender)
    node_a = _worker(db, channel, dying, "node-a")
    drain = asyncio.create_task(node_a.drain())
    await asyncio.wait_for(dying.called.wait(), 10)
    drain.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await drain
    row = await _row(db, row_id)
    assert (row.status, row.claimed_by, row.provider_message_id) == ("sending", "node-a", None)
    async with db.session() as session:
        await session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )


async def _killed_before_the_call(db: Database, row_id: str) -> None:
    """Node A claimed the row and died before making any call; its lease has run out."""
    async with db.session() as session:
        await session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id)
            .values(status="sending", claimed_by="node-a", lease_until=utcnow())
        )


@pytest.fixture
async def slack() -> AsyncIterator[tuple[SlackSim, SlackSender]]:
    async with SlackSim() as sim:
        client = AsyncWebClient(sim.token, base_url=sim.api_url, timeout=0.5)
        try:
            yield sim, SlackSender(client, None)  # type: ignore[arg-type]
        finally:
            if client.session is not None:
                await client.session.close()


@pytest.mark.parametrize("thread", ["1700000000.000100", None], ids=["thread", "channel"])
async def test_a_slack_post_made_by_a_node_that_died_is_found_not_posted_again(
    db: Database, slack: tuple[SlackSim, SlackSender], thread: str | None
) -> None:
    sim, sender = slack
    route = Route(channel="slack", address="C0DOUBT01", thread=thread)
    [row_id] = await _enqueue(db, route, "The assist A-1 is closed.")
    await _killed_mid_call(db, "slack", sender, row_id)
    [posted] = sim.posted()
    assert posted["metadata"] == {
        "event_type": "switchboard_reply",
        "event_payload": {"ref": f"{row_id}:0"},
    }

    node_b = _worker(db, "slack", sender, "node-b")
    assert await node_b.drain() == 1
    assert sim.posted() == [posted], "node B posted the reply a second time"
    row = await _row(db, row_id)
    assert (row.status, row.provider_message_id, row.in_doubt) == ("sent", posted["ts"], False)
    looked = "conversations.replies" if thread else "conversations.history"
    assert len(sim.args(looked)) == 1


async def test_a_slack_post_not_made_before_the_node_died_is_made_once(
    db: Database, slack: tuple[SlackSim, SlackSender]
) -> None:
    sim, sender = slack
    route = Route(channel="slack", address="C0DOUBT02", thread="1700000000.000200")
    [row_id] = await _enqueue(db, route, "Nothing is open.")
    await _killed_before_the_call(db, row_id)
    node_b = _worker(db, "slack", sender, "node-b")
    assert await node_b.drain() == 1
    [posted] = sim.posted()
    assert posted["text"] == "Nothing is open."
    assert len(sim.args("conversations.replies")) == 1  # looked first, found nothing
    row = await _row(db, row_id)
    assert (row.status, row.provider_message_id) == ("sent", posted["ts"])


async def test_a_slack_post_whose_answer_was_lost_is_found_on_the_retry(
    db: Database, slack: tuple[SlackSim, SlackSender]
) -> None:
    sim, sender = slack
    route = Route(channel="slack", address="C0DOUBT03", thread="1700000000.000300")
    [row_id] = await _enqueue(db, route, "Your weekly report is ready.")
    sim.lose_answer(path="/api/chat.postMessage")
    worker = _worker(db, "slack", sender, "node-a")
    assert await worker.drain() == 1  # Slack posted it; its answer never came (timeout)
    row = await _row(db, row_id)  # back in the queue (or already claimed again)
    assert (row.attempts, row.in_doubt, row.provider_message_id) == (1, True, None)
    [posted] = sim.posted()

    sim.release_stalled()
    # Due after the backoff, started once the channel's one-a-second slot is free again.
    assert await wait_until(worker.drain, timeout=5, message="the retry is made") == 1
    assert sim.posted() == [posted]
    row = await _row(db, row_id)
    assert (row.status, row.provider_message_id, row.in_doubt) == ("sent", posted["ts"], False)


async def test_a_definite_refusal_leaves_no_doubt(
    db: Database, slack: tuple[SlackSim, SlackSender]
) -> None:
    sim, sender = slack
    [row_id] = await _enqueue(db, Route(channel="slack", address="C0DOUBT04"), "hi")
    sim.fail(500, path="/api/chat.postMessage")
    worker = _worker(db, "slack", sender, "node-a")
    assert await worker.drain() == 1
    row = await _row(db, row_id)
    assert (row.attempts, row.in_doubt) == (1, False)
    assert await wait_until(worker.drain, timeout=5, message="the retry is made") == 1
    assert len(sim.posted()) == 1
    assert sim.args("conversations.history") == []  # a 500 is not a doubt: no look


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioSim]:
    async with TwilioSim() as sim:
        yield sim


async def _sms_gateway(make_client: Any, sim: TwilioSim) -> tuple[Database, Sender]:
    client = await make_client(**twilio_settings(sim), build={"run_workers": False})
    gateway = client.server.app[GATEWAY]
    [channel] = [c for c in gateway.channels.values() if "sms" in c.senders()]
    return gateway.db, channel.senders()["sms"]


async def test_an_sms_sent_by_a_node_that_died_is_found_not_sent_again(
    make_client: Any, twilio: TwilioSim
) -> None:
    db, sender = await _sms_gateway(make_client, twilio)
    route = Route(channel="sms", address=MEMBER_PHONE, thread=OUR_NUMBER)
    # The same words went to the same person for an earlier reply, recorded: not this one.
    [earlier, row_id] = await _enqueue(db, route, "Done.", "Done.")
    node_0 = _worker(db, "sms", sender, "node-0")
    assert await node_0.drain() == 1  # the second waits for the recipient's next second...
    await node_0.release()  # ...and goes back to the queue when node 0 stops
    assert (await _row(db, earlier)).status == "sent"
    await _killed_mid_call(db, "sms", sender, row_id)
    first, second = twilio.sent(MEMBER_PHONE)

    node_b = _worker(db, "sms", sender, "node-b")
    assert await node_b.drain() == 1
    assert len(twilio.sent(MEMBER_PHONE)) == 2, "node B sent the text a second time"
    row = await _row(db, row_id)
    assert (row.status, row.provider_message_id) == ("sent", second["sid"])
    assert (await _row(db, earlier)).provider_message_id == first["sid"]
    async with db.session() as session:
        receipts = (await session.scalars(select(DeliveryReceipt.provider_message_id))).all()
    assert sorted(receipts) == sorted([first["sid"], second["sid"]])


async def test_an_sms_not_sent_before_the_node_died_is_sent_once(
    make_client: Any, twilio: TwilioSim
) -> None:
    db, sender = await _sms_gateway(make_client, twilio)
    route = Route(channel="sms", address=MEMBER_PHONE, thread=OUR_NUMBER)
    [row_id] = await _enqueue(db, route, "Your report is attached.")
    await _killed_before_the_call(db, row_id)
    assert await _worker(db, "sms", sender, "node-b").drain() == 1
    [sent] = twilio.sent(MEMBER_PHONE)
    assert sent["body"] == "Your report is attached."
    assert len(twilio.calls("/Messages.json", method="GET")) == 1
    assert (await _row(db, row_id)).provider_message_id == sent["sid"]
