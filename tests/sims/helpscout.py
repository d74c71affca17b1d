"""Help Scout Mailbox API 2.0 simulator: the OAuth2 client-credentials token
(``POST /v2/oauth2/token``), conversations (``GET /v2/conversations``) and their threads
(``GET /v2/conversations/{id}/threads``) in the shapes of Help Scout's developer docs (HAL:
``_embedded``, ``page {size, totalElements, totalPages, number}``, ``_links``), behind a
Bearer token it issued. Conversations list 25 a page for one ``status`` (active, pending,
closed, spam or all; active by default), sorted by ``sortField``/``sortOrder``; threads come
newest first, as Help Scout sends them. ``expire_tokens()`` (or ``expire_in``) makes every
issued token answer 401, as an expired one does. A 429 carries ``X-RateLimit-Retry-After``."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from aiohttp import web

from tests.sims.base import FaultKind, Simulator
from tests.sims.zendesk import spread

__all__ = ["HelpScoutSim"]

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
PAGE_SIZE = 25
STATUSES = ("active", "pending", "closed", "spam")


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class HelpScoutSim(Simulator):
    name: ClassVar[str] = "helpscout"

    def __init__(
        self,
        *,
        client_id: str = "hs-app-id",
        client_secret: str = "hs-app-secret-0000",
        conversations: int = 240,
        closed: int = 15,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.tokens: set[str] = set()
        self.expire_in: int | None = None
        """After this many more authorized calls every issued token expires (401)."""
        self._serial = itertools.count(1)
        self.conversations: list[dict[str, Any]] = []
        self.threads: dict[int, list[dict[str, Any]]] = {}
        for status in spread(conversations, closed, ("closed", "closed")):
            self.add_conversation("active" if status == "open" else status)
        super().__init__()

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def add_conversation(self, status: str) -> dict[str, Any]:
        number = len(self.conversations) + 1
        conversation_id = 700000 + number
        created = START + timedelta(hours=number)
        customer = {
            "id": 300 + number,
            "type": "customer",
            "first": "Guest",
            "last": str(number),
            "email": f"guest{number}@example.com",
        }
        agent = {
            "id": 9,
            "type": "user",
            "first": "Hana",
            "last": "Agent",
            "email": "hana@acme.example",
        }
        conversation = {
            "id": conversation_id,
            "number": number,
            "threads": 3,
            "type": "email",
            "folderId": 1,
            "status": status,
            "state": "published",
            "subject": f"Login problem {number}",
            "preview": "I cannot log in",
            "mailboxId": 42,
            "createdBy": customer,
            "createdAt": _iso(created),
            "primaryCustomer": customer,
            "_links": {"self": {"href": f"/v2/conversations/{conversation_id}"}},
        }
        self.conversations.append(conversation)
        self.threads[conversation_id] = [
            self._thread(1, "customer", f"I cannot log in ({number}).", customer, created),
            self._thread(
                2, "reply", "Please reset your password.", agent, created + timedelta(minutes=5)
            ),
            self._thread(3, "note", "Checked the logs.", agent, created + timedelta(minutes=6)),
            self._thread(
                4, "customer", "Still locked out.", customer, created + timedelta(minutes=9)
            ),
        ][::-1]  # newest first
        return conversation

    @staticmethod
    def _thread(n: int, kind: str, body: str, by: dict[str, Any], at: datetime) -> dict[str, Any]:
        return {
            "id": n,
            "type": kind,
            "status": "active",
            "state": "published",
            "action": None,
            "body": body,
            "source": {"type": "email", "via": "customer" if kind == "customer" else "user"},
            "createdBy": by,
            "createdAt": _iso(at),
        }

    def open_ids(self) -> list[int]:
        return [c["id"] for c in self.conversations if c["status"] in ("active", "pending")]

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v2/oauth2/token", self._token)
        router.add_get("/v2/conversations", self._list)
        router.add_get("/v2/conversations/{conversation_id}/threads", self._threads)

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        headers = {"X-RateLimit-Retry-After": str(retry_after)} if retry_after is not None else None
        return web.json_response(
            {
                "logRef": "sim-0001",
                "message": error
                or {401: "Not authorized", 429: "Rate limit exceeded"}.get(status, "Server error"),
                "_embedded": {"errors": []},
            },
            status=status,
            headers=headers,
        )

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self.expire_in is not None:
            self.expire_in -= 1
            if self.expire_in < 0:
                self.expire_in = None
                self.expire_tokens()
        return header.startswith("Bearer ") and header[7:] in self.tokens

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = self.record_of(request).form
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return web.json_response(
                {"error": "invalid_client", "error_description": "Invalid client credentials"},
                status=401,
            )
        token = f"hs-access-{next(self._serial)}"
        self.tokens.add(token)
        return web.json_response(
            {"token_type": "bearer", "access_token": token, "expires_in": 172800}
        )

    async def _list(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        status = request.query.get("status", "active")
        if status not in (*STATUSES, "all"):
            return web.json_response(
                {"message": "Validation error", "_embedded": {"errors": [{"path": "status"}]}},
                status=400,
            )
        found = [c for c in self.conversations if status == "all" or c["status"] == status]
        field = {"createdAt": "createdAt", "number": "number"}.get(
            request.query.get("sortField", "createdAt"), "createdAt"
        )
        found.sort(key=lambda c: c[field], reverse=request.query.get("sortOrder") != "asc")
        page = max(1, int(request.query.get("page", "1")))
        shown = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        pages = (len(found) + PAGE_SIZE - 1) // PAGE_SIZE
        return web.json_response(
            {
                "_embedded": {"conversations": shown},
                "_links": {"self": {"href": f"{self.url}/v2/conversations?page={page}"}},
                "page": {
                    "size": PAGE_SIZE,
                    "totalElements": len(found),
                    "totalPages": pages,
                    "number": page,
                },
            }
        )

    async def _threads(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        try:
            threads = self.threads[int(request.match_info["conversation_id"])]
        except (KeyError, ValueError):
            return self.error_response(404, error="Conversation not found")
        return web.json_response(
            {
                "_embedded": {"threads": threads},
                "page": {"size": 25, "totalElements": len(threads), "totalPages": 1, "number": 1},
            }
        )
