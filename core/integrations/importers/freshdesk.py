"""Freshdesk: open (2) and pending (3) tickets through the Filter Tickets search
(`GET /api/v2/search/tickets?query="status:2 OR status:3"`, 30 a page, pages 1 to 10, newest
first), each ticket with its requester (`GET /api/v2/tickets/{id}?include=requester`: the
description is the first message) and its conversation (`GET
/api/v2/tickets/{id}/conversations`, 100 a page; notes left out). Basic auth with the API key
and `X`. The search stops at 300 results a query, so past page 10 the query goes on below the
oldest day seen (`created_at:<'day after'`); a ticket seen twice at the seam is skipped as
already imported. Freshdesk's Python client is synchronous: see
core/integrations/importers/__init__.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import date, timedelta
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

MAX_PAGE = 10
STATUSES = {2: "open", 3: "pending"}
CONVERSATIONS_PER_PAGE = 100


class FreshdeskImporter(Importer):
    def __init__(self, credentials: Mapping[str, str], http: Http | None = None) -> None:
        domain = credentials.get("domain", "")
        host = domain if "." in domain else f"{domain}.freshdesk.com"
        self.http = http or Http(
            "Freshdesk",
            credentials.get("api_url") or f"https://{host}",
            headers=basic_auth(credentials["api_key"], "X"),
        )

    async def tickets(
        self, cursor: Mapping[str, Any]
    ) -> AsyncIterator[tuple[Ticket, dict[str, Any]]]:
        page = int(cursor.get("page") or 1)
        offset = int(cursor.get("offset") or 0)
        before = cursor.get("before")  # a day: only tickets created before it
        while True:
            query = "(status:2 OR status:3)"
            if before:
                query += f" AND created_at:<'{before}'"
            body = await self.http.get(
                "/api/v2/search/tickets", {"query": f'"{query}"', "page": page}
            )
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise ImportFailed("Freshdesk's search answered without results")
            total = int(body.get("total") or 0)
            more = bool(results) and page * 30 < total
            oldest = min((str(r.get("created_at", ""))[:10] for r in results), default="")
            nxt = _next(page, before, oldest, more)
            for index in range(offset, len(results)):
                item = results[index]
                after = {"page": page, "offset": index + 1, "before": before}
                if index + 1 == len(results):
                    after = nxt
                if item.get("status") not in STATUSES:
                    continue
                yield _ticket(item), after
            if not nxt:
                return
            page, offset, before = nxt["page"], 0, nxt.get("before")

    async def conversation(self, ticket: Ticket) -> Ticket:
        detail = await self.http.get(
            f"/api/v2/tickets/{ticket.source_id}", {"include": "requester"}
        )
        if not isinstance(detail, dict):
            raise ImportFailed(f"Freshdesk sent no ticket {ticket.source_id}")
        requester = detail.get("requester") if isinstance(detail.get("requester"), dict) else {}
        requester = requester or {}
        messages = [
            Message(
                author="customer",
                text=text_of(detail.get("description_text") or detail.get("description")),
                at=text_of(detail.get("created_at")),
                name=requester.get("name"),
                email=requester.get("email"),
            )
        ]
        page = 1
        while True:
            body = await self.http.get(
                f"/api/v2/tickets/{ticket.source_id}/conversations",
                {"page": page, "per_page": CONVERSATIONS_PER_PAGE},
            )
            if not isinstance(body, list):
                raise ImportFailed(f"Freshdesk sent no conversation for ticket {ticket.source_id}")
            for item in body:
                if not isinstance(item, dict) or item.get("private"):
                    continue  # private notes stay in Freshdesk
                incoming = bool(item.get("incoming"))
                messages.append(
                    Message(
                        author="customer" if incoming else "agent",
                        text=text_of(item.get("body_text") or item.get("body")),
                        at=text_of(item.get("created_at")),
                        name=requester.get("name") if incoming else None,
                        email=text_of(item.get("from_email")) or None,
                    )
                )
            if len(body) < CONVERSATIONS_PER_PAGE:
                break
            page += 1
        return replace(
            ticket,
            subject=text_of(detail.get("subject")) or ticket.subject,
            customer_name=requester.get("name"),
            customer_email=requester.get("email"),
            messages=messages,
        )


def _next(page: int, before: Any, oldest: str, more: bool) -> dict[str, Any]:
    """The cursor after PAGE: the next page; past page 10 a new query below the day after the
    oldest ticket seen (the seam's repeats are skipped), or below that day itself when that
    would ask the same again; {} when the list is done."""
    if not more:
        return {}
    if page < MAX_PAGE:
        return {"page": page + 1, "offset": 0, "before": before}
    try:
        day = date.fromisoformat(oldest)
    except ValueError:
        return {}
    bound = (day + timedelta(days=1)).isoformat()
    if bound == before:
        bound = day.isoformat()
    return {"page": 1, "offset": 0, "before": bound}


def _ticket(item: Mapping[str, Any]) -> Ticket:
    return Ticket(
        source_id=str(item["id"]),
        subject=text_of(item.get("subject")) or "(no subject)",
        status=STATUSES.get(int(item.get("status") or 0), "open"),
        created_at=text_of(item.get("created_at")),
    )
