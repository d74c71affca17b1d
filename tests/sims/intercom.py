"""Intercom simulator (API version 2.11): conversation search (``POST /conversations/search``)
and one conversation (``GET /conversations/{id}``) in the shapes of Intercom's reference,
behind ``Authorization: Bearer <access token>``.

Search takes ``{"query": {"field", "operator", "value"}, "pagination": {"per_page",
"starting_after"}}`` (``state`` with ``=`` or ``IN`` is what it understands), answers
``{"type": "conversation.list", "conversations", "total_count", "pages": {"type", "page",
"per_page", "total_pages", "next": {"page", "starting_after"}}}``, oldest first; the cursor
is opaque. A conversation carries its ``source`` (the first message) and
``conversation_parts``; times are Unix seconds. Errors are ``{"type": "error.list",
"errors": [{"code", "message"}]}``; a 429 says when to come back in ``X-RateLimit-Reset``
(a Unix time), as Intercom does, not in Retry-After.
"""

from __future__ import annotations

import base64
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from aiohttp import web

from tests.sims.base import FaultKind, Simulator
from tests.sims.zendesk import spread

__all__ = ["IntercomSim"]

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


class IntercomSim(Simulator):
    name: ClassVar[str] = "intercom"

    def __init__(
        self, *, access_token: str = "ic-token-0000", conversations: int = 230, closed: int = 15
    ) -> None:
        self.access_token = access_token
        self.conversations: list[dict[str, Any]] = []
        for status in spread(conversations, closed, ("closed", "closed")):
            self.add_conversation({"open": "open", "pending": "snoozed"}.get(status, status))
        super().__init__()

    def add_conversation(self, state: str) -> dict[str, Any]:
        number = len(self.conversations) + 1
        created = int((START + timedelta(hours=number)).timestamp())
        user = {
            "type": "user",
            "id": f"u{number}",
            "name": f"Visitor {number}",
            "email": f"visitor{number}@example.com",
        }
        admin = {"type": "admin", "id": "a1", "name": "Ivy Admin", "email": "ivy@acme.example"}
        conversation = {
            "type": "conversation",
            "id": str(90000 + number),
            "title": None,
            "created_at": created,
            "updated_at": created + 600,
            "waiting_since": created + 600,
            "snoozed_until": created + 86400 if state == "snoozed" else None,
            "open": state != "closed",
            "state": state,
            "read": True,
            "priority": "not_priority",
            "source": {
                "type": "conversation",
                "id": f"s{number}",
                "delivered_as": "customer_initiated",
                "subject": "",
                "body": f"<p>My invoice {number} is wrong</p>",
                "author": user,
                "attachments": [],
                "url": None,
                "redacted": False,
            },
            "contacts": {
                "type": "contact.list",
                "contacts": [{"type": "contact", "id": user["id"]}],
            },
            "conversation_parts": {
                "type": "conversation_part.list",
                "conversation_parts": [
                    self._part(1, "assignment", None, admin, created + 60),
                    self._part(
                        2, "comment", "<p>Let me fix that for you.</p>", admin, created + 120
                    ),
                    self._part(3, "note", "<p>Refund needed</p>", admin, created + 180),
                    self._part(4, "comment", "<p>Thank you!</p>", user, created + 240),
                ],
                "total_count": 4,
            },
        }
        self.conversations.append(conversation)
        return conversation

    @staticmethod
    def _part(
        n: int, kind: str, body: str | None, author: dict[str, Any], at: int
    ) -> dict[str, Any]:
        return {
            "type": "conversation_part",
            "id": str(n),
            "part_type": kind,
            "body": body,
            "created_at": at,
            "updated_at": at,
            "notified_at": at,
            "author": author,
            "attachments": [],
            "redacted": False,
        }

    def open_ids(self) -> list[str]:
        return [c["id"] for c in self.conversations if c["state"] in ("open", "snoozed")]

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/conversations/search", self._search)
        router.add_get("/conversations/{conversation_id}", self._conversation)

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        code, message = {
            401: ("unauthorized", "Access Token Invalid"),
            404: ("not_found", "Resource Not Found"),
            429: ("rate_limit_exceeded", "Exceeded rate limit"),
        }.get(status, ("server_error", "Server Error"))
        response = web.json_response(
            {
                "type": "error.list",
                "request_id": "sim",
                "errors": [{"code": code, "message": error or message}],
            },
            status=status,
        )
        if retry_after is not None:
            # A whole second at least RETRY_AFTER away (Intercom counts whole seconds).
            response.headers["X-RateLimit-Reset"] = str(math.ceil(time.time()) + retry_after)
        return response

    async def _apply_fault(self, fault: Any) -> web.StreamResponse | None:
        # Intercom's 429 names no Retry-After: only X-RateLimit-Reset.
        response = await super()._apply_fault(fault)
        if response is not None and response.status == 429:
            response.headers.pop("Retry-After", None)
        return response

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.access_token}"

    async def _search(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        body = self.record_of(request).json
        query = body.get("query") if isinstance(body, dict) else None
        if not isinstance(query, dict) or query.get("field") != "state":
            return web.json_response(
                {
                    "type": "error.list",
                    "errors": [{"code": "parameter_invalid", "message": "query is invalid"}],
                },
                status=400,
            )
        wanted = query.get("value")
        states = set(wanted) if isinstance(wanted, list) else {wanted}
        found = [c for c in self.conversations if c["state"] in states]
        pagination = body.get("pagination") or {}
        per_page = min(150, int(pagination.get("per_page") or 20))
        start = 0
        if pagination.get("starting_after"):
            try:
                start = int(base64.b64decode(pagination["starting_after"]).decode())
            except ValueError:
                return self.error_response(400, error="starting_after is invalid")
        shown = found[start : start + per_page]
        more = start + per_page < len(found)
        pages: dict[str, Any] = {
            "type": "pages",
            "page": start // per_page + 1,
            "per_page": per_page,
            "total_pages": (len(found) + per_page - 1) // per_page,
        }
        if more:
            pages["next"] = {
                "page": start // per_page + 2,
                "starting_after": base64.b64encode(str(start + per_page).encode()).decode(),
            }
        return web.json_response(
            {
                "type": "conversation.list",
                "conversations": shown,
                "total_count": len(found),
                "pages": pages,
            }
        )

    async def _conversation(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        found = next(
            (c for c in self.conversations if c["id"] == request.match_info["conversation_id"]),
            None,
        )
        if found is None:
            return self.error_response(404)
        if request.query.get("display_as") != "plaintext":
            return web.json_response(found)
        return web.json_response(_plain(found))


def _plain(conversation: dict[str, Any]) -> dict[str, Any]:
    """The conversation with its bodies as plain text (``display_as=plaintext``)."""

    def strip(text: str | None) -> str | None:
        return text.replace("<p>", "").replace("</p>", "") if text else text

    parts = [
        {**p, "body": strip(p["body"])}
        for p in conversation["conversation_parts"]["conversation_parts"]
    ]
    return {
        **conversation,
        "source": {**conversation["source"], "body": strip(conversation["source"]["body"])},
        "conversation_parts": {**conversation["conversation_parts"], "conversation_parts": parts},
    }
