"""Dialpad simulator: the webhook and call-event subscription endpoints of the v2 API
(`POST/DELETE /api/v2/webhooks`, `POST/DELETE /api/v2/subscriptions/call`), answering in the
documented shapes with Bearer auth, and the events Dialpad sends signed as JWTs (HS256 with
the webhook's secret)."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from aiohttp import web

from channels.telephony.dialpad import sign
from tests.sims.base import Simulator

__all__ = ["DialpadSim", "call_event"]

_ids = itertools.count(5_100_000_000_000_001)


class DialpadSim(Simulator):
    name: ClassVar[str] = "dialpad"

    def __init__(self, *, api_key: str = "dp-api-key-0000") -> None:
        self.api_key = api_key
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        super().__init__()

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/api/v2/webhooks", self._create_webhook)
        router.add_delete("/api/v2/webhooks/{id}", self._delete_webhook)
        router.add_post("/api/v2/subscriptions/call", self._subscribe)
        router.add_delete("/api/v2/subscriptions/call/{id}", self._unsubscribe)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        return web.json_response(
            {"error": {"code": status, "message": message, "errors": []}}, status=status
        )

    async def _create_webhook(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._error(401, "Unauthorized")
        body = self.record_of(request).json or {}
        if not body.get("hook_url"):
            return self._error(400, "hook_url is required")
        hook_id = str(next(_ids))
        hook = {
            "id": hook_id,
            "hook_url": body["hook_url"],
            "signature": {"algo": "HS256", "secret": body.get("secret"), "type": "jwt"},
        }
        self.webhooks[hook_id] = hook
        return web.json_response(hook)

    async def _delete_webhook(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._error(401, "Unauthorized")
        hook = self.webhooks.pop(request.match_info["id"], None)
        if hook is None:
            return self._error(404, "Webhook not found")
        return web.json_response(hook)

    async def _subscribe(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._error(401, "Unauthorized")
        body = self.record_of(request).json or {}
        hook = self.webhooks.get(str(body.get("webhook_id")))
        if hook is None:
            return self._error(400, "webhook_id does not name a webhook")
        subscription_id = str(next(_ids))
        subscription = {
            "id": subscription_id,
            "call_states": body.get("call_states") or [],
            "enabled": bool(body.get("enabled", True)),
            "group_calls_only": False,
            "target_id": str(body.get("target_id")),
            "target_type": body.get("target_type"),
            "webhook": hook,
        }
        self.subscriptions[subscription_id] = subscription
        return web.json_response(subscription)

    async def _unsubscribe(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._error(401, "Unauthorized")
        subscription = self.subscriptions.pop(request.match_info["id"], None)
        if subscription is None:
            return self._error(404, "Subscription not found")
        return web.json_response(subscription)

    def secret_of(self, hook_url: str) -> str:
        """The secret our gateway registered for HOOK_URL."""
        hook = next(h for h in self.webhooks.values() if h["hook_url"] == hook_url)
        return str(hook["signature"]["secret"])

    @staticmethod
    def signed(event: dict[str, Any], secret: str) -> bytes:
        """EVENT as Dialpad posts it: the JWT itself is the body."""
        return sign(event, secret)


def call_event(
    *,
    call_id: int,
    state: str,
    caller: str,
    line_number: str,
    voicemail_link: str | None = None,
    transcription_text: str | None = None,
) -> dict[str, Any]:
    """A call event in Dialpad's shape (the fields this integration reads, and neighbours)."""
    return {
        "call_id": call_id,
        "state": state,
        "direction": "inbound",
        "external_number": caller,
        "internal_number": line_number,
        "contact": {"id": "c1", "name": "Caller", "phone": caller, "type": "local"},
        "target": {"id": 4242, "type": "user", "name": "Front desk", "phone": line_number},
        "date_started": 1765000000000,
        "duration": 21000.0,
        "event_timestamp": 1765000021000,
        "was_recorded": False,
        "voicemail_link": voicemail_link,
        "voicemail_recording_id": "vm-1" if voicemail_link else None,
        "call_recording_ids": [],
        "transcription_text": transcription_text,
        "labels": [],
        "integrations": {},
    }
