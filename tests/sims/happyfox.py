"""HappyFox simulator (API 1.1): the ticket list (``GET /api/1.1/json/tickets/``) and one
ticket with its updates (``GET /api/1.1/json/ticket/{id}/``), in the shapes of HappyFox's
API, behind basic auth ``{api_key}:{auth_code}``.

The list answers ``{"data": [...], "page_info": {"count", "page_count", "page", "page_size",
"start", "end"}}`` with ``size`` at most 50; ``status=_pending`` keeps statuses whose
``behavior`` is pending, ``_all`` keeps every one; ``sort=createa`` is oldest first
(``created`` newest first, the default). Statuses are the account's own: New, Open and
On Hold (pending behaviour), Closed (completed). A ticket's ``updates`` hold its messages
(``message.text``, ``private`` for notes) by the contact (``by.type`` user) or staff.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from aiohttp import web

from tests.sims.base import FaultKind, Simulator
from tests.sims.zendesk import spread

__all__ = ["HappyFoxSim"]

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
STATUSES = {
    "new": {"id": 1, "name": "New", "behavior": "pending", "color": "ef6c00"},
    "open": {"id": 2, "name": "Open", "behavior": "pending", "color": "1e88e5"},
    "hold": {"id": 3, "name": "On Hold", "behavior": "pending", "color": "8e24aa"},
    "closed": {"id": 4, "name": "Closed", "behavior": "completed", "color": "43a047"},
}


def _at(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


class HappyFoxSim(Simulator):
    name: ClassVar[str] = "happyfox"

    def __init__(
        self,
        *,
        api_key: str = "hf-key-0000",
        auth_code: str = "hf-auth-0000",
        tickets: int = 220,
        closed: int = 15,
    ) -> None:
        self.api_key = api_key
        self.auth_code = auth_code
        self.tickets: list[dict[str, Any]] = []
        for index, status in enumerate(spread(tickets, closed, ("closed", "closed"))):
            kind = {"pending": "hold", "open": "open" if index % 3 else "new"}.get(status, status)
            self.add_ticket(kind)
        super().__init__()

    def add_ticket(self, status: str) -> dict[str, Any]:
        number = len(self.tickets) + 1
        created = START + timedelta(hours=number)
        contact = {
            "id": 400 + number,
            "name": f"Patron {number}",
            "email": f"patron{number}@example.com",
            "type": "user",
        }
        staff = {"id": 7, "name": "Sam Staff", "email": "sam@acme.example", "type": "staff"}

        def update(
            n: int, by: dict[str, Any], text: str | None, *, private: bool = False
        ) -> dict[str, Any]:
            return {
                "timestamp": _at(created + timedelta(minutes=n)),
                "by": by,
                "message": None
                if text is None
                else {
                    "text": text,
                    "html": f"<p>{text}</p>",
                    "private": private,
                    "attachments": [],
                },
                "status_change": None if text else {"old": None, "new": STATUSES[status]},
                "assignee_change": None,
            }

        ticket = {
            "id": number,
            "display_id": f"#HF{number:05d}",
            "subject": f"Cannot export report {number}",
            "status": STATUSES[status],
            "priority": {"id": 2, "name": "Medium"},
            "category": {"id": 1, "name": "Support"},
            "user": {"id": contact["id"], "name": contact["name"], "email": contact["email"]},
            "assigned_to": {"id": staff["id"], "name": staff["name"]},
            "created_at": _at(created),
            "last_modified": _at(created + timedelta(minutes=30)),
            "messages_count": 3,
            "updates": [
                update(0, contact, f"Export of report {number} fails."),
                update(5, staff, "Which browser do you use?"),
                update(6, staff, "Known bug 123", private=True),
                update(7, staff, None),
                update(12, contact, "Firefox."),
            ][::-1],  # HappyFox lists the newest update first
        }
        self.tickets.append(ticket)
        return ticket

    def open_ids(self) -> list[int]:
        return [t["id"] for t in self.tickets if t["status"]["behavior"] == "pending"]

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/api/1.1/json/tickets/", self._list)
        router.add_get("/api/1.1/json/ticket/{ticket_id}/", self._ticket)

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        message = error or {
            401: "Authentication failed",
            404: "Not Found",
            429: "Too many requests",
        }.get(status, "Internal server error")
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.json_response({"error": message}, status=status, headers=headers)

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.api_key}:{self.auth_code}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _list(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        status = request.query.get("status", "_all")
        found = [
            t for t in self.tickets if status == "_all" or t["status"]["behavior"] == "pending"
        ]
        found.sort(key=lambda t: t["created_at"], reverse=request.query.get("sort") != "createa")
        size = min(50, max(1, int(request.query.get("size", "10"))))
        page = max(1, int(request.query.get("page", "1")))
        shown = found[(page - 1) * size : page * size]
        listed = [{k: v for k, v in t.items() if k != "updates"} for t in shown]
        return web.json_response(
            {
                "data": listed,
                "page_info": {
                    "count": len(found),
                    "page_count": (len(found) + size - 1) // size,
                    "page": page,
                    "page_size": size,
                    "start": (page - 1) * size + 1,
                    "end": (page - 1) * size + len(shown),
                },
            }
        )

    async def _ticket(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        found = next(
            (t for t in self.tickets if str(t["id"]) == request.match_info["ticket_id"]), None
        )
        if found is None:
            return self.error_response(404)
        return web.json_response(found)
