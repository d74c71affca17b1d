"""The `web` channel: POST a message as a member, then read the task and its replies.

Who may call it is decided in one place, `web_caller`: a Bearer API key (scoped to its
workspace), else a console session through the `WEB_SESSION_AUTH` hook the console registers on
the app, else nobody unless `SWITCHBOARD_WEB_AUTH=open`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import and_, or_, select

from api.http import Input, bearer_token, json_ok, problem, read_json
from api.state import GATEWAY, Gateway
from core.team.directory import Conflict, NotFound, authenticate_api_key, find_member
from delivery.media import MediaStore
from delivery.render import media_in
from models.task import Approval, Route, Sender, Task, TaskKind
from storage.models import OutboxRow, TaskRow
from storage.types import new_id, utcnow

MAX_TEXT = 8000
# The dedupe key is "<member id>:<key>" and must fit the journal's 200 characters.
MAX_IDEMPOTENCY_KEY = 128


SessionAuthenticator = Callable[[web.Request], Awaitable[tuple[str, str] | None]]
"""(workspace id, member id) of the console session REQUEST carries, or None when it carries
none. It may raise an HTTP error (`api.http.problem`) itself, e.g. 403 for a failed CSRF check."""

WEB_SESSION_AUTH = web.AppKey[SessionAuthenticator]("web_session_auth")
"""Where the console registers its `SessionAuthenticator`; without one only API keys count."""


@dataclass(frozen=True, slots=True)
class WebCaller:
    """Who calls the web channel: the workspace their credentials limit them to (None only when
    the channel is open and none were sent), and the member a console session signs in as."""

    workspace_id: str | None
    member_id: str | None = None


def _unauthorized(message: str) -> web.HTTPException:
    return problem(401, message, **{"WWW-Authenticate": "Bearer"})


async def web_caller(request: web.Request, gateway: Gateway) -> WebCaller:
    """The caller of a web channel route: an API key first, then a console session.

    Raises:
        HTTPException: 401 for an invalid or revoked key, or when no credentials were sent and
            SWITCHBOARD_WEB_AUTH is not `open`; whatever the session hook raises.
    """
    token = bearer_token(request)
    if token is not None:
        async with gateway.db.session() as session:
            key = await authenticate_api_key(session, token)
        if key is None:
            raise _unauthorized("invalid or revoked API key")
        return WebCaller(workspace_id=key.workspace_id)
    session_auth = request.app.get(WEB_SESSION_AUTH)
    if session_auth is not None:
        signed_in = await session_auth(request)
        if signed_in is not None:
            workspace_id, member_id = signed_in
            return WebCaller(workspace_id=workspace_id, member_id=member_id)
    if gateway.settings.web_is_open:
        return WebCaller(workspace_id=None)
    raise _unauthorized("an API key (Authorization: Bearer <key>) or a console session is required")


class MessageIn(Input):
    member: str | None = Field(
        None,
        min_length=1,
        max_length=320,
        description="member id or email; a console session may leave it out (itself)",
    )
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class Accepted(BaseModel):
    task_id: str
    duplicate: bool = False


class FileOut(BaseModel):
    """A file a reply carries (a report, a chart), with a signed, expiring link to it."""

    filename: str
    content_type: str
    size: int
    expires_at: str
    download_url: str | None = Field(
        description="signed link that answers the file until expires_at; null when it cannot"
    )
    note: str | None = Field(
        None, description="what limits the link or stops it from being given (a missing setting)"
    )


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
    files: list[FileOut] = []


class TaskOut(BaseModel):
    id: str
    status: str
    channel: str
    kind: str
    text: str
    received_at: str
    error: str | None = None
    replies: list[Reply]


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


async def _poster(gateway: Gateway, caller: WebCaller, ref: str | None) -> tuple[str, str]:
    """(member id, workspace id) the message is posted as: the member REF names, within the
    caller's workspace; a console session posts as its own member only.

    Raises:
        HTTPException: 400 without REF for a caller that is no member, 403 for a session
            naming another member, 404 or 409 from the lookup.
    """
    if caller.member_id is None:
        if ref is None:
            raise problem(400, "member is required: the id or email of the member to post as")
        return await _resolve_member(gateway, ref, caller.workspace_id)
    own = await _resolve_member(gateway, caller.member_id, caller.workspace_id)
    if ref is not None and ref.lower() != caller.member_id.lower():
        named = await _resolve_member(gateway, ref, caller.workspace_id)
        if named != own:
            raise problem(403, "a console session posts as its own member only")
    return own


async def post_message(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    caller = await web_caller(request, gateway)
    body = await read_json(request, MessageIn)
    idempotency_key = request.headers.get("Idempotency-Key", "").strip()
    if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise problem(400, f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} characters")
    if not (idempotency_key.isascii() and idempotency_key.isprintable()):
        raise problem(400, "Idempotency-Key must be printable ASCII")
    member_id, workspace_id = await _poster(gateway, caller, body.member)
    task = web_task(
        workspace_id,
        member_id,
        body.text,
        # Scoped to the member: two clients that both count 1, 2, 3... must not collide.
        key=idempotency_key or new_id(),
        raw={"member": body.member or member_id, "text": body.text},
    )
    accepted = await gateway.ingest(task)
    return json_ok(Accepted(task_id=accepted.task_id, duplicate=not accepted.created), status=202)


def file_out(
    media: MediaStore, stored: dict[str, Any], origin: str | None, now: datetime
) -> FileOut:
    """The reply's file with its download link: under PUBLIC_BASE_URL, else under ORIGIN (the
    address the caller reached us at); the note says what is missing rather than give a link
    that cannot work."""
    expires_at = datetime.fromisoformat(stored["expires_at"])
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    notes = []
    url = None
    base = media.public_base_url or origin
    if expires_at <= now:
        notes.append("the file has expired; ask again for a new one")
    elif base is None:
        notes.append("no link: PUBLIC_BASE_URL is not set")
    else:
        url = media.url(stored["id"], expires_at, base_url=base)
        if media.public_base_url is None:
            notes.append(
                "PUBLIC_BASE_URL is not set: the link uses the address this request was sent to"
            )
        if media.ephemeral_key:
            notes.append(
                "SWITCHBOARD_SECRET_KEY is not set: the link stops working when the gateway "
                "restarts"
            )
    return FileOut(
        filename=stored.get("filename", "file"),
        content_type=stored.get("content_type", "application/octet-stream"),
        size=int(stored.get("size", 0)),
        expires_at=expires_at.isoformat(),
        download_url=url,
        note="; ".join(notes) or None,
    )


def web_task(
    workspace_id: str,
    member_id: str,
    text: str,
    *,
    key: str,
    raw: dict[str, Any],
    kind: TaskKind = "message",
    approval: Approval | None = None,
) -> Task:
    """A web-channel task from a member (the API's and the console's): the sender is the member
    id, the conversation and reply route the member's web thread. KEY makes the dedupe key
    `<member id>:<key>`, so the same KEY twice is one task."""
    return Task(
        id=new_id(),
        workspace_id=workspace_id,
        channel="web",
        external_id=f"{member_id}:{key}",
        sender=Sender(channel="web", address=member_id),
        conversation=f"web:{member_id}",
        text=text,
        received_at=utcnow(),
        reply_route=Route(channel="web", address=member_id),
        kind=kind,
        approval=approval,
        raw=raw,
    )


async def load_task(
    gateway: Gateway,
    task_id: str,
    scope: str | None,
    *,
    member_id: str | None = None,
    origin: str | None = None,
) -> TaskOut:
    """A task and its replies as the API shows them, within workspace SCOPE (None: any) and,
    given MEMBER_ID, only a task of that member (posted by them, or resolved to them). A reply's
    files link to `/media/...` under PUBLIC_BASE_URL, else under ORIGIN.

    Raises:
        HTTPException: 404 when there is no such task in that scope.
    """
    async with gateway.db.session() as session:
        query = select(TaskRow).where(TaskRow.id == task_id)
        if scope is not None:
            query = query.where(TaskRow.workspace_id == scope)
        if member_id is not None:
            query = query.where(
                or_(
                    TaskRow.member_id == member_id,
                    and_(TaskRow.sender_channel == "web", TaskRow.sender_address == member_id),
                )
            )
        row = await session.scalar(query)
        if row is None:
            raise problem(404, f"no task {task_id!r}")
        replies = list(
            await session.scalars(
                select(OutboxRow).where(OutboxRow.task_id == row.id).order_by(OutboxRow.seq)
            )
        )
    now = utcnow()
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
                files=[
                    file_out(gateway.media, media, origin, now)
                    for media in [media_in(r.deliverable.get("data"))]
                    if media is not None
                ],
            )
            for r in replies
        ],
    )


async def get_task(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    caller = await web_caller(request, gateway)
    task_id = request.match_info["task_id"]
    if len(task_id) > 64:
        raise problem(404, "no such task")
    task = await load_task(
        gateway, task_id, caller.workspace_id, member_id=caller.member_id, origin=_origin(request)
    )
    return json_ok(task)


def _origin(request: web.Request) -> str | None:
    """Scheme and host this request was sent to, or None when its Host header makes no URL."""
    try:
        return str(request.url.origin())
    except ValueError:
        return None
