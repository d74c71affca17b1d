"""`GET /api/v1/conversations` and `/api/v1/conversations/{id}`: a customer's SMS goes through
the whole gateway (signed webhook, journal, AI agent, outbox, the Twilio simulator), and the
API lists the conversation with the customer's and the agent's messages in order. Filters,
bad parameters (400, nothing changed) and another workspace's conversation (404)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from core.team import agents, directory
from storage.db import Database
from tests.api import ClientFactory
from tests.channels.twilio_helpers import start
from tests.live import answer, live_rows
from tests.sims.twilio import TwilioSim

CUSTOMER = "+15557770123"
LIST = "/api/v1/conversations"


async def _acme(db: Database, name: str = "Acme") -> tuple[str, dict[str, str]]:
    async with db.session() as session:
        made = await agents.create_workspace_with_agent(session, name)
        key = await directory.create_api_key(session, made.workspace.id, name="test")
    return made.workspace.id, {"Authorization": f"Bearer {key.secret}"}


async def test_a_customers_sms_conversation_is_listed_with_its_messages_in_order(
    make_client: ClientFactory, db: Database, twilio_sim: TwilioSim
) -> None:
    _, auth = await _acme(db)
    phone = await start(make_client, twilio_sim)
    client = phone.client

    await phone.text(CUSTOMER, "Hello")
    await phone.replies(CUSTOMER, 1)
    await phone.text(CUSTOMER, "Do you ship to Canada?")
    await phone.replies(CUSTOMER, 2)
    await phone.settled(db)
    sent = [m["body"] for m in twilio_sim.sent(to=CUSTOMER)]

    listed = await answer(await client.get(LIST, headers=auth), 200)
    (row,) = listed["items"]
    detail = await answer(await client.get(f"{LIST}/{row['id']}", headers=auth), 200)

    assert row["channel"] == "sms" and row["status"] == "open"
    assert row["customer"]["address"] == CUSTOMER
    assert row["messages"] == 4
    assert row["last_message"] == sent[-1]
    said = [(m["seq"], m["author"], m["text"]) for m in detail["messages"]]
    assert said == [
        (1, "customer", "Hello"),
        (2, "agent", sent[0]),
        (3, "customer", "Do you ship to Canada?"),
        (4, "agent", sent[1]),
    ]
    assert detail["message_count"] == 4
    assert {k: v for k, v in detail.items() if k not in ("messages", "message_count")} == {
        k: v for k, v in row.items() if k != "messages"
    }
    # The filters narrow the listing; the conversation is found where it belongs.
    started = row["started_at"]
    found = {
        "?status=open": 1,
        "?status=closed": 0,
        "?channel=sms": 1,
        "?channel=telegram": 0,
        f"?customer_id={row['customer']['id'] or 'none'}": 1 if row["customer"]["id"] else 0,
        "?customer_id=nobody": 0,
        f"?before={quote(started)}": 0,
        "?before=2999-01-01T00:00:00Z": 1,
        "?limit=1": 1,
    }
    for query, count in found.items():
        got = await answer(await client.get(LIST + query, headers=auth), 200)
        assert len(got["items"]) == count, query

    # Another workspace neither lists nor reads it.
    _, other = await _acme(db, "Globex")
    assert await answer(await client.get(LIST, headers=other), 200) == {
        "items": [],
        "next_cursor": None,
    }
    await answer(await client.get(f"{LIST}/{row['id']}", headers=other), 404)
    mine = await answer(await client.get(LIST, headers=auth), 200)
    assert [c["id"] for c in mine["items"]] == [row["id"]]


async def test_the_latest_active_conversation_comes_first_and_before_pages_on(
    make_client: ClientFactory, db: Database, twilio_sim: TwilioSim
) -> None:
    _, auth = await _acme(db)
    phone = await start(make_client, twilio_sim)
    first, second = "+15557770001", "+15557770002"
    await phone.text(first, "Hello")
    await phone.replies(first, 1)
    await phone.text(second, "Hello")
    await phone.replies(second, 1)
    await phone.text(first, "Still there?")
    await phone.replies(first, 2)
    await phone.settled(db)

    listed = await answer(await phone.client.get(LIST, headers=auth), 200)
    newest = listed["items"][0]
    older = await answer(
        await phone.client.get(f"{LIST}?before={quote(newest['updated_at'])}", headers=auth), 200
    )

    assert [c["customer"]["address"] for c in listed["items"]] == [first, second]
    assert [c["customer"]["address"] for c in older["items"]] == [second]


@pytest.mark.parametrize(
    "query",
    [
        "?status=pending",
        "?channel=fax",
        "?limit=0",
        "?limit=201",
        "?limit=ten",
        "?before=yesterday",
        "?customer=abc",
        "?status=open&sort=oldest",
    ],
)
async def test_bad_listing_parameters_are_refused(
    make_client: ClientFactory, db: Database, query: str
) -> None:
    workspace_id, auth = await _acme(db)
    client = await make_client()
    before = await live_rows(db, workspace_id)

    refused: dict[str, Any] = await answer(await client.get(LIST + query, headers=auth), 400)

    assert refused["message"]
    assert await live_rows(db, workspace_id) == before


async def test_an_unknown_conversation_is_404(make_client: ClientFactory, db: Database) -> None:
    _, auth = await _acme(db)
    client = await make_client()
    await answer(await client.get(f"{LIST}/nope", headers=auth), 404)
    await answer(await client.get(LIST), 401)
