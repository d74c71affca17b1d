"""Telegram updates into Tasks: python-telegram-bot's `Application` and handlers do the parsing.

The Application never fetches or queues anything itself (it is built with `.updater(None)`):
the webhook route and the long-polling loop hand it one `Update` at a time through
`parse_update`, its handlers turn that update into a `Task` (or nothing, for updates the
gateway does not act on), and the caller commits the Task before acknowledging the update.
"""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

from telegram import Bot, Message, Update, User
from telegram.constants import MessageEntityType
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from models.task import Approval, Route, Sender, Task
from storage.types import new_id, utcnow

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# The only updates the gateway acts on; asked for explicitly in setWebhook / getUpdates.
ALLOWED_UPDATES = ("message", "callback_query")

# Inline keyboard buttons of a proposal: "p:<proposal id>:a" (approve) or ":r" (reject).
# Telegram allows 64 bytes of callback data; a proposal id is 32 hex digits.
_BUTTON = re.compile(r"p:([A-Za-z0-9_-]{1,56}):([ar])")
_DECISIONS: dict[str, Literal["approve", "reject"]] = {"a": "approve", "r": "reject"}
_GREETINGS = ("start", "help")


class UnusableUpdate(ValueError):
    """The body is not a Telegram update, or the update cannot be turned into a task."""


def button_data(proposal_id: str, *, approve: bool) -> str:
    """The callback data of a proposal's Approve / Reject button."""
    return f"p:{proposal_id}:{'a' if approve else 'r'}"


def file_url_for(base_url: str) -> str:
    """The SDK's file URL for an API URL: `https://api.telegram.org/bot` → `.../file/bot`."""
    head, _, tail = base_url.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}"


def build_application(token: str, base_url: str) -> Application[Any, Any, Any, Any, Any, Any]:
    """A python-telegram-bot Application that only parses: no updater, no job queue.

    Its bot (`ExtBot` on PTB's `HTTPXRequest`) makes exactly one HTTP request per call: no
    transport retries and no rate limiter that would retry a send, so a send is never
    duplicated behind the outbox's back (the outbox retries, once, what failed)."""
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .base_file_url(file_url_for(base_url))
        .updater(None)
        .job_queue(None)
        .build()
    )
    application.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT, _on_text))
    application.add_handler(CallbackQueryHandler(_on_button))
    application.add_error_handler(_on_error)
    return application


def decode_update(body: bytes, bot: Bot) -> Update:
    """The update a webhook body carries.

    Raises:
        UnusableUpdate: the body is not JSON, not an object, has no integer `update_id`, or
            does not have the shape of an update.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise UnusableUpdate("the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise UnusableUpdate("the body must be a JSON object (a Telegram Update)")
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
        raise UnusableUpdate("the body has no update_id: it is not a Telegram Update")
    try:
        return Update.de_json(data, bot)
    except Exception as exc:  # PTB's de_json raises whatever a wrong shape provokes
        raise UnusableUpdate(f"the body is not a Telegram Update: {type(exc).__name__}") from exc


@dataclass(slots=True)
class Intake:
    """What the handlers made of one update, for the caller that commits it."""

    workspace_id: str
    bot_username: str | None
    task: Task | None = None
    callback_query_id: str | None = None
    # For a pressed button the gateway cannot act on: answered at once, nothing stored.
    refusal: str | None = None
    error: BaseException | None = None


# The intake of the update being processed: `Application.process_update` awaits blocking
# handlers in the caller's task, so they see the value the caller set.
_INTAKE: ContextVar[Intake] = ContextVar("switchboard_telegram_intake")


async def parse_update(
    application: Application[Any, Any, Any, Any, Any, Any], update: Update, intake: Intake
) -> Intake:
    """Run UPDATE through the application's handlers; INTAKE gets the task, if any.

    Raises:
        UnusableUpdate: a handler failed on this update.
    """
    token = _INTAKE.set(intake)
    try:
        await application.process_update(update)
    finally:
        _INTAKE.reset(token)
    if intake.error is not None:
        raise UnusableUpdate(f"update {update.update_id} could not be read") from intake.error
    return intake


async def _on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    intake = _INTAKE.get()
    intake.task = message_task(update, intake.workspace_id, intake.bot_username)


async def _on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    intake = _INTAKE.get()
    query = update.callback_query
    if query is None:
        return
    intake.callback_query_id = query.id
    intake.task = button_task(update, intake.workspace_id)
    if intake.task is None:
        intake.refusal = "This button is no longer active."


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    intake = _INTAKE.get(None)
    if intake is not None:
        intake.error = context.error


def _thread_of(message: Message) -> str:
    """The reply route's thread: the message to reply to, and its forum topic if any
    ("<message id>" or "<message id>:<topic id>")."""
    if message.is_topic_message and message.message_thread_id:
        return f"{message.message_id}:{message.message_thread_id}"
    return str(message.message_id)


def _addressed_text(message: Message, bot_username: str | None) -> tuple[str, bool] | None:
    """The request in MESSAGE without a leading command or @mention of the bot, and whether
    it was a command; None for a command meant for another bot."""
    text = message.text or ""
    first = message.entities[0] if message.entities else None
    if first is not None and first.offset == 0 and first.type == MessageEntityType.BOT_COMMAND:
        command = message.parse_entity(first)[1:]
        name, _, target = command.partition("@")
        if target and (bot_username is None or target.lower() != bot_username.lower()):
            return None
        rest = text[len(message.parse_entity(first)) :].strip()
        if not rest and name.lower() in _GREETINGS:
            return "help", True
        return rest or name, True
    if bot_username:
        mention = f"@{bot_username}".lower()
        if text.lower().startswith(mention):
            text = text[len(mention) :].lstrip(" ,:")
    return text.strip(), False


def message_task(update: Update, workspace_id: str, bot_username: str | None) -> Task | None:
    """A text message as a Task, deduped by `update_id`; None when there is nothing to do."""
    message = update.message
    if message is None or message.text is None or message.from_user is None:
        return None
    addressed = _addressed_text(message, bot_username)
    if addressed is None or not addressed[0]:
        return None
    text, is_command = addressed
    chat = str(message.chat.id)
    return Task(
        id=new_id(),
        workspace_id=workspace_id,
        channel="telegram",
        external_id=str(update.update_id),
        sender=Sender(channel="telegram", address=str(message.from_user.id)),
        conversation=chat,
        text=text,
        received_at=utcnow(),
        reply_route=Route(channel="telegram", address=chat, thread=_thread_of(message)),
        kind="command" if is_command else "message",
        sender_name=_name_of(message.from_user),
        raw={"update": update.to_dict()},
    )


def _name_of(user: User) -> str | None:
    return " ".join(n for n in (user.first_name, user.last_name) if n) or None


def button_task(update: Update, workspace_id: str) -> Task | None:
    """A proposal's Approve / Reject button as an approval Task; None for other buttons.

    Deduped per proposal, person and decision: a double tap is one task."""
    query = update.callback_query
    if query is None:
        return None
    found = _BUTTON.fullmatch(query.data or "")
    if found is None:
        return None
    proposal_id, decision = found.group(1), _DECISIONS[found.group(2)]
    user = str(query.from_user.id)
    prompt = query.message
    chat = str(prompt.chat.id) if prompt is not None else user
    approval = Approval(
        decision=decision,
        proposal_id=proposal_id,
        # The prompt to update in place once decided (the pipeline hands this back).
        prompt={
            "chat_id": prompt.chat.id,
            "message_id": prompt.message_id,
            "callback_query_id": query.id,
        }
        if prompt is not None
        else None,
    )
    return Task(
        id=new_id(),
        workspace_id=workspace_id,
        channel="telegram",
        external_id=f"cb:{proposal_id}:{user}:{decision}",
        sender=Sender(channel="telegram", address=user),
        conversation=chat,
        text=f"{decision} (button)",
        received_at=utcnow(),
        reply_route=Route(
            channel="telegram",
            address=chat,
            thread=str(prompt.message_id) if prompt is not None else None,
        ),
        kind="approval",
        approval=approval,
        raw={"update": update.to_dict()},
    )
