"""Dialpad simulator: the webhook and call-event subscription endpoints of the v2 API
(`GET/POST/DELETE /api/v2/webhooks`, `POST/DELETE /api/v2/subscriptions/call`), answering in
the documented shapes with Bearer auth, and the events Dialpad sends signed as JWTs (HS256
with the webhook's secret). Lists page as Dialpad's do: `{items, cursor}`, the `cursor`
given back for the next page (absent after the last), `limit` items a page. Errors in
Dialpad's shape (`{error: {code, message, errors}}`), a 429 with Retry-After."""

from __future__ import annotations

import base64
import itertools
from typing import Any, ClassVar

from aiohttp import web

from channels.telephony.dialpad import sign
from tests.sims.base import FaultKind, Simulator

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
        router.add_get("/api/v2/webhooks", self._list_webhooks)
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

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        message = error or {
            401: "Unauthorized",
            403: "Forbidden: the API key lacks the scope",
            429: "Rate limit exceeded",
        }.get(status, "Internal error")
        response = self._error(status, message)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    async def _list_webhooks(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._error(401, "Unauthorized")
        try:
            limit = min(1000, max(1, int(request.query.get("limit", "20"))))
            cursor = request.query.get("cursor")
            start = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
        except ValueError:
            return self._error(400, "Invalid cursor")
        hooks = list(self.webhooks.values())
        page: dict[str, Any] = {"items": hooks[start : start + limit]}
        if start + limit < len(hooks):
            page["cursor"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
        return web.json_response(page)

    def add_webhook(self, hook_url: str, secret: str | None = None) -> dict[str, Any]:
        """A webhook made elsewhere (by hand, or an earlier attempt)."""
        hook_id = str(next(_ids))
        hook = {
            "id": hook_id,
            "hook_url": hook_url,
            "signature": {"algo": "HS256", "secret": secret, "type": "jwt"},
        }
        self.webhooks[hook_id] = hook
        return hook

    async def _create_webhook(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._error(401, "Unauthorized")
        body = self.record_of(request).json or {}
        if not body.get("hook_url"):
            return self._error(400, "hook_url is required")
        return web.json_response(self.add_webhook(body["hook_url"], body.get("secret")))

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
