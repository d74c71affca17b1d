"""The Voice webhooks: `POST /twilio/voice` (a call starts, or its status changes),
`POST /twilio/voice/gather` (one turn's speech, or a hold coming back for its answer) and
`POST /twilio/voice/recording` (a voicemail and its transcription).

Each answers with TwiML within the channel's budget (`SWITCHBOARD_VOICE_BUDGET`, well inside
Twilio's 15 seconds). A spoken request is committed as a Task before anything else, then the
route waits for that task's replies; if they are not ready in time it says "one moment" and
redirects to itself to wait again, and after several holds it hands the answer to the
caller's text channel — it never drops it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from twilio.twiml.voice_response import VoiceResponse

from channels.base import ChannelContext
from channels.errors import ChannelRejected
from channels.twilio_common import (
    MalformedWebhook,
    running_channel,
    twiml_response,
    verified_params,
)
from channels.voice import store, twiml
from channels.voice.answer import APPROVAL_PROMPT, PLACES, plan_answer, where_notice
from channels.voice.channel import VoiceChannel
from channels.voice.config import NAME, REQUIRED
from channels.voice.inbound import CallEvent, intent_of, parse_call, parse_turn, parse_voicemail
from channels.voice.sender import usable_channels
from channels.voice.tts import Say
from models.deliverable import Deliverable
from models.task import Approval, Route, Sender, Task
from storage.types import new_id, utcnow
from storage.voice import VoiceCall

log = logging.getLogger(__name__)

GATHER = "/twilio/voice/gather"
RECORDING = "/twilio/voice/recording"
POLL_SECONDS = 0.1  # how often a waiting turn looks for its task's replies
SPEECH_MARGIN = 0.25  # kept back from the budget for the media row and the answer itself
MAX_HOLDS = 5  # "one moment" this many times, then the answer goes by text
QUIET_TURNS = 2  # this many silences in a row end the call

ANYTHING_ELSE = "Anything else?"
ONE_MOMENT = "One moment."
STILL_WORKING = "Still working on it."
NOT_HEARD = "Sorry, I didn't catch that. What can I do for you?"
HANG_UP_SILENT = "I didn't hear anything, so I'll hang up now. Goodbye."
FAREWELL = "Thanks for calling. Goodbye."
NOT_IN_SERVICE = "Sorry, this number is not set up to take calls yet. Goodbye."
MEMBERS_ONLY = "Sorry, this line is for team members only. Goodbye."
VOICEMAIL_PROMPT = (
    "Nobody can take your call right now. Please leave a message after the tone, "
    "and we'll get back to you."
)
VOICEMAIL_THANKS = "Thank you. Your message has reached the team. Goodbye."
NO_MESSAGE = "We didn't get a message. Goodbye."
HANDED_OFF = "This is taking longer than usual, so I'll send the answer to {place} when it's ready."
NOWHERE = "This is taking longer than usual. Please ask me again in a few minutes."
ALREADY_SENT = "I've sent that answer to {place}."


def _channel(context: ChannelContext) -> VoiceChannel:
    return running_channel(context, NAME, VoiceChannel, REQUIRED)


async def _workspace(context: ChannelContext, number: str) -> str | None:
    """The workspace our NUMBER belongs to (mapped for voice, or for SMS on the same number)."""
    return await context.workspace_for("voice", number) or await context.workspace_for(
        "sms", number
    )


def _deadline(channel: VoiceChannel) -> float:
    return asyncio.get_running_loop().time() + channel.config.budget


def _first_name(name: str | None) -> str:
    words = (name or "").split()
    return words[0] if words else "there"


async def _say(
    channel: VoiceChannel, workspace_id: str | None, texts: list[str], deadline: float
) -> list[Any]:
    if workspace_id is None:
        return [Say(t) for t in texts if t]
    return await channel.speaker.speak(workspace_id, texts, deadline - SPEECH_MARGIN)


# ---------------------------------------------------------------------------- call start


async def call_webhook(request: web.Request, context: ChannelContext) -> web.Response:
    """A call starts: members are greeted by name and asked what they need; anyone else
    hears the AI agent's greeting and may leave a voicemail. A final CallStatus (this URL as
    the number's status callback) ends the call: an answer it did not hear goes by text."""
    channel = _channel(context)
    params = await verified_params(channel.verifier, channel.config.account_sid, request)
    deadline = _deadline(channel)
    try:
        call = parse_call(params)
    except MalformedWebhook as exc:
        raise ChannelRejected(400, str(exc)) from exc
    if call.ended:
        async with context.db.session() as session:
            ended = await store.end_call(
                session,
                call.call_sid,
                usable=usable_channels(context),
                sms_from=channel.config.sms_from,
            )
        if ended:
            context.wake_outbox()
        return twiml_response(twiml.empty())
    workspace_id = await _workspace(context, call.called)
    if workspace_id is None:
        return twiml_response(twiml.goodbye(await _say(channel, None, [NOT_IN_SERVICE], deadline)))
    record = await _start(context, call, workspace_id)
    return twiml_response(await _greeting(channel, record, deadline))


async def _start(context: ChannelContext, call: CallEvent, workspace_id: str) -> VoiceCall:
    async with context.db.session() as session:
        member = None
        if call.caller_number is not None:
            member = await store.member_by_phone(session, workspace_id, call.caller_number)
        await store.start_call(
            session,
            call_sid=call.call_sid,
            workspace_id=workspace_id,
            caller=call.caller,
            called=call.called,
            member_id=member.id if member is not None else None,
        )
        record = await store.get_call(session, call.call_sid)
    assert record is not None
    return record


async def _greeting(channel: VoiceChannel, record: VoiceCall, deadline: float) -> VoiceResponse:
    async with channel.context.db.session() as session:
        member = None
        if record.member_id is not None:
            member = await store.member_by_phone(session, record.workspace_id, record.caller)
        members_only = await store.members_only(session, record.called)
        brand, welcome = await store.line_brand(session, record.workspace_id)
    if member is not None:
        hello = f"Hi {_first_name(member.name)}, what can I do for you?"
        spoken = await _say(channel, record.workspace_id, [hello], deadline)
        return twiml.listen(spoken, channel.config.url(GATHER, turn=1))
    if members_only:
        return twiml.goodbye(await _say(channel, record.workspace_id, [MEMBERS_ONLY], deadline))
    greeting = welcome or f"Thanks for calling {brand}."
    spoken = await _say(channel, record.workspace_id, [greeting, VOICEMAIL_PROMPT], deadline)
    return twiml.voicemail(spoken, channel.config.url(RECORDING))


# ---------------------------------------------------------------------------- one turn


async def gather_webhook(request: web.Request, context: ChannelContext) -> web.Response:
    """One turn: the caller's speech (or silence), or a hold coming back for its answer."""
    channel = _channel(context)
    params = await verified_params(channel.verifier, channel.config.account_sid, request)
    deadline = _deadline(channel)
    try:
        call = parse_call(params)
        turn = parse_turn(request.query)
    except MalformedWebhook as exc:
        raise ChannelRejected(400, str(exc)) from exc
    async with context.db.session() as session:
        record = await store.get_call(session, call.call_sid)
    if record is None:
        # The number's webhook points here directly: start the call now.
        workspace_id = await _workspace(context, call.called)
        if workspace_id is None:
            return twiml_response(
                twiml.goodbye(await _say(channel, None, [NOT_IN_SERVICE], deadline))
            )
        record = await _start(context, call, workspace_id)
    if record.member_id is None:
        # Requests are for members; anyone else reaches the voicemail.
        return twiml_response(await _greeting(channel, record, deadline))
    if turn.wait:
        return twiml_response(await _come_back(channel, record, turn.turn, turn.wait, deadline))
    intent = intent_of(call.speech, proposal_pending=record.pending_proposal_id is not None)
    if intent == "silence":
        if turn.silent + 1 >= QUIET_TURNS:
            spoken = await _say(channel, record.workspace_id, [HANG_UP_SILENT], deadline)
            return twiml_response(twiml.goodbye(spoken))
        prompt = APPROVAL_PROMPT if record.pending_proposal_id else NOT_HEARD
        spoken = await _say(channel, record.workspace_id, [prompt], deadline)
        action = channel.config.url(GATHER, turn=turn.turn, silent=turn.silent + 1)
        return twiml_response(twiml.listen(spoken, action, hints=_hints(record)))
    if intent == "done":
        spoken = await _say(channel, record.workspace_id, [FAREWELL], deadline)
        return twiml_response(twiml.goodbye(spoken))
    assert call.speech is not None
    raw: dict[str, Any] = {key: params[key] for key in params}
    raw["turn"] = turn.turn
    kind: Any = "message"
    approval = None
    if intent in ("yes", "no"):
        # Decided by the pipeline without the classifier; it checks who may decide.
        kind = "approval"
        approval = Approval(
            decision="approve" if intent == "yes" else "reject",
            proposal_id=record.pending_proposal_id,
        )
    task = Task(
        id=new_id(),
        workspace_id=record.workspace_id,
        channel="voice",
        external_id=store.turn_key(call.call_sid, turn.turn),
        sender=Sender(channel="voice", address=record.caller),
        conversation=call.call_sid,
        text=call.speech,
        received_at=utcnow(),
        reply_route=Route(channel="voice", address=call.call_sid, thread=str(turn.turn)),
        kind=kind,
        approval=approval,
        raw=raw,
    )
    async with context.db.session() as session:
        await store.begin_turn(session, call.call_sid, turn.turn)
    accepted = await context.ingest(task)
    return twiml_response(await _answer(channel, record, turn.turn, 0, accepted.task_id, deadline))


def _hints(record: VoiceCall) -> str | None:
    return twiml.APPROVAL_HINTS if record.pending_proposal_id else None


async def _come_back(
    channel: VoiceChannel, record: VoiceCall, turn: int, wait: int, deadline: float
) -> VoiceResponse:
    """A hold redirected back: look for the turn's task again."""
    async with channel.context.db.session() as session:
        task = await store.find_task(session, record.workspace_id, store.turn_key(record.id, turn))
    if task is None:
        spoken = await _say(channel, record.workspace_id, [NOT_HEARD], deadline)
        return twiml.listen(spoken, channel.config.url(GATHER, turn=turn))
    return await _answer(channel, record, turn, wait, task.id, deadline)


async def _wait_for_replies(
    channel: VoiceChannel, task_id: str, until: float
) -> list[Deliverable] | None:
    loop = asyncio.get_running_loop()
    while True:
        async with channel.context.db.session() as session:
            replies = await store.turn_replies(session, task_id)
        if replies is not None:
            return replies
        left = until - loop.time()
        if left <= 0:
            return None
        await asyncio.sleep(min(POLL_SECONDS, left))


async def _answer(
    channel: VoiceChannel,
    record: VoiceCall,
    turn: int,
    wait: int,
    task_id: str,
    deadline: float,
) -> VoiceResponse:
    """Speak TURN's answer, or hold for it, or hand it to the text channel."""
    context = channel.context
    reserve = min(3.0, channel.config.budget * 0.3)
    replies = await _wait_for_replies(channel, task_id, deadline - reserve)
    next_turn = channel.config.url(GATHER, turn=turn + 1)
    reached = False
    if replies is None and wait < MAX_HOLDS:
        text = ONE_MOMENT if wait == 0 else STILL_WORKING
        spoken = await _say(channel, record.workspace_id, [text], deadline)
        return twiml.hold(spoken, channel.config.url(GATHER, turn=turn, wait=wait + 1))
    async with context.db.session() as session:
        route = await channel.push_route(session, record.workspace_id, record.caller, record.called)
        if replies is None:
            call = await store.lock_call(session, record.id)
            reached = call is not None and await store.hand_off(session, call, turn, route)
    if replies is None:
        if route is not None:
            context.wake_outbox()
        place = PLACES.get(route.channel, route.channel) if route is not None else ""
        text = HANDED_OFF.format(place=place) if reached else NOWHERE
        spoken = await _say(channel, record.workspace_id, [text, ANYTHING_ELSE], deadline)
        return twiml.listen(spoken, next_turn)
    answer = plan_answer(replies, can_push=route is not None, today=utcnow().date())
    async with context.db.session() as session:
        speakable = await store.settle_turn(
            session,
            record.id,
            turn,
            pushes=[p.deliverable for p in answer.pushes],
            route=route,
            task_id=task_id,
            proposal_id=answer.proposal_id,
            decided=answer.decided,
        )
    if answer.pushes and route is not None:
        context.wake_outbox()
    if not speakable:
        place = PLACES.get(route.channel, route.channel) if route is not None else "you"
        texts = [ALREADY_SENT.format(place=place), ANYTHING_ELSE]
        return twiml.listen(await _say(channel, record.workspace_id, texts, deadline), next_turn)
    said = " ".join(
        part
        for part in (answer.text, where_notice(answer.pushes, route.channel if route else ""))
        if part
    )
    texts = [said or "Done."]
    if answer.proposal_id is None:
        texts.append(ANYTHING_ELSE)
    spoken = await _say(channel, record.workspace_id, texts, deadline)
    hints = twiml.APPROVAL_HINTS if answer.proposal_id else None
    return twiml.listen(spoken, next_turn, hints=hints)


# ---------------------------------------------------------------------------- voicemail


async def recording_webhook(request: web.Request, context: ChannelContext) -> web.Response:
    """A voicemail (the `<Record>` action) or its transcription: one assist per recording,
    with the transcript attached when Twilio has it and the line's brand as its label."""
    channel = _channel(context)
    params = await verified_params(channel.verifier, channel.config.account_sid, request)
    deadline = _deadline(channel)
    try:
        voicemail = parse_voicemail(params)
    except MalformedWebhook as exc:
        raise ChannelRejected(400, str(exc)) from exc
    workspace_id = await _workspace(context, voicemail.called)
    if workspace_id is None:
        raise ChannelRejected(404, f"no workspace answers on {voicemail.called}")
    empty_recording = voicemail.duration == 0 and not voicemail.transcription
    if empty_recording and not voicemail.is_transcription:
        spoken = await _say(channel, workspace_id, [NO_MESSAGE], deadline)
        return twiml_response(twiml.goodbye(spoken))
    async with context.db.session() as session:
        brand, _welcome = await store.line_brand(session, workspace_id)
        assist, created = await store.record_voicemail(
            session,
            workspace_id=workspace_id,
            key=f"voicemail:{voicemail.recording_sid}",
            call_sid=voicemail.call_sid,
            caller=voicemail.caller,
            caller_number=voicemail.caller_number,
            text=voicemail.transcription,
            recording_url=voicemail.recording_url,
            duration=voicemail.duration,
            labels=[brand],
            raw={key: params[key] for key in params},
            base_url=channel.config.public_base_url,
        )
    if created:
        log.info("voicemail from a caller became assist %s", assist.ref)
    if voicemail.is_transcription:
        return twiml_response(twiml.empty())
    spoken = await _say(channel, workspace_id, [VOICEMAIL_THANKS], deadline)
    return twiml_response(twiml.goodbye(spoken))
