"""Zendesk Support simulator: the Search API (``GET /api/v2/search.json``) and ticket comments
(``GET /api/v2/tickets/{id}/comments.json``) in the shapes of Zendesk's API reference, behind
basic auth ``{email}/token:{api_token}``.

Search answers ``{results, facets, next_page, previous_page, count}`` (at most 100 a page,
oldest first with ``sort_by=created_at&sort_order=asc``; a page past the 1,000th result is
refused with 422 as Zendesk does); ``status:`` terms are ORed, ``created>=``/``created>``
narrow by creation time. Comments answer ``{comments, users (include=users), next_page,
previous_page, count}``. The tickets are made up: ``open`` tickets, every fifth ``pending``,
and ``closed``/``solved`` ones between them the importer must leave out.
"""

from __future__ import annotations

import base64
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

from aiohttp import web

from tests.sims.base import FaultKind, Simulator

__all__ = ["ZendeskSim", "spread"]

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
AGENT_ID = 1


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class ZendeskSim(Simulator):
    name: ClassVar[str] = "zendesk"

    def __init__(
        self,
        *,
        email: str = "ops@acme.example",
        api_token: str = "zd-token-0000",
        tickets: int = 250,
        closed: int = 20,
    ) -> None:
        self.email = email
        self.api_token = api_token
        self.tickets: list[dict[str, Any]] = []
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.users: dict[int, dict[str, Any]] = {
            AGENT_ID: {
                "id": AGENT_ID,
                "name": "Ada Agent",
                "email": "ada@acme.example",
                "role": "agent",
            }
        }
        for status in spread(tickets, closed, ("solved", "closed")):
            self.add_ticket(status)
        super().__init__()

    def add_ticket(self, status: str) -> dict[str, Any]:
        number = len(self.tickets) + 1
        ticket_id = 1000 + number
        created = START + timedelta(hours=number)
        customer = {
            "id": 5000 + number,
            "name": f"Customer {number}",
            "email": f"customer{number}@example.com",
            "role": "end-user",
        }
        self.users[customer["id"]] = customer
        ticket = {
            "url": f"https://acme.zendesk.com/api/v2/tickets/{ticket_id}.json",
            "id": ticket_id,
            "result_type": "ticket",
            "created_at": _iso(created),
            "updated_at": _iso(created + timedelta(minutes=30)),
            "type": "question",
            "subject": f"Order {number} has not arrived",
            "raw_subject": f"Order {number} has not arrived",
            "description": f"Where is my order {number}?",
            "priority": "normal",
            "status": status,
            "requester_id": customer["id"],
            "submitter_id": customer["id"],
            "assignee_id": AGENT_ID,
            "tags": ["shipping"],
            "via": {
                "channel": "email",
                "source": {
                    "from": {"address": customer["email"], "name": customer["name"]},
                    "to": {"address": "support@acme.example", "name": "Acme"},
                    "rel": None,
                },
            },
        }
        self.tickets.append(ticket)
        self.comments[ticket_id] = [
            self._comment(ticket_id, 1, customer["id"], f"Where is my order {number}?", created),
            self._comment(
                ticket_id,
                2,
                AGENT_ID,
                f"Sorry! Order {number} left our warehouse yesterday.",
                created + timedelta(minutes=10),
            ),
            self._comment(
                ticket_id,
                3,
                AGENT_ID,
                "Internal: check the carrier.",
                created + timedelta(minutes=11),
                public=False,
            ),
            self._comment(
                ticket_id,
                4,
                customer["id"],
                "It is still not here <b>today</b>.",
                created + timedelta(minutes=20),
            ),
        ]
        return ticket

    @staticmethod
    def _comment(
        ticket_id: int, n: int, author: int, text: str, at: datetime, *, public: bool = True
    ) -> dict[str, Any]:
        return {
            "id": ticket_id * 10 + n,
            "type": "Comment",
            "author_id": author,
            "body": text,
            "html_body": f'<div class="zd-comment"><p>{text}</p></div>',
            "plain_body": text,
            "public": public,
            "attachments": [],
            "audit_id": ticket_id * 100 + n,
            "via": {"channel": "email"},
            "created_at": _iso(at),
        }

    def open_ids(self) -> list[int]:
        return [t["id"] for t in self.tickets if t["status"] in ("open", "pending")]

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/api/v2/search.json", self._search)
        router.add_get("/api/v2/tickets/{ticket_id}/comments.json", self._comments)

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        if status == 401:
            return web.json_response({"error": "Couldn't authenticate you"}, status=401)
        if status == 429:
            return web.json_response(
                {
                    "error": "APIRateLimitExceeded",
                    "description": "Number of allowed API requests per minute exceeded",
                },
                status=429,
                headers={"Retry-After": str(retry_after or 1)},
            )
        if status == 403:
            return web.json_response(
                {"error": "Forbidden", "description": error or "You do not have access"},
                status=403,
            )
        return web.json_response(
            {"error": {"title": "Internal Server Error", "message": error or "Server error"}},
            status=status,
        )

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.email}/token:{self.api_token}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _search(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        query = request.query.get("query", "")
        try:
            per_page = min(100, max(1, int(request.query.get("per_page", "100"))))
            page = max(1, int(request.query.get("page", "1")))
        except ValueError:
            return web.json_response(
                {"error": {"title": "Invalid attribute", "message": "page must be an integer"}},
                status=400,
            )
        if page > math.ceil(1000 / per_page):
            return web.json_response(
                {
                    "error": "Insufficient Resource Error",
                    "description": "Search results are limited to 1,000 per query",
                },
                status=422,
            )
        found = [t for t in self.tickets if "type:ticket" in query]
        statuses = re.findall(r"status:(\w+)", query)
        if statuses:
            found = [t for t in found if t["status"] in statuses]
        for op, value in re.findall(r"created(>=|>|<=|<)(\S+)", query):
            found = [t for t in found if _compare(t["created_at"], op, value)]
        reverse = request.query.get("sort_order") == "desc"
        found.sort(key=lambda t: (t["created_at"], t["id"]), reverse=reverse)
        shown = found[(page - 1) * per_page : page * per_page]
        last = min(len(found), 1000)

        def link(n: int) -> str:
            params = {**request.query, "page": str(n)}
            return f"{self.url}/api/v2/search.json?{urlencode(params)}"

        return web.json_response(
            {
                "results": shown,
                "facets": None,
                "next_page": link(page + 1) if page * per_page < last else None,
                "previous_page": link(page - 1) if page > 1 else None,
                "count": len(found),
            }
        )

    async def _comments(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        try:
            ticket_id = int(request.match_info["ticket_id"])
        except ValueError:
            ticket_id = -1
        comments = self.comments.get(ticket_id)
        if comments is None:
            return web.json_response(
                {"error": "RecordNotFound", "description": "Not found"}, status=404
            )
        body: dict[str, Any] = {
            "comments": comments,
            "next_page": None,
            "previous_page": None,
            "count": len(comments),
        }
        if "users" in request.query.get("include", ""):
            body["users"] = [self.users[c["author_id"]] for c in comments]
        return web.json_response(body)


def spread(tickets: int, closed: int, closed_names: tuple[str, str]) -> list[str]:
    """TICKETS open ones (every fifth pending) with CLOSED others spread evenly among them."""
    total = tickets + closed
    shut = {int((j + 0.5) * total / closed) for j in range(closed)} if closed else set()
    statuses, opened = [], 0
    for index in range(total):
        if index in shut:
            statuses.append(closed_names[index % 2])
        else:
            statuses.append("pending" if opened % 5 == 4 else "open")
            opened += 1
    return statuses


def _compare(created: str, op: str, value: str) -> bool:
    left = datetime.fromisoformat(created.replace("Z", "+00:00"))
    right = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if right.tzinfo is None:
        right = right.replace(tzinfo=UTC)
    return {
        ">=": left >= right,
        ">": left > right,
        "<=": left <= right,
        "<": left < right,
    }[op]
