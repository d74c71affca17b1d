"""Slack Web API simulator (``<url>/api/<method>``) for ``slack_sdk``'s ``AsyncWebClient``."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any, ClassVar

from aiohttp import web

from tests.sims.base import FaultKind, Limit, Recorded, Simulator

__all__ = ["SlackSim"]

Args = dict[str, Any]


class SlackSim(Simulator):
    """Speaks enough of the Slack Web API for ``AsyncWebClient(token, base_url=sim.api_url)``.

    Methods: ``auth.test``, ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``,
    ``files.getUploadURLExternal`` (+ the upload POST to the returned ``upload_url``),
    ``files.completeUploadExternal``, ``conversations.info``, ``conversations.open``,
    ``conversations.history`` and ``conversations.replies`` (the bot's own messages; their
    ``metadata`` only with ``include_all_metadata``; ``oldest``, ``limit`` and cursors),
    ``users.info``. ``refuse(method, error)`` scripts an ``ok: false`` answer.
    ``enforce_limits=True``: ``chat.postMessage`` 1 per second per channel and file uploads
    (``files.getUploadURLExternal``, ``files.completeUploadExternal``) Tier 4, 100 per minute
    per workspace each, else 429.
    Every method but the upload needs ``Authorization: Bearer <token>``; like Slack, auth and
    argument errors are HTTP 200 with ``{"ok": false, "error": ...}``.
    """

    name: ClassVar[str] = "slack"

    def __init__(
        self,
        *,
        token: str = "xoxb-1111-2222-simtoken",
        team_id: str = "T0SIM0001",
        team: str = "Switchboard Sim",
        bot_user_id: str = "U0SIMBOT1",
        bot_id: str = "B0SIMBOT1",
        app_id: str = "A0SIMAPP1",
        enforce_limits: bool = False,
    ) -> None:
        self.token = token
        self.team_id = team_id
        self.team = team
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.users: dict[str, Args] = {}
        self.channels: dict[str, Args] = {}
        self.messages: list[Args] = []
        """Messages posted or updated by the bot, as Slack stores them (plus ``channel``)."""
        self.ephemeral: list[Args] = []
        self.uploads: dict[str, Args] = {}
        """file_id -> {filename, length, data (bytes once uploaded), title, channel_id, ...}."""
        self._seq = itertools.count(1)
        self._refusals: list[tuple[str, str]] = []
        super().__init__(enforce_limits=enforce_limits)
        self._methods: dict[str, Callable[[Args], Args]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "conversations.info": self._conversations_info,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "users.info": self._users_info,
        }

    @property
    def api_url(self) -> str:
        """The SDK ``base_url`` (form ``https://slack.com/api/``)."""
        return f"{self.url}/api/"

    # ------------------------------------------------------------------ scripting

    def add_user(
        self,
        user_id: str,
        *,
        name: str,
        real_name: str | None = None,
        email: str | None = None,
        tz: str = "UTC",
        is_bot: bool = False,
    ) -> Args:
        """Make ``users.info`` know ``user_id``; returns the user object it will answer."""
        real = real_name or name
        user: Args = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "color": "9f69e7",
            "real_name": real,
            "tz": tz,
            "tz_label": tz,
            "tz_offset": 0,
            "profile": {
                "real_name": real,
                "display_name": name,
                "real_name_normalized": real,
                "display_name_normalized": name,
                "team": self.team_id,
                **({"email": email} if email else {}),
            },
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
        }
        self.users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str = "",
        is_private: bool = False,
        is_im: bool = False,
        user: str | None = None,
    ) -> Args:
        """Make ``conversations.info`` know ``channel_id``; ``is_im`` channels need ``user``."""
        created = int(time.time())
        if is_im:
            channel: Args = {
                "id": channel_id,
                "created": created,
                "is_im": True,
                "is_org_shared": False,
                "user": user,
                "is_user_deleted": False,
                "priority": 0,
            }
        else:
            channel = {
                "id": channel_id,
                "name": name,
                "name_normalized": name,
                "is_channel": not is_private,
                "is_group": False,
                "is_im": False,
                "is_mpim": False,
                "is_private": is_private,
                "created": created,
                "creator": "U0SIMOWNR",
                "is_archived": False,
                "is_general": name == "general",
                "is_shared": False,
                "is_ext_shared": False,
                "is_org_shared": False,
                "is_member": True,
                "topic": {"value": "", "creator": "", "last_set": 0},
                "purpose": {"value": "", "creator": "", "last_set": 0},
            }
        self.channels[channel_id] = channel
        return channel

    def refuse(self, method: str, error: str, *, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP 200 ``{"ok": false,
        "error": error}``, as Slack reports ``channel_not_found``, ``not_in_channel``,
        ``invalid_auth`` and the like."""
        self._refusals.extend([(method, error)] * times)

    def reset(self) -> None:
        super().reset()
        self._refusals.clear()

    # ------------------------------------------------------------------ inspection

    def args(self, method: str) -> list[Args]:
        """The arguments of every call to ``method`` (query, form and JSON merged)."""
        return [r.params for r in self.calls(f"/api/{method}")]

    def posted(self, channel: str | None = None) -> list[Args]:
        """Messages the bot posted (``chat.postMessage``), optionally in one channel."""
        return [
            m
            for m in self.messages
            if m.get("_via") == "chat.postMessage" and (channel is None or m["channel"] == channel)
        ]

    # ------------------------------------------------------------------ routes

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/api/{method}", self._api)
        router.add_post("/upload/v1/{file_id}", self._upload)

    def limits(self, record: Recorded) -> list[Limit]:
        method = record.path.rsplit("/", 1)[-1]
        if method == "chat.postMessage":
            return [Limit(f"channel:{record.params.get('channel')}", 1, 1.0)]
        if method in ("files.getUploadURLExternal", "files.completeUploadExternal"):
            return [Limit(method, 100, 60.0)]  # Tier 4
        if method in ("conversations.history", "conversations.replies"):
            return [Limit(method, 50, 60.0)]  # Tier 3
        return []

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        if status == 429:
            code = "ratelimited"
        elif status == 403:
            code = error or "access_denied"
        elif status >= 500:
            code = error or ("service_unavailable" if status == 503 else "fatal_error")
        else:
            code = error or "invalid_request"
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.json_response({"ok": False, "error": code}, status=status, headers=headers)

    async def _api(self, request: web.Request) -> web.StreamResponse:
        record = self.record_of(request)
        args = record.params
        token = _bearer(record.headers.get("Authorization")) or args.pop("token", None)
        if token is None:
            return _ok_false("not_authed")
        if token != self.token:
            return _ok_false("invalid_auth")
        name = request.match_info["method"]
        method = self._methods.get(name)
        if method is None:
            return _ok_false("unknown_method")
        for refusal in self._refusals:
            if refusal[0] == name:
                self._refusals.remove(refusal)
                return _ok_false(refusal[1])
        return web.json_response(method(args))

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        upload = self.uploads.get(file_id)
        if upload is None:
            return web.Response(status=404, text="file not found", content_type="text/plain")
        record = self.record_of(request)
        data = next(iter(record.files.values())).data if record.files else record.body
        upload["data"] = data
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    # ------------------------------------------------------------------ methods

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self._seq):06d}"

    def _auth_test(self, args: Args) -> Args:
        return {
            "ok": True,
            "url": "https://switchboard-sim.slack.com/",
            "team": self.team,
            "user": "switchboard",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _resolve_channel(self, channel: str) -> str:
        # Posting to a user id opens (or reuses) the DM with that user, as Slack does.
        if channel.startswith(("U", "W")):
            return "D" + channel[1:]
        return channel.lstrip("#")

    def _message(self, args: Args, ts: str) -> Args:
        message: Args = {
            "type": "message",
            "subtype": "bot_message" if args.get("username") else None,
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": args.get("text", ""),
            "ts": ts,
        }
        for key in ("blocks", "attachments", "metadata"):
            value = _maybe_json(args.get(key))
            if value is not None:
                message[key] = value
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        return {k: v for k, v in message.items() if v is not None}

    def _post_message(self, args: Args) -> Args:
        if not args.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not any(args.get(k) for k in ("text", "blocks", "attachments")):
            return {"ok": False, "error": "no_text"}
        channel = self._resolve_channel(str(args["channel"]))
        ts = self._ts()
        message = self._message(args, ts)
        self.messages.append({**message, "channel": channel, "_via": "chat.postMessage"})
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _update(self, args: Args) -> Args:
        channel, ts = args.get("channel"), args.get("ts")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not any(args.get(k) for k in ("text", "blocks", "attachments")):
            return {"ok": False, "error": "no_text"}
        for stored in self.messages:
            if stored["ts"] == ts and stored["channel"] == channel:
                break
        else:
            return {"ok": False, "error": "message_not_found"}
        message = self._message(args, str(ts))
        if "thread_ts" in stored:
            message["thread_ts"] = stored["thread_ts"]
        message["edited"] = {"user": self.bot_user_id, "ts": self._ts()}
        stored.clear()
        stored.update({**message, "channel": channel, "_via": "chat.postMessage"})
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": message["text"],
            "message": message,
        }

    def _post_ephemeral(self, args: Args) -> Args:
        if not args.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        if not any(args.get(k) for k in ("text", "blocks", "attachments")):
            return {"ok": False, "error": "no_text"}
        ts = self._ts()
        self.ephemeral.append(
            {**self._message(args, ts), "channel": args["channel"], "to": args["user"]}
        )
        return {"ok": True, "message_ts": ts}

    def _get_upload_url(self, args: Args) -> Args:
        filename, length = args.get("filename"), args.get("length")
        if not filename or length in (None, ""):
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F0SIM{next(self._seq):06d}"
        self.uploads[file_id] = {
            "filename": filename,
            "length": int(length),
            "alt_txt": args.get("alt_txt"),
            "data": None,
        }
        return {"ok": True, "upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    def _complete_upload(self, args: Args) -> Args:
        files = _maybe_json(args.get("files"))
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        channels = [
            c for c in str(args.get("channels") or args.get("channel_id") or "").split(",") if c
        ]
        done: list[Args] = []
        for item in files:
            upload = self.uploads.get(str(item.get("id")))
            if upload is None or upload["data"] is None:
                return {"ok": False, "error": "file_not_found"}
            upload.update(
                title=item.get("title") or upload["filename"],
                channels=channels,
                initial_comment=args.get("initial_comment"),
                thread_ts=args.get("thread_ts"),
            )
            done.append(self._file_object(str(item["id"]), upload))
        return {"ok": True, "files": done}

    def _file_object(self, file_id: str, upload: Args) -> Args:
        now = int(time.time())
        base = f"https://files.slack.com/files-pri/{self.team_id}-{file_id}/{upload['filename']}"
        return {
            "id": file_id,
            "created": now,
            "timestamp": now,
            "name": upload["filename"],
            "title": upload["title"],
            "mimetype": "",
            "filetype": "",
            "pretty_type": "",
            "user": self.bot_user_id,
            "user_team": self.team_id,
            "editable": False,
            "size": len(upload["data"]),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": bool(upload["channels"]),
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": base,
            "url_private_download": base.replace("files-pri", "files-pri/download"),
            "permalink": f"https://switchboard-sim.slack.com/files/{self.bot_user_id}/{file_id}",
            "channels": upload["channels"],
            "groups": [],
            "ims": [],
            "has_rich_preview": False,
            "file_access": "visible",
        }

    def _conversations_info(self, args: Args) -> Args:
        channel = self.channels.get(str(args.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": channel}

    def _conversations_open(self, args: Args) -> Args:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if len(users) != 1:
            return {"ok": False, "error": "users_list_not_supplied" if not users else "not_im"}
        channel_id = self._resolve_channel(users[0])
        if channel_id not in self.channels:
            self.add_channel(channel_id, is_im=True, user=users[0])
        return {"ok": True, "channel": {"id": channel_id}}

    def _conversations_history(self, args: Args) -> Args:
        """The channel's messages newest first; replies in threads are not among them."""
        channel = str(args.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        found = [
            m
            for m in self.messages
            if m["channel"] == channel and m.get("thread_ts", m["ts"]) == m["ts"]
        ]
        return self._page(args, sorted(found, key=lambda m: float(m["ts"]), reverse=True))

    def _conversations_replies(self, args: Args) -> Args:
        """A thread's messages oldest first (the parent, if the bot wrote it, then replies)."""
        channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
        if not channel or not ts:
            return {"ok": False, "error": "channel_not_found" if not channel else "invalid_ts"}
        found = [
            m
            for m in self.messages
            if m["channel"] == channel and ts in (m["ts"], m.get("thread_ts"))
        ]
        return self._page(args, sorted(found, key=lambda m: float(m["ts"])))

    def _page(self, args: Args, messages: list[Args]) -> Args:
        oldest = float(args.get("oldest") or 0)
        messages = [m for m in messages if float(m["ts"]) >= oldest]
        start = int(str(args.get("cursor") or "off:0").removeprefix("off:") or 0)
        limit = min(int(args.get("limit") or 100), 1000)
        page = messages[start : start + limit]
        metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        shown = [
            {k: v for k, v in m.items() if k not in ("channel", "_via")}
            | ({} if metadata or "metadata" not in m else {"metadata": None})
            for m in page
        ]
        shown = [{k: v for k, v in m.items() if v is not None} for m in shown]
        more = start + limit < len(messages)
        return {
            "ok": True,
            "messages": shown,
            "has_more": more,
            "response_metadata": {"next_cursor": f"off:{start + limit}" if more else ""},
        }

    def _users_info(self, args: Args) -> Args:
        user = self.users.get(str(args.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}


def _ok_false(error: str) -> web.Response:
    return web.json_response({"ok": False, "error": error})


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def _maybe_json(value: Any) -> Any:
    """Slack accepts structured arguments as JSON or as JSON-encoded form strings."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
