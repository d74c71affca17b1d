"""Quo (formerly OpenPhone) simulator: `GET /v1/phone-numbers` (paged as Quo pages:
`maxResults`, `pageToken`, the answer's `nextPageToken`), `GET /v1/webhooks`,
`POST /v1/webhooks/calls` and `POST /v1/webhooks/call-transcripts` (the API key itself as
`Authorization`; 201 with the webhook and its base64 signing `key`), `DELETE /v1/webhooks/{id}`
(204); and the events Quo sends, signed in `openphone-signature` as Quo signs them. Errors in
Quo's shape (`{message, code, status, docs, title}`), a 429 with Retry-After."""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any, ClassVar

from aiohttp import web

from channels.telephony.quo import HEADER, signature
from tests.sims.base import FaultKind, Simulator

__all__ = ["QuoSim", "call_completed", "transcript_completed"]


class QuoSim(Simulator):
    name: ClassVar[str] = "quo"

    def __init__(
        self, *, api_key: str = "quo-api-key-0000", numbers: dict[str, str] | None = None
    ) -> None:
        self.api_key = api_key
        self.numbers = numbers or {"PNline00001": "+15550101010"}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.page_size = 100
        """Numbers a page at most (Quo's `maxResults` is capped there)."""
        super().__init__()

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v1/phone-numbers", self._numbers)
        router.add_get("/v1/webhooks", self._list)
        router.add_post("/v1/webhooks/calls", self._create)
        router.add_post("/v1/webhooks/call-transcripts", self._create)
        router.add_delete("/v1/webhooks/{id}", self._delete)

    def _denied(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != self.api_key:
            return web.json_response({"message": "Unauthorized", "code": "0100401"}, status=401)
        return None

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        title = {401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests"}.get(
            status, "Unknown"
        )
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.json_response(
            {
                "message": error or title,
                "code": f"0{status}00",
                "status": status,
                "docs": "https://quo.com/docs",
                "title": title,
            },
            status=status,
            headers=headers,
        )

    async def _numbers(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._denied(request)) is not None:
            return denied
        data = [
            {"id": k, "number": v, "name": "Line", "users": []} for k, v in self.numbers.items()
        ]
        try:
            size = min(self.page_size, max(1, int(request.query.get("maxResults", "100"))))
            start = int(request.query.get("pageToken") or "0")
        except ValueError:
            return web.json_response({"message": "Bad request", "code": "0800400"}, status=400)
        following = str(start + size) if start + size < len(data) else None
        shown = data[start : start + size]
        return web.json_response(
            {"data": shown, "totalItems": len(data), "nextPageToken": following}
        )

    async def _list(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._denied(request)) is not None:
            return denied
        return web.json_response({"data": list(self.webhooks.values())})

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._denied(request)) is not None:
            return denied
        body = self.record_of(request).json or {}
        resources = body.get("resourceIds") or ["*"]
        if any(r != "*" and r not in self.numbers for r in resources) or not body.get("url"):
            return web.json_response({"message": "Bad request", "code": "0800400"}, status=400)
        hook_id = "WH" + secrets.token_hex(8)
        hook = {
            "id": hook_id,
            "userId": "USsim0001",
            "orgId": "ORsim0001",
            "label": body.get("label"),
            "status": body.get("status", "enabled"),
            "url": body["url"],
            "key": base64.b64encode(secrets.token_bytes(32)).decode(),
            "createdAt": "2026-12-06T05:00:00.000Z",
            "updatedAt": "2026-12-06T05:00:00.000Z",
            "deletedAt": None,
            "events": body.get("events") or [],
            "resourceIds": resources,
        }
        self.webhooks[hook_id] = hook
        return web.json_response({"data": hook}, status=201)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._denied(request)) is not None:
            return denied
        if self.webhooks.pop(request.match_info["id"], None) is None:
            return web.json_response({"message": "Not found", "code": "0800404"}, status=404)
        return web.Response(status=204)

    def key_for(self, event_type: str) -> str:
        return str(next(h for h in self.webhooks.values() if event_type in h["events"])["key"])

    @staticmethod
    def signed_headers(key: str, body: bytes, *, at: float | None = None) -> dict[str, str]:
        timestamp = str(int((time.time() if at is None else at) * 1000))
        return {HEADER: signature(key, body, timestamp), "Content-Type": "application/json"}


def call_completed(
    *, call_id: str, caller: str, line_number: str, voicemail_url: str | None
) -> dict[str, Any]:
    return {
        "id": "EV" + secrets.token_hex(8),
        "object": "event",
        "apiVersion": "v3",
        "createdAt": "2026-12-06T05:00:00.000Z",
        "type": "call.completed",
        "data": {
            "object": {
                "id": call_id,
                "object": "call",
                "answeredAt": None,
                "completedAt": "2026-12-06T05:00:00.000Z",
                "createdAt": "2026-12-06T04:59:30.000Z",
                "direction": "incoming",
                "from": caller,
                "to": line_number,
                "media": [],
                "phoneNumberId": "PNline00001",
                "status": "completed",
                "userId": "USsim0001",
                "voicemail": (
                    {"duration": 17, "type": "audio/mpeg", "url": voicemail_url}
                    if voicemail_url
                    else None
                ),
            }
        },
    }


def transcript_completed(*, call_id: str, caller: str, lines: list[str]) -> dict[str, Any]:
    return {
        "id": "EV" + secrets.token_hex(8),
        "object": "event",
        "apiVersion": "v4",
        "createdAt": "2026-12-06T05:01:00.000Z",
        "type": "call.transcript.completed",
        "data": {
            "object": {
                "object": "callTranscript",
                "callId": call_id,
                "createdAt": "2026-12-06T05:01:00.000Z",
                "dialogue": [
                    {
                        "content": text,
                        "start": i * 5,
                        "end": i * 5 + 4,
                        "identifier": caller,
                        "userId": None,
                    }
                    for i, text in enumerate(lines)
                ],
                "duration": 17,
                "status": "completed",
            }
        },
    }
