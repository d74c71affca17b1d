"""`/api/v1/assists`: the AI Inbox: details, replies, notes, suggested replies, status, ratings."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.admin.auth import Caller
from api.admin.listing import filtered_rows
from api.admin.mailing import email_identity, mailer
from api.admin.members import find_member
from api.admin.models import (
    AssistDetail,
    AssistEventOut,
    AssistOut,
    AssistPatch,
    CsatIn,
    CsatOut,
    NoteIn,
    Page,
    PreviousAssistOut,
    RefineIn,
    ReplyIn,
    ReplyOut,
    SuggestedReplyOut,
)
from api.http import json_ok, problem, read_json
from api.state import Gateway
from core.assists.csat import record_csat
from core.assists.drafting import refine, regenerated_reply
from core.assists.history import customer_assists, resolution_of
from core.assists.mail import customer_email
from storage.domain import Assist, AssistEvent, Conversation
from storage.models import Workspace
from storage.types import new_id, utcnow


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
    rows = await filtered_rows(
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
            resolution=await resolution_of(session, p) if p.status == "closed" else None,
        )
        for p in await customer_assists(session, x)
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
        subject, message_id = await mailer(gw).email_customer(session, x, to, text, None)
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
    gw.wake_outbox()
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
    identity = email_identity(gw)
    async with gw.db.session() as session:
        x = await _load_assist(session, who, request.match_info["ref"])
        ws = await session.get(Workspace, x.workspace_id)
        if identity is not None and identity.sender_name:
            team = identity.sender_name
        else:
            team = f"The {ws.name} team" if ws is not None else "The team"
        current = (x.suggested_reply or "").strip()
        fresh = regenerated_reply(x, team, current=current)
        text, backend = await refine(
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
            await find_member(session, who, body.assignee_id)
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
            extra = await mailer(gw).after_closing(session, x, survey=body.csat_survey, now=now)
        await session.flush()
        out = await _assist_detail(session, x, **extra)
    gw.wake_outbox()
    return json_ok(out)


async def rate_assist(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """A rating the team records (a survey by phone, say); it feeds the CSAT metric."""
    body = await read_json(request, CsatIn)
    async with gw.db.session() as session:
        x = await _load_assist(session, who, request.match_info["ref"])
        result = await record_csat(session, x, body.rating)
        out = CsatOut(assist=x.ref, rating=result.rating, negative=result.negative)
    return json_ok(out)
