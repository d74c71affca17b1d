"""The web channel end to end: message in, reply out; idempotency; health and metrics."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from storage.db import Database
from storage.models import OutboxRow, TaskRow
from tests.api import Client, ClientFactory, finished_task, start_gateway
from tests.factories import make_member, make_tenant
from tests.helpers import wait_until


async def _task_count(db: Database, workspace_id: str) -> int:
    async with db.session() as session:
        query = select(func.count()).select_from(TaskRow)
        return int(await session.scalar(query.where(TaskRow.workspace_id == workspace_id)) or 0)


async def _replies(db: Database, task_id: str) -> list[OutboxRow]:
    async with db.session() as session:
        rows = await session.scalars(select(OutboxRow).where(OutboxRow.task_id == task_id))
        return list(rows)


async def _metric(client: Client, sample_name: str, **labels: str) -> float:
    """One sample from /metrics, parsed as Prometheus text; 0 when it has not been observed."""
    response = await client.get("/metrics")
    assert response.status == 200
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            if sample.name == sample_name and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                return sample.value
    return 0.0


async def test_a_posted_message_gets_a_delivered_reply(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db, name="Ana Ops")
    client = await start_gateway(make_client)

    # The member may be named by email in any case, or by id.
    response = await client.post(
        "/api/v1/messages",
        json={"member": tenant.member_email.upper(), "text": "hello there"},
        headers=tenant.auth,
    )
    assert response.status == 202, await response.text()
    accepted = await response.json()
    assert accepted["duplicate"] is False

    task = await finished_task(client, accepted["task_id"], **tenant.auth)
    assert task["status"] == "done"
    assert task["channel"] == "web"
    assert task["text"] == "hello there"
    assert task["error"] is None
    [reply] = task["replies"]
    assert reply["text"].startswith("Hi Ana Ops")
    assert reply["delivery"] == "sent"
    assert reply["channel"] == "web"
    assert reply["address"] == tenant.member_id

    async with db.session() as session:
        row = await session.get(TaskRow, accepted["task_id"])
        assert row is not None
        assert (row.workspace_id, row.member_id, row.status) == (
            tenant.workspace_id,
            tenant.member_id,
            "done",
        )
    [stored] = await _replies(db, accepted["task_id"])
    assert stored.status == "sent"
    assert stored.sent_at is not None


async def test_the_member_can_be_named_by_id(make_client: ClientFactory, db: Database) -> None:
    tenant = await make_tenant(db)
    client = await start_gateway(make_client)

    response = await client.post(
        "/api/v1/messages", json={"member": tenant.member_id, "text": "help"}, headers=tenant.auth
    )

    assert response.status == 202
    task = await finished_task(client, (await response.json())["task_id"], **tenant.auth)
    assert task["status"] == "done"
    assert [r["delivery"] for r in task["replies"]] == ["sent"]


async def test_the_same_idempotency_key_yields_one_task_and_one_reply(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    client = await start_gateway(make_client)
    message = {"member": tenant.member_id, "text": "how is our resolution rate?"}
    headers = {"Idempotency-Key": "order-42", **tenant.auth}

    first = await client.post("/api/v1/messages", json=message, headers=headers)
    second = await client.post("/api/v1/messages", json=message, headers=headers)

    assert (first.status, second.status) == (202, 202)
    first_body, second_body = await first.json(), await second.json()
    assert first_body["duplicate"] is False
    assert second_body == {"task_id": first_body["task_id"], "duplicate": True}
    task = await finished_task(client, first_body["task_id"], **tenant.auth)
    assert len(task["replies"]) == 1
    # Another retry after the reply went out is still the same request.
    third = await client.post("/api/v1/messages", json=message, headers=headers)
    assert await third.json() == {"task_id": first_body["task_id"], "duplicate": True}
    assert await _task_count(db, tenant.workspace_id) == 1
    assert len(await _replies(db, first_body["task_id"])) == 1


async def test_a_double_click_sent_concurrently_is_one_task(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    client = await start_gateway(make_client)
    message = {"member": tenant.member_id, "text": "close A-1042"}
    headers = {"Idempotency-Key": "click", **tenant.auth}

    responses = await asyncio.gather(
        *(client.post("/api/v1/messages", json=message, headers=headers) for _ in range(5))
    )

    bodies = [await r.json() for r in responses]
    assert {r.status for r in responses} == {202}
    assert len({b["task_id"] for b in bodies}) == 1
    assert sorted(b["duplicate"] for b in bodies) == [False, True, True, True, True]
    await finished_task(client, bodies[0]["task_id"], **tenant.auth)
    assert await _task_count(db, tenant.workspace_id) == 1
    assert len(await _replies(db, bodies[0]["task_id"])) == 1


async def test_idempotency_keys_are_per_member(make_client: ClientFactory, db: Database) -> None:
    tenant = await make_tenant(db)
    async with db.session() as session:
        other = await make_member(session, tenant.workspace_id, role="admin")
    client = await start_gateway(make_client)

    # Two integrations that both number their requests 1, 2, 3... must not swallow each other.
    responses = [
        await client.post(
            "/api/v1/messages",
            json={"member": member_id, "text": "help"},
            headers={"Idempotency-Key": "1", **tenant.auth},
        )
        for member_id in (tenant.member_id, other.id)
    ]

    bodies = [await r.json() for r in responses]
    assert [b["duplicate"] for b in bodies] == [False, False]
    assert bodies[0]["task_id"] != bodies[1]["task_id"]
    for body, member_id in zip(bodies, (tenant.member_id, other.id), strict=True):
        task = await finished_task(client, body["task_id"], **tenant.auth)
        assert [r["address"] for r in task["replies"]] == [member_id]


async def test_messages_without_a_key_are_separate_tasks(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    client = await start_gateway(make_client)
    message = {"member": tenant.member_id, "text": "help"}

    first = await (await client.post("/api/v1/messages", json=message, headers=tenant.auth)).json()
    second = await (await client.post("/api/v1/messages", json=message, headers=tenant.auth)).json()

    assert first["task_id"] != second["task_id"]
    assert not first["duplicate"] and not second["duplicate"]
    assert await _task_count(db, tenant.workspace_id) == 2


async def test_health_and_readiness(make_client: ClientFactory) -> None:
    client = await start_gateway(make_client)

    health = await client.get("/healthz")
    ready = await client.get("/readyz")

    assert health.status == 200
    assert await health.json() == {"status": "ok"}
    assert ready.status == 200
    body = await ready.json()
    assert body["status"] == "ready"
    assert body["database"] == "ok"


async def test_metrics_count_accepted_messages(make_client: ClientFactory, db: Database) -> None:
    tenant = await make_tenant(db)
    client = await start_gateway(make_client)
    assert await _metric(client, "switchboard_tasks_ingested_total", channel="web") == 0

    task_ids = []
    for n in range(3):
        response = await client.post(
            "/api/v1/messages",
            json={"member": tenant.member_id, "text": f"request {n}"},
            headers={"Idempotency-Key": f"req-{n}", **tenant.auth},
        )
        assert response.status == 202
        task_ids.append((await response.json())["task_id"])
    retry = await client.post(
        "/api/v1/messages",
        json={"member": tenant.member_id, "text": "request 0"},
        headers={"Idempotency-Key": "req-0", **tenant.auth},
    )
    refused = await client.post(
        "/api/v1/messages", json={"member": "nobody", "text": "x"}, headers=tenant.auth
    )
    assert (retry.status, refused.status) == (202, 404)

    response = await client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    assert await _metric(client, "switchboard_tasks_ingested_total", channel="web") == 3
    assert await _metric(client, "switchboard_tasks_deduplicated_total", channel="web") == 1
    for task_id in task_ids:
        await finished_task(client, task_id, **tenant.auth)

    # These counters move just after their commit, so wait for the exact totals.
    async def all_counted() -> bool:
        sent = await _metric(
            client, "switchboard_outbox_deliveries_total", channel="web", outcome="sent"
        )
        done = await _metric(client, "switchboard_tasks_processed_total", outcome="done")
        return sent == 3 and done == 3

    await wait_until(all_counted, message="three tasks processed and three replies sent")
    assert await _metric(client, "switchboard_tasks_ingested_total", channel="web") == 3
