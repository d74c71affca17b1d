"""`/api/v1/agents` with an API key: the workspace's default agent, creating and changing
agents, what customers then hear, and refusals (bad input 400, another workspace's agent
404, a channel already listed 409) that change nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.processing.pipeline import TaskProcessor
from core.team import agents, directory
from core.tools.catalogue import default_registry
from models.task import Route, Sender, Task
from storage.db import Database
from storage.domain import QaPair
from storage.types import new_id, utcnow
from tests.api import Client, ClientFactory, HelpClassifier, start_gateway, workspace_snapshot

CUSTOMER = "+15557770077"


async def _json(response: Any, status: int) -> Any:
    text = await response.text()
    assert response.status == status, text
    return json.loads(text) if text else None


class Acme:
    def __init__(self, workspace_id: str, agent_id: str, key: str) -> None:
        self.workspace_id = workspace_id
        self.agent_id = agent_id
        self.auth = {"Authorization": f"Bearer {key}"}


async def _workspace(db: Database, name: str = "Acme") -> Acme:
    """A workspace made as `main.py workspace create` makes it, with an API key."""
    async with db.session() as session:
        made = await agents.create_workspace_with_agent(session, name)
        key = await directory.create_api_key(session, made.workspace.id, name="test")
    return Acme(made.workspace.id, made.agent.id, key.secret)


async def _customer_says(db: Database, acme: Acme, text: str, channel: str = "sms") -> str:
    """A customer's message through the pipeline's processor; the answer."""
    address = CUSTOMER if channel == "sms" else "9001"
    now = utcnow()
    task = Task(
        id=new_id(),
        workspace_id=acme.workspace_id,
        channel=channel,  # type: ignore[arg-type]
        external_id=new_id(),
        sender=Sender(channel=channel, address=address),  # type: ignore[arg-type]
        conversation=address,
        text=text,
        received_at=now,
        reply_route=Route(channel=channel, address=address),  # type: ignore[arg-type]
    )
    async with db.session() as session:
        outcome = await TaskProcessor(HelpClassifier(), default_registry()).process(
            session, task, now
        )
    (reply,) = outcome.deliverables
    return reply.text


async def test_a_new_workspace_lists_its_default_agent(
    make_client: ClientFactory, db: Database
) -> None:
    acme = await _workspace(db)
    client = await start_gateway(make_client)

    listed = await _json(await client.get("/api/v1/agents", headers=acme.auth), 200)

    assert listed["items"] == [
        {
            "id": acme.agent_id,
            "workspace_id": acme.workspace_id,
            "name": "Acme Assistant",
            "channels": ["all"],
            "welcome_message": None,
            "personality": None,
            "rules": None,
            "escalation_confidence": None,
            "live_routing": False,
            "created_at": listed["items"][0]["created_at"],
        }
    ]
    one = await _json(await client.get(f"/api/v1/agents/{acme.agent_id}", headers=acme.auth), 200)
    assert one == listed["items"][0]


async def test_agents_are_created_and_changed_and_customers_hear_it(
    make_client: ClientFactory, db: Database
) -> None:
    acme = await _workspace(db)
    client = await start_gateway(make_client)

    created = await _json(
        await client.post(
            "/api/v1/agents",
            json={"name": " Max ", "channels": ["telegram"], "welcome_message": "Max here!"},
            headers=acme.auth,
        ),
        201,
    )
    assert (created["name"], created["channels"], created["welcome_message"]) == (
        "Max",
        ["telegram"],
        "Max here!",
    )
    changed = await _json(
        await client.patch(
            f"/api/v1/agents/{acme.agent_id}",
            json={
                "name": "Ava",
                "welcome_message": "Hi, Ava from Acme!",
                "personality": "warm and brief",
                "rules": "Never promise refunds.",
                "escalation_confidence": 0.8,
            },
            headers=acme.auth,
        ),
        200,
    )
    assert {k: changed[k] for k in ("name", "channels", "personality", "rules")} == {
        "name": "Ava",
        "channels": ["all"],
        "personality": "warm and brief",
        "rules": "Never promise refunds.",
    }
    assert changed["escalation_confidence"] == 0.8
    listed = await _json(await client.get("/api/v1/agents", headers=acme.auth), 200)
    assert [a["name"] for a in listed["items"]] == ["Ava", "Max"]

    # Each agent greets the customers of its own channels.
    assert await _customer_says(db, acme, "hi") == "Hi, Ava from Acme!"
    assert await _customer_says(db, acme, "hello", channel="telegram") == "Max here!"

    # null clears a setting; omitted fields stay.
    cleared = await _json(
        await client.patch(
            f"/api/v1/agents/{acme.agent_id}",
            json={"welcome_message": None, "escalation_confidence": None},
            headers=acme.auth,
        ),
        200,
    )
    assert (cleared["welcome_message"], cleared["escalation_confidence"]) == (None, None)
    assert cleared["personality"] == "warm and brief"
    assert await _customer_says(db, acme, "hey") == "Hi! I'm Ava. How can I help?"
    audit = await _json(await client.get("/api/v1/audit", headers=acme.auth), 200)
    assert [e["action"] for e in audit["items"]].count("agent.update") == 2


async def test_the_escalation_confidence_decides_between_answering_and_the_team(
    make_client: ClientFactory, db: Database
) -> None:
    acme = await _workspace(db)
    async with db.session() as session:
        session.add(
            QaPair(
                workspace_id=acme.workspace_id,
                question="When do orders ship?",
                answer="Orders ship within 2 business days.",
            )
        )
    client = await start_gateway(make_client)

    async def with_confidence(value: float) -> str:
        await _json(
            await client.patch(
                f"/api/v1/agents/{acme.agent_id}",
                json={"escalation_confidence": value},
                headers=acme.auth,
            ),
            200,
        )
        return await _customer_says(db, acme, "how soon will my order ship to Paris?")

    assert await with_confidence(0.0) == "Orders ship within 2 business days."
    assert (await with_confidence(1.0)).startswith("I'm not sure I can answer that well")


@pytest.mark.parametrize(
    "body",
    [
        {"channels": ["fax"]},
        {"channels": ["all", "sms"]},
        {"channels": "sms"},
        {"escalation_confidence": 1.5},
        {"escalation_confidence": -1},
        {"escalation_confidence": "high"},
        {"escalation_confidence": "0.5"},
        {"escalation_confidence": True},
        {"name": ""},
        {"name": None},
        {"channels": None},
        {"welcome_message": "x" * 1001},
        {"rules": "x" * 4001},
        {"colour": "blue"},
    ],
)
async def test_bad_input_is_400_and_changes_nothing(
    make_client: ClientFactory, db: Database, body: dict[str, Any]
) -> None:
    acme = await _workspace(db)
    client = await start_gateway(make_client)
    before = await workspace_snapshot(db, acme.workspace_id)

    patched = await client.patch(f"/api/v1/agents/{acme.agent_id}", json=body, headers=acme.auth)
    created = await client.post("/api/v1/agents", json={"name": "N", **body}, headers=acme.auth)

    assert (patched.status, created.status) == (400, 400), await patched.text()
    assert (await patched.json())["message"] and (await created.json())["message"]
    assert await workspace_snapshot(db, acme.workspace_id) == before


async def test_not_a_number_is_refused(make_client: ClientFactory, db: Database) -> None:
    acme = await _workspace(db)
    client = await start_gateway(make_client)
    before = await workspace_snapshot(db, acme.workspace_id)

    response = await client.patch(
        f"/api/v1/agents/{acme.agent_id}",
        data=b'{"escalation_confidence": NaN}',
        headers={**acme.auth, "Content-Type": "application/json"},
    )

    assert response.status == 400
    assert await workspace_snapshot(db, acme.workspace_id) == before


async def test_another_workspaces_agent_is_404_and_untouched(
    make_client: ClientFactory, db: Database
) -> None:
    acme = await _workspace(db)
    globex = await _workspace(db, "Globex")
    client: Client = await start_gateway(make_client)
    before = await workspace_snapshot(db, globex.workspace_id)

    read = await client.get(f"/api/v1/agents/{globex.agent_id}", headers=acme.auth)
    patched = await client.patch(
        f"/api/v1/agents/{globex.agent_id}", json={"name": "Mine"}, headers=acme.auth
    )
    listed = await _json(await client.get("/api/v1/agents", headers=acme.auth), 200)

    assert (read.status, patched.status) == (404, 404)
    assert [a["id"] for a in listed["items"]] == [acme.agent_id]
    assert await workspace_snapshot(db, globex.workspace_id) == before


async def test_a_channel_listed_by_another_agent_is_409(
    make_client: ClientFactory, db: Database
) -> None:
    acme = await _workspace(db)
    client = await start_gateway(make_client)
    await _json(
        await client.post(
            "/api/v1/agents", json={"name": "Max", "channels": ["sms"]}, headers=acme.auth
        ),
        201,
    )
    before = await workspace_snapshot(db, acme.workspace_id)

    again = await client.post(
        "/api/v1/agents", json={"name": "Nova", "channels": ["sms", "email"]}, headers=acme.auth
    )
    moved = await client.patch(
        f"/api/v1/agents/{acme.agent_id}", json={"channels": ["sms"]}, headers=acme.auth
    )

    assert (again.status, moved.status) == (409, 409)
    assert "sms: served by the AI agent 'Max'" in (await again.json())["message"]
    assert await workspace_snapshot(db, acme.workspace_id) == before


async def test_agents_need_an_api_key(make_client: ClientFactory, db: Database) -> None:
    acme = await _workspace(db)
    client = await start_gateway(make_client)

    for method, path in (
        ("GET", "/api/v1/agents"),
        ("POST", "/api/v1/agents"),
        ("GET", f"/api/v1/agents/{acme.agent_id}"),
        ("PATCH", f"/api/v1/agents/{acme.agent_id}"),
    ):
        response = await client.request(method, path, json={"name": "X"})
        assert response.status == 401, (method, path)
