"""What the voice channel reads and writes: calls and their turns, the replies a turn waits
for, answers pushed to a text channel, voicemails. Functions take the session.

Every change to a call locks its row first (an UPDATE before anything else, which also takes
SQLite's write lock), so the webhook and the voice sender, racing over one turn, agree on
whether its answer is spoken or pushed; pushes are idempotent by their outbox dedupe key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from channels.twilio_sms.store import PHONE_CHANNELS, other_route
from core.assists.records import create_assist, customer_for, guess_category
from core.routing.notices import tell_assignee
from models.deliverable import Deliverable
from models.task import Route
from storage.db import upsert_insert
from storage.domain import AiAgent, Assist
from storage.models import ChannelIdentity, Member, OutboxRow, TaskRow, Workspace, WorkspaceAddress
from storage.types import new_id, utcnow
from storage.voice import VoiceCall

PUSH_NOTICE = "From your call:"
FINISHED = ("done", "failed")


def turn_key(call_sid: str, turn: int) -> str:
    """The task external id of a turn: a retried Gather result finds the same task."""
    return f"{call_sid}:{turn}"


# ---------------------------------------------------------------------------- who and where


async def member_by_phone(session: AsyncSession, workspace_id: str, number: str) -> Member | None:
    """The active member holding NUMBER (one identity across SMS, WhatsApp and voice)."""
    member = await session.scalar(
        select(Member)
        .join(ChannelIdentity, ChannelIdentity.member_id == Member.id)
        .where(
            ChannelIdentity.workspace_id == workspace_id,
            ChannelIdentity.channel.in_(PHONE_CHANNELS),
            ChannelIdentity.address == number,
        )
        .limit(1)
    )
    return member if member is not None and member.status == "active" else None


async def members_only(session: AsyncSession, number: str) -> bool:
    """Whether our NUMBER is configured for members only (no customer path)."""
    found = await session.scalar(
        select(WorkspaceAddress.members_only).where(
            WorkspaceAddress.channel.in_(("voice", "sms")), WorkspaceAddress.address == number
        )
    )
    return bool(found)


async def line_brand(session: AsyncSession, workspace_id: str) -> tuple[str, str | None]:
    """(the brand callers reach on the workspace's line, the AI agent's welcome message)."""
    workspace = await session.get(Workspace, workspace_id)
    agent = await session.scalar(
        select(AiAgent).where(AiAgent.workspace_id == workspace_id).order_by(AiAgent.created_at)
    )
    welcome = None
    if agent is not None:
        value = (agent.config or {}).get("welcome_message")
        welcome = str(value) if value else None
    return (workspace.name if workspace is not None else "us"), welcome


async def push_route(
    session: AsyncSession,
    workspace_id: str,
    number: str | None,
    *,
    called: str,
    usable: Sequence[str],
    sms_from: str | None,
) -> Route | None:
    """Where the answers a call cannot speak go: the member's default channel if linked,
    else SMS to the number that called (from TWILIO_SMS_FROM, or the number it called),
    else another linked channel; None when there is nowhere."""
    if number is None:
        return None
    route = await other_route(session, number, workspace_id, usable=usable)
    if route is not None and route.channel == "sms" and sms_from is None:
        route = Route(channel="sms", address=route.address, thread=called)
    return route


# ---------------------------------------------------------------------------- calls


async def start_call(
    session: AsyncSession,
    *,
    call_sid: str,
    workspace_id: str,
    caller: str,
    called: str,
    member_id: str | None,
) -> None:
    """Record the call once (Twilio may ask for the call's first TwiML more than once)."""
    now = utcnow()
    await session.execute(
        upsert_insert(session)(VoiceCall)
        .values(
            id=call_sid,
            workspace_id=workspace_id,
            caller=caller,
            called=called,
            member_id=member_id,
            status="active",
            pushed_turns=[],
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )


async def lock_call(session: AsyncSession, call_sid: str) -> VoiceCall | None:
    """The call's row, locked until the transaction ends (None for a call we never saw)."""
    result = await session.execute(
        update(VoiceCall).where(VoiceCall.id == call_sid).values(updated_at=utcnow())
    )
    if not cast("CursorResult[Any]", result).rowcount:
        return None
    return await session.scalar(
        select(VoiceCall)
        .where(VoiceCall.id == call_sid)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def get_call(session: AsyncSession, call_sid: str) -> VoiceCall | None:
    return await session.get(VoiceCall, call_sid)


async def begin_turn(session: AsyncSession, call_sid: str, turn: int) -> None:
    """TURN now waits for its answer."""
    call = await lock_call(session, call_sid)
    if call is not None and turn not in (call.pushed_turns or []):
        call.waiting_turn = turn


async def find_task(session: AsyncSession, workspace_id: str, external_id: str) -> TaskRow | None:
    return await session.scalar(
        select(TaskRow).where(
            TaskRow.workspace_id == workspace_id,
            TaskRow.channel == "voice",
            TaskRow.external_id == external_id,
        )
    )


async def turn_replies(session: AsyncSession, task_id: str) -> list[Deliverable] | None:
    """The task's replies on the voice channel, once it is finished (they are written in the
    same transaction that finishes it); None while it is still queued or running."""
    status = await session.scalar(select(TaskRow.status).where(TaskRow.id == task_id))
    if status not in FINISHED:
        return None
    rows = await session.scalars(
        select(OutboxRow.deliverable)
        .where(OutboxRow.task_id == task_id, OutboxRow.channel == "voice")
        .order_by(OutboxRow.seq)
    )
    return [Deliverable.model_validate(row) for row in rows]


def push_key(call_sid: str, turn: int, deliverable: Deliverable) -> str:
    """The same reply of the same turn always gets the same key, whoever pushes it."""
    canonical = json.dumps(deliverable.model_dump(mode="json"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:20]
    return f"voice:{call_sid}:{turn}:{digest}"


async def push(
    session: AsyncSession,
    call: VoiceCall,
    turn: int,
    deliverables: Sequence[Deliverable],
    route: Route,
    *,
    task_id: str | None = None,
) -> int:
    """Queue DELIVERABLES of TURN on ROUTE, each at most once; returns how many are new."""
    now = utcnow()
    created = 0
    for seq, deliverable in enumerate(deliverables):
        text = f"{PUSH_NOTICE}\n{deliverable.text}" if deliverable.text else PUSH_NOTICE
        copy = deliverable.model_copy(update={"text": text})
        result = await session.execute(
            upsert_insert(session)(OutboxRow)
            .values(
                id=new_id(),
                workspace_id=call.workspace_id,
                task_id=task_id,
                dedupe_key=push_key(call.id, turn, deliverable),
                seq=seq,
                channel=route.channel,
                address=route.address,
                thread=route.thread,
                deliverable=copy.model_dump(mode="json"),
                status="pending",
                attempts=0,
                parts_sent=0,
                next_attempt_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["workspace_id", "dedupe_key"])
        )
        created += cast("CursorResult[Any]", result).rowcount or 0
    return created


async def settle_turn(
    session: AsyncSession,
    call_sid: str,
    turn: int,
    *,
    pushes: Sequence[Deliverable],
    route: Route | None,
    task_id: str,
    proposal_id: str | None,
    decided: bool,
) -> bool:
    """TURN's answer is being spoken: queue what goes by text, remember a proposal read back
    (or forget the one just decided). False when the turn's answer was already handed to
    the text channel (then it must not be spoken as well)."""
    call = await lock_call(session, call_sid)
    if call is None:
        return True
    if turn in (call.pushed_turns or []):
        return False
    if call.waiting_turn == turn:
        call.waiting_turn = None
    if proposal_id is not None:
        call.pending_proposal_id = proposal_id
    elif decided:
        call.pending_proposal_id = None
    if pushes and route is not None:
        await push(session, call, turn, pushes, route, task_id=task_id)
    return True


async def hand_off(session: AsyncSession, call: VoiceCall, turn: int, route: Route | None) -> bool:
    """TURN's answer goes by text instead of being spoken (the caller waited long enough, or
    hung up): its replies already written are queued now, later ones by the voice sender.
    CALL must be locked. True when something will reach the caller."""
    pushed = list(call.pushed_turns or [])
    if turn not in pushed:
        call.pushed_turns = [*pushed, turn]
    if call.waiting_turn == turn:
        call.waiting_turn = None
    if route is None:
        return False
    task = await find_task(session, call.workspace_id, turn_key(call.id, turn))
    if task is not None:
        replies = await turn_replies(session, task.id)
        if replies:
            await push(session, call, turn, replies, route, task_id=task.id)
    return True


async def end_call(
    session: AsyncSession, call_sid: str, *, usable: Sequence[str], sms_from: str | None
) -> bool:
    """The call is over (a status callback): an answer nobody heard goes by text. True when
    the call was still active."""
    call = await lock_call(session, call_sid)
    if call is None or call.status == "ended":
        return False
    call.status = "ended"
    call.ended_at = utcnow()
    if call.waiting_turn is not None:
        route = await push_route(
            session,
            call.workspace_id,
            call.caller,
            called=call.called,
            usable=usable,
            sms_from=sms_from,
        )
        await hand_off(session, call, call.waiting_turn, route)
    return True


# ---------------------------------------------------------------------------- voicemail


def _voicemail_entry(
    text: str | None, recording_url: str | None, duration: int | None, at: datetime
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "from": "customer",
        "channel": "voice",
        "kind": "voicemail",
        "text": text or "",
        "at": at.isoformat(),
    }
    if recording_url:
        entry["recording_url"] = recording_url
    if duration is not None:
        entry["duration_seconds"] = duration
    return entry


def _summary(caller: str, text: str | None, duration: int | None) -> str:
    length = f" ({duration} s)" if duration else ""
    if text:
        return f"Voicemail from {caller}{length}: {text}"
    return f"Voicemail from {caller}{length}; the transcription is not available yet."


async def record_voicemail(
    session: AsyncSession,
    *,
    workspace_id: str,
    key: str,
    call_sid: str,
    caller: str,
    caller_number: str | None,
    text: str | None,
    recording_url: str | None,
    duration: int | None,
    labels: Sequence[str],
    kind: str = "voicemail",
    transcript: Sequence[dict[str, Any]] | None = None,
    summary: str | None = None,
    raw: dict[str, Any] | None = None,
    base_url: str | None = None,
) -> tuple[Assist, bool]:
    """The assist for a customer's message (a voicemail, or an agent call's transcript),
    opened once per KEY: a finished task row with that external id is the record, so the
    recording callback and the transcription callback, in either order and however often
    Twilio sends them, make one assist, and the transcription fills it in. Returns (the
    assist, whether it was created now)."""
    now = utcnow()
    task_id = new_id()
    inserted = await session.scalar(
        upsert_insert(session)(TaskRow)
        .values(
            id=task_id,
            workspace_id=workspace_id,
            channel="voice",
            external_id=key,
            kind=kind,
            sender_channel="voice",
            sender_address=caller,
            conversation=call_sid,
            text=text or "",
            attachments=[],
            reply_route={"channel": "voice", "address": call_sid, "thread": None},
            raw=dict(raw or {}),
            received_at=now,
            status="done",
            attempts=0,
            finished_at=now,
        )
        .on_conflict_do_nothing(index_elements=["workspace_id", "channel", "external_id"])
        .returning(TaskRow.id)
    )
    if inserted is None:
        record = await find_task(session, workspace_id, key)
        assist_id = (record.raw or {}).get("assist_id") if record is not None else None
        assist = await session.get(Assist, assist_id) if assist_id else None
        if assist is None:
            raise LookupError(f"the assist recorded for {key} is gone")
        if text and not any(t.get("text") for t in assist.transcript or []):
            entries = list(assist.transcript or []) or [
                _voicemail_entry(None, recording_url, duration, now)
            ]
            entries[0] = {**entries[0], "text": text}
            assist.transcript = entries
            assist.summary = summary or _summary(caller, text, duration)
            if assist.category in (None, "other"):
                assist.category = guess_category(text)
            assist.updated_at = now
            if record is not None:
                record.text = text
        return assist, False
    customer = await customer_for(session, workspace_id, phone=caller_number)
    entries = (
        list(transcript)
        if transcript is not None
        else [_voicemail_entry(text, recording_url, duration, now)]
    )
    assist = await create_assist(
        session,
        workspace_id=workspace_id,
        subject=f"{'Voicemail' if kind == 'voicemail' else 'Call'} from {caller}",
        summary=summary or _summary(caller, text, duration),
        transcript=entries,
        customer=customer,
        labels=labels,
        tags=["voicemail" if kind == "voicemail" else "call"],
        escalation_reason=(
            "the caller left a voicemail" if kind == "voicemail" else "a call with the AI agent"
        ),
        now=now,
    )
    await session.execute(
        update(TaskRow)
        .where(TaskRow.id == task_id)
        .values(raw={**(raw or {}), "assist_id": assist.id, "assist": assist.ref})
    )
    assignee = await session.get(Member, assist.assignee_id) if assist.assignee_id else None
    if assignee is not None:  # routed on Enterprise: the assignee hears of it, with the link
        await tell_assignee(session, assist, assignee, base_url=base_url)
    return assist, True
