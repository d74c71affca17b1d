"""Deliverables as Bot API calls: HTML rendering, splitting within Telegram's limits, inline
keyboards for proposals, uploads, and the SDK's errors mapped to delivery errors.

Parse mode is HTML throughout: every piece of text is escaped (`<`, `>`, `&`), so what a
person or a tool wrote arrives literally; the markup we add is a bold title. Limits apply to
the text after entity parsing and Telegram counts them in UTF-16 code units, so text is split
as plain text (measured in UTF-16) and escaped afterwards.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from channels.telegram.inbound import button_data
from delivery import errors
from delivery.media import MediaStore
from delivery.ratelimit import RateKey
from delivery.render import media_of, split_text, utf16_len
from delivery.senders import Op
from models.deliverable import Deliverable, Receipt
from models.task import Route

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # larger images go as documents
OUTCOME_TITLES = {
    "executed": "Approved",
    "rejected": "Rejected",
    "expired": "Expired",
    "stale": "Not carried out",
}
# Edits that cannot happen (the prompt was deleted, or is older than 48 hours): say it anew.
_EDIT_GONE = ("message to edit not found", "message can't be edited")


def rate_keys(chat: str) -> tuple[RateKey, ...]:
    """About 1 message a second per chat, 30 a second per bot, 20 a minute per group."""
    keys: tuple[RateKey, ...] = (("telegram.chat", chat), ("telegram.bot", "global"))
    if chat.startswith("-"):  # groups, supergroups and channels have negative ids
        keys += (("telegram.group", chat),)
    return keys


def escape(text: str) -> str:
    """Text for parse mode HTML: shown literally, whatever it contains."""
    return html.escape(text, quote=False)


def _placement(thread: str | None) -> tuple[int | None, int | None]:
    """(message to reply to, forum topic) from a route's thread ("<id>" or "<id>:<topic>")."""
    if not thread:
        return None, None
    message, _, topic = thread.partition(":")
    return (
        int(message) if message.isdigit() else None,
        int(topic) if topic.isdigit() else None,
    )


def _layout(deliverable: Deliverable) -> tuple[str | None, str]:
    """Title (shown bold) and body, as plain text."""
    if deliverable.kind == "card" and deliverable.fields:
        lines = "\n".join(f"{f.label}: {f.value}" for f in deliverable.fields)
        return deliverable.title, f"{lines}\n\n{deliverable.text}"
    if deliverable.kind == "proposal":
        return deliverable.title or "Approval needed", deliverable.text
    if deliverable.kind in ("card", "list"):
        return deliverable.title, deliverable.text
    return None, deliverable.text


def _take(text: str, limit: int) -> tuple[str, str]:
    """The first part of TEXT within LIMIT (split where `split_text` would), and the rest."""
    text = text.strip()
    head = split_text(text, limit, measure=utf16_len)[0]
    return head, text[len(head) :].strip()


def _parts(title: str | None, body: str, limit: int) -> list[str]:
    """Title and body as HTML parts of at most LIMIT visible UTF-16 units each."""
    plain = f"{title}\n{body}" if title else body
    parts = split_text(plain, limit, measure=utf16_len)
    rendered = [escape(part) for part in parts]
    if title and parts[0].startswith(title):
        rendered[0] = f"<b>{escape(title)}</b>{escape(parts[0][len(title) :])}"
    return rendered


def plan(route: Route, deliverable: Deliverable) -> list[Op]:
    """The Bot API calls that deliver DELIVERABLE on ROUTE (pure: the same every time)."""
    keys = rate_keys(route.address)
    reply_to, topic = _placement(route.thread)
    placement = {"reply_to": reply_to, "topic": topic}
    after = {"reply_to": None, "topic": topic}

    edit = deliverable.data.get("edit")
    if isinstance(edit, dict) and edit.get("message_id") is not None:
        # A decided proposal: its prompt shows the outcome, the keyboard goes away.
        status = deliverable.data.get("proposal", {}).get("status")
        title = OUTCOME_TITLES.get(status) if isinstance(status, str) else None
        first, *rest = _parts(title, deliverable.text, TEXT_LIMIT)
        payload = {"chat_id": edit.get("chat_id", route.address), "message_id": edit["message_id"]}
        ops = [Op("edit", {**payload, "text": first, **placement}, keys)]
        return ops + [Op("message", {"text": part, **after}, keys) for part in rest]

    media = media_of(deliverable)
    if media is not None:
        content_type = str(media.get("content_type", ""))
        size = media.get("size")
        photo = content_type.startswith("image/") and (
            not isinstance(size, int) or size <= PHOTO_MAX_BYTES
        )
        caption, remainder = _take(deliverable.text, CAPTION_LIMIT)
        upload = {
            "media_id": media["id"],
            "filename": media.get("filename") or "file",
            "caption": escape(caption),
            **placement,
        }
        ops = [Op("photo" if photo else "document", upload, keys)]
        if remainder:
            overflow = _parts(None, remainder, TEXT_LIMIT)
            ops += [Op("message", {"text": part, **after}, keys) for part in overflow]
        return ops

    parts = _parts(*_layout(deliverable), TEXT_LIMIT)
    ops = [
        Op("message", {"text": part, **(placement if i == 0 else after)}, keys)
        for i, part in enumerate(parts)
    ]
    proposal = deliverable.data.get("proposal")
    if (
        deliverable.kind == "proposal"
        and isinstance(proposal, dict)
        and proposal.get("status", "pending") == "pending"
        and proposal.get("id")
    ):
        buttons = [
            ("Approve", button_data(str(proposal["id"]), approve=True)),
            ("Reject", button_data(str(proposal["id"]), approve=False)),
        ]
        last = ops[-1]
        ops[-1] = Op(last.action, {**last.payload, "buttons": buttons}, last.rate_keys)
    return ops


def _chat(address: str) -> int | str:
    return int(address) if re.fullmatch(r"-?[0-9]+", address) else address


def _keyboard(buttons: list[tuple[str, str]] | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in buttons]]
    )


def _reply(payload: dict[str, Any]) -> dict[str, Any]:
    """Where a message goes within its chat: the message it answers, the forum topic."""
    placed: dict[str, Any] = {}
    if payload.get("reply_to") is not None:
        # The person may have deleted their message meanwhile: send anyway.
        placed["reply_parameters"] = ReplyParameters(
            payload["reply_to"], allow_sending_without_reply=True
        )
    if payload.get("topic") is not None:
        placed["message_thread_id"] = payload["topic"]
    return placed


def delivery_error(exc: TelegramError, route: Route) -> errors.DeliveryError:
    """The delivery error for a python-telegram-bot exception (BadRequest and TimedOut are
    NetworkErrors in PTB, so the order of the checks matters)."""
    message = f"Telegram: {exc.message}"
    if isinstance(exc, RetryAfter):
        wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return errors.RateLimited(message, retry_after=seconds)
    if isinstance(exc, ChatMigrated):
        # The group became a supergroup with a new id: the same reply goes there.
        new_route = Route(channel="telegram", address=str(exc.new_chat_id))
        return errors.Rerouted(message, route=new_route)
    if isinstance(exc, Forbidden | InvalidToken):
        return errors.Forbidden(message)
    if isinstance(exc, BadRequest):
        if "chat not found" in exc.message.lower():
            return errors.InvalidRecipient(message)
        return errors.BadRequest(message)
    if isinstance(exc, TimedOut):
        return errors.ProviderTimeout(message)
    if isinstance(exc, NetworkError):
        return errors.ProviderUnavailable(message)
    # Conflict, an unreadable answer, anything else the API said: worth another try.
    return errors.ProviderUnavailable(message)


class TelegramSender:
    """Plans deliverables as Bot API calls and makes them with the channel's bot."""

    def __init__(self, bot: Bot, media: MediaStore | None = None) -> None:
        self.bot = bot
        self.media = media

    def plan(self, route: Route, deliverable: Deliverable) -> list[Op]:
        return plan(route, deliverable)

    async def perform(self, route: Route, op: Op) -> Receipt:
        """Make one call; raises a DeliveryError mapped from the SDK's exception."""
        try:
            sent = await self._call(route, op)
        except TelegramError as exc:
            raise delivery_error(exc, route) from exc
        if op.action == "edit" or not isinstance(sent, Message):
            # The prompt's message already has its receipt (from when it was sent).
            return Receipt()
        # Message ids count per chat: the chat makes the receipt's id unique.
        return Receipt(provider_message_id=f"{sent.chat.id}:{sent.message_id}")

    async def _call(self, route: Route, op: Op) -> Message | bool:
        payload = op.payload
        chat = _chat(route.address)
        if op.action == "message":
            return await self._send(chat, payload["text"], payload)
        if op.action == "edit":
            return await self._edit(chat, payload)
        if op.action in ("document", "photo"):
            return await self._upload(chat, op.action, payload)
        raise BadRequest(f"unknown operation {op.action!r}")

    async def _send(self, chat: int | str, text: str, payload: dict[str, Any]) -> Message:
        return await self.bot.send_message(
            chat_id=chat,
            text=text,
            parse_mode=ParseMode.HTML,
            reply_markup=_keyboard(payload.get("buttons")),
            **_reply(payload),
        )

    async def _edit(self, chat: int | str, payload: dict[str, Any]) -> Message | bool:
        try:
            return await self.bot.edit_message_text(
                chat_id=_chat(str(payload["chat_id"])),
                message_id=int(payload["message_id"]),
                text=payload["text"],
                parse_mode=ParseMode.HTML,
                reply_markup=None,  # the decision is made: no more buttons
            )
        except BadRequest as exc:
            reason = exc.message.lower()
            if "message is not modified" in reason:
                return True  # already shows this outcome (a retry after a lost answer)
            if any(gone in reason for gone in _EDIT_GONE):
                return await self._send(chat, payload["text"], payload)
            raise

    async def _upload(self, chat: int | str, action: str, payload: dict[str, Any]) -> Message:
        if self.media is None:
            raise errors.ProviderUnavailable("the Telegram sender is not started")
        found = await self.media.load(str(payload["media_id"]))
        if found is None:
            note = escape(f"(The file {payload['filename']} has expired.)")
            text = f"{payload['caption']}\n\n{note}" if payload["caption"] else note
            return await self._send(chat, text, payload)
        common: dict[str, Any] = {
            "chat_id": chat,
            "caption": payload["caption"] or None,
            "parse_mode": ParseMode.HTML,
            "filename": found.filename,
            **_reply(payload),
        }
        if action == "photo":
            return await self.bot.send_photo(photo=found.data, **common)
        return await self.bot.send_document(document=found.data, **common)
