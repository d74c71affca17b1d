"""Aircall simulator: `GET /v1/webhooks` (paged: `page`, `per_page` up to 50, `meta` with
`next_page_link`), `POST /v1/webhooks` (Basic auth with the API id and token; 201 with the
webhook and its `token`) and `DELETE /v1/webhooks/{id}` (204); `GET /v1/calls/{id}` and
`GET /v1/calls/{id}/transcription` (Aircall AI); and the events Aircall sends, each carrying
that token in its body (Aircall signs nothing else). Errors in Aircall's shape
(`{error, troubleshoot}`), a 429 with Retry-After."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from typing import Any, ClassVar

from aiohttp import web

from tests.sims.base import FaultKind, Simulator

__all__ = ["AircallSim", "transcription_created", "voicemail_left"]

PUBLIC = "https://api.aircall.io"


class AircallSim(Simulator):
    name: ClassVar[str] = "aircall"

    def __init__(self, *, api_id: str = "ac-id-0000", api_token: str = "ac-token-0000") -> None:
        self.api_id = api_id
        self.api_token = api_token
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.known_calls: dict[int, dict[str, Any]] = {}
        self.transcriptions: dict[int, dict[str, Any]] = {}
        super().__init__()

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v1/webhooks", self._list)
        router.add_post("/v1/webhooks", self._create)
        router.add_delete("/v1/webhooks/{id}", self._delete)
        router.add_get("/v1/calls/{id}", self._call)
        router.add_get("/v1/calls/{id}/transcription", self._transcription)

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        text = {
            401: ("Unauthorized", "Check your API key"),
            403: ("Forbidden", "Your company is not allowed to use this endpoint"),
            404: ("Not found", "Check the id"),
            429: ("Too Many Requests", "Rate limit reached: 60 requests per minute"),
        }.get(status, ("Internal Server Error", "Retry later"))
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        if status == 429:
            headers["X-AircallApi-Limit"] = "60"
            headers["X-AircallApi-Remaining"] = "0"
        return web.json_response(
            {"error": error or text[0], "troubleshoot": text[1]}, status=status, headers=headers
        )

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.api_id}:{self.api_token}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _list(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        try:
            per_page = min(50, max(1, int(request.query.get("per_page", "20"))))
            page = max(1, int(request.query.get("page", "1")))
        except ValueError:
            return web.json_response(
                {"error": "Validation failed", "troubleshoot": "page must be an integer"},
                status=400,
            )
        hooks = list(self.webhooks.values())
        shown = hooks[(page - 1) * per_page : page * per_page]

        def link(n: int) -> str:
            return f"{PUBLIC}/v1/webhooks?page={n}&per_page={per_page}"

        return web.json_response(
            {
                "webhooks": shown,
                "meta": {
                    "count": len(shown),
                    "total": len(hooks),
                    "current_page": page,
                    "per_page": per_page,
                    "next_page_link": link(page + 1) if page * per_page < len(hooks) else None,
                    "previous_page_link": link(page - 1) if page > 1 else None,
                },
            }
        )

    def add_webhook(self, url: str, events: list[str] | None = None) -> dict[str, Any]:
        """A webhook made elsewhere (by hand in the dashboard, or an earlier attempt)."""
        hook_id = str(uuid.uuid4())
        hook = {
            "webhook_id": hook_id,
            "direct_link": f"{PUBLIC}/v1/webhooks/{hook_id}",
            "created_at": "2026-12-06T05:00:00.000Z",
            "url": url,
            "active": True,
            "token": secrets.token_hex(16),
            "events": events or ["call.created"],
            "custom_name": "Webhook",
        }
        self.webhooks[hook_id] = hook
        return hook

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        body = self.record_of(request).json or {}
        if not body.get("url"):
            return web.json_response(
                {"error": "Validation failed", "troubleshoot": "url is required"}, status=400
            )
        hook = self.add_webhook(body["url"], body.get("events") or [])
        hook["custom_name"] = body.get("custom_name") or "Webhook"
        return web.json_response({"webhook": hook}, status=201)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        if self.webhooks.pop(request.match_info["id"], None) is None:
            return self.error_response(404)
        return web.Response(status=204)

    def token_of(self, url: str) -> str:
        return str(next(h for h in self.webhooks.values() if h["url"] == url)["token"])

    # ------------------------------------------------------------------ calls

    def add_call(
        self,
        *,
        call_id: int,
        caller: str,
        line_number: str,
        voicemail: str | None,
        transcript: list[str] | None = None,
    ) -> dict[str, Any]:
        """A call Aircall knows (its voicemail, if one was left) and its transcript's lines."""
        the_call = call_object(
            call_id=call_id, caller=caller, line_number=line_number, voicemail=voicemail
        )
        self.known_calls[call_id] = the_call
        if transcript is not None:
            self.transcriptions[call_id] = transcription_object(
                call_id=call_id,
                kind="voicemail" if voicemail else "call",
                lines=transcript,
                caller=caller,
            )
        return the_call

    def _call_id(self, request: web.Request) -> int | None:
        raw = request.match_info["id"]
        return int(raw) if raw.isdigit() else None

    async def _call(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        found = self.known_calls.get(self._call_id(request) or -1)
        if found is None:
            return self.error_response(404)
        return web.json_response({"call": found})

    async def _transcription(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        found = self.transcriptions.get(self._call_id(request) or -1)
        if found is None:
            return self.error_response(404)
        return web.json_response({"transcription": found})


def call_object(
    *, call_id: int, caller: str, line_number: str, voicemail: str | None
) -> dict[str, Any]:
    """A call in Aircall's shape (the fields this integration reads, and neighbours)."""
    return {
        "id": call_id,
        "direct_link": f"{PUBLIC}/v1/calls/{call_id}",
        "direction": "inbound",
        "status": "done",
        "missed_call_reason": "no_available_agent" if voicemail else None,
        "started_at": int(time.time()) - 60,
        "duration": 34,
        "raw_digits": caller,
        "voicemail": voicemail,
        "recording": None,
        "number": {"id": 1234, "name": "Support line", "digits": line_number},
        "user": None,
        "contact": None,
        "tags": [],
    }


def transcription_object(
    *, call_id: int, kind: str, lines: list[str], caller: str
) -> dict[str, Any]:
    """A transcription in Aircall AI's shape: speaker-separated utterances."""
    return {
        "id": call_id * 10,
        "call_id": call_id,
        "call_created_at": "2026-12-06T05:00:00.000Z",
        "type": kind,
        "content": {
            "language": "en-US",
            "utterances": [
                {
                    "start_time": 2.5 * i,
                    "end_time": 2.5 * i + 2.0,
                    "text": text,
                    "participant_type": "external",
                    "phone_number": caller,
                    "user_id": None,
                }
                for i, text in enumerate(lines)
            ],
        },
    }


def voicemail_left(
    *, token: str, call_id: int, caller: str, line_number: str, voicemail: str
) -> dict[str, Any]:
    """A `call.voicemail_left` event in Aircall's shape."""
    return {
        "resource": "call",
        "event": "call.voicemail_left",
        "timestamp": int(time.time()),
        "token": token,
        "data": call_object(
            call_id=call_id, caller=caller, line_number=line_number, voicemail=voicemail
        ),
    }


def transcription_created(
    *,
    token: str,
    call_id: int,
    kind: str = "voicemail",
    lines: list[str] | None = None,
    caller: str = "",
) -> dict[str, Any]:
    """A `transcription.created` event: with LINES its content, without them only the
    transcription's reference (the transcript is then read from the API)."""
    data = transcription_object(call_id=call_id, kind=kind, lines=lines or [], caller=caller)
    if lines is None:
        data.pop("content")
    return {
        "resource": "transcription",
        "event": "transcription.created",
        "timestamp": int(time.time()),
        "token": token,
        "data": data,
    }
