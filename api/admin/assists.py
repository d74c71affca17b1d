"""`/api/v1/assists`: the AI Inbox: details, replies, notes, suggested replies, status, ratings."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.admin.auth import Caller
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
from api.admin.pagination import Order, page_rows
from api.admin.params import query_of
from api.http import json_ok, problem, read_json
from api.state import Gateway
from core.assists import snooze, team_actions
from core.assists.csat import record_csat
from core.assists.history import customer_assists, resolution_of
from core.assists.inbox import InboxFilter, find_assist, inbox_query
from core.assists.mail import customer_email
from storage.domain import Assist, AssistEvent, Conversation
from storage.models import Workspace
from storage.types import utcnow


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
        snoozed_until=x.snoozed_until,
    )


ORDER = Order("assists", ("datetime", "int"), descending=True)


async def list_assists(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """Newest first; `?status=`, `?priority=`, `?category=`, `?label=`, `?assignee=` (a member
    id, or `unassigned`), `?q=` (a reference, subject, summary, customer name or email),
    `?created_after=`, `?created_before=`: the AI Inbox's own filter (core.assists.inbox),
    the one the `list_assists` tool uses."""
    q = query_of(request)
    assignee = q.get("assignee")
    flt = InboxFilter(
        status=q.get("status"),
        priority=q.get("priority"),
        category=q.get("category"),
        label=q.get("label"),
        assignee_id=assignee if assignee != "unassigned" else None,
        unassigned=assignee == "unassigned",
        search=q.get("q"),
        created_before=q.get("created_before"),
    )
    query = inbox_query(who.workspace_id, flt, order=None)
    if "created_after" in q:
        query = query.where(Assist.created_at >= q["created_after"])
    async with gw.db.session() as session:
        found = await page_rows(
            request,
            session,
            query,
            ORDER,
            (Assist.created_at, Assist.number),
            lambda x: (x.created_at, x.number),
        )
        items = [_assist_out(x) for x in found.items]
    return json_ok(Page[AssistOut](items=items, next_cursor=found.next_cursor))


async def _load_assist(session: AsyncSession, who: Caller, ref: str) -> Assist:
    row = await find_assist(session, who.workspace_id, ref)
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
    async with gw.db.session() as session:
        x = await _load_assist(session, who, request.match_info["ref"])
        text = body.text or (x.suggested_reply or "").strip()
        if not text:
            raise problem(409, f"{x.ref} has no suggested reply; send a text")
        to = body.to or await customer_email(session, x)
        if to is None:
            raise problem(409, f"{x.ref} has no customer email; give one in 'to'")
        sent = await team_actions.send_reply(
            session,
            x,
            text=text,
            to=to,
            author=body.author or who.actor,
            mailer=mailer(gw),
            now=utcnow(),
        )
        out = ReplyOut(
            assist=x.ref,
            event_id=sent.event.id,
            to=sent.to,
            subject=sent.subject,
            text=text,
            message_id=sent.message_id,
        )
    gw.wake_outbox()
    return json_ok(out, status=201)


async def add_note(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """An internal note: kept with the assist, never sent to the customer."""
    body = await read_json(request, NoteIn)
    async with gw.db.session() as session:
        x = await _load_assist(session, who, request.match_info["ref"])
        event = await team_actions.add_note(
            session, x, text=body.text, author=body.author or who.actor, now=utcnow()
        )
        out = AssistEventOut.model_validate(event, from_attributes=True)
    return json_ok(out, status=201)


async def refine_reply(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """Rewrite the suggested reply (regenerate, shorter, formal, casual) and keep it."""
    body = await read_json(request, RefineIn)
    async with gw.db.session() as session:
        x = await _load_assist(session, who, request.match_info["ref"])
        ws = await session.get(Workspace, x.workspace_id)
        team = team_actions.team_name(email_identity(gw), ws.name if ws is not None else None)
        text, backend = await team_actions.refine_suggestion(
            x, body.mode, team=team, llm=gw.llm, now=utcnow()
        )
        out = SuggestedReplyOut(assist=x.ref, mode=body.mode, text=text, backend=backend)
    return json_ok(out)


async def patch_assist(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """Status, priority, assignee. Snoozing (status `snoozed`, `snoozed_until`) is checked
    before anything changes: 400 without a time zone, in the past, or over 90 days ahead,
    or for a closed assist. Closing records the resolution (given, else the last reply),
    emails the customer a CSAT survey, and offers the resolution to training."""
    body = await read_json(request, AssistPatch)
    given = body.model_fields_set
    snoozing = body.status == "snoozed"
    if snoozing and body.snoozed_until is None:
        raise problem(400, "status snoozed needs snoozed_until (ISO 8601 with a time zone)")
    if not snoozing and "snoozed_until" in given:
        raise problem(400, "snoozed_until goes with status snoozed")
    now = utcnow()
    async with gw.db.session() as session:
        x = await _load_assist(session, who, request.match_info["ref"])
        if body.snoozed_until is not None:
            try:  # before anything changes: a refused snooze changes nothing
                snooze.check_snooze(x, body.snoozed_until, now)
            except snooze.SnoozeError as exc:
                raise problem(400, str(exc)) from None
        assignee: dict[str, Any] = {}
        if "assignee_id" in given:
            if body.assignee_id is not None:
                await find_member(session, who, body.assignee_id)
            assignee["assignee_id"] = body.assignee_id
        extra = await team_actions.update(
            session,
            x,
            now=now,
            mailer=mailer(gw),
            status=None if snoozing else body.status,
            priority=body.priority,
            resolution=body.resolution,
            survey=body.csat_survey,
            actor=who.actor,
            **assignee,
        )
        if body.snoozed_until is not None:
            await snooze.snooze(session, x, body.snoozed_until, actor=who.actor, now=now)
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
