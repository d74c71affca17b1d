"""Aircall simulator: `POST /v1/webhooks` (Basic auth with the API id and token; 201 with the
webhook and its `token`) and `DELETE /v1/webhooks/{id}` (204), and the events Aircall sends,
each carrying that token in its body (Aircall signs nothing else)."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from typing import Any, ClassVar

from aiohttp import web

from tests.sims.base import Simulator

__all__ = ["AircallSim", "voicemail_left"]


class AircallSim(Simulator):
    name: ClassVar[str] = "aircall"

    def __init__(self, *, api_id: str = "ac-id-0000", api_token: str = "ac-token-0000") -> None:
        self.api_id = api_id
        self.api_token = api_token
        self.webhooks: dict[str, dict[str, Any]] = {}
        super().__init__()

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/webhooks", self._create)
        router.add_delete("/v1/webhooks/{id}", self._delete)

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.api_id}:{self.api_token}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response(
                {"error": "Unauthorized", "troubleshoot": "Check your API key"}, status=401
            )
        body = self.record_of(request).json or {}
        if not body.get("url"):
            return web.json_response(
                {"error": "Validation failed", "troubleshoot": "url is required"}, status=400
            )
        hook_id = str(uuid.uuid4())
        hook = {
            "webhook_id": hook_id,
            "direct_link": f"https://api.aircall.io/v1/webhooks/{hook_id}",
            "created_at": "2026-12-06T05:00:00.000Z",
            "url": body["url"],
            "active": True,
            "token": secrets.token_hex(16),
            "events": body.get("events") or [],
            "custom_name": body.get("custom_name") or "Webhook",
        }
        self.webhooks[hook_id] = hook
        return web.json_response({"webhook": hook}, status=201)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"error": "Unauthorized"}, status=401)
        if self.webhooks.pop(request.match_info["id"], None) is None:
            return web.json_response({"error": "Not found"}, status=404)
        return web.Response(status=204)

    def token_of(self, url: str) -> str:
        return str(next(h for h in self.webhooks.values() if h["url"] == url)["token"])


def voicemail_left(
    *, token: str, call_id: int, caller: str, line_number: str, voicemail: str
) -> dict[str, Any]:
    """A `call.voicemail_left` event in Aircall's shape."""
    return {
        "resource": "call",
        "event": "call.voicemail_left",
        "timestamp": int(time.time()),
        "token": token,
        "data": {
            "id": call_id,
            "direct_link": f"https://api.aircall.io/v1/calls/{call_id}",
            "direction": "inbound",
            "status": "done",
            "missed_call_reason": "no_available_agent",
            "started_at": int(time.time()) - 60,
            "duration": 34,
            "raw_digits": caller,
            "voicemail": voicemail,
            "recording": None,
            "number": {"id": 1234, "name": "Support line", "digits": line_number},
            "user": None,
            "contact": None,
            "tags": [],
        },
    }
