"""A live operator on Slack: the offer arrives as a DM with Accept, the session is held in that
message's thread (their replies reach the customer by SMS, the customer's messages come into
the thread), and "done" there hands the conversation back to the AI. The whole gateway, with
signed Slack and Twilio webhooks and the real SDKs against the simulators."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from core.live import access, groups, presence, sessions
from core.live.chat import plain
from core.team.agents import create_workspace_with_agent
from storage.db import Database
from storage.live import LiveSession
from storage.models import TaskRow
from storage.types import utcnow
from tests.channels.slack_payloads import (
    CHANNEL,
    SIGNING_SECRET,
    block_actions,
    direct_message,
    post,
    sign,
)
from tests.channels.twilio_helpers import Phone, twilio_settings
from tests.factories import make_member, unique
from tests.helpers import settled, wait_until
from tests.sims.slack import SlackSim
from tests.sims.twilio import TwilioSim

OPERATOR = "U0OPER0001"  # the operator's Slack user id
DM = "D0OPER0001"  # their direct message channel with the bot
STRANGER = "U0NOBODY01"  # a Slack user linked to nobody
CUSTOMER = "+15550142424"


@dataclass
class Live:
    phone: Phone
    slack: SlackSim
    db: Database

    @property
    def client(self) -> Any:
        return self.phone.client

    async def offer(self, n: int = 1) -> dict[str, Any]:
        """The Nth offer DM the operator got, as it was posted (with its buttons; the
        simulator updates its own copy in place)."""

        def offers() -> list[dict[str, Any]] | None:
            found = [m for m in self.slack.posted(DM) if "thread_ts" not in m and _buttons(m)]
            return found if len(found) >= n else None

        found = await wait_until(offers, timeout=10, message=f"{n} live offer(s) in the DM")
        return copy.deepcopy(found[n - 1])

    async def press(self, action: str, offer: dict[str, Any], *, user: str = OPERATOR) -> None:
        body = block_actions(
            user=user, action_id=action, value=_session_id(offer), channel=DM, message=offer
        )
        response = await post(self.client, body)
        assert response.status == 200, await response.text()

    def thread(self, offer: dict[str, Any]) -> list[str]:
        """The texts the bot posted in the offer's thread, in order."""
        return [m["text"] for m in self.slack.posted(DM) if m.get("thread_ts") == offer["ts"]]

    async def in_thread(self, offer: dict[str, Any], fragment: str) -> list[str]:
        def seen() -> list[str] | None:
            texts = self.thread(offer)
            return texts if any(fragment in t for t in texts) else None

        return await wait_until(seen, timeout=10, message=f"{fragment!r} in the offer's thread")

    def stored(self, offer: dict[str, Any]) -> dict[str, Any]:
        """The offer message as Slack shows it now (updated in place)."""
        (message,) = [m for m in self.slack.messages if m["ts"] == offer["ts"]]
        return message

    async def reply(self, offer: dict[str, Any], text: str, **extra: Any) -> dict[str, Any]:
        """The operator writes TEXT in the offer's thread; the signed event, to replay."""
        payload = direct_message(text, user=OPERATOR, channel=DM, thread_ts=offer["ts"], **extra)
        response = await post(self.client, payload)
        assert response.status == 200, await response.text()
        return payload

    async def texts_to_customer(self, count: int) -> list[str]:
        return await self.phone.replies(CUSTOMER, count)

    async def session(self) -> LiveSession:
        async with self.db.session() as session:
            found = await session.scalar(select(LiveSession))
        assert found is not None
        return found


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


def _session_id(offer: dict[str, Any]) -> str:
    (accept,) = [b for b in _buttons(offer) if b["action_id"] == "live_accept"]
    return str(accept["value"])


async def _start(
    db: Database,
    make_client: Any,
    slack_sim: SlackSim,
    twilio_sim: TwilioSim,
    *,
    went_live_in: str = DM,
) -> Live:
    """One workspace (so both the Slack team and the Twilio number reach it): an operator
    linked on Slack, in a group handling the AI agent, live by a chat message they wrote in
    WENT_LIVE_IN (what the `set_live` tool passes as the route)."""
    now = utcnow()
    async with db.session() as session:
        made = await create_workspace_with_agent(session, unique("workspace"))
        workspace, agent = made.workspace, made.agent
        member = await make_member(
            session, workspace.id, name="Dana Operator", identities={"slack": OPERATOR}
        )
        agent.live_routing = True
        await access.set_features(session, workspace, operator=True, actor="test")
        await groups.create_group(
            session,
            workspace.id,
            name="Support",
            workflows=[agent.id],
            members=[member.id],
            actor="test",
            now=now,
        )
        await presence.go_live(
            session,
            workspace,
            member,
            workflows=None,
            via="chat",
            now=now,
            route={"channel": "slack", "address": went_live_in},
        )
    client = await make_client(
        SLACK_BOT_TOKEN=slack_sim.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_sim.api_url,
        **twilio_settings(twilio_sim),
    )
    return Live(Phone(client, twilio_sim), slack_sim, db)


async def test_operator_holds_the_session_in_the_slack_thread(
    db: Database, make_client: Any, slack_sim: SlackSim, twilio_sim: TwilioSim
) -> None:
    live = await _start(db, make_client, slack_sim, twilio_sim)

    await live.phone.text(CUSTOMER, "Hi, my order 1182 has not arrived")
    offer = await live.offer()
    assert "my order 1182 has not arrived" in offer["text"]
    assert [b["action_id"] for b in _buttons(offer)] == ["live_accept", "live_decline"]
    await settled(db)
    assert twilio_sim.sent(to=CUSTOMER) == []  # the AI holds back while the offer waits

    await live.press("live_accept", offer)
    briefing = await live.in_thread(offer, "The conversation so far")
    assert "Customer: Hi, my order 1182 has not arrived" in briefing[0]
    assert '"done"' in briefing[0]
    held = await live.session()
    assert held.status == "active"
    assert held.slack == {"channel": DM, "ts": offer["ts"]}
    updated = await wait_until(
        lambda: "Accepted" in live.stored(offer)["text"] and live.stored(offer),
        timeout=10,
        message="the offer updated in place",
    )
    assert _buttons(updated) == []  # no button left that does nothing

    # The customer writes again: it comes into the thread, and the AI stays silent.
    await live.phone.text(CUSTOMER, "Any news?")
    await live.in_thread(offer, "Customer: Any news?")

    # The operator answers in the thread: the customer gets exactly that text, once.
    payload = await live.reply(offer, "It ships tomorrow morning, sorry for the wait!")
    assert await live.texts_to_customer(1) == ["It ships tomorrow morning, sorry for the wait!"]
    again = await post(live.client, payload, headers={"X-Slack-Retry-Num": "1"})
    assert again.status == 200
    # The same message delivered under another event id is still the same message.
    await live.reply(
        offer, "It ships tomorrow morning, sorry for the wait!", ts=payload["event"]["ts"]
    )
    await settled(db)
    assert [m["body"] for m in twilio_sim.sent(to=CUSTOMER)] == [
        "It ships tomorrow morning, sorry for the wait!"
    ]
    assert not any("ships tomorrow" in t for t in live.thread(offer))  # no echo of their own
    async with db.session() as session:
        members = await session.scalar(
            select(TaskRow).where(TaskRow.external_id == payload["event_id"])
        )
    assert members is not None and members.status == "done"
    # Slack writes a typed address as markup; the customer reads the address itself.
    await live.reply(offer, "Track it at <https://track.example/1182> &amp; see")
    assert (await live.texts_to_customer(2))[1] == "Track it at https://track.example/1182 & see"

    # "done" in the thread: the customer is told, the thread says so, the session is over.
    await live.reply(offer, "done")
    told = await live.texts_to_customer(3)
    assert "AI assistant will take it from here" in told[2]
    await live.in_thread(offer, "Session completed")
    assert (await live.session()).status == "completed"

    # The customer's next message is the AI's again: answered, and not copied to the thread.
    in_thread = len(live.thread(offer))
    await live.phone.text(CUSTOMER, "What are your opening hours?")
    answered = await live.texts_to_customer(4)
    assert answered[3] not in told
    await settled(db)
    assert len(live.thread(offer)) == in_thread
    texted = len(twilio_sim.sent(to=CUSTOMER))

    # A reply in the finished thread reaches nobody, and the operator is told why.
    await live.reply(offer, "One more thing")
    await live.in_thread(offer, "This live session is over")
    await settled(db)
    assert len(twilio_sim.sent(to=CUSTOMER)) == texted


async def test_declined_offer_goes_to_the_ai_and_its_buttons_answer_with_the_reason(
    db: Database, make_client: Any, slack_sim: SlackSim, twilio_sim: TwilioSim
) -> None:
    # Gone live from a shared channel: the offer still comes as a DM.
    live = await _start(db, make_client, slack_sim, twilio_sim, went_live_in=CHANNEL)
    await live.phone.text(CUSTOMER, "Can someone help me with a refund?")
    offer = await live.offer()
    assert slack_sim.posted(CHANNEL) == []

    # A press Slack did not sign is refused, and takes nothing on.
    forged = block_actions(
        user=OPERATOR,
        action_id="live_accept",
        value=_session_id(offer),
        channel=DM,
        message=offer,
    )
    refused = await post(live.client, forged, signed=False)
    assert refused.status == 401
    bad = await post(live.client, forged, headers=sign(forged, secret="not-the-signing-secret"))
    assert bad.status == 401
    assert (await live.session()).status == "offered"

    # Someone whose Slack account is linked to nobody cannot take it.
    await live.press("live_accept", offer, user=STRANGER)
    await live.in_thread(offer, "not linked to a member")
    assert (await live.session()).status == "offered"

    await live.press("live_decline", offer)
    # Nobody else is live: the AI answers the message it held, once.
    (answer,) = await live.texts_to_customer(1)
    assert answer
    await wait_until(
        lambda: "Declined" in live.stored(offer)["text"],
        timeout=10,
        message="the offer marked declined",
    )
    assert (await live.session()).status == "ai"

    # The old offer's button now answers with the reason, and takes nothing on.
    # (A second click that raced the update, as Slack still showed the buttons.)
    await live.press("live_accept", offer)
    await live.in_thread(offer, "no longer offered to you")
    await settled(db)
    assert (await live.session()).status == "ai"
    assert "No longer offered" in live.stored(offer)["text"]
    assert len(twilio_sim.sent(to=CUSTOMER)) == 1


async def test_operator_going_offline_hands_the_session_on_and_the_thread_says_so(
    db: Database, make_client: Any, slack_sim: SlackSim, twilio_sim: TwilioSim
) -> None:
    live = await _start(db, make_client, slack_sim, twilio_sim)
    await live.phone.text(CUSTOMER, "Is anyone there?")
    offer = await live.offer()
    await live.press("live_accept", offer)
    await live.in_thread(offer, "The conversation so far")
    held = await live.session()
    assert held.status == "active" and held.operator_id is not None

    gateway = live.phone.gateway
    async with db.session() as session:
        await sessions.mark_offline(
            session,
            held.workspace_id,
            held.operator_id,
            now=utcnow(),
            policy=gateway.live,
            reason="went offline",
        )
    await live.in_thread(offer, "You are no longer live")
    # Nobody else is live: the AI has the conversation again, and the customer is told.
    (told,) = await live.texts_to_customer(1)
    assert "AI assistant will take it from here" in told
    assert (await live.session()).status == "ai"

    await live.reply(offer, "Still there?")
    await live.in_thread(offer, "nothing was sent")
    await settled(db)
    assert len(twilio_sim.sent(to=CUSTOMER)) == 1


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("see <https://a.example/x|the tracker>", "see the tracker (https://a.example/x)"),
        ("see <http://a.example|a.example>", "see a.example"),
        ("mail <mailto:help@a.example|help@a.example>", "mail help@a.example"),
        ("call <tel:+15550100|+15550100>", "call +15550100"),
        ("ask in <#C0OPS0001|ops> <!here>", "ask in #ops @here"),
        ("a plain line", "a plain line"),
    ],
)
def test_operator_text_reaches_the_customer_without_slack_markup(written: str, sent: str) -> None:
    assert plain(written) == sent
