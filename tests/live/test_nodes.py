"""Two gateway processes on one PostgreSQL database share the live operators: presence held on
one is seen by both, an offer made by one is passed on by either, and a node killed in the
middle of a session loses nothing and sends nothing twice: the operator's messages reach the
customer once each, the customer's messages reach the session, and the AI answers again only
after the session ends."""

from __future__ import annotations

import contextlib
from pathlib import Path

import aiohttp
from sqlalchemy import select

from storage.db import Database
from storage.domain import Conversation
from tests.faults.harness import OUR_NUMBERS, Providers, gateway_env, start_nodes
from tests.helpers import wait_until
from tests.live.harness import CUSTOMER, MARIA, SAM, act, beat, go_live, messages_of, offered
from tests.live.harness import set_up as live_set_up
from tests.sims.twilio import message_webhook, twilio_signature

PUBLIC = "https://gw.example"


async def _text(
    http: aiohttp.ClientSession, node_url: str, providers: Providers, body: str, sid: str
) -> None:
    params = message_webhook(
        account_sid=providers.twilio.account_sid,
        from_=CUSTOMER,
        to=OUR_NUMBERS[0],
        body=body,
        sid=sid,
    )
    signature = twilio_signature(providers.twilio.auth_token, f"{PUBLIC}/twilio/sms", params)
    async with http.post(
        f"{node_url}/twilio/sms", data=params, headers={"X-Twilio-Signature": signature}
    ) as answered:
        assert answered.status == 200, await answered.text()


def _to_customer(providers: Providers) -> list[str]:
    return [m["body"] for m in providers.twilio.sent(to=CUSTOMER)]


async def test_two_nodes_share_presence_and_offers_and_a_killed_node_loses_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    db = Database(postgres_url)
    await db.migrate()
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(db.dispose)
        providers = await Providers.start(stack)
        env = gateway_env(
            postgres_url,
            providers.slack,
            providers.twilio,
            SWITCHBOARD_LIVE_OFFER_SECONDS="2",
            SWITCHBOARD_LIVE_PRESENCE_TIMEOUT="30",
            SWITCHBOARD_TASK_LEASE_SECONDS="2",
        )
        live = await live_set_up(db)
        a, b = await start_nodes([env, env], tmp_path, stack)
        http = await stack.enter_async_context(aiohttp.ClientSession())
        await go_live(db, live, MARIA)
        await go_live(db, live, SAM)

        # Node A takes the customer's first message; the offer goes to Maria, and when she
        # lets it lapse, whichever node's round comes first passes it to Sam.
        await _text(http, a.url, providers, "my order is late", "SM" + "1" * 32)
        first = await offered(db, live, MARIA)
        for email in (MARIA, SAM):
            await beat(db, live, email)
        second = await offered(db, live, SAM)
        assert second.id == first.id
        await act(db, live, SAM, "accept", second.id)
        assert _to_customer(providers) == []  # held, then Sam's: the AI never answered

        await act(db, live, SAM, "send", second.id, "Sam here, checking now.", key="m1")
        await wait_until(
            lambda: _to_customer(providers) == ["Sam here, checking now."],
            timeout=15,
            message="Sam's first message delivered",
        )

        # The customer writes to node A, which is killed at once: its claim lapses and node B
        # records the message in the session; the AI stays silent.
        await _text(http, a.url, providers, "it was order 5512", "SM" + "2" * 32)
        await a.kill()

        async def recorded() -> bool:
            return ("customer", "it was order 5512") in await messages_of(db, live, CUSTOMER)

        await wait_until(recorded, timeout=30, message="the customer's message recorded by B")
        await act(db, live, SAM, "send", second.id, "Found it: it ships today.", key="m2")
        await act(db, live, SAM, "send", second.id, "Found it: it ships today.", key="m2")
        await wait_until(lambda: len(_to_customer(providers)) >= 2, timeout=15)

        done = await act(db, live, SAM, "complete", second.id)
        assert done.status == "completed"
        await wait_until(lambda: len(_to_customer(providers)) >= 3, timeout=15)
        await _text(http, b.url, providers, "hello", "SM" + "3" * 32)
        await wait_until(
            lambda: len(_to_customer(providers)) >= 4,
            timeout=30,
            message="the AI answers after the session",
        )

        sent = _to_customer(providers)
        assert sent[:2] == ["Sam here, checking now.", "Found it: it ships today."]
        assert "AI assistant will take it from here" in sent[2]
        assert sent[3] == "Hi! I'm Ava from Demo Co. How can I help?"
        said = await messages_of(db, live, CUSTOMER)
        customer_lines = [t for who, t in said if who == "customer"]
        assert customer_lines == ["my order is late", "it was order 5512", "hello"]
        assert [t for who, t in said if who == "member"] == [
            "Sam here, checking now.",
            "Found it: it ships today.",
        ]
        async with db.session() as session:
            conversation = await session.scalar(
                select(Conversation).where(Conversation.address == CUSTOMER)
            )
            assert conversation is not None and conversation.live_session_id is None
        # Nothing more arrives late (a second copy from the dead node's work, say).
        await b.stop()
        assert len(_to_customer(providers)) == 4
