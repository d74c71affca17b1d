"""HappyFox (API 1.1): unresolved tickets through `GET /api/1.1/json/tickets/` with
`status=_pending` (every status whose behaviour is pending, HappyFox's not-yet-completed),
oldest first (`sort=createa`), 50 a page with `page_info.page_count`; each ticket's
conversation from `GET /api/1.1/json/ticket/{id}/`: its `updates` in time order, the messages
(`message.text`) by the contact or by staff; private notes left out. Statuses are the
account's own: one named like on hold, pending or waiting is our pending, the rest open.
Basic auth with the API key and the auth code. There is no maintained Python client: see
core/integrations/importers/__init__.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

from core.integrations.importers import (
    Http,
    Importer,
    ImportFailed,
    Message,
    Ticket,
    text_of,
)
from core.integrations.providers import basic_auth

PAGE_SIZE = 50
_WAITING = re.compile(r"hold|pending|waiting|awaiting", re.IGNORECASE)


class HappyFoxImporter(Importer):
    def __init__(self, credentials: Mapping[str, str], http: Http | None = None) -> None:
        subdomain = credentials.get("subdomain", "")
        host = subdomain if "." in subdomain else f"{subdomain}.happyfox.com"
        self.http = http or Http(
            "HappyFox",
            credentials.get("api_url") or f"https://{host}",
            headers=basic_auth(credentials["api_key"], credentials["auth_code"]),
        )

    async def tickets(
        self, cursor: Mapping[str, Any]
    ) -> AsyncIterator[tuple[Ticket, dict[str, Any]]]:
        page = int(cursor.get("page") or 1)
        offset = int(cursor.get("offset") or 0)
        while True:
            body = await self.http.get(
                "/api/1.1/json/tickets/",
                {"status": "_pending", "sort": "createa", "size": PAGE_SIZE, "page": page},
            )
            items = body.get("data") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise ImportFailed("HappyFox listed no tickets")
            pages = int((body.get("page_info") or {}).get("page_count") or 0)
            nxt = {"page": page + 1, "offset": 0} if page < pages and items else {}
            for index in range(offset, len(items)):
                item = items[index]
                after = {"page": page, "offset": index + 1}
                if index + 1 == len(items):
                    after = nxt
                status = item.get("status") if isinstance(item.get("status"), dict) else {}
                if (status or {}).get("behavior", "pending") != "pending":
                    continue
                yield _ticket(item), after
            if not nxt:
                return
            page, offset = nxt["page"], 0

    async def conversation(self, ticket: Ticket) -> Ticket:
        body = await self.http.get(f"/api/1.1/json/ticket/{ticket.source_id}/")
        if not isinstance(body, dict) or not isinstance(body.get("updates"), list):
            raise ImportFailed(f"HappyFox sent no ticket {ticket.source_id}")
        messages = []
        updates = [u for u in body["updates"] if isinstance(u, dict)]
        for update in sorted(updates, key=lambda u: str(u.get("timestamp"))):
            message = update.get("message") if isinstance(update.get("message"), dict) else None
            if not message or not message.get("text") or message.get("private"):
                continue  # status changes, assignments and private notes stay in HappyFox
            by = update.get("by") if isinstance(update.get("by"), dict) else {}
            by = by or {}
            messages.append(
                Message(
                    author="agent" if by.get("type") == "staff" else "customer",
                    text=text_of(message.get("text")),
                    at=text_of(update.get("timestamp")),
                    name=by.get("name"),
                    email=by.get("email"),
                )
            )
        return replace(ticket, messages=messages)


def _ticket(item: Mapping[str, Any]) -> Ticket:
    status = item.get("status") if isinstance(item.get("status"), dict) else {}
    user = item.get("user") if isinstance(item.get("user"), dict) else {}
    return Ticket(
        source_id=str(item["id"]),
        subject=text_of(item.get("subject")) or "(no subject)",
        status="pending" if _WAITING.search(str((status or {}).get("name", ""))) else "open",
        created_at=text_of(item.get("created_at")),
        customer_name=(user or {}).get("name"),
        customer_email=(user or {}).get("email"),
    )
