"""Inbound Slack traffic: the signature check, the body parsed into frozen models, and the
slack-bolt app whose listeners turn mentions, direct messages, `/operator` and button presses
into task drafts. Nothing here writes: the route commits the draft, then answers."""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from channels.base import InboundRequest
from channels.errors import ChannelRejected, SignatureRejected, validation_message
from channels.slack.blocks import (
    APPROVE_ACTION,
    LIVE_ACCEPT_ACTION,
    LIVE_DECLINE_ACTION,
    REJECT_ACTION,
)
from models.task import Approval, Attachment, Route, Sender, Task, TaskKind
from storage.types import new_id

COMMAND = "/operator"
COMMAND_ACK = "Working on it…"
# Slack's replay window: "more than five minutes from local time" is refused.
MAX_CLOCK_SKEW = 60 * 5
# Message subtypes that are a person writing; edits, deletions, joins and bots are not.
PERSON_SUBTYPES = (None, "file_share", "thread_broadcast")
# Top-level fields never kept: the deprecated verification token, and the response_url
# capability (anyone holding it can post to the channel for 30 minutes).
SECRET_FIELDS = ("token", "response_url")

# Keys the route and the listeners share on bolt's per-request context.
ENVELOPE = "switchboard_envelope"
BOT_USER_IDS = "switchboard_bot_user_ids"
DRAFT = "switchboard_draft"


# --------------------------------------------------------------------------- verification


def verify(inbound: InboundRequest, verifier: SignatureVerifier) -> None:
    """Check `X-Slack-Signature` over `v0:{timestamp}:{body}` with the SDK's verifier.

    Raises:
        ChannelRejected: 401 when the signature or timestamp is missing, malformed, more than
            five minutes from now, or does not match the body.
    """
    timestamp = inbound.headers.get("X-Slack-Request-Timestamp")
    signature = inbound.headers.get("X-Slack-Signature")
    if not timestamp or not signature:
        raise SignatureRejected(401, "X-Slack-Signature and X-Slack-Request-Timestamp are required")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise SignatureRejected(401, "X-Slack-Request-Timestamp must be a Unix time in seconds")
    if abs(verifier.clock.now() - int(timestamp)) > MAX_CLOCK_SKEW:
        raise SignatureRejected(
            401, "stale request: X-Slack-Request-Timestamp is over 5 minutes off"
        )
    try:
        body = inbound.body.decode("utf-8")
    except UnicodeDecodeError:
        body = None  # Slack signs UTF-8 text; these bytes cannot be what it signed
    # compare_digest refuses non-ASCII strings: such a header cannot match anyway.
    if body is None or not signature.isascii() or not verifier.is_valid(body, timestamp, signature):
        raise SignatureRejected(401, "X-Slack-Signature does not match the request body")


# --------------------------------------------------------------------------- payload models


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


SlackId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
]
Timestamp = Annotated[str, StringConstraints(pattern=r"^\d{1,12}(\.\d{1,9})?$")]


class Authorization(_Model):
    user_id: str | None = None
    is_bot: bool = False


class EventHead(_Model):
    """The event's type, all the envelope needs: its listener validates the rest (a copy of
    every other field into the model, as `extra="allow"` made, cost 1 µs an event unread)."""

    type: str = Field(min_length=1, max_length=100)


class EventCallback(_Model):
    """The Events API envelope (`type: event_callback`)."""

    type: Literal["event_callback"]
    team_id: SlackId
    event_id: str = Field(min_length=1, max_length=100)
    event: EventHead
    authorizations: tuple[Authorization, ...] = ()

    @property
    def bot_user_ids(self) -> tuple[str, ...]:
        return tuple(a.user_id for a in self.authorizations if a.is_bot and a.user_id)


class UrlVerification(_Model):
    type: Literal["url_verification"]
    challenge: str = Field(min_length=1, max_length=500)


class SslCheck(_Model):
    ssl_check: Literal["1"]


class SlashCommand(_Model):
    command: str = Field(min_length=2, max_length=64)
    team_id: SlackId
    channel_id: SlackId
    user_id: SlackId
    trigger_id: str = Field(min_length=1, max_length=150)
    text: str = Field("", max_length=8000)


class _Ref(_Model):
    id: SlackId


class UserRef(_Model):
    id: SlackId
    team_id: SlackId | None = None


class Container(_Model):
    type: str = ""
    channel_id: SlackId | None = None
    message_ts: Timestamp | None = None
    thread_ts: Timestamp | None = None


class MessageRef(_Model):
    ts: Timestamp
    thread_ts: Timestamp | None = None


class ActionRef(_Model):
    action_id: str = Field(min_length=1, max_length=255)
    value: str | None = Field(None, max_length=2000)


class BlockActions(_Model):
    """An interactivity payload for buttons (`type: block_actions`)."""

    type: Literal["block_actions"]
    user: UserRef
    team: _Ref | None = None
    channel: _Ref | None = None
    container: Container | None = None
    message: MessageRef | None = None
    actions: tuple[ActionRef, ...] = Field(min_length=1, max_length=25)

    @property
    def team_id(self) -> str | None:
        return self.team.id if self.team is not None else self.user.team_id


class OtherPayload(_Model):
    """Any other event or interactivity type: acknowledged, not acted on."""

    type: str = Field(min_length=1, max_length=100)


Envelope = EventCallback | UrlVerification | SslCheck | SlashCommand | BlockActions | OtherPayload


class SlackFile(_Model):
    name: str | None = Field(None, max_length=1000)
    mimetype: str | None = Field(None, max_length=200)
    size: int | None = Field(None, ge=0)
    url_private: str | None = Field(None, max_length=2000)


class MessageEvent(_Model):
    """An `app_mention` or `message` event, as far as a task needs it."""

    type: Literal["app_mention", "message"]
    channel: SlackId
    ts: Timestamp
    user: SlackId | None = None
    bot_id: str | None = None
    subtype: str | None = None
    text: str = Field("", max_length=40_000)
    thread_ts: Timestamp | None = None
    channel_type: str | None = None
    files: tuple[SlackFile, ...] = Field((), max_length=20)


# --------------------------------------------------------------------------- parsing


def parse(inbound: InboundRequest) -> tuple[dict[str, Any], Envelope]:
    """The payload bolt dispatches on (secrets removed) and its validated envelope.

    Slack posts JSON for the Events API, a form with a JSON `payload` field for
    interactivity, and a plain form for slash commands.

    Raises:
        ChannelRejected: 400 naming what is malformed or missing.
    """
    text = inbound.body.decode("utf-8")  # verify() has checked that it decodes
    if "\x00" in text:
        raise ChannelRejected(400, "the body must not contain NUL characters")
    content_type = inbound.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(text, keep_blank_values=True))
        if "payload" in form:
            body = _json_object(form["payload"], "the payload field")
        elif "command" in form or "ssl_check" in form:
            body = dict(form)
        else:
            raise ChannelRejected(400, "a form body needs a payload (interactivity) or a command")
    elif content_type in ("application/json", ""):
        body = _json_object(text, "the body")
    else:
        raise ChannelRejected(400, f"unsupported Content-Type {content_type!r}")
    return _without_secrets(body)


def parse_payload(payload: Any) -> tuple[dict[str, Any], Envelope]:
    """A Socket Mode envelope's payload, as `parse` gives an HTTP body: the payload bolt
    dispatches on (secrets removed) and its validated envelope. Socket Mode sends the same
    objects the HTTP routes receive: the Events API envelope, the interactivity payload, the
    slash command's fields.

    Raises:
        ChannelRejected: 400 naming what is malformed or missing.
    """
    if not isinstance(payload, dict):
        raise ChannelRejected(400, "the payload must be a JSON object")
    if _has_nul(payload):
        raise ChannelRejected(400, "the payload must not contain NUL (\\u0000) characters")
    return _without_secrets(dict(payload))


def _without_secrets(body: dict[str, Any]) -> tuple[dict[str, Any], Envelope]:
    for name in SECRET_FIELDS:
        body.pop(name, None)
    return body, _envelope(body)


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise ChannelRejected(400, f"{what} is not valid JSON: nested too deeply") from exc
    except ValueError as exc:
        raise ChannelRejected(400, f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ChannelRejected(400, f"{what} must be a JSON object")
    # json.loads refuses raw control characters in strings, so a NUL can only come from a
    # \u0000 escape: the walk is needed only when the text has one.
    if "\\u0000" in text and _has_nul(data):
        raise ChannelRejected(400, f"{what} must not contain NUL (\\u0000) characters")
    return data


def _has_nul(data: Any) -> bool:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _envelope(body: dict[str, Any]) -> Envelope:
    model: type[_Model]
    if "command" in body:
        model = SlashCommand
    elif "ssl_check" in body:
        model = SslCheck
    else:
        kind = body.get("type")
        if not isinstance(kind, str):
            raise ChannelRejected(400, "invalid request: type: a string is required")
        models: dict[str, type[_Model]] = {
            "event_callback": EventCallback,
            "url_verification": UrlVerification,
            "block_actions": BlockActions,
        }
        model = models.get(kind, OtherPayload)
    try:
        return model.model_validate(body)  # type: ignore[return-value]
    except ValidationError as exc:
        raise ChannelRejected(400, validation_message(exc)) from exc


# --------------------------------------------------------------------------- task drafts


@dataclass(frozen=True, slots=True)
class Draft:
    """A task but for its workspace, which the route resolves from the team id."""

    team_id: str
    kind: TaskKind
    external_id: str
    user_id: str
    conversation: str
    text: str
    route: Route
    raw: dict[str, Any]
    attachments: tuple[Attachment, ...] = field(default=())
    approval: Approval | None = None

    def task(self, workspace_id: str, received_at: datetime) -> Task:
        return Task(
            id=new_id(),
            workspace_id=workspace_id,
            channel="slack",
            external_id=self.external_id,
            sender=Sender(channel="slack", address=self.user_id),
            conversation=self.conversation,
            text=self.text,
            attachments=self.attachments,
            received_at=received_at,
            reply_route=self.route,
            kind=self.kind,
            approval=self.approval,
            raw=self.raw,
        )


_ANY_MENTION = r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>"
_LEADING_MENTION = re.compile(rf"^\s*{_ANY_MENTION}")
_SPACES = re.compile(r"[ \t]{2,}")


@functools.lru_cache(maxsize=256)
def _mentions_of(bot_user_ids: tuple[str, ...]) -> re.Pattern[str]:
    """The mentions of these bot users, compiled once per set of ids (a workspace's bots)."""
    ids = "|".join(re.escape(i) for i in bot_user_ids)
    return re.compile(rf"<@(?:{ids})(?:\|[^>]*)?>")


def strip_mentions(text: str, bot_user_ids: tuple[str, ...]) -> str:
    """TEXT without the mentions of our bot (the leading mention when the bot is unknown),
    and with Slack's escaping of &, < and > undone."""
    if bot_user_ids:
        text = _mentions_of(bot_user_ids).sub(" ", text)
    else:
        text = _LEADING_MENTION.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _bad_request(exc: ValidationError) -> BoltResponse:
    return BoltResponse(status=400, body=validation_message(exc))


def _message_draft(
    envelope: EventCallback, event: MessageEvent, bot_ids: tuple[str, ...], body: dict[str, Any]
) -> Draft:
    assert event.user is not None
    thread = event.thread_ts or event.ts
    return Draft(
        team_id=envelope.team_id,
        kind="message",
        external_id=envelope.event_id,
        user_id=event.user,
        conversation=f"{event.channel}:{thread}",
        text=strip_mentions(event.text, bot_ids),
        route=Route(channel="slack", address=event.channel, thread=thread),
        raw=body,
        attachments=tuple(
            Attachment(
                name=f.name or "file",
                content_type=f.mimetype or "application/octet-stream",
                url=f.url_private,
                size=f.size,
            )
            for f in event.files
        ),
    )


def _from_person(event: MessageEvent, bot_ids: tuple[str, ...]) -> bool:
    return (
        event.user is not None
        and event.bot_id is None
        and event.subtype in PERSON_SUBTYPES
        and event.user not in bot_ids
    )


async def _on_mention(
    body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
) -> BoltResponse | None:
    envelope: EventCallback = context[ENVELOPE]
    try:
        parsed = MessageEvent.model_validate(event)
    except ValidationError as exc:
        return _bad_request(exc)
    bot_ids = context[BOT_USER_IDS]
    if _from_person(parsed, bot_ids):
        context[DRAFT] = _message_draft(envelope, parsed, bot_ids, body)
    return None


async def _on_message(
    body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
) -> BoltResponse | None:
    """Direct messages only: in channels the bot answers when mentioned (`app_mention`)."""
    if event.get("channel_type") != "im":
        return None
    envelope: EventCallback = context[ENVELOPE]
    try:
        parsed = MessageEvent.model_validate(event)
    except ValidationError as exc:
        return _bad_request(exc)
    bot_ids = context[BOT_USER_IDS]
    if _from_person(parsed, bot_ids):
        context[DRAFT] = _message_draft(envelope, parsed, bot_ids, body)
    return None


async def _on_command(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """`/operator <request>`: the answer is posted in the channel (Slack says nothing of a
    thread); the HTTP answer is only a short acknowledgement, seen by the sender alone."""
    command: SlashCommand = context[ENVELOPE]
    context[DRAFT] = Draft(
        team_id=command.team_id,
        kind="command",
        external_id=f"command:{command.trigger_id}",
        user_id=command.user_id,
        conversation=command.channel_id,
        text=command.text.strip() or "help",
        route=Route(channel="slack", address=command.channel_id),
        raw=body,
    )
    await ack(response_type="ephemeral", text=COMMAND_ACK)


async def _on_decision(
    ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext
) -> BoltResponse | None:
    """Approve / Reject on a proposal card: decided by the pipeline without the classifier;
    the card's channel and ts travel along so the outcome replaces the buttons."""
    payload: BlockActions = context[ENVELOPE]
    action = payload.actions[0]
    container = payload.container or Container()
    channel = container.channel_id or (payload.channel.id if payload.channel else None)
    message_ts = container.message_ts or (payload.message.ts if payload.message else None)
    thread = container.thread_ts or (payload.message.thread_ts if payload.message else None)
    team_id = payload.team_id
    if not action.value or not channel or not message_ts or not team_id:
        return BoltResponse(
            status=400,
            body="invalid request: a proposal button needs its value, team, channel and message",
        )
    decision: Literal["approve", "reject"] = (
        "approve" if action.action_id == APPROVE_ACTION else "reject"
    )
    user = payload.user.id
    thread = thread or message_ts
    context[DRAFT] = Draft(
        team_id=team_id,
        kind="approval",
        # A double click, or Slack redelivering the click, is one decision.
        external_id=f"action:{action.value}:{user}:{decision}",
        user_id=user,
        conversation=f"{channel}:{thread}",
        text=decision,
        route=Route(channel="slack", address=channel, thread=thread),
        raw=body,
        approval=Approval(
            decision=decision,
            proposal_id=action.value,
            prompt={"channel": channel, "ts": message_ts, "user": user},
        ),
    )
    await ack()
    return None


async def _on_live(
    ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext
) -> BoltResponse | None:
    """Accept / Decline on a live conversation offered by DM: a command the pipeline hands to
    the live operators' core (core.live.chat) without the classifier. The offer's channel and
    ts travel along: the session is held in that message's thread, and the offer is updated
    in place with the answer."""
    payload: BlockActions = context[ENVELOPE]
    action = payload.actions[0]
    container = payload.container or Container()
    channel = container.channel_id or (payload.channel.id if payload.channel else None)
    message_ts = container.message_ts or (payload.message.ts if payload.message else None)
    team_id = payload.team_id
    if not action.value or not channel or not message_ts or not team_id:
        return BoltResponse(
            status=400,
            body="invalid request: a live offer button needs its value, team, channel and message",
        )
    verb = "accept" if action.action_id == LIVE_ACCEPT_ACTION else "decline"
    user = payload.user.id
    context[DRAFT] = Draft(
        team_id=team_id,
        kind="command",
        # A double click, or Slack redelivering it, is one answer; the message ts keeps apart
        # a later offer of the same session (passed on, then back to this operator).
        external_id=f"live:{action.value}:{message_ts}:{user}:{verb}"[:200],
        user_id=user,
        conversation=f"{channel}:{message_ts}",
        text=f"live {verb}",
        route=Route(channel="slack", address=channel, thread=message_ts),
        raw={
            **body,
            "live": {
                "action": verb,
                "session_id": action.value,
                "channel": channel,
                "ts": message_ts,
            },
        },
    )
    await ack()
    return None


# Events API events the listeners below turn into drafts.
MESSAGE_EVENTS = {"app_mention": _on_mention, "message": _on_message}


async def event_draft(body: dict[str, Any], envelope: EventCallback) -> Draft | None:
    """The draft of an `app_mention` or `message` event, from the same listeners bolt would
    run, called directly: bolt's dispatch (its middleware, matchers and keyword injection)
    took a fifth of the CPU of every Slack webhook, and for these events it adds nothing the
    listeners do not do (they ignore the bot's own messages; authorization is per request).

    Raises:
        ChannelRejected: 400 when the event is malformed.
    """
    listener = MESSAGE_EVENTS[envelope.event.type]
    context: dict[str, Any] = {ENVELOPE: envelope, BOT_USER_IDS: envelope.bot_user_ids}
    response = await listener(body, body["event"], context)  # type: ignore[arg-type]
    if response is not None:
        raise ChannelRejected(400, str(response.body) or "invalid request")
    draft = context.get(DRAFT)
    return draft if isinstance(draft, Draft) else None


def build_app(token: str, client: AsyncWebClient, logger: logging.Logger) -> AsyncApp:
    """The bolt app. Its request verification is off because the route has verified the
    signature already (before parsing anything); it authorizes without calling auth.test, so
    start-up and the first request need no network; its listeners only parse, and run before
    the response, which the route sends once the task is committed."""

    async def authorize(
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        context: AsyncBoltContext,
    ) -> AuthorizeResult:
        bot_ids = context.get(BOT_USER_IDS) or ()
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            bot_token=token,
            bot_user_id=bot_ids[0] if bot_ids else None,
        )

    app = AsyncApp(
        # Bolt makes a logger of the app's name at every request and copies LOGGER's level
        # onto it: named after LOGGER it is LOGGER, and no other logger's level is touched
        # (named "switchboard", it pinned the gateway's own logger at Bolt's level).
        name=logger.name,
        client=client,
        authorize=authorize,
        logger=logger,
        request_verification_enabled=False,
        process_before_response=True,
    )
    app.event("app_mention")(_on_mention)
    app.event("message")(_on_message)
    app.command(COMMAND)(_on_command)
    app.action(APPROVE_ACTION)(_on_decision)
    app.action(REJECT_ACTION)(_on_decision)
    app.action(LIVE_ACCEPT_ACTION)(_on_live)
    app.action(LIVE_DECLINE_ACTION)(_on_live)
    return app
