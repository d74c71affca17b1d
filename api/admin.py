"""The admin REST API (`/api/v1/...`, Bearer API key) and its OpenAPI document."""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import web as web_channel
from api.http import Input, bearer_token, json_ok, problem, query_int, read_json
from api.state import GATEWAY, Gateway
from channels.email import store as email_store
from channels.email.store import EmailIdentity
from core.approvals.proposals import proposal_payload
from core.assists import inbox
from core.assists.mail import AssistMailer, customer_email
from core.team import directory
from core.tools import admin_writes
from delivery.outbox.queue import replay
from storage.domain import (
    Assist,
    AssistEvent,
    Conversation,
    Proposal,
    Schedule,
    Snapshot,
    TrainingSource,
)
from storage.models import (
    ApiKey,
    AuditEntry,
    ChannelIdentity,
    Member,
    OutboxRow,
    TaskRow,
    Workspace,
)
from storage.types import new_id, utcnow

Channel = Literal["slack", "telegram", "sms", "whatsapp", "email", "voice"]
EMAIL_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
Role = Literal["owner", "admin", "manager", "support"]


# ---- models -------------------------------------------------------------------------------


class WorkspaceOut(BaseModel):
    id: str
    name: str
    plan: str
    timezone: str
    created_at: datetime


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    address: str = Field(min_length=1, max_length=320)


class IdentityOut(BaseModel):
    id: str
    channel: str
    address: str


class MemberIn(Input):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    email: str | None = Field(None, max_length=320)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=20)


class MemberPatch(Input):
    name: str | None = Field(None, min_length=1, max_length=200)
    role: Role | None = None
    default_channel: Channel | None = Field(None, description="null clears it")

    @field_validator("name", "role")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        # Omit a field to keep it; only default_channel can be cleared with null.
        if value is None:
            raise ValueError("must not be null")
        return value


class MemberOut(BaseModel):
    id: str
    workspace_id: str
    name: str
    email: str | None
    role: str
    status: str
    default_channel: str | None
    identities: list[IdentityOut]


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=200)


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(BaseModel):
    id: str
    prefix: str
    key: str = Field(description="shown once; store it now")


class TaskSummary(BaseModel):
    id: str
    channel: str
    kind: str
    status: str
    sender: str
    text: str
    received_at: datetime
    attempts: int


class OutboxOut(BaseModel):
    id: str
    task_id: str | None
    channel: str
    address: str
    thread: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    provider_message_id: str | None
    created_at: datetime
    sent_at: datetime | None


class ReplayOut(BaseModel):
    replayed: int


class AuditOut(BaseModel):
    id: str
    actor: str
    action: str
    target: str | None
    details: dict[str, Any]
    created_at: datetime


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]


class AssistOut(BaseModel):
    ref: str
    status: str
    priority: str
    category: str | None
    subject: str | None
    summary: str
    assignee_id: str | None
    labels: list[Any]
    tags: list[Any]
    unread: bool
    created_at: datetime
    closed_at: datetime | None


class AssistEventOut(BaseModel):
    id: str
    kind: str = Field(description="note|reply|customer_reply|csat")
    author: str | None
    body: str
    flagged: bool
    created_at: datetime


class PreviousAssistOut(BaseModel):
    ref: str
    status: str
    subject: str | None
    created_at: datetime
    resolution: str | None


class AssistDetail(AssistOut):
    customer_details: dict[str, Any]
    suggested_reply: str | None
    escalation_reason: str | None
    resolution: str | None
    csat: int | None = Field(description="the customer's rating, 1-5")
    events: list[AssistEventOut] = Field(description="notes, replies, customer replies, ratings")
    previous: list[PreviousAssistOut] = Field(description="the customer's other assists")
    training_offer: str | None = Field(
        None, description="closed with a reply: how to add the resolution to training"
    )
    survey_sent_to: str | None = Field(None, description="where the CSAT survey went on closing")


class AssistPatch(Input):
    status: Literal["open", "pending", "closed"] | None = None
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    assignee_id: str | None = Field(None, description="a member id; null unassigns")
    resolution: str | None = Field(None, max_length=4000)
    csat_survey: bool = Field(True, description="on closing, email the customer a CSAT survey")


class ReplyIn(Input):
    text: str | None = Field(
        None, min_length=1, max_length=20000, description="omitted: the suggested reply"
    )
    to: str | None = Field(
        None, max_length=320, description="omitted: the customer's email address"
    )
    author: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL_ADDRESS.fullmatch(value):
            raise ValueError("must be an email address")
        return value.lower() if value else value


class ReplyOut(BaseModel):
    assist: str
    event_id: str
    to: str
    subject: str
    text: str
    message_id: str | None = Field(description="null when email threading is off")


class NoteIn(Input):
    text: str = Field(min_length=1, max_length=20000)
    author: str | None = Field(None, min_length=1, max_length=200)


class RefineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["regenerate", "shorter", "formal", "casual"]


class SuggestedReplyOut(BaseModel):
    assist: str
    mode: str
    text: str
    backend: str = Field(description="llm or offline")


class CsatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)


class CsatOut(BaseModel):
    assist: str
    rating: int
    negative: bool = Field(description="2 or less: flagged on the assist")


class ProposalOut(BaseModel):
    id: str
    code: str
    status: str
    summary: str
    requester_id: str
    estimated_count: int | None
    changes: list[dict[str, Any]]
    created_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    outcome: str | None


class SnapshotOut(BaseModel):
    id: int
    proposal_id: str | None
    member_id: str | None
    summary: str
    reversible: bool = Field(description="false for writes that sent something out")
    created_at: datetime
    undone_at: datetime | None
    restored_at: datetime | None


class TrainingSourceOut(BaseModel):
    id: int
    kind: str
    title: str | None
    url: str | None
    active: bool
    content_chars: int
    fetch_status: str | None = Field(description="URL sources: pending|fetching|fetched|failed")
    fetch_error: str | None
    fetched_at: datetime | None
    created_at: datetime


class ScheduleOut(BaseModel):
    id: int
    member_id: str
    briefing_type: str
    frequency: str
    days: list[Any]
    time: str
    timezone: str
    channel: str | None
    active: bool
    next_run_at: datetime | None
    day_of_month: int | None = None
    one_off_at: datetime | None = None
    last_run_at: datetime | None = None


# ---- auth ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    workspace_id: str
    key_id: str

    @property
    def actor(self) -> str:
        return f"apikey:{self.key_id}"


async def caller(request: web.Request, gateway: Gateway) -> Caller:
    token = bearer_token(request)
    if token is None:
        raise problem(401, "an API key is required", **{"WWW-Authenticate": "Bearer"})
    async with gateway.db.session() as session:
        key = await directory.authenticate_api_key(session, token)
        if key is None:
            raise problem(401, "invalid or revoked API key", **{"WWW-Authenticate": "Bearer"})
        return Caller(workspace_id=key.workspace_id, key_id=key.id)


AdminHandler = Callable[[web.Request, Gateway, Caller], Awaitable[web.Response]]


def _admin(handler: AdminHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def wrapped(request: web.Request) -> web.Response:
        gateway = request.app[GATEWAY]
        who = await caller(request, gateway)
        try:
            return await handler(request, gateway, who)
        except directory.NotFound as exc:
            raise problem(404, str(exc)) from exc
        except directory.Conflict as exc:
            raise problem(409, str(exc)) from exc
        except directory.DirectoryError as exc:
            raise problem(400, str(exc)) from exc

    return wrapped


# ---- handlers -----------------------------------------------------------------------------


def _workspace_out(ws: Workspace) -> WorkspaceOut:
    return WorkspaceOut(
        id=ws.id, name=ws.name, plan=ws.plan, timezone=ws.timezone, created_at=ws.created_at
    )


async def list_workspaces(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        ws = await session.get(Workspace, who.workspace_id)
        items = [_workspace_out(ws)] if ws else []
    return json_ok(Page[WorkspaceOut](items=items))


async def get_workspace(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    if request.match_info["workspace_id"] != who.workspace_id:
        raise problem(404, "no such workspace")
    async with gw.db.session() as session:
        ws = await session.get(Workspace, who.workspace_id)
        if ws is None:
            raise problem(404, "no such workspace")
        return json_ok(_workspace_out(ws))


async def _member_out(session: AsyncSession, member: Member) -> MemberOut:
    identities = await directory.member_identities(session, member.id)
    return MemberOut(
        id=member.id,
        workspace_id=member.workspace_id,
        name=member.name,
        email=member.email,
        role=member.role,
        status=member.status,
        default_channel=member.default_channel,
        identities=[IdentityOut(id=i.id, channel=i.channel, address=i.address) for i in identities],
    )


async def _member(session: AsyncSession, who: Caller, member_id: str) -> Member:
    member = await session.scalar(
        select(Member).where(Member.id == member_id, Member.workspace_id == who.workspace_id)
    )
    if member is None:
        raise problem(404, f"no member {member_id!r}")
    return member


async def list_members(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        members = await session.scalars(
            select(Member).where(Member.workspace_id == who.workspace_id).order_by(Member.name)
        )
        items = [await _member_out(session, m) for m in members]
    return json_ok(Page[MemberOut](items=items))


async def create_member(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    body = await read_json(request, MemberIn)
    channels = [i.channel for i in body.identities]
    if len(set(channels)) != len(channels):
        raise problem(400, "invalid request: identities: one address per channel")
    async with gw.db.session() as session:
        member = await directory.add_member(
            session,
            who.workspace_id,
            name=body.name,
            role=body.role,
            email=body.email,
            identities={i.channel: i.address for i in body.identities},
            actor=who.actor,
        )
        out = await _member_out(session, member)
    return json_ok(out, status=201)


async def get_member(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        member = await _member(session, who, request.match_info["member_id"])
        return json_ok(await _member_out(session, member))


async def patch_member(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    body = await read_json(request, MemberPatch)
    async with gw.db.session() as session:
        member = await _member(session, who, request.match_info["member_id"])
        changes = body.model_dump(exclude_unset=True)
        for name, value in changes.items():
            setattr(member, name, value)
        await directory.audit(
            session, who.workspace_id, who.actor, "member.update", member.id, changes
        )
        return json_ok(await _member_out(session, member))


async def delete_member(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        member = await _member(session, who, request.match_info["member_id"])
        member.status = "removed"
        member.email = None  # frees the address: the same person can be added again later
        identities = await directory.member_identities(session, member.id)
        for identity in identities:
            await session.delete(identity)
        await directory.audit(session, who.workspace_id, who.actor, "member.remove", member.id)
    gw.members.clear()  # the web channel's lookup cache must not keep a removed member
    return web.Response(status=204)


async def add_identity(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    body = await read_json(request, IdentityIn)
    async with gw.db.session() as session:
        member = await _member(session, who, request.match_info["member_id"])
        identity = await directory.link_identity(session, member, body.channel, body.address)
        await directory.audit(
            session,
            who.workspace_id,
            who.actor,
            "identity.link",
            member.id,
            {"channel": body.channel},
        )
        out = IdentityOut(id=identity.id, channel=identity.channel, address=identity.address)
    return json_ok(out, status=201)


async def delete_identity(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        member = await _member(session, who, request.match_info["member_id"])
        identity = await session.scalar(
            select(ChannelIdentity).where(
                ChannelIdentity.id == request.match_info["identity_id"],
                ChannelIdentity.member_id == member.id,
            )
        )
        if identity is None:
            raise problem(404, "no such identity")
        await session.delete(identity)
        await directory.audit(
            session,
            who.workspace_id,
            who.actor,
            "identity.unlink",
            member.id,
            {"channel": identity.channel},
        )
    return web.Response(status=204)


async def list_api_keys(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        keys = await session.scalars(
            select(ApiKey)
            .where(ApiKey.workspace_id == who.workspace_id)
            .order_by(ApiKey.created_at)
        )
        items = [
            ApiKeyOut(
                id=k.id,
                name=k.name,
                prefix=k.prefix,
                created_at=k.created_at,
                last_used_at=k.last_used_at,
                revoked_at=k.revoked_at,
            )
            for k in keys
        ]
    return json_ok(Page[ApiKeyOut](items=items))


async def create_api_key(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    body = await read_json(request, ApiKeyIn)
    async with gw.db.session() as session:
        new = await directory.create_api_key(
            session, who.workspace_id, name=body.name, actor=who.actor
        )
    return json_ok(ApiKeyCreated(id=new.id, prefix=new.prefix, key=new.secret), status=201)


async def reveal_api_key(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """The value of a key created through the operator, shown exactly once."""
    async with gw.db.session() as session:
        new = await admin_writes.reveal_api_key(
            session, who.workspace_id, request.match_info["key_id"], actor=who.actor
        )
    return json_ok(ApiKeyCreated(id=new.id, prefix=new.prefix, key=new.secret), status=201)


async def revoke_api_key(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        await directory.revoke_api_key(
            session, who.workspace_id, request.match_info["key_id"], actor=who.actor
        )
    return web.Response(status=204)


TASK_STATUSES = ("queued", "running", "done", "failed")
OUTBOX_STATUSES = ("pending", "sending", "sent", "dead")


def _status_filter(request: web.Request, allowed: tuple[str, ...]) -> str | None:
    status = request.query.get("status")
    if status is not None and status not in allowed:
        raise problem(400, f"status must be one of {', '.join(allowed)}")
    return status


async def _filtered(
    request: web.Request,
    gw: Gateway,
    who: Caller,
    model: Any,
    statuses: tuple[str, ...],
    order: Any,
) -> list[Any]:
    """The caller's workspace rows of MODEL, optionally `?status=`, newest first, `?limit=`."""
    status = _status_filter(request, statuses)
    limit = query_int(request, "limit", 50, lo=1, hi=500)
    query = select(model).where(model.workspace_id == who.workspace_id)
    if status:
        query = query.where(model.status == status)
    async with gw.db.session() as session:
        return list(await session.scalars(query.order_by(order).limit(limit)))


async def list_tasks(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    rows = await _filtered(request, gw, who, TaskRow, TASK_STATUSES, TaskRow.received_at.desc())
    items = [
        TaskSummary(
            id=r.id,
            channel=r.channel,
            kind=r.kind,
            status=r.status,
            sender=f"{r.sender_channel}:{r.sender_address}",
            text=r.text,
            received_at=r.received_at,
            attempts=r.attempts,
        )
        for r in rows
    ]
    return json_ok(Page[TaskSummary](items=items))


async def get_task(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    task_id = request.match_info["task_id"]
    return json_ok(await web_channel.load_task(gw, task_id, who.workspace_id))


async def list_outbox(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    rows = await _filtered(
        request, gw, who, OutboxRow, OUTBOX_STATUSES, OutboxRow.created_at.desc()
    )
    items = [OutboxOut.model_validate(r, from_attributes=True) for r in rows]
    return json_ok(Page[OutboxOut](items=items))


async def replay_one(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    outbox_id = request.match_info["outbox_id"]
    async with gw.db.session() as session:
        row = await session.scalar(
            select(OutboxRow).where(
                OutboxRow.id == outbox_id, OutboxRow.workspace_id == who.workspace_id
            )
        )
        if row is None:
            raise problem(404, f"no outbox entry {outbox_id!r}")
        if row.status != "dead":
            raise problem(409, f"outbox entry is {row.status}; only dead letters can be replayed")
        count = await replay(session, who.workspace_id, outbox_id)
        await directory.audit(session, who.workspace_id, who.actor, "outbox.replay", outbox_id)
    if gw.outbox is not None:
        gw.outbox.wake()
    return json_ok(ReplayOut(replayed=count))


async def replay_all(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        count = await replay(session, who.workspace_id)
        await directory.audit(
            session, who.workspace_id, who.actor, "outbox.replay_all", None, {"count": count}
        )
    if gw.outbox is not None:
        gw.outbox.wake()
    return json_ok(ReplayOut(replayed=count))


async def list_audit(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    limit = query_int(request, "limit", 100, lo=1, hi=1000)
    async with gw.db.session() as session:
        rows = await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.workspace_id == who.workspace_id)
            .order_by(AuditEntry.created_at.desc())
            .limit(limit)
        )
        items = [AuditOut.model_validate(r, from_attributes=True) for r in rows]
    return json_ok(Page[AuditOut](items=items))


def _assist_out(x: Assist) -> AssistOut:
    return AssistOut(
        ref=x.ref,
        status=x.status,
        priority=x.priority,
        category=x.category,
        subject=x.subject,
        summary=x.summary,
        assignee_id=x.assignee_id,
        labels=x.labels,
        tags=x.tags,
        unread=x.unread,
        created_at=x.created_at,
        closed_at=x.closed_at,
    )


async def list_assists(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    rows = await _filtered(
        request, gw, who, Assist, ("open", "pending", "closed"), Assist.number.desc()
    )
    items = [_assist_out(x) for x in rows]
    return json_ok(Page[AssistOut](items=items))


async def _load_assist(session: AsyncSession, who: Caller, ref: str) -> Assist:
    number = ref.upper().removeprefix("A-")
    if not (number.isascii() and number.isdigit()) or len(number) > 9:
        raise problem(404, f"no assist {ref!r}")
    row = await session.scalar(
        select(Assist).where(Assist.workspace_id == who.workspace_id, Assist.number == int(number))
    )
    if row is None:
        raise problem(404, f"no assist {ref!r}")
    return row


async def _assist_detail(session: AsyncSession, x: Assist, **extra: Any) -> AssistDetail:
    events = await session.scalars(
        select(AssistEvent)
        .where(AssistEvent.assist_id == x.id)
        .order_by(AssistEvent.created_at, AssistEvent.id)
    )
    conversation = await session.get(Conversation, x.conversation_id) if x.conversation_id else None
    previous = [
        PreviousAssistOut(
            ref=p.ref,
            status=p.status,
            subject=p.subject,
            created_at=p.created_at,
            resolution=await inbox.resolution_of(session, p) if p.status == "closed" else None,
        )
        for p in await inbox.customer_assists(session, x)
    ]
    return AssistDetail(
        **_assist_out(x).model_dump(),
        customer_details=x.customer_details or {},
        suggested_reply=x.suggested_reply,
        escalation_reason=x.escalation_reason,
        resolution=x.resolution,
        csat=conversation.csat if conversation is not None else None,
        events=[AssistEventOut.model_validate(e, from_attributes=True) for e in events],
        previous=previous,
        **extra,
    )


async def get_assist(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        row = await _load_assist(session, who, request.match_info["ref"])
        return json_ok(await _assist_detail(session, row))


def _email_identity(gw: Gateway) -> EmailIdentity | None:
    channel = gw.channels.get("email")
    identity = getattr(channel, "identity", None)
    return identity if isinstance(identity, EmailIdentity) else None


def _links(gw: Gateway) -> inbox.Links:
    settings = gw.settings
    secret = settings.switchboard_secret_key
    return inbox.Links(
        base_url=str(settings.public_base_url) if settings.public_base_url else None,
        csat_key=inbox.csat_key(secret.get_secret_value().encode()) if secret else None,
    )


def _mailer(gw: Gateway) -> AssistMailer:
    """Threaded emails when the email channel runs (else plain, tagged [A-...]), signed links."""
    return AssistMailer(identity=_email_identity(gw), links=_links(gw))


def _wake(gw: Gateway) -> None:
    if gw.outbox is not None:
        gw.outbox.wake()


async def reply_to_assist(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """The team's answer, emailed to the customer (the suggested reply when no text is given);
    the assist moves from open to pending and records its first response."""
    body = await read_json(request, ReplyIn)
    now = utcnow()
    async with gw.db.session() as session:
        x = await _load_assist(session, who, request.match_info["ref"])
        text = body.text or (x.suggested_reply or "").strip()
        if not text:
            raise problem(409, f"{x.ref} has no suggested reply; send a text")
        to = body.to or await customer_email(session, x)
        if to is None:
            raise problem(409, f"{x.ref} has no customer email; give one in 'to'")
        subject, message_id = await _mailer(gw).email_customer(session, x, to, text, None)
        event = AssistEvent(
            id=new_id(),
            workspace_id=x.workspace_id,
            assist_id=x.id,
            kind="reply",
            author=body.author or who.actor,
            body=text,
            created_at=now,
        )
        session.add(event)
        x.first_response_at = x.first_response_at or now
        if x.status == "open":
            x.status = "pending"
        x.unread = False
        x.updated_at = now
        out = ReplyOut(
            assist=x.ref,
            event_id=event.id,
            to=to,
            subject=subject,
            text=text,
            message_id=message_id,
        )
    _wake(gw)
    return json_ok(out, status=201)


async def add_note(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """An internal note: kept with the assist, never sent to the customer."""
    body = await read_json(request, NoteIn)
    now = utcnow()
    async with gw.db.session() as session:
        x = await _load_assist(session, who, request.match_info["ref"])
        event = AssistEvent(
            id=new_id(),
            workspace_id=x.workspace_id,
            assist_id=x.id,
            kind="note",
            author=body.author or who.actor,
            body=body.text,
            created_at=now,
        )
        session.add(event)
        x.updated_at = now
        await session.flush()
        out = AssistEventOut.model_validate(event, from_attributes=True)
    return json_ok(out, status=201)


async def refine_reply(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """Rewrite the suggested reply (regenerate, shorter, formal, casual) and keep it."""
    body = await read_json(request, RefineIn)
    identity = _email_identity(gw)
    async with gw.db.session() as session:
        x = await _load_assist(session, who, request.match_info["ref"])
        ws = await session.get(Workspace, x.workspace_id)
        if identity is not None and identity.sender_name:
            team = identity.sender_name
        else:
            team = f"The {ws.name} team" if ws is not None else "The team"
        current = (x.suggested_reply or "").strip()
        fresh = inbox.regenerated_reply(x, team, current=current)
        text, backend = await inbox.refine(
            current or fresh,
            body.mode,
            context="\n".join(
                f"{e.get('from')}: {e.get('text')}" for e in x.transcript if isinstance(e, dict)
            ),
            regenerated=fresh,
            llm=gw.llm,
        )
        x.suggested_reply = text
        x.updated_at = utcnow()
        out = SuggestedReplyOut(assist=x.ref, mode=body.mode, text=text, backend=backend)
    return json_ok(out)


async def patch_assist(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """Status, priority, assignee. Closing records the resolution (given, else the last reply),
    emails the customer a CSAT survey, and offers the resolution to training."""
    body = await read_json(request, AssistPatch)
    given = body.model_fields_set
    now = utcnow()
    extra: dict[str, Any] = {}
    async with gw.db.session() as session:
        x = await _load_assist(session, who, request.match_info["ref"])
        if "assignee_id" in given and body.assignee_id is not None:
            await _member(session, who, body.assignee_id)
        closing = body.status == "closed" and x.status != "closed"
        if body.status is not None:
            x.status = body.status
            x.closed_at = (x.closed_at or now) if body.status == "closed" else None
        if body.priority is not None:
            x.priority = body.priority
        if "assignee_id" in given:
            x.assignee_id = body.assignee_id
        if body.resolution is not None:
            x.resolution = body.resolution
        x.updated_at = now
        if closing:
            extra = await _mailer(gw).after_closing(session, x, survey=body.csat_survey, now=now)
        await session.flush()
        out = await _assist_detail(session, x, **extra)
    _wake(gw)
    return json_ok(out)


async def rate_assist(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """A rating the team records (a survey by phone, say); it feeds the CSAT metric."""
    body = await read_json(request, CsatIn)
    async with gw.db.session() as session:
        x = await _load_assist(session, who, request.match_info["ref"])
        result = await inbox.record_csat(session, x, body.rating)
        out = CsatOut(assist=x.ref, rating=result.rating, negative=result.negative)
    return json_ok(out)


# ---- the public CSAT survey ---------------------------------------------------------------

_CSAT_LABELS = {5: "Great", 4: "Good", 3: "OK", 2: "Poor", 1: "Bad"}


def _page(title: str, body: str, status: int = 200) -> web.Response:
    document = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        '<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto">'
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=document, status=status, content_type="text/html")


def _rating_form(token: str) -> str:
    buttons = "".join(
        f'<button name=rating value={n} style="margin:.2rem;padding:.5rem 1rem">'
        f"{n} - {label}</button>"
        for n, label in _CSAT_LABELS.items()
    )
    return f'<form method=post action="/csat/{html.escape(token)}">{buttons}</form>'


async def csat(request: web.Request) -> web.Response:
    """`GET /csat/{token}?rating=N` (the one-click link in the email) or `POST` with a `rating`
    form field records the rating; `GET` without one shows the choices. The token is signed
    with SWITCHBOARD_SECRET_KEY: forged, altered or expired ones get 404, as do all without
    a key. A rating of 2 or less is flagged on the assist and the team is told."""
    gw = request.app[GATEWAY]
    secret = gw.settings.switchboard_secret_key
    token = request.match_info["token"]
    now = utcnow()
    assist_id = (
        inbox.read_csat_token(inbox.csat_key(secret.get_secret_value().encode()), token, now)
        if secret is not None
        else None
    )
    if assist_id is None:
        raise problem(404, "this survey link is not valid (or has expired)")
    if request.method == "POST":
        try:
            form = await request.post()
        except ValueError as exc:  # a body that is not UTF-8, or a broken multipart form
            raise problem(400, "the form body cannot be read") from exc
        given = form.get("rating")
    else:
        given = request.query.get("rating")
    if given is None:
        return _page("How did we do?", _rating_form(token))
    if not isinstance(given, str) or given.strip() not in {"1", "2", "3", "4", "5"}:
        raise problem(400, "rating must be 1, 2, 3, 4 or 5")
    rating = int(given)
    identity = _email_identity(gw)
    async with gw.db.session() as session:
        x = await session.get(Assist, assist_id)
        if x is None:
            raise problem(404, "this survey link is not valid (or has expired)")
        result = await inbox.record_csat(session, x, rating, now=now)
        if result.negative and result.changed and identity is not None:
            link = _links(gw).assist(x.ref)
            await email_store.notify_team(
                session,
                x,
                title=f"[{x.ref}] Negative rating: {rating}/5",
                text=f"The customer of {x.ref} ({x.subject or 'no subject'}) rated our help "
                f"{rating}/5. The assist is flagged; please follow up."
                + (f"\n\nOpen it: {link}" if link else ""),
                dedupe_key=f"csat:{x.id}:{now.isoformat()}",
                identity=identity,
            )
    _wake(gw)
    thanks = (
        "Thank you! We're sorry it wasn't better: the team will follow up."
        if (result.negative)
        else "Thank you for your feedback!"
    )
    return _page(
        thanks,
        f"<p>You rated our help {rating} of 5 ({_CSAT_LABELS[rating]}). "
        "Changed your mind? Choose again:</p>" + _rating_form(token),
    )


def _proposal_out(p: Proposal) -> ProposalOut:
    return ProposalOut(
        id=p.id,
        code=p.code,
        status=p.status,
        summary=p.summary,
        requester_id=p.requester_id,
        estimated_count=p.estimated_count,
        changes=proposal_payload(p)["changes"],
        created_at=p.created_at,
        expires_at=p.expires_at,
        decided_by=p.decided_by,
        decided_at=p.decided_at,
        outcome=p.outcome,
    )


async def list_proposals(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    statuses = ("pending", "executed", "rejected", "expired", "stale")
    rows = await _filtered(request, gw, who, Proposal, statuses, Proposal.created_at.desc())
    return json_ok(Page[ProposalOut](items=[_proposal_out(p) for p in rows]))


async def get_proposal(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    proposal_id = request.match_info["proposal_id"]
    async with gw.db.session() as session:
        row = await session.scalar(
            select(Proposal).where(
                Proposal.id == proposal_id, Proposal.workspace_id == who.workspace_id
            )
        )
        if row is None:
            raise problem(404, f"no proposal {proposal_id!r}")
        return json_ok(_proposal_out(row))


async def list_snapshots(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """Executed writes, newest first: the history that undo and restore work from."""
    limit = query_int(request, "limit", 50, lo=1, hi=500)
    async with gw.db.session() as session:
        rows = await session.scalars(
            select(Snapshot)
            .where(Snapshot.workspace_id == who.workspace_id)
            .order_by(Snapshot.created_at.desc(), Snapshot.id.desc())
            .limit(limit)
        )
        items = [
            SnapshotOut(
                id=s.id,
                proposal_id=s.proposal_id,
                member_id=s.member_id,
                summary=s.summary,
                reversible=bool(s.before),
                created_at=s.created_at,
                undone_at=s.undone_at,
                restored_at=s.restored_at,
            )
            for s in rows
        ]
    return json_ok(Page[SnapshotOut](items=items))


async def list_training_sources(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        rows = await session.scalars(
            select(TrainingSource)
            .where(TrainingSource.workspace_id == who.workspace_id)
            .order_by(TrainingSource.id)
        )
        items = [
            TrainingSourceOut(
                id=t.id,
                kind=t.kind,
                title=t.title,
                url=t.url,
                active=t.active,
                content_chars=len(t.content or ""),
                fetch_status=t.fetch_status,
                fetch_error=t.fetch_error,
                fetched_at=t.fetched_at,
                created_at=t.created_at,
            )
            for t in rows
        ]
    return json_ok(Page[TrainingSourceOut](items=items))


async def list_schedules(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        rows = await session.scalars(
            select(Schedule).where(Schedule.workspace_id == who.workspace_id).order_by(Schedule.id)
        )
        items = [ScheduleOut.model_validate(r, from_attributes=True) for r in rows]
    return json_ok(Page[ScheduleOut](items=items))


# ---- routes and OpenAPI -------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    handler: Callable[[web.Request], Awaitable[web.Response]]
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: Literal["key", "web"] = "key"
    tag: str = "admin"


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        "/api/v1/workspaces",
        "The API key's workspace",
        _admin(list_workspaces),
        response=Page[WorkspaceOut],
        tag="workspaces",
    ),
    Endpoint(
        "GET",
        "/api/v1/workspaces/{workspace_id}",
        "One workspace",
        _admin(get_workspace),
        response=WorkspaceOut,
        tag="workspaces",
    ),
    Endpoint(
        "GET",
        "/api/v1/members",
        "Members with their channel identities",
        _admin(list_members),
        response=Page[MemberOut],
        tag="members",
    ),
    Endpoint(
        "POST",
        "/api/v1/members",
        "Add a member and link identities",
        _admin(create_member),
        request=MemberIn,
        response=MemberOut,
        status=201,
        tag="members",
    ),
    Endpoint(
        "GET",
        "/api/v1/members/{member_id}",
        "One member",
        _admin(get_member),
        response=MemberOut,
        tag="members",
    ),
    Endpoint(
        "PATCH",
        "/api/v1/members/{member_id}",
        "Change name, role or default channel",
        _admin(patch_member),
        request=MemberPatch,
        response=MemberOut,
        tag="members",
    ),
    Endpoint(
        "DELETE",
        "/api/v1/members/{member_id}",
        "Remove a member (unlinks identities)",
        _admin(delete_member),
        status=204,
        tag="members",
    ),
    Endpoint(
        "POST",
        "/api/v1/members/{member_id}/identities",
        "Link a channel identity",
        _admin(add_identity),
        request=IdentityIn,
        response=IdentityOut,
        status=201,
        tag="members",
    ),
    Endpoint(
        "DELETE",
        "/api/v1/members/{member_id}/identities/{identity_id}",
        "Unlink a channel identity",
        _admin(delete_identity),
        status=204,
        tag="members",
    ),
    Endpoint(
        "GET",
        "/api/v1/apikeys",
        "API keys (never their values)",
        _admin(list_api_keys),
        response=Page[ApiKeyOut],
        tag="apikeys",
    ),
    Endpoint(
        "POST",
        "/api/v1/apikeys",
        "Create an API key; its value is shown once",
        _admin(create_api_key),
        request=ApiKeyIn,
        response=ApiKeyCreated,
        status=201,
        tag="apikeys",
    ),
    Endpoint(
        "DELETE",
        "/api/v1/apikeys/{key_id}",
        "Revoke an API key",
        _admin(revoke_api_key),
        status=204,
        tag="apikeys",
    ),
    Endpoint(
        "POST",
        "/api/v1/apikeys/{key_id}/reveal",
        "Show, once, the value of a key created through the operator",
        _admin(reveal_api_key),
        response=ApiKeyCreated,
        status=201,
        tag="apikeys",
    ),
    Endpoint(
        "GET",
        "/api/v1/assists",
        "Assists in the AI Inbox, newest first (?status=, ?limit=)",
        _admin(list_assists),
        response=Page[AssistOut],
        tag="assists",
    ),
    Endpoint(
        "GET",
        "/api/v1/assists/{ref}",
        "One assist by reference (A-1042): details, events, the customer's other assists",
        _admin(get_assist),
        response=AssistDetail,
        tag="assists",
    ),
    Endpoint(
        "PATCH",
        "/api/v1/assists/{ref}",
        "Change status, priority or assignee; closing emails a CSAT survey",
        _admin(patch_assist),
        request=AssistPatch,
        response=AssistDetail,
        tag="assists",
    ),
    Endpoint(
        "POST",
        "/api/v1/assists/{ref}/replies",
        "Email the customer a reply (the suggested reply when no text is given)",
        _admin(reply_to_assist),
        request=ReplyIn,
        response=ReplyOut,
        status=201,
        tag="assists",
    ),
    Endpoint(
        "POST",
        "/api/v1/assists/{ref}/notes",
        "Add an internal note (never sent to the customer)",
        _admin(add_note),
        request=NoteIn,
        response=AssistEventOut,
        status=201,
        tag="assists",
    ),
    Endpoint(
        "POST",
        "/api/v1/assists/{ref}/suggested-reply",
        "Rewrite the suggested reply: regenerate, shorter, formal or casual",
        _admin(refine_reply),
        request=RefineIn,
        response=SuggestedReplyOut,
        tag="assists",
    ),
    Endpoint(
        "POST",
        "/api/v1/assists/{ref}/csat",
        "Record the customer's rating (1-5); 2 or less flags the assist",
        _admin(rate_assist),
        request=CsatIn,
        response=CsatOut,
        tag="assists",
    ),
    Endpoint(
        "GET",
        "/api/v1/proposals",
        "Proposals with their changes, newest first (?status=, ?limit=)",
        _admin(list_proposals),
        response=Page[ProposalOut],
        tag="proposals",
    ),
    Endpoint(
        "GET",
        "/api/v1/proposals/{proposal_id}",
        "One proposal: changes with before/after, status, who decided",
        _admin(get_proposal),
        response=ProposalOut,
        tag="proposals",
    ),
    Endpoint(
        "GET",
        "/api/v1/snapshots",
        "Executed writes (the history undo and restore use), newest first",
        _admin(list_snapshots),
        response=Page[SnapshotOut],
        tag="proposals",
    ),
    Endpoint(
        "GET",
        "/api/v1/schedules",
        "Briefing schedules",
        _admin(list_schedules),
        response=Page[ScheduleOut],
        tag="schedules",
    ),
    Endpoint(
        "GET",
        "/api/v1/training/sources",
        "Training sources; URL sources with their fetch status",
        _admin(list_training_sources),
        response=Page[TrainingSourceOut],
        tag="training",
    ),
    Endpoint(
        "GET",
        "/api/v1/tasks",
        "Recent tasks (the inbound journal)",
        _admin(list_tasks),
        response=Page[TaskSummary],
        tag="tasks",
    ),
    Endpoint(
        "GET",
        "/api/v1/outbox",
        "Replies and their delivery state",
        _admin(list_outbox),
        response=Page[OutboxOut],
        tag="outbox",
    ),
    Endpoint(
        "POST",
        "/api/v1/outbox/replay",
        "Replay every dead letter",
        _admin(replay_all),
        response=ReplayOut,
        tag="outbox",
    ),
    Endpoint(
        "POST",
        "/api/v1/outbox/{outbox_id}/replay",
        "Replay one dead letter",
        _admin(replay_one),
        response=ReplayOut,
        tag="outbox",
    ),
    Endpoint(
        "GET",
        "/api/v1/audit",
        "The audit log, newest first",
        _admin(list_audit),
        response=Page[AuditOut],
        tag="audit",
    ),
    Endpoint(
        "POST",
        "/api/v1/messages",
        "The web channel: send a message as a member",
        web_channel.post_message,
        request=web_channel.MessageIn,
        response=web_channel.Accepted,
        status=202,
        auth="web",
        tag="web",
    ),
    Endpoint(
        "GET",
        "/api/v1/tasks/{task_id}",
        "A task's status and replies",
        web_channel.get_task,
        response=web_channel.TaskOut,
        auth="web",
        tag="web",
    ),
]


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1, generated from the endpoint table and its pydantic models."""
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas[name] = sub
        name = model.__name__.replace("[", "_").replace("]", "")
        schemas[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}

    error = {
        "description": "error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    paths: dict[str, Any] = {}
    for ep in ENDPOINTS:
        op: dict[str, Any] = {
            "summary": ep.summary,
            "tags": [ep.tag],
            "operationId": f"{ep.method.lower()}_{ep.path.strip('/').replace('/', '_')}".replace(
                "{", ""
            ).replace("}", ""),
            "parameters": [
                {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
                for part in ep.path.split("/")
                if part.startswith("{")
            ],
            "responses": {"400": error, "401": error, "404": error, "413": error},
        }
        if ep.method != "GET":
            # A write can conflict with the current state (a duplicate, a key already
            # revealed, a reply already delivered, no suggested reply to send).
            op["responses"]["409"] = error
        if ep.auth == "key":
            op["security"] = [{"bearer": []}]
        else:
            op["security"] = [{"bearer": []}, {}]
        if ep.request is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(ep.request)}},
            }
        if ep.response is not None:
            op["responses"][str(ep.status)] = {
                "description": "ok",
                "content": {"application/json": {"schema": ref(ep.response)}},
            }
        else:
            op["responses"][str(ep.status)] = {"description": "done"}
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    schemas["Error"] = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
        "required": ["error", "message"],
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Switchboard admin API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


OPENAPI = web.AppKey("openapi", dict)


def setup(app: web.Application) -> None:
    for ep in ENDPOINTS:
        app.router.add_route(ep.method, ep.path, ep.handler)
    app[OPENAPI] = openapi_document()
    app.router.add_get("/api/v1/openapi.json", openapi)
    # The customer's one-click survey: signed links, no API key.
    app.router.add_route("GET", "/csat/{token}", csat)
    app.router.add_route("POST", "/csat/{token}", csat)
