"""Freshdesk simulator (API v2): the Filter Tickets search (``GET /api/v2/search/tickets``),
a ticket with its requester (``GET /api/v2/tickets/{id}?include=requester``) and its
conversations (``GET /api/v2/tickets/{id}/conversations``), in the shapes of Freshdesk's API
reference, behind basic auth ``{api_key}:X``.

The search takes ``query`` wrapped in double quotes (400 otherwise), ORs its ``status:N``
terms, narrows by ``created_at:<'YYYY-MM-DD'`` / ``created_at:>'YYYY-MM-DD'``, answers
``{"results": [...], "total": N}`` with 30 tickets a page, newest first, and refuses a page
past 10 with 400, as Freshdesk does. Statuses are Freshdesk's numbers: 2 open, 3 pending,
4 resolved, 5 closed. Errors are ``{"code", "message"}`` (``{"description", "errors"}`` for
validation).
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

from aiohttp import web

from tests.sims.base import FaultKind, Simulator
from tests.sims.zendesk import spread

__all__ = ["FreshdeskSim"]

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
PER_PAGE = 30
MAX_PAGE = 10
AGENT_ID = 77
STATUS = {"open": 2, "pending": 3, "resolved": 4, "closed": 5}


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class FreshdeskSim(Simulator):
    name: ClassVar[str] = "freshdesk"

    def __init__(
        self, *, api_key: str = "fd-key-0000", tickets: int = 350, closed: int = 20
    ) -> None:
        self.api_key = api_key
        self.tickets: list[dict[str, Any]] = []
        self.requesters: dict[int, dict[str, Any]] = {}
        self.conversations: dict[int, list[dict[str, Any]]] = {}
        for status in spread(tickets, closed, ("resolved", "closed")):
            self.add_ticket(status)
        super().__init__()

    def add_ticket(self, status: str) -> dict[str, Any]:
        number = len(self.tickets) + 1
        ticket_id = number
        created = START + timedelta(hours=number)
        requester = {
            "id": 9000 + number,
            "name": f"Client {number}",
            "email": f"client{number}@example.com",
            "mobile": None,
            "phone": None,
        }
        self.requesters[ticket_id] = requester
        ticket = {
            "id": ticket_id,
            "subject": f"Refund for invoice {number}",
            "status": STATUS[status],
            "priority": 1,
            "source": 1,
            "type": "Question",
            "requester_id": requester["id"],
            "responder_id": AGENT_ID,
            "group_id": None,
            "company_id": None,
            "tags": [],
            "custom_fields": {},
            "due_by": _iso(created + timedelta(days=3)),
            "fr_due_by": _iso(created + timedelta(days=1)),
            "is_escalated": False,
            "created_at": _iso(created),
            "updated_at": _iso(created + timedelta(minutes=30)),
        }
        self.tickets.append(ticket)
        self.conversations[ticket_id] = [
            self._conversation(
                ticket_id, 1, f"We are looking into invoice {number}.", created, incoming=False
            ),
            self._conversation(
                ticket_id, 2, "Note: refund approved by finance.", created, private=True
            ),
            self._conversation(
                ticket_id,
                3,
                "Thanks, any news?",
                created + timedelta(minutes=20),
                incoming=True,
                email=requester["email"],
            ),
        ]
        return ticket

    @staticmethod
    def _conversation(
        ticket_id: int,
        n: int,
        text: str,
        at: datetime,
        *,
        incoming: bool = False,
        private: bool = False,
        email: str = "support@acme.freshdesk.com",
    ) -> dict[str, Any]:
        return {
            "id": ticket_id * 10 + n,
            "body": f"<div>{text}</div>",
            "body_text": text,
            "incoming": incoming,
            "private": private,
            "user_id": AGENT_ID if not incoming else 9000 + ticket_id,
            "support_email": "support@acme.freshdesk.com",
            "source": 2 if private else 0,
            "ticket_id": ticket_id,
            "to_emails": [],
            "from_email": email,
            "cc_emails": [],
            "bcc_emails": [],
            "attachments": [],
            "created_at": _iso(at + timedelta(minutes=n)),
            "updated_at": _iso(at + timedelta(minutes=n)),
        }

    def open_ids(self) -> list[int]:
        return [t["id"] for t in self.tickets if t["status"] in (2, 3)]

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/api/v2/search/tickets", self._search)
        router.add_get("/api/v2/tickets/{ticket_id}", self._ticket)
        router.add_get("/api/v2/tickets/{ticket_id}/conversations", self._conversations)

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        code, message = {
            401: ("invalid_credentials", "You have to be logged in to perform this action."),
            403: ("access_denied", "You are not authorized to perform this action."),
            404: ("not_found", "The requested resource was not found."),
            429: ("rate_limit_exceeded", "You have exceeded the limit of requests per minute."),
        }.get(status, ("internal_error", "We're sorry, something went wrong."))
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.json_response(
            {"code": code, "message": error or message}, status=status, headers=headers
        )

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.api_key}:X".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    @staticmethod
    def _invalid(field: str, message: str) -> web.StreamResponse:
        return web.json_response(
            {
                "description": "Validation failed",
                "errors": [{"field": field, "message": message, "code": "invalid_value"}],
            },
            status=400,
        )

    async def _search(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        query = request.query.get("query", "")
        if len(query) < 2 or not (query.startswith('"') and query.endswith('"')):
            return self._invalid("query", "Query should be enclosed within double quotes")
        try:
            page = int(request.query.get("page", "1"))
        except ValueError:
            page = 0
        if not 1 <= page <= MAX_PAGE:
            return self._invalid("page", "It should be a Positive Number less than or equal to 10")
        found = list(self.tickets)
        statuses = [int(s) for s in re.findall(r"status:(\d+)", query)]
        if statuses:
            found = [t for t in found if t["status"] in statuses]
        for op, day in re.findall(r"created_at:([<>])'(\d{4}-\d{2}-\d{2})'", query):
            bound = date.fromisoformat(day)
            found = [
                t
                for t in found
                if (date.fromisoformat(t["created_at"][:10]) < bound) == (op == "<")
            ]
        found.sort(key=lambda t: (t["created_at"], t["id"]), reverse=True)
        shown = found[(page - 1) * PER_PAGE : page * PER_PAGE]
        return web.json_response({"results": shown, "total": len(found)})

    def _find(self, request: web.Request) -> dict[str, Any] | None:
        try:
            ticket_id = int(request.match_info["ticket_id"])
        except ValueError:
            return None
        return next((t for t in self.tickets if t["id"] == ticket_id), None)

    async def _ticket(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        ticket = self._find(request)
        if ticket is None:
            return self.error_response(404)
        number = ticket["id"]
        body = {
            **ticket,
            "description": f"<div>Please refund invoice {number}.</div>",
            "description_text": f"Please refund invoice {number}.",
        }
        if "requester" in request.query.get("include", ""):
            body["requester"] = self.requesters[number]
        return web.json_response(body)

    async def _conversations(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        ticket = self._find(request)
        if ticket is None:
            return self.error_response(404)
        try:
            page = max(1, int(request.query.get("page", "1")))
            per_page = min(100, max(1, int(request.query.get("per_page", "30"))))
        except ValueError:
            return self._invalid("page", "It should be a Positive Number")
        items = self.conversations[ticket["id"]]
        shown = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            headers["Link"] = (
                f'<{self.url}{request.path}?page={page + 1}&per_page={per_page}>; rel="next"'
            )
        return web.json_response(shown, headers=headers)
