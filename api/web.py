"""The `web` channel: POST a message as a member, then read the task and its replies."""

from __future__ import annotations

from typing import Any, cast

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.http import Input, bearer_token, json_ok, problem, read_json
from api.state import GATEWAY, Gateway
from core.team.directory import Conflict, NotFound, authenticate_api_key, find_member
from models.task import Route, Sender, Task
from storage.models import OutboxRow, TaskRow
from storage.types import new_id, utcnow

MAX_TEXT = 8000
# The dedupe key is "<member id>:<key>" and must fit the journal's 200 characters.
MAX_IDEMPOTENCY_KEY = 128


class MessageIn(Input):
    member: str = Field(min_length=1, max_length=320, description="member id or email")
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class Accepted(BaseModel):
    task_id: str
    duplicate: bool = False


class Reply(BaseModel):
    id: str
    kind: str
    text: str
    title: str | None = None
    items: list[str] = []
    fields: list[dict[str, str]] = []
    channel: str
    address: str
    delivery: str
    proposal: dict[str, Any] | None = None


class TaskOut(BaseModel):
    id: str
    status: str
    channel: str
    kind: str
    text: str
    received_at: str
    error: str | None = None
    replies: list[Reply]


async def _workspace_scope(request: web.Request, gateway: Gateway) -> str | None:
    """The workspace an API key limits this call to; None when the web channel is open."""
    token = bearer_token(request)
    if token is None:
        if gateway.settings.web_requires_key:
            raise problem(401, "an API key is required", **{"WWW-Authenticate": "Bearer"})
        return None
    async with gateway.db.session() as session:
        key = await authenticate_api_key(session, token)
        if key is None:
            raise problem(401, "invalid or revoked API key", **{"WWW-Authenticate": "Bearer"})
        return key.workspace_id


async def _resolve_member(gateway: Gateway, ref: str, scope: str | None) -> tuple[str, str]:
    """(member id, workspace id) for REF; raises a 404 or 409 problem."""

    async def load() -> tuple[str, str]:
        async with gateway.db.session() as session:
            try:
                member = await find_member(session, ref, workspace_id=scope)
            except NotFound as exc:
                raise problem(404, str(exc)) from exc
            except Conflict as exc:
                raise problem(409, str(exc)) from exc
            return member.id, member.workspace_id

    # LOAD returns a pair or raises, so the cache never answers None for this key.
    return cast(tuple[str, str], await gateway.members.get_or_load((ref.lower(), scope), load))


async def post_message(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    scope = await _workspace_scope(request, gateway)
    body = await read_json(request, MessageIn)
    idempotency_key = request.headers.get("Idempotency-Key", "").strip()
    if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise problem(400, f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} characters")
    if not (idempotency_key.isascii() and idempotency_key.isprintable()):
        raise problem(400, "Idempotency-Key must be printable ASCII")
    member_id, workspace_id = await _resolve_member(gateway, body.member, scope)
    task = Task(
        id=new_id(),
        workspace_id=workspace_id,
        channel="web",
        # Scoped to the member: two clients that both count 1, 2, 3... must not collide.
        external_id=f"{member_id}:{idempotency_key or new_id()}",
        sender=Sender(channel="web", address=member_id),
        conversation=f"web:{member_id}",
        text=body.text,
        received_at=utcnow(),
        reply_route=Route(channel="web", address=member_id),
        kind="message",
        raw={"member": body.member, "text": body.text},
    )
    accepted = await gateway.ingest(task)
    return json_ok(Accepted(task_id=accepted.task_id, duplicate=not accepted.created), status=202)


async def load_task(gateway: Gateway, task_id: str, scope: str | None) -> TaskOut:
    """A task and its replies as the API shows them; raises a 404 problem."""
    async with gateway.db.session() as session:
        query = select(TaskRow).where(TaskRow.id == task_id)
        if scope is not None:
            query = query.where(TaskRow.workspace_id == scope)
        row = await session.scalar(query)
        if row is None:
            raise problem(404, f"no task {task_id!r}")
        replies = list(
            await session.scalars(
                select(OutboxRow).where(OutboxRow.task_id == row.id).order_by(OutboxRow.seq)
            )
        )
    return TaskOut(
        id=row.id,
        status=row.status,
        channel=row.channel,
        kind=row.kind,
        text=row.text,
        received_at=row.received_at.isoformat(),
        error="processing failed" if row.status == "failed" else None,
        replies=[
            Reply(
                id=r.id,
                kind=r.deliverable.get("kind", "text"),
                text=r.deliverable.get("text", ""),
                title=r.deliverable.get("title"),
                items=list(r.deliverable.get("items", [])),
                fields=list(r.deliverable.get("fields", [])),
                channel=r.channel,
                address=r.address,
                delivery=r.status,
                proposal=r.deliverable.get("data", {}).get("proposal"),
            )
            for r in replies
        ],
    )


async def get_task(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    scope = await _workspace_scope(request, gateway)
    task_id = request.match_info["task_id"]
    if len(task_id) > 64:
        raise problem(404, "no such task")
    return json_ok(await load_task(gateway, task_id, scope))
