"""Every customer conversation is a record of its messages in order: the AI agent's answers,
the escalation's questions, the team's replies; its status follows its assist (snoozed,
closed) and ends when the customer's next conversation begins."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from core.assists.snooze import snooze
from core.live import conversations
from storage.db import Database
from storage.domain import Assist
from storage.models import Member
from tests.core.test_escalation import NOW, PHONE, _processor, _seeded, say


async def test_an_escalation_is_one_conversation_with_every_message_in_order(
    db: Database,
) -> None:
    seeded = await _seeded(db)
    async with db.session() as session:
        await session.execute(
            update(Member)
            .where(Member.workspace_id == seeded.workspace_id)
            .values(availability="offline")
        )
    processor = _processor()
    turns = [
        "hello",
        "I want to talk to a person",
        "Jane Roe",
        "jane.roe@example.com",
        "confirm",
    ]
    answers = []
    for n, text in enumerate(turns):
        answers += await say(db, seeded, text, at=NOW + timedelta(seconds=n), processor=processor)

    async with db.session() as session:
        (listed,) = [
            c
            for c in await conversations.list_conversations(session, seeded.workspace_id)
            if c.conversation.address == PHONE
        ]
        said = await conversations.messages(session, seeded.workspace_id, listed.conversation.id)
        assist = await session.get(Assist, listed.conversation.assist_id)
    expected = []
    for text, answer in zip(turns, answers, strict=True):
        expected += [("customer", text), ("agent", answer)]
    assert [(m.author, m.text) for m in said] == expected
    assert [m.seq for m in said] == list(range(1, len(expected) + 1))
    assert assist is not None and listed.assist_ref == assist.ref
    assert (listed.status, listed.conversation.channel, listed.messages) == ("open", "sms", 10)
    assert listed.conversation.reply_route == {"channel": "sms", "address": PHONE, "thread": None}

    # Its status follows the assist: snoozed, then closed.
    async with db.session() as session:
        found = await session.get(Assist, assist.id)
        assert found is not None
        await snooze(session, found, NOW + timedelta(days=2), actor="test", now=NOW)
    async with db.session() as session:
        got = await conversations.get(session, seeded.workspace_id, listed.conversation.id)
        snoozed = await conversations.list_conversations(
            session, seeded.workspace_id, status="snoozed"
        )
    assert got.status == "snoozed" and [c.conversation.id for c in snoozed] == [got.conversation.id]
    async with db.session() as session:
        await session.execute(update(Assist).where(Assist.id == assist.id).values(status="closed"))
    async with db.session() as session:
        got = await conversations.get(session, seeded.workspace_id, listed.conversation.id)
    assert got.status == "closed"


async def test_a_new_conversation_closes_the_customers_earlier_one(db: Database) -> None:
    seeded = await _seeded(db)
    processor = _processor()
    await say(db, seeded, "hello", processor=processor)
    await say(db, seeded, "hello again", at=NOW + timedelta(days=1), processor=processor)
    async with db.session() as session:
        mine = [
            c
            for c in await conversations.list_conversations(session, seeded.workspace_id)
            if c.conversation.address == PHONE
        ]
    assert [c.status for c in mine] == ["open", "closed"]  # the latest first
    assert [c.last_text for c in mine][1].startswith("Hi! I'm Ava")
