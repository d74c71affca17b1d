"""Routing a customer's new conversation to the live operators, and the AI's fallback: the
whole gateway, SMS signed as Twilio signs it, replies through the real twilio SDK into the
Twilio simulator. Nobody live, an offer not taken in time, a silent console, a session taken,
answered and handed back: the customer is always answered, once, by someone."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from storage.db import Database
from storage.domain import Conversation
from storage.models import TaskRow
from tests.channels.twilio_helpers import start
from tests.helpers import settled, wait_until
from tests.live.harness import (
    CUSTOMER,
    FAST,
    MARIA,
    OTHER_CUSTOMER,
    SAM,
    act,
    beat,
    go_live,
    live_sessions,
    messages_of,
    offered,
    set_up,
)
from tests.sims.twilio import TwilioSim

WELCOME = "Hi! I'm Ava from Demo Co. How can I help?"


async def test_nobody_live_the_ai_answers_as_always(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    live = await set_up(db)
    phone = await start(make_client, twilio_sim, **FAST)
    await phone.text(CUSTOMER, "hello")
    assert await phone.replies(CUSTOMER) == [WELCOME]
    await settled(db)
    assert await live_sessions(db, live) == []
    assert await messages_of(db, live, CUSTOMER) == [("customer", "hello"), ("agent", WELCOME)]


async def test_an_offer_not_taken_passes_to_the_next_operator_then_the_ai(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    live = await set_up(db)
    phone = await start(make_client, twilio_sim, **FAST)
    await go_live(db, live, MARIA)
    await go_live(db, live, SAM)

    await phone.text(CUSTOMER, "hello")
    first = await offered(db, live, MARIA)  # the longest live, both free
    # While it is offered the AI stays silent, and a second message waits with the first.
    await phone.text(CUSTOMER, "anyone there?")
    for email in (MARIA, SAM):
        await beat(db, live, email)
    second = await offered(db, live, SAM)
    assert second.id == first.id and second.tried == [live.member(MARIA), live.member(SAM)]
    assert twilio_sim.sent(to=CUSTOMER) == []
    for email in (MARIA, SAM):
        await beat(db, live, email)

    # Nobody took it: the AI answers the held messages, together, once.
    (reply,) = await phone.replies(CUSTOMER)
    await settled(db)
    (ended,) = await live_sessions(db, live)
    assert (ended.status, ended.outcome) == ("ai", "offer not accepted in time")
    assert twilio_sim.sent(to=CUSTOMER) and len(twilio_sim.sent(to=CUSTOMER)) == 1
    said = await messages_of(db, live, CUSTOMER)
    assert said[2:] == [("agent", reply)]
    assert said[0] == ("customer", "hello") and said[1] == ("customer", "anyone there?")
    async with db.session() as session:
        conversation = await session.scalar(
            select(Conversation).where(Conversation.address == CUSTOMER)
        )
        assert conversation is not None and conversation.live_session_id is None


async def test_a_silent_console_is_taken_off_and_new_conversations_go_to_the_ai(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    live = await set_up(db)
    phone = await start(make_client, twilio_sim, **{**FAST, "SWITCHBOARD_LIVE_PRESENCE_TIMEOUT": 2})
    await go_live(db, live, MARIA)  # and no heartbeat after: the browser closed

    async def gone() -> bool:
        async with db.session() as session:
            from storage.live import OperatorPresence

            return (await session.get(OperatorPresence, live.member(MARIA))) is None

    await wait_until(gone, timeout=10, message="Maria's presence gone after the timeout")
    await phone.text(OTHER_CUSTOMER, "hello")
    assert await phone.replies(OTHER_CUSTOMER) == [WELCOME]
    assert await live_sessions(db, live) == []


async def test_a_taken_session_is_answered_by_the_operator_then_handed_back(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    live = await set_up(db)
    phone = await start(make_client, twilio_sim, **{**FAST, "SWITCHBOARD_LIVE_OFFER_SECONDS": 60})
    await go_live(db, live, MARIA)
    await phone.text(CUSTOMER, "my parcel never came")
    offer = await offered(db, live, MARIA)
    await act(db, live, MARIA, "accept", offer.id)

    text = "Hi, I'm Maria. Let me look at your order now."
    assert await act(db, live, MARIA, "send", offer.id, text, key="k1") is True
    assert await act(db, live, MARIA, "send", offer.id, text, key="k1") is False  # a retry
    assert await phone.replies(CUSTOMER) == [text]

    # The customer's next message is the operator's: the AI is silent.
    await phone.text(CUSTOMER, "thanks, order 5512")
    await wait_until(
        lambda: _has(db, live, ("customer", "thanks, order 5512")), timeout=10, message="recorded"
    )
    await settled(db)
    assert len(twilio_sim.sent(to=CUSTOMER)) == 1

    done = await act(db, live, MARIA, "complete", offer.id)
    assert done.status == "completed"
    told = await phone.replies(CUSTOMER, count=2)
    assert "AI assistant will take it from here" in told[1]

    # Back with the AI: the next message gets its answer.
    await phone.text(CUSTOMER, "hello")
    replies = await phone.replies(CUSTOMER, count=3)
    assert replies[2] == WELCOME
    await settled(db)
    assert len(twilio_sim.sent(to=CUSTOMER)) == 3
    said = await messages_of(db, live, CUSTOMER)
    authors = [a for a, _ in said]
    assert authors == ["customer", "system", "member", "customer", "agent", "customer", "agent"]
    async with db.session() as session:
        replayed = await session.scalar(
            select(func.count()).select_from(TaskRow).where(TaskRow.external_id.like("live:%"))
        )
    assert replayed == 0


async def _has(db: Database, live: Any, message: tuple[str, str]) -> bool:
    return message in await messages_of(db, live, CUSTOMER)


async def test_asking_for_a_person_mid_conversation_is_offered_then_escalates_if_untaken(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    live = await set_up(db, members=(MARIA,))
    phone = await start(make_client, twilio_sim, **FAST)
    await phone.text(CUSTOMER, "hello")
    assert await phone.replies(CUSTOMER) == [WELCOME]  # nobody live yet: the AI
    await go_live(db, live, MARIA)
    await phone.text(CUSTOMER, "I want to talk to a person")
    first = await offered(db, live, MARIA)
    assert first.held and len(twilio_sim.sent(to=CUSTOMER)) == 1
    # Maria lets it lapse: the AI's escalation runs as it always did (it asks for a name).
    replies = await phone.replies(CUSTOMER, count=2)
    assert replies[1].endswith("What's your name?")


async def test_with_live_operator_mode_off_nobody_is_offered_anything(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    from core.live import access, sessions
    from storage.models import Workspace
    from storage.types import utcnow

    live = await set_up(db)
    phone = await start(make_client, twilio_sim, **FAST)
    await go_live(db, live, MARIA)
    async with db.session() as session:
        workspace = await session.get(Workspace, live.workspace_id)
        assert workspace is not None
        await access.set_features(session, workspace, operator=False, actor="test")
        await sessions.stop_all(session, workspace.id, now=utcnow(), policy=sessions.LivePolicy())
    await phone.text(CUSTOMER, "hello")
    assert await phone.replies(CUSTOMER) == [WELCOME]
    assert await live_sessions(db, live) == []
