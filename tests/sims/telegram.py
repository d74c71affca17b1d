"""Telegram Bot API simulator (``<url>/bot<token>/<method>``) for python-telegram-bot's ``Bot``."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import time
from collections.abc import Callable
from typing import Any, ClassVar

from aiohttp import web

from tests.sims.base import FaultKind, Limit, Recorded, Simulator

__all__ = ["TelegramSim"]

Params = dict[str, Any]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_LONG_POLL = 50.0
# Methods that send or change a message: what the Bot FAQ's limits count.
_MESSAGE_METHODS = frozenset(
    {"sendmessage", "sendphoto", "senddocument", "editmessagetext", "editmessagereplymarkup"}
)

# Parameters whose values are strings even when they look like JSON numbers or booleans.
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "action",
        "file_id",
        "ip_address",
        "business_connection_id",
        "message_effect_id",
        "title",
        "emoji",
        "photo",
        "document",
        "audio",
        "voice",
        "video",
    }
)


# Telegram's HTML parse mode: the tags it knows (and the entity each makes) and the character
# references it decodes; anything else is "can't parse entities", as on Telegram.
_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>")
_HTML_REF = re.compile(r"&(#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|lt|gt|amp|quot);")
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def utf16_len(text: str) -> int:
    """Telegram measures text, captions and entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def parse_html(source: str) -> tuple[str, list[Params]]:
    """The text a user sees and its entities, as Telegram parses ``parse_mode=HTML``.

    Raises:
        _ApiError: 400 "can't parse entities" for an unknown or unbalanced tag, or a bare
            ``<``, ``>`` or ``&`` (Telegram requires them escaped).
    """
    plain: list[str] = []
    length = 0
    open_tags: list[tuple[str, str, int]] = []
    entities: list[Params] = []
    at = 0
    while at < len(source):
        char = source[at]
        if char == "<":
            tag = _HTML_TAG.match(source, at)
            if tag is None:
                raise _cant_parse(f'unexpected "<" at offset {at}')
            closing, name = tag.group(1) == "/", tag.group(2).lower()
            if name not in _HTML_TAGS:
                raise _cant_parse(f'Unsupported start tag "{name}" at offset {at}')
            if closing:
                if not open_tags or open_tags[-1][0] != name:
                    raise _cant_parse(f'Unmatched end tag at offset {at}, expected "</{name}>"')
                _, kind, start = open_tags.pop()
                if length > start:
                    entities.append({"type": kind, "offset": start, "length": length - start})
            else:
                open_tags.append((name, _HTML_TAGS[name], length))
            at = tag.end()
            continue
        if char == "&":
            ref = _HTML_REF.match(source, at)
            if ref is None:
                raise _cant_parse(f'unexpected "&" at offset {at}: escape it as "&amp;"')
            name = ref.group(1)
            if name.startswith("#x"):
                char = chr(int(name[2:], 16))
            elif name.startswith("#"):
                char = chr(int(name[1:]))
            else:
                char = _NAMED_REFS[name]
            at = ref.end()
        elif char == ">":
            raise _cant_parse(f'unexpected ">" at offset {at}: escape it as "&gt;"')
        else:
            at += 1
        plain.append(char)
        length += utf16_len(char)
    if open_tags:
        raise _cant_parse(f'Can\'t find end tag corresponding to start tag "{open_tags[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(plain), entities


def _cant_parse(detail: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: can't parse entities: {detail}")


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: Params | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


class TelegramSim(Simulator):
    """Speaks enough of the Bot API for ``telegram.Bot(token, base_url=sim.base_url)``.

    Methods (case-insensitive, as on Telegram): getMe, sendMessage, editMessageText,
    editMessageReplyMarkup, answerCallbackQuery, sendPhoto, sendDocument, sendChatAction,
    setWebhook, deleteWebhook, getWebhookInfo, getUpdates (long-polls the updates pushed with
    ``push_update``/``push_message``/``push_callback_query``), getFile, and file downloads at
    ``<url>/file/bot<token>/<file_path>``. A wrong token answers 401 like Telegram.

    With ``parse_mode=HTML`` text and captions are parsed as Telegram parses them: what is
    stored (``sent``) is the text a user sees, with its ``entities``, and a bare ``<``, ``>``
    or ``&`` or an unknown tag is refused ("can't parse entities"). Lengths are checked after
    parsing, in UTF-16 code units. ``message_update``/``callback_query_update`` build updates
    to POST to a webhook.

    ``enforce_limits=True``: messages (sends and edits) over the Bot FAQ's limits are refused
    with 429 and ``retry_after``: 1 per second in one chat, 20 per minute in one group or
    channel, 30 per second for the bot.
    """

    name: ClassVar[str] = "telegram"

    def __init__(
        self,
        *,
        token: str = "123456789:AAsimTOKENsimTOKENsimTOKENsimTOKEN0",
        username: str = "switchboard_sim_bot",
        first_name: str = "Switchboard",
        enforce_limits: bool = False,
    ) -> None:
        self.token = token
        self.bot_user: Params = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.sent: list[Params] = []
        """Message objects the bot sent, in order; edits update them in place."""
        self.callback_answers: list[Params] = []
        self.chat_actions: list[Params] = []
        self.webhook: Params | None = None
        self.webhook_error: str | None = None
        """``getWebhookInfo``'s ``last_error_message`` (a failed delivery to the webhook)."""
        self.files: dict[str, Params] = {}
        """file_id -> {file_id, file_unique_id, file_path, data}."""
        self.received: dict[tuple[int | str, int], Params] = {}
        """Users' messages built by ``message_update``, by (chat id, message id)."""
        self.missing_chats: set[int | str] = set()
        """Chats that answer "Bad Request: chat not found" (the bot was never in them)."""
        self._updates: list[Params] = []
        self._update_event = asyncio.Event()
        self._update_ids = itertools.count(100_000_001)
        self._message_ids = itertools.count(1)
        self._file_seq = itertools.count(1)
        super().__init__(enforce_limits=enforce_limits)
        self._methods: dict[str, Callable[[Params, Recorded], Any]] = {
            "getme": lambda p, r: self.bot_user,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "sendphoto": self._send_photo,
            "senddocument": self._send_document,
            "sendchataction": self._send_chat_action,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "getfile": self._get_file,
        }

    @property
    def base_url(self) -> str:
        """The SDK ``base_url`` (form ``https://api.telegram.org/bot``; the token follows)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """The SDK ``base_file_url`` (form ``https://api.telegram.org/file/bot``)."""
        return f"{self.url}/file/bot"

    # ------------------------------------------------------------------ scripting

    def push_update(self, update: Params) -> Params:
        """Queue an update for ``getUpdates`` (an ``update_id`` is assigned when missing)."""
        if "update_id" not in update:
            update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self._update_event.set()
        return update

    def message_update(
        self,
        chat_id: int,
        text: str,
        *,
        from_id: int | None = None,
        first_name: str = "Test",
        username: str | None = None,
        chat_type: str | None = None,
        message_thread_id: int | None = None,
    ) -> Params:
        """A user's text message as Telegram delivers it (an ``update_id`` included), for a
        webhook POST; the simulator remembers it so that replies to it resolve."""
        sender = {"id": from_id if from_id is not None else chat_id, "is_bot": False}
        sender["first_name"] = first_name
        if username:
            sender["username"] = username
        chat_type = chat_type or self._chat(chat_id)["type"]
        chat: Params = {"id": chat_id, "type": chat_type}
        chat.update({"first_name": first_name} if chat_type == "private" else {"title": "Group"})
        message: Params = {
            "message_id": next(self._message_ids),
            "from": sender,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        if message_thread_id is not None:
            message["message_thread_id"] = message_thread_id
            message["is_topic_message"] = True
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        self.received[(chat_id, message["message_id"])] = message
        return {"update_id": next(self._update_ids), "message": message}

    def callback_query_update(
        self,
        chat_id: int,
        data: str,
        *,
        message_id: int | None = None,
        from_id: int | None = None,
        first_name: str = "Test",
    ) -> Params:
        """An inline-button press on the bot's message ``message_id`` (default: the last one
        sent to the chat) as Telegram delivers it, for a webhook POST."""
        target = self._find_sent(chat_id, message_id) if message_id is not None else None
        if target is None:
            sent = [m for m in self.sent if m["chat"]["id"] == chat_id]
            target = sent[-1] if sent else self._message(chat_id, {"text": ""}, store=False)
        user = {"id": from_id if from_id is not None else chat_id, "is_bot": False}
        user["first_name"] = first_name
        query = {
            "id": str(next(self._update_ids)),
            "from": user,
            "message": target,
            "chat_instance": str(chat_id),
            "data": data,
        }
        return {"update_id": next(self._update_ids), "callback_query": query}

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        from_id: int | None = None,
        first_name: str = "Test",
        username: str | None = None,
        chat_type: str = "private",
    ) -> Params:
        """Queue a user's text message for ``getUpdates``; returns the update."""
        return self.push_update(
            self.message_update(
                chat_id,
                text,
                from_id=from_id,
                first_name=first_name,
                username=username,
                chat_type=chat_type,
            )
        )

    def push_callback_query(
        self,
        chat_id: int,
        data: str,
        *,
        message_id: int | None = None,
        from_id: int | None = None,
        first_name: str = "Test",
    ) -> Params:
        """Queue an inline-button press for ``getUpdates`` (see ``callback_query_update``)."""
        return self.push_update(
            self.callback_query_update(
                chat_id, data, message_id=message_id, from_id=from_id, first_name=first_name
            )
        )

    def add_file(self, data: bytes, *, file_path: str | None = None) -> str:
        """Make ``data`` downloadable through getFile; returns its ``file_id``."""
        return self._store_file(data, file_path or f"documents/file_{next(self._file_seq)}")[
            "file_id"
        ]

    # ------------------------------------------------------------------ inspection

    def params(self, method: str) -> list[Params]:
        """Decoded parameters of every call to ``method`` (e.g. ``"sendMessage"``)."""
        suffix = f"/{method.lower()}"
        return [
            _decode_params(r)
            for r in self.requests
            if r.path.lower().endswith(suffix) and r.path.startswith("/bot")
        ]

    def messages(self, chat_id: int | str | None = None) -> list[Params]:
        """Messages the bot sent, optionally to one chat."""
        return [m for m in self.sent if chat_id is None or m["chat"]["id"] == chat_id]

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    # ------------------------------------------------------------------ routes

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/bot{token}/{method}", self._api)
        router.add_get("/file/bot{token}/{file_path:.+}", self._download)

    def limits(self, record: Recorded) -> list[Limit]:
        if not record.path.startswith("/bot"):
            return []
        method = record.path.rsplit("/", 1)[-1].lower()
        if method not in _MESSAGE_METHODS:
            return []
        chat = _decode_params(record).get("chat_id")
        limits = [Limit(f"chat:{chat}", 1, 1.0), Limit("bot", 30, 1.0)]
        if isinstance(chat, str) or (isinstance(chat, int) and chat < 0):
            limits.append(Limit(f"group:{chat}", 20, 60.0))
        return limits

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        if status == 429:
            ra = retry_after if retry_after is not None else 1
            return _error(429, f"Too Many Requests: retry after {ra}", {"retry_after": ra})
        if status == 403:
            return _error(403, error or "Forbidden: bot was blocked by the user")
        if status == 502:
            return _error(502, error or "Bad Gateway")
        return _error(
            status, error or ("Internal Server Error" if status >= 500 else "Bad Request")
        )

    async def _api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"].lower()
        record = self.record_of(request)
        params = _decode_params(record)
        try:
            if method == "getupdates":
                result: Any = await self._get_updates(params)
            else:
                handler = self._methods.get(method)
                if handler is None:
                    return _error(404, "Not Found")
                result = handler(params, record)
        except _ApiError as exc:
            return _error(exc.status, exc.description, exc.parameters)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401, text="Unauthorized")
        path = request.match_info["file_path"]
        for stored in self.files.values():
            if stored["file_path"] == path:
                return web.Response(body=stored["data"], content_type="application/octet-stream")
        return _error(404, "Not Found")

    # ------------------------------------------------------------------ methods

    def _chat(self, chat_id: int | str) -> Params:
        if isinstance(chat_id, str):  # @channelusername
            name = chat_id.lstrip("@")
            fake_id = -1_000_000_000_000 - int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)
            return {"id": fake_id, "type": "channel", "title": name, "username": name}
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "Test"}
        if chat_id <= -1_000_000_000_000:
            return {"id": chat_id, "type": "supergroup", "title": "Group"}
        return {"id": chat_id, "type": "group", "title": "Group"}

    def _message(self, chat_id: int | str, content: Params, *, store: bool = True) -> Params:
        message: Params = {
            "message_id": next(self._message_ids),
            "from": self.bot_user,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            **{k: v for k, v in content.items() if v is not None},
        }
        if store:
            self.sent.append(message)
        return message

    def _find_sent(self, chat_id: Any, message_id: Any) -> Params | None:
        for message in self.sent:
            if message["message_id"] == message_id and message["chat"]["id"] == chat_id:
                return message
        return None

    def _chat_id(self, params: Params) -> int | str:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if chat_id in self.missing_chats:
            raise _ApiError(400, "Bad Request: chat not found")
        if isinstance(chat_id, int | str):
            return chat_id
        raise _ApiError(400, "Bad Request: chat not found")

    def _send_message(self, params: Params, record: Recorded) -> Params:
        chat_id = self._chat_id(params)
        text, entities = self._text(params)
        return self._message(
            chat_id,
            {
                "text": text,
                "entities": entities or None,
                "reply_markup": params.get("reply_markup"),
                **self._placement(chat_id, params),
            },
        )

    @staticmethod
    def _formatted(value: Any, params: Params) -> tuple[str, list[Params]]:
        """VALUE as Telegram stores it: parsed when ``parse_mode`` is HTML (other parse modes
        are kept verbatim: the simulator does not parse Markdown)."""
        text = str(value)
        if str(params.get("parse_mode") or "").upper() == "HTML":
            return parse_html(text)
        return text, []

    def _text(self, params: Params) -> tuple[str, list[Params]]:
        raw = params.get("text")
        if not raw:
            raise _ApiError(400, "Bad Request: message text is empty")
        text, entities = self._formatted(raw, params)
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise _ApiError(400, "Bad Request: message is too long")
        return text, entities

    def _placement(self, chat_id: int | str, params: Params) -> Params:
        """``reply_to_message`` (from ``reply_parameters``) and ``message_thread_id``."""
        placed: Params = {}
        reply = params.get("reply_parameters")
        if isinstance(reply, dict) and reply.get("message_id") is not None:
            target = self._find_sent(chat_id, reply["message_id"]) or self.received.get(
                (chat_id, reply["message_id"])
            )
            if target is None and not reply.get("allow_sending_without_reply"):
                raise _ApiError(400, "Bad Request: message to be replied not found")
            if target is not None:
                placed["reply_to_message"] = {
                    k: v for k, v in target.items() if k != "reply_to_message"
                }
        if params.get("message_thread_id") is not None:
            placed["message_thread_id"] = params["message_thread_id"]
        return placed

    def _edit_target(self, params: Params) -> Params | None:
        if params.get("inline_message_id"):
            return None
        chat_id = self._chat_id(params)
        message = self._find_sent(chat_id, params.get("message_id"))
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return message

    def _edit_message_text(self, params: Params, record: Recorded) -> Params | bool:
        text, entities = self._text(params)
        message = self._edit_target(params)
        if message is None:
            return True
        markup = params.get("reply_markup")
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        message["text"] = text
        _set_or_drop(message, "entities", entities or None)
        _set_or_drop(message, "reply_markup", markup)
        message["edit_date"] = int(time.time())
        return message

    def _edit_reply_markup(self, params: Params, record: Recorded) -> Params | bool:
        message = self._edit_target(params)
        if message is None:
            return True
        _set_or_drop(message, "reply_markup", params.get("reply_markup"))
        message["edit_date"] = int(time.time())
        return message

    def _answer_callback_query(self, params: Params, record: Recorded) -> bool:
        if not params.get("callback_query_id"):
            raise _ApiError(400, "Bad Request: query is too old and response timeout expired")
        self.callback_answers.append(params)
        return True

    def _upload(self, params: Params, record: Recorded, field: str, folder: str) -> Params:
        uploaded = record.files.get(field)
        if uploaded is not None:
            filename = uploaded.filename or field
            stored = self._store_file(uploaded.data, f"{folder}/file_{next(self._file_seq)}")
            return {**stored, "file_name": filename, "mime_type": uploaded.content_type}
        ref = params.get(field)
        if not ref:
            raise _ApiError(400, f"Bad Request: there is no {field} in the request")
        ref = str(ref)
        if ref in self.files:  # re-sending a known file_id
            return {**self.files[ref], "file_name": ref, "mime_type": "application/octet-stream"}
        # A URL: Telegram downloads it; the simulator just records it.
        stored = self._store_file(ref.encode(), f"{folder}/file_{next(self._file_seq)}")
        return {
            **stored,
            "file_name": ref.rsplit("/", 1)[-1],
            "mime_type": "application/octet-stream",
        }

    def _caption(self, params: Params) -> Params:
        """The caption (parsed as for text) and its entities; empty when there is none."""
        raw = params.get("caption")
        if raw is None:
            return {}
        caption, entities = self._formatted(raw, params)
        if utf16_len(caption) > MAX_CAPTION:
            raise _ApiError(400, "Bad Request: message caption is too long")
        return {"caption": caption, "caption_entities": entities or None}

    def _send_photo(self, params: Params, record: Recorded) -> Params:
        chat_id = self._chat_id(params)
        caption = self._caption(params)
        stored = self._upload(params, record, "photo", "photos")
        size = len(stored["data"])
        sizes = [
            {
                "file_id": stored["file_id"] + "_s",
                "file_unique_id": stored["file_unique_id"] + "s",
                "width": 90,
                "height": 60,
                "file_size": max(1, size // 10),
            },
            {
                "file_id": stored["file_id"],
                "file_unique_id": stored["file_unique_id"],
                "width": 1280,
                "height": 853,
                "file_size": size,
            },
        ]
        return self._message(
            chat_id,
            {
                "photo": sizes,
                **caption,
                "reply_markup": params.get("reply_markup"),
                **self._placement(chat_id, params),
            },
        )

    def _send_document(self, params: Params, record: Recorded) -> Params:
        chat_id = self._chat_id(params)
        caption = self._caption(params)
        stored = self._upload(params, record, "document", "documents")
        document = {
            "file_id": stored["file_id"],
            "file_unique_id": stored["file_unique_id"],
            "file_name": stored["file_name"],
            "mime_type": stored["mime_type"],
            "file_size": len(stored["data"]),
        }
        return self._message(
            chat_id,
            {
                "document": document,
                **caption,
                "reply_markup": params.get("reply_markup"),
                **self._placement(chat_id, params),
            },
        )

    def _send_chat_action(self, params: Params, record: Recorded) -> bool:
        self._chat_id(params)
        if not params.get("action"):
            raise _ApiError(400, "Bad Request: wrong parameter action in request")
        self.chat_actions.append(params)
        return True

    def _set_webhook(self, params: Params, record: Recorded) -> bool:
        if not params.get("url"):
            self.webhook = None
            return True
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = params
        return True

    def _delete_webhook(self, params: Params, record: Recorded) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, params: Params, record: Recorded) -> Params:
        return {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        } | (
            {"last_error_date": int(time.time()), "last_error_message": self.webhook_error}
            if self.webhook_error
            else {}
        )

    def _store_file(self, data: bytes, file_path: str) -> Params:
        n = next(self._file_seq)
        file_id = f"SIMFILE{n:06d}" + hashlib.sha1(data).hexdigest()[:12]
        stored = {
            "file_id": file_id,
            "file_unique_id": f"U{n:06d}",
            "file_path": file_path,
            "data": data,
        }
        self.files[file_id] = stored
        return stored

    def _get_file(self, params: Params, record: Recorded) -> Params:
        stored = self.files.get(str(params.get("file_id", "")))
        if stored is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": stored["file_id"],
            "file_unique_id": stored["file_unique_id"],
            "file_size": len(stored["data"]),
            "file_path": stored["file_path"],
        }

    async def _get_updates(self, params: Params) -> list[Params]:
        if self.webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        if isinstance(offset, int) and offset > 0:
            # Telegram forgets every update below the offset: they count as confirmed.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        limit = params.get("limit")
        limit = limit if isinstance(limit, int) and 0 < limit <= 100 else 100
        timeout = params.get("timeout")
        if not self._updates and isinstance(timeout, int | float) and timeout > 0:
            self._update_event.clear()
            await self.wait_or_close(self._update_event, min(float(timeout), MAX_LONG_POLL))
        return self._updates[:limit]


def _error(status: int, description: str, parameters: Params | None = None) -> web.Response:
    body: Params = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    headers = (
        {"Retry-After": str(parameters["retry_after"])}
        if parameters and "retry_after" in parameters
        else None
    )
    return web.json_response(body, status=status, headers=headers)


def _set_or_drop(message: Params, key: str, value: Any) -> None:
    if value is None:
        message.pop(key, None)
    else:
        message[key] = value


def _decode_params(record: Recorded) -> Params:
    """Bot API parameters: the SDK form-encodes values, JSON-encoding non-strings."""
    if isinstance(record.json, dict):
        return dict(record.json)
    decoded: Params = {}
    for key, value in record.params.items():
        if key in _STRING_PARAMS or not isinstance(value, str):
            decoded[key] = value
            continue
        try:
            decoded[key] = json.loads(value)
        except ValueError:
            decoded[key] = value
    return decoded
