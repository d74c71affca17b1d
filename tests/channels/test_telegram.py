"""The Telegram channel end to end: real-format updates POSTed to the webhook (or fetched by
long polling) of the whole gateway, replies through python-telegram-bot to the simulator."""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import telegram
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from api.app import build_app
from channels.telegram.inbound import message_task
from channels.telegram.outbound import TelegramSender, plan, rate_keys
from cli.seed import seed_workspace
from core.classify.backend import OfflineBackend
from core.reports import analytics
from core.team.directory import link_identity
from core.team.identity import Principal
from delivery import errors
from delivery.media import MediaStore
from delivery.outbox.queue import enqueue
from delivery.ratelimit import RULES, Rule
from delivery.render import utf16_len
from models.classification import Classification
from models.deliverable import CardField, Deliverable
from models.task import Route
from storage.db import Database
from storage.domain import Assist, Proposal, Snapshot
from storage.models import MediaObject, Member, OutboxRow, TaskRow, WorkspaceAddress
from storage.types import utcnow
from tests.api import count_rows
from tests.conftest import make_settings
from tests.factories import make_workspace
from tests.helpers import wait_until
from tests.sims.telegram import TelegramSim

Client = TestClient[Any, Any]

SECRET = "webhook-secret-for-tests"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram user ids linked to the seeded team (the seed links Adam, the admin, to 100200300).
OLIVIA, MARIA, TOM = 5001, 5002, 5003  # owner, manager (the requester), another manager
STRANGER = 5999  # linked to nobody: a customer
GROUP = -1001234567890  # a supergroup where the team talks to the bot


@pytest.fixture(autouse=True)
def _timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
def relaxed_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-chat and per-group spacing off, for tests about something else (rate limits have
    their own test): a group's 3 s between messages would only slow them down."""
    for rule in ("telegram.chat", "telegram.group"):
        monkeypatch.setitem(RULES, rule, Rule(0.0))


@dataclass
class Team:
    workspace_id: str
    members: dict[str, str]  # email -> member id


@pytest.fixture
async def team(db: Database) -> Team:
    async with db.session() as session:
        seeded = await seed_workspace(session, now=utcnow() - timedelta(minutes=1))
        for email, user in (
            ("olivia@demo.example", OLIVIA),
            ("maria@demo.example", MARIA),
            ("tom@demo.example", TOM),
        ):
            member = await session.get(Member, seeded.member_ids[email])
            assert member is not None
            await link_identity(session, member, "telegram", str(user))
    return Team(seeded.workspace_id, seeded.member_ids)


def telegram_settings(sim: TelegramSim, **overrides: Any) -> dict[str, Any]:
    return {
        "TELEGRAM_BOT_TOKEN": sim.token,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_API_URL": sim.base_url,
        **overrides,
    }


async def post_update(
    client: Client, update: dict[str, Any] | bytes, *, secret: str | None = SECRET
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    response = await client.post("/telegram/webhook", data=body, headers=headers)
    text = await response.text()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text


async def say(client: Client, sim: TelegramSim, chat: int, text: str, **kw: Any) -> dict[str, Any]:
    """A user's message POSTed as Telegram would; returns the update."""
    update = sim.message_update(chat, text, **kw)
    status, body = await post_update(client, update)
    assert (status, body) == (200, {"ok": True})
    return update


async def replies(sim: TelegramSim, chat: int, count: int) -> list[Any]:
    """The bot's messages in CHAT once there are at least COUNT."""
    return await wait_until(
        lambda: (found := sim.messages(chat)) and len(found) >= count and found,
        timeout=10,
        message=f"{count} message(s) to chat {chat}",
    )


async def settled_outbox(db: Database) -> list[OutboxRow]:
    """Every reply in the outbox, once none is waiting to be sent."""

    async def settled() -> list[OutboxRow] | None:
        async with db.session() as session:
            rows = list(await session.scalars(select(OutboxRow).order_by(OutboxRow.created_at)))
        assert rows and all(r.status in ("sent", "dead") for r in rows), [
            (r.channel, r.status, r.last_error, r.deliverable.get("kind")) for r in rows
        ]
        return rows

    return await wait_until(settled, timeout=10, message="outbox settled")


async def count_tasks(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(TaskRow)) or 0)


class ScriptedClassifier:
    """Answers listed requests with a fixed reply (text the offline classifier would never
    produce); everything else goes to the offline classifier."""

    def __init__(self, script: dict[str, str]) -> None:
        self._script = script
        self._offline = OfflineBackend()

    async def classify(self, text: str, principal: Principal, now: datetime) -> Classification:
        if text in self._script:
            return Classification(reply=self._script[text])
        return await self._offline.classify(text, principal, now)


# ---------------------------------------------------------------------------- requests


async def test_owner_question_is_answered_in_the_same_chat_with_the_figure(
    telegram_sim: TelegramSim, team: Team, db: Database, make_client: Any
) -> None:
    client = await make_client(**telegram_settings(telegram_sim))

    asked = await say(client, telegram_sim, OLIVIA, "how is our resolution rate this week?")

    (answer,) = await replies(telegram_sim, OLIVIA, 1)
    async with db.session() as session:
        window, _ = analytics.windows("this_week", utcnow(), "UTC")
        rows = await analytics.conversations(session, team.workspace_id, window)
    figure = analytics.fmt("resolution_rate", analytics.compute("resolution_rate", rows))
    assert f"Resolution rate this week: {figure}" in answer["text"]
    assert answer["reply_to_message"]["message_id"] == asked["message"]["message_id"]
    title = "Resolution rate, this week"
    assert answer["text"].startswith(title)
    assert {"type": "bold", "offset": 0, "length": len(title)} in answer["entities"]
    async with db.session() as session:
        task = await session.scalar(select(TaskRow))
    assert task is not None
    assert (task.channel, task.external_id, task.sender_address, task.conversation) == (
        "telegram",
        str(asked["update_id"]),
        str(OLIVIA),
        str(OLIVIA),
    )
    assert task.member_id == team.members["olivia@demo.example"]


async def test_an_unlinked_user_reaches_the_team_as_a_customer_and_no_tool_runs(
    telegram_sim: TelegramSim, team: Team, db: Database, make_client: Any
) -> None:
    client = await make_client(**telegram_settings(telegram_sim))

    await say(client, telegram_sim, STRANGER, "set A-1045 to urgent")

    (answer,) = await replies(telegram_sim, STRANGER, 1)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Proposal)) == 0
        # No AI agent serves Telegram here: the message is an assist for the team, and the
        # customer is told so only because it is.
        newest = await session.scalar(select(Assist).order_by(Assist.number.desc()).limit(1))
        urgent = await session.scalar(select(Assist.priority).where(Assist.number == 1045))
    assert newest is not None and newest.transcript[0]["text"] == "set A-1045 to urgent"
    assert answer["text"] == (
        f"Thanks for your message. It has reached our support team as request {newest.ref}."
    )
    assert urgent != "urgent"


async def test_redelivered_update_makes_one_task_and_one_reply(
    telegram_sim: TelegramSim, team: Team, db: Database, make_client: Any
) -> None:
    client = await make_client(**telegram_settings(telegram_sim))
    # A short answer (one message: `help` now runs past Telegram's 4,096 characters).
    update = telegram_sim.message_update(OLIVIA, "how is the queue?")

    first = await post_update(client, update)
    again = await post_update(client, update)

    assert first == again == (200, {"ok": True})
    assert await count_tasks(db) == 1
    rows = await settled_outbox(db)
    assert [r.status for r in rows] == ["sent"]
    assert len(telegram_sim.messages(OLIVIA)) == 1
    assert len(telegram_sim.calls("/sendMessage")) == 1


async def test_wrong_or_missing_secret_and_malformed_bodies_are_refused(
    telegram_sim: TelegramSim, team: Team, db: Database, make_client: Any
) -> None:
    client = await make_client(**telegram_settings(telegram_sim))
    before = await count_rows(db)
    update = telegram_sim.message_update(OLIVIA, "how is csat this month?")

    assert (await post_update(client, update, secret="not-the-secret"))[0] == 401
    assert (await post_update(client, update, secret=SECRET + "x"))[0] == 401
    assert (await post_update(client, update, secret=None))[0] == 401
    for body in (
        b"{not json",
        b"",
        b"[1, 2]",
        b'{"message": {"text": "no update_id"}}',
        b'{"update_id": "12"}',
        b'{"update_id": 12, "message": "not an object"}',
        b'{"update_id": 13, "message": {"message_id": 1, "text": "no chat, no date"}}',
    ):
        status, answer = await post_update(client, body)
        assert status == 400, (body, answer)

    assert await count_rows(db) == before
    assert telegram_sim.calls("/sendMessage") == []


async def test_without_a_webhook_secret_every_webhook_is_refused(
    telegram_sim: TelegramSim, team: Team, db: Database, make_client: Any, caplog: Any
) -> None:
    settings = telegram_settings(telegram_sim)
    del settings["TELEGRAM_WEBHOOK_SECRET"]
    client = await make_client(**settings)
    before = await count_rows(db)

    for secret in (None, "", "anything"):
        status, _ = await post_update(
            client, telegram_sim.message_update(OLIVIA, "help"), secret=secret
        )
        assert status == 403

    assert await count_rows(db) == before
    assert "TELEGRAM_WEBHOOK_SECRET is not set" in caplog.text


async def test_webhook_is_registered_with_its_secret_when_the_public_url_is_known(
    telegram_sim: TelegramSim, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="channels.telegram")
    await make_client(**telegram_settings(telegram_sim, PUBLIC_BASE_URL="https://gw.example.com/"))

    (registered,) = telegram_sim.params("setWebhook")
    assert registered["url"] == "https://gw.example.com/telegram/webhook"
    assert registered["secret_token"] == SECRET
    assert registered["allowed_updates"] == ["message", "callback_query"]
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("channels.telegram")]
    assert "Telegram webhook registered: https://gw.example.com/telegram/webhook" in ours
    assert not [line for line in ours if SECRET in line or telegram_sim.token in line]


async def test_updates_without_a_request_are_acknowledged_and_ignored(
    telegram_sim: TelegramSim, team: Team, db: Database, make_client: Any
) -> None:
    client = await make_client(**telegram_settings(telegram_sim))
    before = await count_rows(db)
    edited = telegram_sim.message_update(OLIVIA, "help")
    edited["edited_message"] = edited.pop("message")
    sticker = telegram_sim.message_update(OLIVIA, "x")
    del sticker["message"]["text"]
    sticker["message"]["sticker"] = {
        "file_id": "S1",
        "file_unique_id": "S1u",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    stale_button = telegram_sim.callback_query_update(OLIVIA, "menu:old", from_id=OLIVIA)

    for update in (
        edited,
        sticker,
        telegram_sim.message_update(GROUP, "/start@some_other_bot", from_id=OLIVIA),
        stale_button,
    ):
        assert await post_update(client, update) == (200, {"ok": True})

    assert await count_rows(db) == before
    (answer,) = await wait_until(lambda: telegram_sim.callback_answers)
    assert answer["callback_query_id"] == stale_button["callback_query"]["id"]
    assert answer["text"] == "This button is no longer active."


async def test_bot_traffic_goes_to_the_workspace_mapped_to_the_bot(
    telegram_sim: TelegramSim, team: Team, db: Database, make_client: Any
) -> None:
    async with db.session() as session:
        await make_workspace(session, name="Another team")
    client = await make_client(**telegram_settings(telegram_sim))
    before = await count_rows(db)

    status, _ = await post_update(client, telegram_sim.message_update(OLIVIA, "help"))

    assert status == 503  # Telegram redelivers once the bot is mapped
    assert await count_rows(db) == before
    bot_id = telegram_sim.token.split(":")[0]
    async with db.session() as session:
        session.add(
            WorkspaceAddress(workspace_id=team.workspace_id, channel="telegram", address=bot_id)
        )
    await say(client, telegram_sim, OLIVIA, "help")
    async with db.session() as session:
        task = await session.scalar(select(TaskRow))
    assert task is not None and task.workspace_id == team.workspace_id
    await replies(telegram_sim, OLIVIA, 1)


async def test_telegram_down_at_start_defers_webhooks_until_the_bot_is_ready(
    telegram_sim: TelegramSim, team: Team, db: Database, make_client: Any
) -> None:
    telegram_sim.fail(502, path="/getMe")
    client = await make_client(**telegram_settings(telegram_sim))
    update = telegram_sim.message_update(OLIVIA, "help")

    status, _ = await post_update(client, update)

    assert status == 503  # not ready: Telegram delivers it again
    assert await count_tasks(db) == 0

    async def redelivered() -> bool:  # as Telegram does, until the gateway takes it
        return (await post_update(client, update))[0] == 200

    await wait_until(redelivered, timeout=10, interval=0.2)
    assert len(telegram_sim.calls("/getMe")) == 2
    await replies(telegram_sim, OLIVIA, 1)
    assert await count_tasks(db) == 1


async def test_a_token_telegram_rejects_stops_the_start_without_showing_it(
    telegram_sim: TelegramSim, database_url: str
) -> None:
    wrong = "123456789:AAwrongWRONGwrongWRONGwrongWRONG00"
    settings = make_settings(
        database_url, **telegram_settings(telegram_sim, TELEGRAM_BOT_TOKEN=wrong)
    )
    server = TestServer(build_app(settings), host="127.0.0.1")

    try:
        with pytest.raises(RuntimeError, match="TELEGRAM_BOT_TOKEN was rejected") as refused:
            await server.start_server()
    finally:
        await server.close()

    assert wrong.split(":")[1] not in repr(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


# ---------------------------------------------------------------------------- approvals


async def _priority(db: Database, team: Team, number: int) -> str:
    async with db.session() as session:
        row = await session.scalar(
            select(Assist).where(Assist.workspace_id == team.workspace_id, Assist.number == number)
        )
        assert row is not None
        return row.priority


async def _proposal_status(db: Database, proposal_id: str) -> str:
    async with db.session() as session:
        proposal = await session.get(Proposal, proposal_id)
        assert proposal is not None
        return proposal.status


async def test_approval_by_inline_button_from_the_requester_only(
    telegram_sim: TelegramSim,
    team: Team,
    db: Database,
    make_client: Any,
    relaxed_limits: None,
) -> None:
    client = await make_client(**telegram_settings(telegram_sim))
    before = await _priority(db, team, 1045)
    assert before != "urgent"

    await say(client, telegram_sim, GROUP, "set A-1045 to urgent", from_id=MARIA)
    (prompt,) = await replies(telegram_sim, GROUP, 1)
    assert "A-1045 priority" in prompt["text"] and f"{before} → urgent" in prompt["text"]
    (buttons,) = prompt["reply_markup"]["inline_keyboard"]
    assert [b["text"] for b in buttons] == ["Approve", "Reject"]
    approve = buttons[0]["callback_data"]
    assert len(approve.encode()) <= 64
    proposal_id = approve.split(":")[1]

    # Another manager, then someone linked to nobody: refused, the prompt left as it is.
    for user in (TOM, STRANGER):
        tap = telegram_sim.callback_query_update(
            GROUP, approve, message_id=prompt["message_id"], from_id=user
        )
        assert await post_update(client, tap) == (200, {"ok": True})
    refusals = (await replies(telegram_sim, GROUP, 3))[1:]
    # The two taps are processed concurrently: their refusals may arrive in either order.
    texts = sorted(r["text"] for r in refusals)
    assert "Only the person who asked" in texts[0]
    assert "not linked to a member" in texts[1]
    assert all(r["reply_to_message"]["message_id"] == prompt["message_id"] for r in refusals)
    assert await _proposal_status(db, proposal_id) == "pending"
    assert await _priority(db, team, 1045) == before
    assert prompt["reply_markup"]["inline_keyboard"] == [buttons]

    # The requester taps Approve, twice.
    taps = [
        telegram_sim.callback_query_update(
            GROUP, approve, message_id=prompt["message_id"], from_id=MARIA
        )
        for _ in range(2)
    ]
    assert await post_update(client, taps[0]) == (200, {"ok": True})
    await wait_until(lambda: "edit_date" in prompt, message="the prompt edited")
    assert await post_update(client, taps[1]) == (200, {"ok": True})

    assert await _priority(db, team, 1045) == "urgent"
    assert await _proposal_status(db, proposal_id) == "executed"
    assert prompt["text"].startswith("Approved\nDone: set A-1045 to urgent priority")
    assert "reply_markup" not in prompt
    tap_ids = [t["callback_query"]["id"] for t in taps]
    answers = await wait_until(
        lambda: (found := [a for a in telegram_sim.callback_answers]) and len(found) == 4 and found
    )
    assert [a["callback_query_id"] for a in answers[2:]] == tap_ids
    assert [a.get("text") for a in answers] == [None, None, None, "Already received."]
    async with db.session() as session:
        snapshots = await session.scalar(
            select(func.count()).select_from(Snapshot).where(Snapshot.proposal_id == proposal_id)
        )
    assert snapshots == 1
    rows = await settled_outbox(db)
    assert len(rows) == 4  # the prompt, two refusals, the outcome (an edit): no second outcome
    assert len(telegram_sim.messages(GROUP)) == 3


async def test_typed_approval_code_works_in_telegram(
    telegram_sim: TelegramSim,
    team: Team,
    db: Database,
    make_client: Any,
    relaxed_limits: None,
) -> None:
    client = await make_client(**telegram_settings(telegram_sim))

    await say(client, telegram_sim, MARIA, "set A-1046 to low priority")
    (prompt,) = await replies(telegram_sim, MARIA, 1)
    async with db.session() as session:
        proposal = await session.scalar(select(Proposal))
    assert proposal is not None and proposal.code in prompt["text"]

    await say(client, telegram_sim, MARIA, f"approve {proposal.code}")

    outcome = (await replies(telegram_sim, MARIA, 2))[1]
    assert outcome["text"].startswith("Done: set A-1046 to low priority")
    assert await _priority(db, team, 1046) == "low"


# ---------------------------------------------------------------------------- rendering


async def test_long_output_is_split_at_4096_complete_and_in_order(
    telegram_sim: TelegramSim, team: Team, db: Database, make_client: Any, relaxed_limits: None
) -> None:
    lines = [f"Line {n:04d} 📈 {'resolution trend detail ' * 3}".strip() for n in range(200)]
    long_text = "\n".join(lines)
    assert utf16_len(long_text) > 3 * 4096
    classifier = ScriptedClassifier({"the long digest": long_text})
    client = await make_client(build={"classifier": classifier}, **telegram_settings(telegram_sim))

    await say(client, telegram_sim, OLIVIA, "the long digest")

    rows = await settled_outbox(db)
    assert [r.status for r in rows] == ["sent"]
    parts = [m["text"] for m in telegram_sim.messages(OLIVIA)]
    assert 1 < len(parts) <= math.ceil(utf16_len(long_text) / 4096) + 1
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert [line for part in parts for line in part.split("\n")] == lines


async def test_caption_over_1024_goes_on_in_a_following_message(
    telegram_sim: TelegramSim, team: Team, db: Database, make_client: Any, relaxed_limits: None
) -> None:
    await make_client(**telegram_settings(telegram_sim))
    caption = " ".join(f"Point {n}: handled & closed <fast>." for n in range(80))
    assert len(caption) > 1024
    chart = b"\x89PNG\r\n\x1a\n" + b"chart" * 100
    async with db.session() as session:
        media = MediaStore.add(
            session,
            workspace_id=team.workspace_id,
            filename="resolution.png",
            content_type="image/png",
            data=chart,
        )
        await session.flush()
        enqueue(
            session,
            workspace_id=team.workspace_id,
            route=Route(channel="telegram", address=str(OLIVIA)),
            deliverables=[
                Deliverable(
                    kind="file",
                    title="resolution.png",
                    text=caption,
                    data={
                        "media": {
                            "id": media.id,
                            "filename": media.filename,
                            "content_type": media.content_type,
                            "size": media.size,
                        }
                    },
                )
            ],
            dedupe_prefix="test:caption",
        )

    photo, rest = await replies(telegram_sim, OLIVIA, 2)
    assert telegram_sim.last("/sendPhoto").files["photo"].data == chart
    assert 0 < utf16_len(photo["caption"]) <= 1024
    assert f"{photo['caption']} {rest['text']}" == caption


async def test_report_file_is_sent_as_a_document_with_the_csv_bytes(
    telegram_sim: TelegramSim, team: Team, db: Database, make_client: Any, relaxed_limits: None
) -> None:
    client = await make_client(**telegram_settings(telegram_sim))

    await say(client, telegram_sim, OLIVIA, "run the assists report for the last 7 days as csv")

    await wait_until(lambda: telegram_sim.calls("/sendDocument"), timeout=10)
    upload = telegram_sim.last("/sendDocument")
    async with db.session() as session:
        stored = await session.scalar(select(MediaObject))
    assert stored is not None
    document = upload.files["document"]
    assert document.filename == stored.filename and document.filename.endswith(".csv")
    assert document.data == bytes(stored.data)
    assert document.data.decode().splitlines()[0].count(",") >= 1
    assert upload.form["caption"].startswith("Assists")
    (sent,) = [m for m in telegram_sim.messages(OLIVIA) if "document" in m]
    assert sent["document"]["file_name"] == stored.filename


async def test_text_with_markup_characters_arrives_literally(
    telegram_sim: TelegramSim, team: Team, db: Database, make_client: Any
) -> None:
    tricky = "Use <b>bold</b> & <i>x</i> > 3, *stars*, _under_, `code`, [link](http://x) &amp;"
    classifier = ScriptedClassifier({"show me": tricky})
    client = await make_client(build={"classifier": classifier}, **telegram_settings(telegram_sim))

    await say(client, telegram_sim, OLIVIA, "show me")

    (answer,) = await replies(telegram_sim, OLIVIA, 1)
    assert answer["text"] == tricky
    assert "entities" not in answer
    assert telegram_sim.params("sendMessage")[0]["parse_mode"] == "HTML"


# ---------------------------------------------------------------------------- rate limits


async def test_replies_to_one_chat_are_a_second_apart(
    telegram_sim: TelegramSim, team: Team, db: Database, make_client: Any
) -> None:
    client = await make_client(**telegram_settings(telegram_sim))

    for text in ("help", "how is csat this month?", "help me"):
        await say(client, telegram_sim, OLIVIA, text)

    await replies(telegram_sim, OLIVIA, 3)
    times = [r.at for r in telegram_sim.calls("/sendMessage")]
    assert len(times) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(gap >= 0.9 for gap in gaps), gaps


async def test_429_is_retried_after_its_delay_and_delivered_once(
    telegram_sim: TelegramSim, team: Team, db: Database, make_client: Any
) -> None:
    client = await make_client(**telegram_settings(telegram_sim))
    telegram_sim.throttle(retry_after=1, path="/sendMessage")

    await say(client, telegram_sim, OLIVIA, "how is the queue?")  # one message

    (answer,) = await replies(telegram_sim, OLIVIA, 1)
    throttled, delivered = telegram_sim.calls("/sendMessage")
    assert (throttled.fault, delivered.fault) == ("throttle", None)
    assert delivered.at - throttled.at >= 0.95
    first, second = telegram_sim.params("sendMessage")
    assert first["text"] == second["text"]
    assert "unassigned" in answer["text"].lower()
    (row,) = await settled_outbox(db)
    assert (row.status, row.attempts, row.provider_message_id) == (
        "sent",
        2,
        f"{OLIVIA}:{answer['message_id']}",
    )


# ---------------------------------------------------------------------------- polling


async def test_polling_mode_fetches_updates_and_answers_them(
    telegram_sim: TelegramSim, team: Team, db: Database, make_client: Any
) -> None:
    telegram_sim.webhook = {"url": "https://old.example.com/hook"}
    client = await make_client(
        **telegram_settings(telegram_sim, SWITCHBOARD_TELEGRAM_MODE="polling")
    )
    await wait_until(lambda: telegram_sim.calls("/getUpdates"), message="polling started")
    assert telegram_sim.webhook is None
    assert telegram_sim.calls("/deleteWebhook")

    pushed = telegram_sim.push_message(OLIVIA, "how is our resolution rate this week?")

    (answer,) = await replies(telegram_sim, OLIVIA, 1)
    assert answer["text"].startswith("Resolution rate, this week")
    assert answer["reply_to_message"]["message_id"] == pushed["message"]["message_id"]
    async with db.session() as session:
        task = await session.scalar(select(TaskRow))
    assert task is not None and task.external_id == str(pushed["update_id"])
    status, _ = await post_update(client, telegram_sim.message_update(OLIVIA, "help"))
    assert status == 404

    await client.close()
    assert telegram_sim.pending_updates == 0  # the fetched update was confirmed at stop
    assert await count_tasks(db) == 1


# ---------------------------------------------------------------------------- sender units


def _route(chat: int = OLIVIA, thread: str | None = None) -> Route:
    return Route(channel="telegram", address=str(chat), thread=thread)


def test_plan_renders_cards_bold_with_escaped_fields_and_rate_keys() -> None:
    card = Deliverable(
        kind="card",
        title="Q&A <score>",
        text="CSAT is 4.5 & rising.",
        fields=(CardField(label="CSAT", value="4.5 <of 5>"), CardField(label="Trend", value="up")),
    )

    (op,) = plan(_route(thread="77:9"), card)

    assert op.action == "message"
    assert op.payload["text"] == (
        "<b>Q&amp;A &lt;score&gt;</b>\nCSAT: 4.5 &lt;of 5&gt;\nTrend: up\n\n"
        "CSAT is 4.5 &amp; rising."
    )
    assert (op.payload["reply_to"], op.payload["topic"]) == (77, 9)
    assert op.rate_keys == (("telegram.chat", str(OLIVIA)), ("telegram.bot", "global"))
    assert rate_keys(str(GROUP)) == (
        ("telegram.chat", str(GROUP)),
        ("telegram.bot", "global"),
        ("telegram.group", str(GROUP)),
    )


def test_plan_puts_the_keyboard_under_the_last_part_and_counts_utf16() -> None:
    text = "\n".join(f"- change {n} 🚀 " + "x" * 60 for n in range(120))
    proposal = Deliverable(
        kind="proposal",
        title="Approval needed",
        text=text,
        data={"proposal": {"id": "f" * 32, "code": "1234", "status": "pending"}},
    )

    ops = plan(_route(thread="5"), proposal)

    assert len(ops) > 1
    assert [op.payload.get("buttons") for op in ops[:-1]] == [None] * (len(ops) - 1)
    assert ops[-1].payload["buttons"] == [
        ("Approve", f"p:{'f' * 32}:a"),
        ("Reject", f"p:{'f' * 32}:r"),
    ]
    assert [op.payload["reply_to"] for op in ops] == [5] + [None] * (len(ops) - 1)
    for op in ops:  # what Telegram counts: the text after parsing, in UTF-16 units
        plain = op.payload["text"].replace("<b>", "").replace("</b>", "")
        assert utf16_len(plain.replace("&amp;", "&")) <= 4096
    assert ops == plan(_route(thread="5"), proposal)  # deterministic: resumable part by part


def test_plan_edits_the_prompt_once_decided() -> None:
    outcome = Deliverable(
        text="Done: set A-1045 to urgent priority.",
        data={
            "proposal": {"id": "p1", "status": "executed"},
            "edit": {"chat_id": GROUP, "message_id": 41, "callback_query_id": "cq"},
        },
    )

    (op,) = plan(_route(GROUP, thread="41"), outcome)

    assert op.action == "edit"
    assert (op.payload["chat_id"], op.payload["message_id"]) == (GROUP, 41)
    assert op.payload["text"] == "<b>Approved</b>\nDone: set A-1045 to urgent priority."


def _update(text: str, chat: int = GROUP, **message: Any) -> telegram.Update:
    data = TelegramSim().message_update(chat, text, from_id=OLIVIA, **message)
    return telegram.Update.de_json(data, None)


def test_commands_and_mentions_are_stripped_to_the_request() -> None:
    bot = "switchboard_sim_bot"

    def task_text(update: telegram.Update) -> tuple[str, str] | None:
        task = message_task(update, "ws", bot)
        return (task.text, task.kind) if task is not None else None

    assert task_text(_update("/start")) == ("help", "command")
    assert task_text(_update(f"/help@{bot}")) == ("help", "command")
    assert task_text(_update(f"/ask@{bot} how is csat this month?")) == (
        "how is csat this month?",
        "command",
    )
    assert task_text(_update("/start@another_bot")) is None
    assert task_text(_update(f"@{bot} how is csat?")) == ("how is csat?", "message")
    topic = message_task(_update("help", message_thread_id=7), "ws", bot)
    assert topic is not None and topic.reply_route.thread is not None
    assert topic.reply_route.thread.endswith(":7")


@pytest.fixture
async def sender(telegram_sim: TelegramSim) -> AsyncIterator[TelegramSender]:
    bot = telegram.Bot(
        telegram_sim.token, base_url=telegram_sim.base_url, base_file_url=telegram_sim.base_file_url
    )
    async with bot:
        yield TelegramSender(bot)


async def test_sdk_errors_map_to_delivery_errors(
    telegram_sim: TelegramSim, sender: TelegramSender
) -> None:
    (op,) = plan(_route(), Deliverable(text="hello"))

    telegram_sim.throttle(retry_after=7, path="/sendMessage")
    with pytest.raises(errors.RateLimited) as limited:
        await sender.perform(_route(), op)
    assert limited.value.retry_after == 7
    telegram_sim.forbid(path="/sendMessage")
    with pytest.raises(errors.Forbidden, match="blocked"):
        await sender.perform(_route(), op)
    telegram_sim.fail(502, path="/sendMessage")
    with pytest.raises(errors.ProviderUnavailable):
        await sender.perform(_route(), op)
    telegram_sim.missing_chats.add(OLIVIA)
    with pytest.raises(errors.InvalidRecipient, match=r"(?i)chat not found"):
        await sender.perform(_route(), op)
    telegram_sim.missing_chats.clear()
    bad = plan(_route(), Deliverable(text="x" * 10))[0]
    bad = type(bad)(bad.action, {**bad.payload, "text": "<blink>"}, bad.rate_keys)
    with pytest.raises(errors.BadRequest, match="parse entities"):
        await sender.perform(_route(), bad)

    receipt = await sender.perform(_route(), op)
    sent = telegram_sim.messages(OLIVIA)[-1]["message_id"]
    assert receipt.provider_message_id == f"{OLIVIA}:{sent}"
    assert len(telegram_sim.messages(OLIVIA)) == 1


async def test_half_a_surrogate_pair_in_a_message_is_stored_as_the_replacement_character(
    telegram_sim: TelegramSim, team: Team, db: Database, make_client: Any
) -> None:
    """No database encodes half a surrogate pair, yet a JSON body may spell one (`\\ud800`)
    or carry its bytes (which Python's JSON reader lets through): the message is taken, its
    text kept with U+FFFD there, not refused with a 500."""
    client = await make_client(**telegram_settings(telegram_sim))
    spelt = telegram_sim.message_update(STRANGER, "broken \ud800 half")
    body = json.dumps(spelt).encode()
    assert b"\\ud800" in body
    assert await post_update(client, body) == (200, {"ok": True})
    carried = telegram_sim.message_update(STRANGER, "raw XXX bytes")
    raw = json.dumps(carried).encode().replace(b"XXX", b"\xed\xa0\x80")  # CESU-8's U+D800
    assert await post_update(client, raw) == (200, {"ok": True})
    async with db.session() as session:
        texts = list(
            await session.scalars(
                select(TaskRow.text).where(TaskRow.channel == "telegram").order_by(TaskRow.id)
            )
        )
    assert texts == ["broken \ufffd half", "raw \ufffd bytes"]
