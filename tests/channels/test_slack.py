"""The Slack channel end to end: signed webhooks in, the Slack simulator's Web API out."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from html import unescape
from itertools import pairwise
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from api.state import GATEWAY
from channels.slack.blocks import escape, render
from channels.slack.channel import SlackChannel
from channels.slack.sender import SlackSender
from cli.seed import Seeded, seed_workspace
from core.team.directory import link_identity
from core.team.identity import Principal
from delivery.errors import (
    BadRequest,
    DeliveryError,
    Forbidden,
    InvalidRecipient,
    ProviderUnavailable,
    RateLimited,
)
from delivery.media import MediaFile
from delivery.outbox.queue import enqueue
from models.classification import Classification, ToolCall
from models.deliverable import CardField, Deliverable, Receipt
from models.task import Route
from storage.db import Database
from storage.domain import Assist, Proposal
from storage.models import Member, OutboxRow, TaskRow, WorkspaceAddress
from storage.types import utcnow
from tests.api import HelpClassifier, count_rows
from tests.channels.slack_payloads import (
    BOT_USER,
    CHANNEL,
    SIGNING_SECRET,
    TEAM,
    block_actions,
    direct_message,
    event_callback,
    mention,
    post,
    sign,
    slash_command,
)
from tests.conftest import make_settings
from tests.factories import make_member, make_workspace
from tests.helpers import wait_until
from tests.sims.slack import SlackSim

OLIVIA = "U0DEMO001"  # the seeded owner's Slack user id


async def start(make_client: Any, slack_sim: SlackSim, **build: Any) -> Any:
    return await make_client(
        build=build,
        SLACK_BOT_TOKEN=slack_sim.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_sim.api_url,
    )


async def seeded(db: Database) -> Seeded:
    async with db.session() as session:
        return await seed_workspace(session, now=utcnow() - timedelta(minutes=1))


async def posted(slack_sim: SlackSim, n: int, channel: str | None = None) -> list[dict[str, Any]]:
    """The bot's messages once at least N are there."""

    def enough() -> list[dict[str, Any]] | None:
        found = slack_sim.posted(channel)
        return found if len(found) >= n else None

    return await wait_until(enough, timeout=10, message=f"{n} slack message(s) posted")


async def task_rows(db: Database) -> list[TaskRow]:
    async with db.session() as session:
        return list(await session.scalars(select(TaskRow).order_by(TaskRow.received_at)))


def blocks_of(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for b in message.get("blocks", []) if b["type"] == kind]


# --------------------------------------------------------------------------- answered


async def test_mention_is_answered_in_its_thread_with_a_metric_card(
    db: Database, make_client: Any, slack_sim: SlackSim, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await seeded(db)
    client = await start(make_client, slack_sim)
    payload = mention("how is our resolution rate this week?", user=OLIVIA)
    ts = payload["event"]["ts"]

    response = await post(client, payload)

    assert response.status == 200
    (message,) = await posted(slack_sim, 1)
    assert message["channel"] == CHANNEL
    assert message["thread_ts"] == ts
    (header,) = blocks_of(message, "header")
    assert header["text"]["text"] == "Resolution rate, this week"
    fields = [f["text"] for b in blocks_of(message, "section") for f in b.get("fields", [])]
    async with db.session() as session:
        reply = await session.scalar(select(OutboxRow).where(OutboxRow.channel == "slack"))
    assert reply is not None and reply.deliverable["kind"] == "card"
    assert fields == [f"*{f['label']}*\n{f['value']}" for f in reply.deliverable["fields"]]
    assert fields[0].startswith("*Resolution rate*\n")
    assert "Resolution rate" in message["text"]
    (task,) = await task_rows(db)
    assert task.text == "how is our resolution rate this week?"
    assert task.external_id == payload["event_id"]
    assert (task.sender_channel, task.sender_address) == ("slack", OLIVIA)
    assert task.conversation == f"{CHANNEL}:{ts}"
    assert "token" not in task.raw
    assert slack_sim.args("auth.test") == []  # nothing slow at start or on the first request
    assert slack_sim.token not in caplog.text and SIGNING_SECRET not in caplog.text


async def test_retried_event_gives_one_task_and_one_reply(
    db: Database, make_client: Any, slack_sim: SlackSim
) -> None:
    await seeded(db)
    client = await start(make_client, slack_sim, classifier=HelpClassifier())
    payload = mention("what can you do?", user=OLIVIA)

    first = await post(client, payload)
    retry = await post(
        client, payload, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )

    assert (first.status, retry.status) == (200, 200)
    (task,) = await task_rows(db)
    assert task.external_id == payload["event_id"]
    await wait_until(lambda: slack_sim.posted(), timeout=10)
    await wait_until(lambda: task_done(db, task.id), timeout=10)
    async with db.session() as session:
        replies = list(await session.scalars(select(OutboxRow).where(OutboxRow.task_id == task.id)))
    assert len(replies) == 1
    assert len(slack_sim.posted()) == 1


async def all_sent(db: Database) -> list[OutboxRow]:
    """The Slack replies once every one of them is delivered (receipts recorded)."""

    async def sent() -> list[OutboxRow] | None:
        async with db.session() as session:
            rows = list(
                await session.scalars(select(OutboxRow).where(OutboxRow.channel == "slack"))
            )
        return rows if rows and all(r.status == "sent" for r in rows) else None

    return await wait_until(sent, timeout=15, message="every slack reply sent")


async def task_done(db: Database, task_id: str) -> bool:
    async with db.session() as session:
        row = await session.get(TaskRow, task_id)
        return row is not None and row.status == "done"


# --------------------------------------------------------------------------- refused


async def test_unsigned_or_stale_requests_are_refused_and_nothing_is_stored(
    db: Database, make_client: Any, slack_sim: SlackSim
) -> None:
    await seeded(db)
    client = await start(make_client, slack_sim, classifier=HelpClassifier())
    body = json.dumps(mention("close every low-priority assist", user=OLIVIA)).encode()
    now = int(time.time())
    good = sign(body)
    wrong_secret = sign(body, secret="not-the-signing-secret")
    cases = {
        "bad signature": {**good, "X-Slack-Signature": wrong_secret["X-Slack-Signature"]},
        "signature of another body": {
            **good,
            "X-Slack-Signature": sign(body + b" ")["X-Slack-Signature"],
        },
        "missing signature": {"X-Slack-Request-Timestamp": good["X-Slack-Request-Timestamp"]},
        "missing timestamp": {"X-Slack-Signature": good["X-Slack-Signature"]},
        "nothing": {},
        "stale timestamp": sign(body, timestamp=now - 6 * 60),
        "future timestamp": sign(body, timestamp=now + 6 * 60),
        "timestamp not a number": {**good, "X-Slack-Request-Timestamp": "yesterday"},
    }
    not_utf8 = b'{"type": "event_callback", "text": "\xff"}'
    stamp = str(now)
    mac = hmac.new(SIGNING_SECRET.encode(), f"v0:{stamp}:".encode() + not_utf8, hashlib.sha256)
    before = await count_rows(db)

    response = await client.post(
        "/slack/events",
        data=not_utf8,
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": f"v0={mac.hexdigest()}",
        },
    )
    assert response.status == 401  # Slack signs UTF-8 text: these bytes are not from Slack

    for case, headers in cases.items():
        response = await client.post(
            "/slack/events",
            data=body,
            headers={"Content-Type": "application/json", **headers},
        )
        assert response.status == 401, case
        problem = await response.json()
        assert problem["error"] == "unauthorized", case
        assert SIGNING_SECRET not in problem["message"]

    assert await count_rows(db) == before
    assert slack_sim.requests == ()


async def test_malformed_payloads_are_refused_with_400_and_nothing_is_stored(
    db: Database, make_client: Any, slack_sim: SlackSim
) -> None:
    await seeded(db)
    client = await start(make_client, slack_sim, classifier=HelpClassifier())
    good = mention("how are we doing?", user=OLIVIA)
    no_channel = mention("how are we doing?", user=OLIVIA)
    del no_channel["event"]["channel"]
    nul = mention("how are we\u0000 doing?", user=OLIVIA)
    no_actions = {"type": "block_actions", "user": {"id": OLIVIA}, "team": {"id": TEAM}}
    cases: dict[str, tuple[bytes, str]] = {
        "not JSON": (b"{not json", "application/json"),
        "an array": (b"[1, 2]", "application/json"),
        "a string": (b'"event"', "application/json"),
        "no type": (b"{}", "application/json"),
        "too deep": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        "envelope without event_id": (
            json.dumps({k: v for k, v in good.items() if k != "event_id"}).encode(),
            "application/json",
        ),
        "event not an object": (json.dumps({**good, "event": "hi"}).encode(), "application/json"),
        "mention without a channel": (json.dumps(no_channel).encode(), "application/json"),
        "NUL in the text": (json.dumps(nul).encode(), "application/json"),
        "challenge missing": (b'{"type": "url_verification"}', "application/json"),
        "form without payload or command": (b"hello=world", "application/x-www-form-urlencoded"),
        "payload not JSON": (b"payload=%7Bnope", "application/x-www-form-urlencoded"),
        "block_actions without actions": (
            urlencode({"payload": json.dumps(no_actions)}).encode(),
            "application/x-www-form-urlencoded",
        ),
        "command without trigger_id": (
            urlencode({"command": "/operator", "text": "help", "team_id": TEAM}).encode(),
            "application/x-www-form-urlencoded",
        ),
        "plain text": (b"help", "text/plain"),
    }
    before = await count_rows(db)

    for case, (body, content_type) in cases.items():
        response = await post(client, body, content_type=content_type)
        assert response.status == 400, (case, await response.text())
        assert (await response.json())["error"] == "bad_request", case

    assert await count_rows(db) == before
    assert slack_sim.requests == ()


async def test_url_verification_answers_the_challenge(
    db: Database, make_client: Any, slack_sim: SlackSim
) -> None:
    await seeded(db)
    client = await start(make_client, slack_sim)
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    before = await count_rows(db)

    response = await post(
        client,
        {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge, "type": "url_verification"},
    )

    assert response.status == 200
    assert await response.json() == {"challenge": challenge}
    assert await count_rows(db) == before


async def test_unknown_team_is_acknowledged_and_dropped_when_several_workspaces_exist(
    db: Database, make_client: Any, slack_sim: SlackSim, caplog: pytest.LogCaptureFixture
) -> None:
    await seeded(db)
    async with db.session() as session:
        other = await make_workspace(session)
        await make_member(session, other.id, identities={"slack": "U0OTHER01"})
        session.add(WorkspaceAddress(workspace_id=other.id, channel="slack", address="T0OTHER01"))
    client = await start(make_client, slack_sim, classifier=HelpClassifier())
    before = await count_rows(db)

    stray = await post(client, mention("hello?", user=OLIVIA, team="T0NOBODY1"))

    assert stray.status == 200  # Slack would retry anything else for hours
    assert await count_rows(db) == before
    assert "team T0NOBODY1 dropped" in caplog.text

    mapped = await post(client, mention("hello?", user="U0OTHER01", team="T0OTHER01"))

    assert mapped.status == 200
    (task,) = await task_rows(db)
    assert task.workspace_id == other.id


async def test_bots_edits_and_channel_chatter_are_ignored_direct_messages_answered(
    db: Database, make_client: Any, slack_sim: SlackSim
) -> None:
    await seeded(db)
    client = await start(make_client, slack_sim, classifier=HelpClassifier())
    ignored = {
        "a bot's message": direct_message("beep", user="U0OTHERBOT", bot_id="B0OTHER01"),
        "a bot_message": direct_message(
            "beep", user=None, bot_id="B0OTHER01", subtype="bot_message"
        ),
        "our own message": direct_message("Here is what I can do", user=BOT_USER),
        "an edit": direct_message("edited", user=OLIVIA, subtype="message_changed"),
        "a deletion": direct_message("", user=OLIVIA, subtype="message_deleted"),
        "a message in a channel": {
            **direct_message("lunch?", user=OLIVIA),
            "event": {**direct_message("lunch?", user=OLIVIA)["event"], "channel_type": "channel"},
        },
        "another event type": event_callback(
            {"type": "reaction_added", "user": OLIVIA, "reaction": "thumbsup"}
        ),
    }
    for case, payload in ignored.items():
        response = await post(client, payload)
        assert response.status == 200, case
    assert await task_rows(db) == []

    dm = direct_message("what can you do?", user=OLIVIA)
    response = await post(client, dm)

    assert response.status == 200
    (message,) = await posted(slack_sim, 1)
    assert (message["channel"], message["thread_ts"]) == ("D0DM00001", dm["event"]["ts"])
    (task,) = await task_rows(db)
    assert task.text == "what can you do?"


async def test_an_unlinked_slack_user_reaches_the_team_and_no_operator_tool(
    db: Database, make_client: Any, slack_sim: SlackSim
) -> None:
    seed = await seeded(db)
    client = await start(make_client, slack_sim)
    before = await _priority(db, seed, 1045)

    await post(client, mention("set A-1045 to urgent", user="U0STRANGER"))

    (message,) = await posted(slack_sim, 1)
    async with db.session() as session:
        # No AI agent serves Slack here: the message became an assist before anyone said so.
        newest = await session.scalar(select(Assist).order_by(Assist.number.desc()).limit(1))
    assert newest is not None and newest.transcript[0]["text"].endswith("set A-1045 to urgent")
    assert message["text"] == escape(
        f"Thanks for your message. It has reached our support team as request {newest.ref}."
    )
    assert not blocks_of(message, "actions")
    assert await _priority(db, seed, 1045) == before
    async with db.session() as session:
        assert await session.scalar(select(Proposal.id)) is None


# --------------------------------------------------------------------------- approvals


async def _priority(db: Database, seed: Seeded, number: int) -> str:
    async with db.session() as session:
        row = await session.scalar(
            select(Assist).where(Assist.workspace_id == seed.workspace_id, Assist.number == number)
        )
        assert row is not None
        return row.priority


async def _proposal_status(db: Database, proposal_id: str) -> str:
    async with db.session() as session:
        proposal = await session.get(Proposal, proposal_id)
        assert proposal is not None
        return proposal.status


async def test_proposal_card_approved_by_button_then_updated_in_place(
    db: Database, make_client: Any, slack_sim: SlackSim
) -> None:
    seed = await seeded(db)
    maria, tom = "U0MARIA01", "U0TOM0001"  # two managers: Maria asks, Tom may not decide
    async with db.session() as session:
        for email, user in (("maria@demo.example", maria), ("tom@demo.example", tom)):
            member = await session.get(Member, seed.member_ids[email])
            assert member is not None
            await link_identity(session, member, "slack", user)
    client = await start(make_client, slack_sim)
    before = await _priority(db, seed, 1045)
    asked = mention("set A-1045 to urgent", user=maria)
    thread = asked["event"]["ts"]

    await post(client, asked)

    (card,) = await posted(slack_sim, 1)
    assert card["thread_ts"] == thread
    (actions,) = blocks_of(card, "actions")
    approve, reject = actions["elements"]
    assert (approve["action_id"], approve["style"]) == ("proposal_approve", "primary")
    assert (reject["action_id"], reject["style"]) == ("proposal_reject", "danger")
    proposal_id = approve["value"]
    assert reject["value"] == proposal_id
    card_text = json.dumps(card["blocks"], ensure_ascii=False)
    assert f"A-1045 priority: {before} → urgent" in card_text
    assert "Approval needed" in card_text

    def click(user: str, action: str = "proposal_approve") -> bytes:
        stored = next(m for m in slack_sim.messages if m["ts"] == card["ts"])
        return block_actions(
            user=user, action_id=action, value=proposal_id, channel=CHANNEL, message=stored
        )

    # Another manager, then someone Slack knows but the team does not: refused in the thread.
    for user, refusal in (
        (tom, "Only the person who asked, or an owner or admin, can decide this."),
        ("U0STRANGER", "not linked to a member of the team"),
    ):
        response = await post(client, click(user))
        assert response.status == 200
        replies = await posted(slack_sim, len(slack_sim.posted()) + 1)
        assert refusal in replies[-1]["text"]
        assert replies[-1]["thread_ts"] == thread
        assert await _priority(db, seed, 1045) == before
        assert await _proposal_status(db, proposal_id) == "pending"
    assert slack_sim.args("chat.update") == []

    response = await post(client, click(maria))

    assert response.status == 200
    (update,) = await wait_until(lambda: slack_sim.args("chat.update"), timeout=10)
    assert (update["channel"], update["ts"]) == (CHANNEL, card["ts"])
    updated = next(m for m in slack_sim.messages if m["ts"] == card["ts"])
    assert blocks_of(updated, "actions") == []  # the buttons are gone
    shown = json.dumps(updated["blocks"], ensure_ascii=False)
    assert f"✅ Approved by <@{maria}>:*" in shown
    assert "Done: set A-1045 to urgent priority." in shown
    assert await _priority(db, seed, 1045) == "urgent"
    assert await _proposal_status(db, proposal_id) == "executed"
    assert len(await all_sent(db)) == 4  # card, two refusals, the update
    tasks = len(await task_rows(db))
    messages = len(slack_sim.posted())

    again = await post(client, click(maria))  # a double click (or Slack redelivering it)

    assert again.status == 200
    assert len(await task_rows(db)) == tasks  # no second task, so no second reply or execution
    assert len(slack_sim.args("chat.update")) == 1
    assert len(slack_sim.posted()) == messages


async def test_reject_button_cancels_and_says_so_on_the_card(
    db: Database, make_client: Any, slack_sim: SlackSim
) -> None:
    seed = await seeded(db)
    client = await start(make_client, slack_sim)
    before = await _priority(db, seed, 1045)
    await post(client, mention("set A-1045 to urgent", user=OLIVIA))
    (card,) = await posted(slack_sim, 1)
    proposal_id = blocks_of(card, "actions")[0]["elements"][1]["value"]

    await post(
        client,
        block_actions(
            user=OLIVIA,
            action_id="proposal_reject",
            value=proposal_id,
            channel=CHANNEL,
            message=card,
        ),
    )

    await wait_until(lambda: slack_sim.args("chat.update"), timeout=10)
    updated = next(m for m in slack_sim.messages if m["ts"] == card["ts"])
    assert blocks_of(updated, "actions") == []
    assert f"❌ Rejected by <@{OLIVIA}>" in updated["text"]
    assert await _priority(db, seed, 1045) == before
    assert await _proposal_status(db, proposal_id) == "rejected"
    assert len(await all_sent(db)) == 2


# --------------------------------------------------------------------------- delivery


async def test_long_output_is_split_within_slack_limits_in_order(
    db: Database, make_client: Any, slack_sim: SlackSim
) -> None:
    async with db.session() as session:
        workspace = await make_workspace(session)
    client = await start(make_client, slack_sim, classifier=HelpClassifier())
    items = tuple(
        f"A-{1000 + n} [normal] open — customer {n} asks about invoices & <billing> (unassigned)"
        for n in range(600)
    )
    paragraphs = [
        f"Paragraph {n} <&>: " + " ".join(f"word{n}-{w}" for w in range(60)) for n in range(80)
    ]
    long_list = Deliverable(
        kind="list",
        title="Assists",
        text=f"{len(items)} assist(s):\n" + "\n".join(f"- {i}" for i in items),
        items=items,
    )
    long_text = Deliverable(text="\n\n".join(paragraphs))
    # Each is too long for one message (40,000 characters once escaped), not for two.
    assert 40_000 < len(escape(long_list.text)) < 80_000
    assert 40_000 < len(escape(long_text.text)) < 80_000
    async with db.session() as session:
        for channel, deliverable in (("C0LIST001", long_list), ("C0TEXT001", long_text)):
            enqueue(
                session,
                workspace_id=workspace.id,
                route=Route(channel="slack", address=channel, thread="1700000000.000100"),
                deliverables=[deliverable],
                dedupe_prefix=f"long:{channel}",
            )
    client.server.app[GATEWAY].outbox.wake()

    rows = await all_sent(db)
    list_parts, text_parts = slack_sim.posted("C0LIST001"), slack_sim.posted("C0TEXT001")
    assert len(list_parts) == len(text_parts) == 2
    assert {r.parts_sent for r in rows} == {2}
    for part in list_parts + text_parts:
        assert part["thread_ts"] == "1700000000.000100"
        assert len(part["blocks"]) <= 50
        assert 0 < len(part["text"]) <= 40_000
        for block in part["blocks"]:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= 3000
            if block["type"] == "header":
                assert len(block["text"]["text"]) <= 150
    bullets = [
        line.removeprefix("• ")
        for part in list_parts
        for block in blocks_of(part, "section")
        for line in block["text"]["text"].splitlines()
        if line.startswith("• ")
    ]
    assert [unescape(b) for b in bullets] == list(items)
    shown = " ".join(
        unescape(block["text"]["text"])
        for part in text_parts
        for block in blocks_of(part, "section")
    )
    assert shown.split() == long_text.text.split()


async def test_report_file_is_uploaded_into_the_thread(
    db: Database, make_client: Any, slack_sim: SlackSim
) -> None:
    await seeded(db)
    client = await start(make_client, slack_sim)
    asked = mention("run the assists report for the last 7 days as csv", user=OLIVIA)

    await post(client, asked)

    await wait_until(lambda: slack_sim.args("files.completeUploadExternal"), timeout=10)
    (upload,) = slack_sim.uploads.values()
    async with db.session() as session:
        replies = list(await session.scalars(select(OutboxRow).where(OutboxRow.channel == "slack")))
    (file,) = [r.deliverable for r in replies if r.deliverable["kind"] == "file"]
    media = file["data"]["media"]
    stored = await client.server.app[GATEWAY].media.load(media["id"])
    assert stored is not None
    assert upload["data"] == stored.data
    assert upload["data"].decode().splitlines()[0].startswith("ref,")
    assert upload["filename"] == media["filename"]
    assert upload["channels"] == [CHANNEL]
    assert upload["thread_ts"] == asked["event"]["ts"]
    assert "as CSV" in upload["initial_comment"]
    rows = len(upload["data"].decode().strip().splitlines()) - 1
    assert f"{rows} row(s)" in upload["initial_comment"]


async def test_replies_to_one_channel_are_a_second_apart_and_a_429_is_retried_after_its_delay(
    db: Database, make_client: Any, slack_sim: SlackSim
) -> None:
    await seeded(db)
    client = await start(make_client, slack_sim, classifier=HelpClassifier())
    slack_sim.throttle(retry_after=1, times=1, path="chat.postMessage")

    for _ in range(3):
        await post(client, mention("what can you do?", user=OLIVIA))

    await posted(slack_sim, 3)
    rows = await all_sent(db)
    calls = slack_sim.calls("/api/chat.postMessage")
    assert [c.fault for c in calls] == ["throttle", None, None, None]
    # The 429 said "retry after 1 s": nothing went to that channel sooner.
    assert calls[1].at - calls[0].at >= 0.9
    sent = [c.at for c in calls if c.fault is None]
    assert all(later - earlier >= 0.9 for earlier, later in pairwise(sent))
    assert len(slack_sim.posted()) == 3  # each reply once
    assert sorted(r.attempts for r in rows) == [1, 1, 2]


class SlowClassifier:
    """Takes up to 10 seconds, as a slow model would; `release` ends the wait early."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def classify(self, text: str, principal: Principal, now: datetime) -> Classification:
        self.started.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.release.wait(), timeout=10)
        return Classification(calls=(ToolCall(tool="help"),))


async def test_ack_within_3_seconds_while_the_classifier_takes_10(
    db: Database, make_client: Any, slack_sim: SlackSim
) -> None:
    await seeded(db)
    slow = SlowClassifier()
    client = await start(make_client, slack_sim, classifier=slow)
    loop = asyncio.get_running_loop()

    started = loop.time()
    response = await post(client, mention("what can you do?", user=OLIVIA))
    elapsed = loop.time() - started

    assert response.status == 200
    assert elapsed < 3.0
    await asyncio.wait_for(slow.started.wait(), timeout=5)  # the work began after the ack
    assert slack_sim.posted() == []
    (task,) = await task_rows(db)
    assert task.status in ("queued", "running")

    slow.release.set()

    (message,) = await posted(slack_sim, 1)
    assert "What I can do" in message["text"]


async def test_slash_command_is_acknowledged_at_once_and_answered_in_the_channel(
    db: Database, make_client: Any, slack_sim: SlackSim
) -> None:
    await seeded(db)
    client = await start(make_client, slack_sim)
    command = slash_command("help", user=OLIVIA, trigger_id="13345224609.738474920.8088930838d88f")

    response = await post(client, command)

    assert response.status == 200
    assert await response.json() == {"response_type": "ephemeral", "text": "Working on it…"}
    (message,) = await posted(slack_sim, 1)
    assert message["channel"] == CHANNEL
    assert "thread_ts" not in message
    (header,) = blocks_of(message, "header")
    assert header["text"]["text"] == "What I can do"
    (task,) = await task_rows(db)
    assert (task.kind, task.text) == ("command", "help")
    assert task.external_id == "command:13345224609.738474920.8088930838d88f"
    assert "response_url" not in task.raw and "token" not in task.raw

    redelivered = await post(client, command)

    assert redelivered.status == 200
    assert len(await task_rows(db)) == 1

    # A form body holding the word "payload" is still a command (bolt's own parser would
    # take it for an interactivity payload and see an empty request).
    await post(client, slash_command("what is in the payload of A-1045?", user=OLIVIA))

    texts = [t.text for t in await task_rows(db)]
    assert texts == ["help", "what is in the payload of A-1045?"]


async def test_slack_events_is_a_404_naming_the_setting_when_slack_is_off(
    make_client: Any,
) -> None:
    client = await make_client()

    response = await post(client, mention("hello", user=OLIVIA))

    assert response.status == 404
    assert "SLACK_BOT_TOKEN" in (await response.json())["message"]


# --------------------------------------------------------------------------- sender, alone


class StubMedia:
    """The media store's `load`, for sender tests without a database."""

    def __init__(self, files: dict[str, MediaFile]) -> None:
        self.files = files

    async def load(self, media_id: str) -> MediaFile | None:
        return self.files.get(media_id)


def _channel_settings(slack_sim: SlackSim) -> Any:
    return make_settings(
        "sqlite+aiosqlite:///unused.db",
        SLACK_BOT_TOKEN=slack_sim.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_sim.api_url,
    )


@pytest.fixture
async def sender(slack_sim: SlackSim) -> AsyncIterator[SlackSender]:
    """The sender exactly as the running channel builds it (its client, no SDK retries)."""
    channel = SlackChannel(_channel_settings(slack_sim))
    media = StubMedia(
        {"m1": MediaFile("m1", "report.csv", "text/csv", b"ref,status\r\nA-1,open\r\n")}
    )
    await channel.start(cast(Any, SimpleNamespace(media=media)))
    try:
        sent = channel.senders()["slack"]
        assert isinstance(sent, SlackSender)
        yield sent
    finally:
        await channel.stop()


@pytest.mark.parametrize(("level", "built"), [(logging.INFO, False), (logging.DEBUG, True)])
async def test_the_web_api_client_builds_its_debug_lines_only_when_they_are_written(
    slack_sim: SlackSim, monkeypatch: pytest.MonkeyPatch, level: int, built: bool
) -> None:
    """The SDK formats each request's and answer's debug line (the message, the whole answer)
    whenever the level of the logger it was given is at most DEBUG, written or not: the
    channel's logger follows the gateway's level, so at INFO none is built."""
    monkeypatch.setattr(logging.getLogger("switchboard.slack"), "level", level)
    channel = SlackChannel(_channel_settings(slack_sim))
    await channel.start(cast(Any, SimpleNamespace(media=StubMedia({}))))
    try:
        assert channel.client is not None
        lines: list[str] = []
        monkeypatch.setattr(
            channel.client.logger, "debug", lambda msg, *a, **kw: lines.append(str(msg))
        )
        await channel.client.chat_postMessage(channel=CHANNEL, text="hello")
    finally:
        await channel.stop()
    assert any("Sending a request" in line for line in lines) is built


async def test_slack_events_leave_the_gateway_s_own_loggers_as_configured(
    db: Database, make_client: Any, slack_sim: SlackSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bolt makes a logger named after the app at every request it dispatches and copies the
    level of the logger it was given onto it: named "switchboard", the app pinned the
    gateway's own logger (and every `switchboard.*` one under it) at the level the channel's
    had at start."""
    await seeded(db)
    client = await start(make_client, slack_sim)
    gateway = logging.getLogger("switchboard")  # set after the start: the level asked for now
    monkeypatch.setattr(gateway, "level", logging.DEBUG)
    gateway.manager._clear_cache()
    # A slash command goes through Bolt's dispatch (mentions are parsed without it).
    assert (await post(client, slash_command("help", user=OLIVIA))).status == 200
    assert gateway.level == logging.DEBUG


async def _send(sender: SlackSender, route: Route, deliverable: Deliverable) -> list[Receipt]:
    return [await sender.perform(route, op) for op in sender.plan(route, deliverable)]


ROUTE = Route(channel="slack", address=CHANNEL, thread="1700000000.000100")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("channel_not_found", InvalidRecipient),
        ("not_in_channel", InvalidRecipient),
        ("is_archived", InvalidRecipient),
        ("invalid_auth", Forbidden),
        ("token_revoked", Forbidden),
        ("account_inactive", Forbidden),
        ("ratelimited", RateLimited),
        ("invalid_blocks", BadRequest),
        ("internal_error", ProviderUnavailable),
    ],
)
async def test_ok_false_errors_map_to_what_the_outbox_does_next(
    sender: SlackSender, slack_sim: SlackSim, error: str, expected: type[DeliveryError]
) -> None:
    slack_sim.refuse("chat.postMessage", error)

    with pytest.raises(expected, match=error):
        await _send(sender, ROUTE, Deliverable(text="hello"))

    assert len(slack_sim.calls("/api/chat.postMessage")) == 1


async def test_http_failures_map_to_retryable_errors_and_the_sdk_never_retries(
    sender: SlackSender, slack_sim: SlackSim
) -> None:
    slack_sim.throttle(retry_after=7, path="chat.postMessage")
    with pytest.raises(RateLimited) as limited:
        await _send(sender, ROUTE, Deliverable(text="hello"))
    assert limited.value.retry_after == 7.0

    slack_sim.fail(503, path="chat.postMessage")
    with pytest.raises(ProviderUnavailable):
        await _send(sender, ROUTE, Deliverable(text="hello"))

    slack_sim.malformed(path="chat.postMessage")
    with pytest.raises(ProviderUnavailable):
        await _send(sender, ROUTE, Deliverable(text="hello"))

    # Each failure was one call: the outbox, not the SDK, decides when to try again.
    assert len(slack_sim.calls("/api/chat.postMessage")) == 3
    assert slack_sim.posted() == []
    receipts = await _send(sender, ROUTE, Deliverable(text="hello"))
    assert receipts == [Receipt(provider_message_id=slack_sim.posted()[0]["ts"])]


async def test_unreachable_slack_is_retryable(slack_sim: SlackSim, sender: SlackSender) -> None:
    await slack_sim.close()

    with pytest.raises(ProviderUnavailable):
        await _send(sender, ROUTE, Deliverable(text="hello"))


async def test_outcome_goes_to_the_thread_when_the_card_cannot_be_updated(
    sender: SlackSender, slack_sim: SlackSim
) -> None:
    decided = Deliverable(
        text="Done: set A-1045 to urgent priority.",
        data={
            "proposal": {"id": "p1", "code": "1234", "status": "executed", "changes": []},
            "edit": {"channel": CHANNEL, "ts": "1700000000.999999", "user": OLIVIA},
        },
    )

    (receipt,) = await _send(sender, ROUTE, decided)

    assert [a["ts"] for a in slack_sim.args("chat.update")] == ["1700000000.999999"]
    (message,) = slack_sim.posted()  # the card is gone: the outcome is posted in its thread
    assert message["thread_ts"] == ROUTE.thread
    assert f"*✅ Approved by <@{OLIVIA}>:* Done: set A-1045" in message["text"]
    assert receipt.provider_message_id == message["ts"]


async def test_file_for_a_user_goes_to_their_direct_messages(
    sender: SlackSender, slack_sim: SlackSim
) -> None:
    report = Deliverable(
        kind="file",
        title="report.csv",
        text="Assists report as CSV: 1 row(s).",
        data={"media": {"id": "m1", "filename": "report.csv", "content_type": "text/csv"}},
    )

    (receipt,) = await _send(sender, Route(channel="slack", address=OLIVIA), report)

    (upload,) = slack_sim.uploads.values()
    assert upload["data"] == b"ref,status\r\nA-1,open\r\n"
    assert upload["channels"] == ["D" + OLIVIA[1:]]  # conversations.open gave the DM
    assert upload["initial_comment"] == "Assists report as CSV: 1 row(s)."
    assert receipt.provider_message_id in slack_sim.uploads


async def test_expired_file_is_a_permanent_failure(sender: SlackSender) -> None:
    gone = Deliverable(
        kind="file", text="report", data={"media": {"id": "expired", "filename": "r.csv"}}
    )

    with pytest.raises(BadRequest, match="expired"):
        await _send(sender, ROUTE, gone)


# --------------------------------------------------------------------------- Block Kit


def test_every_kind_renders_with_a_text_fallback() -> None:
    deliverables = [
        Deliverable(text="plain"),
        Deliverable(kind="error", text="That proposal no longer exists."),
        Deliverable(
            kind="card",
            title="CSAT, this month",
            text="CSAT: 4.5",
            fields=(CardField(label="CSAT", value="4.5"),),
        ),
        Deliverable(kind="list", title="Team", text="Team:\n- Ann\n- Bo", items=("Ann", "Bo")),
        Deliverable(
            kind="proposal",
            title="Approval needed",
            text="Proposed: close A-1\n- A-1 status: open → closed",
            data={
                "proposal": {
                    "id": "p1",
                    "code": "4821",
                    "summary": "close A-1",
                    "status": "pending",
                    "expires_at": "2025-01-02T03:04:05+00:00",
                    "estimated_count": 1,
                    "changes": [
                        {
                            "label": "A-1 status",
                            "field": "status",
                            "before": "open",
                            "after": "closed",
                        }
                    ],
                }
            },
        ),
    ]
    for deliverable in deliverables:
        (message,) = render(deliverable)
        assert message.text.strip(), deliverable.kind
        assert message.blocks, deliverable.kind
    error = render(deliverables[1])[0]
    assert error.text == "⚠️ That proposal no longer exists."
    proposal = render(deliverables[4])[0]
    assert [b["type"] for b in proposal.blocks] == [
        "header",
        "section",
        "section",
        "context",
        "actions",
    ]
    assert "Expires 2025-01-02 03:04 UTC" in proposal.text
    assert "<!date^1735787045^" in json.dumps(proposal.blocks)
    assert "Touches 1 item(s)" in proposal.text and 'reply "approve 4821"' in proposal.text


def test_text_is_escaped_and_headers_and_fields_kept_within_limits() -> None:
    card = Deliverable(
        kind="card",
        title="T" * 400,
        text="<script> & co",
        fields=tuple(CardField(label=f"F{n}", value="v" * 2500) for n in range(13)),
    )

    (message,) = render(card)

    header, *field_sections, body = message.blocks
    assert header["text"]["text"] == "T" * 149 + "…"
    assert [len(s["fields"]) for s in field_sections] == [10, 3]
    assert all(len(f["text"]) <= 2000 for s in field_sections for f in s["fields"])
    assert body["text"]["text"] == "&lt;script&gt; &amp; co"


def test_output_is_split_at_50_blocks_and_40000_characters_in_order() -> None:
    fields = tuple(CardField(label=f"F{n}", value=str(n)) for n in range(600))  # 60 sections
    items = tuple(f"item {n} " + "x" * 2990 for n in range(30))  # a section each

    by_blocks = render(Deliverable(kind="card", title="Many", text="", fields=fields))
    by_text = render(Deliverable(kind="list", title="Long", text="", items=items))

    assert [len(m.blocks) for m in by_blocks] == [50, 11]
    shown = [f["text"] for m in by_blocks for b in m.blocks for f in b.get("fields", [])]
    assert shown == [f"*F{n}*\n{n}" for n in range(600)]
    assert len(by_text) == 3  # 13 sections of ~3,000 characters make a message
    assert all(len(m.text) <= 40_000 and len(m.blocks) <= 50 for m in by_blocks + by_text)
    bullets = [b["text"]["text"] for m in by_text for b in m.blocks if b["type"] == "section"]
    assert [s.removeprefix("• ") for s in bullets] == list(items)


def test_plans_are_deterministic() -> None:
    sender = SlackSender(cast(Any, None), cast(Any, None))
    long = Deliverable(text="word " * 20_000)

    assert sender.plan(ROUTE, long) == sender.plan(ROUTE, long)
    assert all(op.rate_keys == (("slack.channel", CHANNEL),) for op in sender.plan(ROUTE, long))


async def test_a_metric_answer_brings_its_chart_into_the_thread(
    db: Database, make_client: Any, slack_sim: SlackSim
) -> None:
    await seeded(db)
    client = await start(make_client, slack_sim)
    payload = mention("how is our resolution rate this week?", user=OLIVIA)

    assert (await post(client, payload)).status == 200
    await wait_until(lambda: slack_sim.args("files.completeUploadExternal"), timeout=15)
    (message,) = slack_sim.posted()
    (header,) = blocks_of(message, "header")
    (upload,) = slack_sim.uploads.values()
    assert upload["data"].startswith(b"\x89PNG")
    assert upload["title"] == header["text"]["text"] == "Resolution rate, this week"
    # In the card's thread, on the channel it was asked in.
    assert (upload["channels"], upload["thread_ts"]) == ([CHANNEL], payload["event"]["ts"])
