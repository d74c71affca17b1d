"""The operator end to end through the web channel with the offline classifier."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from api.state import GATEWAY
from cli.seed import Seeded, seed_workspace
from storage.db import Database
from storage.domain import Assist
from storage.models import OutboxRow
from storage.types import utcnow
from tests.factories import bearer_for
from tests.helpers import wait_until


async def _say(client: TestClient[Any, Any], member: str, text: str) -> dict[str, Any]:
    auth = await bearer_for(client.server.app[GATEWAY].db, member)
    body = {"member": member, "text": text}
    resp = await client.post("/api/v1/messages", json=body, headers=auth)
    assert resp.status == 202, await resp.text()
    task_id = (await resp.json())["task_id"]

    async def finished() -> dict[str, Any] | None:
        response = await client.get(f"/api/v1/tasks/{task_id}", headers=auth)
        body: dict[str, Any] = await response.json()
        return body if body["status"] in ("done", "failed") and body["replies"] else None

    return await wait_until(finished, timeout=10)


async def _priority(db: Database, seeded: Seeded, number: int) -> str:
    async with db.session() as session:
        row = await session.scalar(
            select(Assist).where(
                Assist.workspace_id == seeded.workspace_id, Assist.number == number
            )
        )
        assert row is not None
        return row.priority


async def test_plain_language_write_is_proposed_then_approved(
    db: Database, make_client: Any
) -> None:
    async with db.session() as session:
        seeded = await seed_workspace(session, now=utcnow() - timedelta(minutes=1))
    client = await make_client()
    before = await _priority(db, seeded, 1045)

    task = await _say(client, "maria@demo.example", "please set A-1045 to urgent priority")
    (reply,) = task["replies"]
    proposal = reply["proposal"]
    assert proposal["changes"] == [
        {"label": "A-1045 priority", "field": "priority", "before": before, "after": "urgent"}
    ]
    assert await _priority(db, seeded, 1045) == before

    refused = await _say(client, "tom@demo.example", f"approve {proposal['code']}")
    assert "Only the person who asked" in refused["replies"][0]["text"]
    assert await _priority(db, seeded, 1045) == before

    approved = await _say(client, "maria@demo.example", f"yes {proposal['code']}")
    assert approved["replies"][0]["text"].startswith("Done: set A-1045 to urgent priority")
    assert await _priority(db, seeded, 1045) == "urgent"

    undone = await _say(client, "maria@demo.example", "undo")
    assert undone["replies"][0]["text"].startswith("Undone:")
    assert await _priority(db, seeded, 1045) == before


async def test_support_member_gets_what_to_use_instead(db: Database, make_client: Any) -> None:
    async with db.session() as session:
        await seed_workspace(session, now=utcnow())
    client = await make_client(PUBLIC_BASE_URL="https://gw.example")
    task = await _say(client, "sam@demo.example", "close A-1041")
    text = task["replies"][0]["text"]
    assert text.startswith("I can't do that for you.")
    assert "in the team console (https://gw.example/console/inbox) or by email" in text


async def test_send_to_pushes_the_previous_result_to_another_channel(
    db: Database, make_client: Any
) -> None:
    async with db.session() as session:
        await seed_workspace(session, now=utcnow())
    client = await make_client()
    first = await _say(client, "olivia@demo.example", "how is csat this month?")
    shown = first["replies"][0]["text"]

    pushed = await _say(client, "olivia@demo.example", "send that to my email")
    assert (
        pushed["replies"][0]["text"] == "Sent your previous result to email (olivia@demo.example)."
    )

    async def copy() -> OutboxRow | None:
        async with db.session() as session:
            return await session.scalar(
                select(OutboxRow).where(
                    OutboxRow.channel == "email", OutboxRow.address == "olivia@demo.example"
                )
            )

    row = await wait_until(copy)
    assert row.deliverable["text"] == shown

    outside = await _say(client, "olivia@demo.example", "forward it to +15559998888 by sms")
    assert "only send results to addresses linked to your team" in outside["replies"][0]["text"]


async def test_show_assist_links_to_its_console_page_under_public_base_url(
    db: Database, make_client: Any
) -> None:
    async with db.session() as session:
        await seed_workspace(session, now=utcnow())
    client = await make_client(PUBLIC_BASE_URL="https://gw.example")

    task = await _say(client, "olivia@demo.example", "show me A-1040")

    [reply] = task["replies"]
    assert "Open it in the console: https://gw.example/console/assists/A-1040" in reply["text"]
