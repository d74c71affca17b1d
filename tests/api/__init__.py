"""HTTP API tests; stand-ins for the classifier and senders, and database snapshots."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from core.team.identity import Principal
from delivery.errors import Forbidden
from delivery.senders import WholeSender
from models.classification import Classification, ToolCall
from models.deliverable import Deliverable, Receipt
from models.task import Route
from storage.db import Database
from storage.domain import AiAgent
from storage.models import (
    ApiKey,
    AuditEntry,
    ChannelIdentity,
    Member,
    OutboxRow,
    TaskRow,
    Workspace,
)
from tests.helpers import wait_until

Client = TestClient[Any, Any]
ClientFactory = Callable[..., Awaitable[Client]]

COUNTED = {
    "workspaces": Workspace,
    "ai_agents": AiAgent,
    "members": Member,
    "channel_identities": ChannelIdentity,
    "api_keys": ApiKey,
    "tasks": TaskRow,
    "outbox": OutboxRow,
    "audit_log": AuditEntry,
}


class HelpClassifier:
    """Answers every request with the `help` tool: deterministic, whatever the text says."""

    async def classify(self, text: str, principal: Principal, now: datetime) -> Classification:
        return Classification(calls=(ToolCall(tool="help"),))


class SwitchableSender(WholeSender):
    """Records what it sends; while `failing`, refuses like a provider that removed the bot."""

    def __init__(self, *, failing: bool = False) -> None:
        self.failing = failing
        self.sent: list[tuple[Route, Deliverable]] = []
        self.refused = 0

    async def send(self, route: Route, deliverable: Deliverable) -> Receipt:
        if self.failing:
            self.refused += 1
            raise Forbidden("403 from the provider: the bot was removed from the workspace")
        self.sent.append((route, deliverable))
        return Receipt(provider_message_id=f"msg-{len(self.sent)}", status="sent")


async def start_gateway(
    make_client: ClientFactory, *, build: dict[str, Any] | None = None, **settings: Any
) -> Client:
    """The whole gateway with the stand-in classifier (tests here check HTTP, not language)."""
    return await make_client(build={"classifier": HelpClassifier(), **(build or {})}, **settings)


async def count_rows(db: Database) -> dict[str, int]:
    async with db.session() as session:
        return {
            name: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in COUNTED.items()
        }


async def workspace_snapshot(db: Database, workspace_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of one workspace a request could change, as plain tuples to compare."""
    async with db.session() as session:
        members = await session.execute(
            select(
                Member.id,
                Member.name,
                Member.email,
                Member.role,
                Member.status,
                Member.default_channel,
            )
            .where(Member.workspace_id == workspace_id)
            .order_by(Member.id)
        )
        identities = await session.execute(
            select(
                ChannelIdentity.id,
                ChannelIdentity.member_id,
                ChannelIdentity.channel,
                ChannelIdentity.address,
            )
            .where(ChannelIdentity.workspace_id == workspace_id)
            .order_by(ChannelIdentity.id)
        )
        keys = await session.execute(
            select(ApiKey.id, ApiKey.revoked_at)
            .where(ApiKey.workspace_id == workspace_id)
            .order_by(ApiKey.id)
        )
        tasks = await session.execute(
            select(TaskRow.id, TaskRow.status, TaskRow.text, TaskRow.attempts)
            .where(TaskRow.workspace_id == workspace_id)
            .order_by(TaskRow.id)
        )
        outbox = await session.execute(
            select(OutboxRow.id, OutboxRow.status, OutboxRow.attempts, OutboxRow.last_error)
            .where(OutboxRow.workspace_id == workspace_id)
            .order_by(OutboxRow.id)
        )
        audit = await session.execute(
            select(AuditEntry.id, AuditEntry.action)
            .where(AuditEntry.workspace_id == workspace_id)
            .order_by(AuditEntry.id)
        )
        ai_agents = await session.execute(
            select(AiAgent.id, AiAgent.name, AiAgent.channels, AiAgent.config)
            .where(AiAgent.workspace_id == workspace_id)
            .order_by(AiAgent.id)
        )
        return {
            "ai_agents": [(r[0], r[1], list(r[2]), dict(r[3])) for r in ai_agents],
            "members": [tuple(r) for r in members],
            "identities": [tuple(r) for r in identities],
            "api_keys": [tuple(r) for r in keys],
            "tasks": [tuple(r) for r in tasks],
            "outbox": [tuple(r) for r in outbox],
            "audit": [tuple(r) for r in audit],
        }


async def finished_task(client: Client, task_id: str, **headers: str) -> dict[str, Any]:
    """Wait until the task is done and every reply has reached a final delivery state."""

    async def settled() -> dict[str, Any] | None:
        response = await client.get(f"/api/v1/tasks/{task_id}", headers=headers)
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        if (
            body["status"] in ("done", "failed")
            and body["replies"]
            and all(r["delivery"] in ("sent", "dead") for r in body["replies"])
        ):
            return body
        return None

    # A bound, not a speed goal: a report with charts, on a loaded two-core machine, can take
    # more than ten seconds (it did once in CI while another job shared the machine).
    return await wait_until(settled, timeout=30, message=f"task {task_id} settled")
