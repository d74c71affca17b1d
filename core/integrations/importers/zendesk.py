"""Zendesk: open and pending tickets through the Search API (`GET /api/v2/search.json`,
`type:ticket status:open status:pending`, oldest first, 100 a page) and each ticket's
conversation through `GET /api/v2/tickets/{id}/comments.json?include=users` (public comments
in order; the users sideloaded say who is the customer). Basic auth `{email}/token` with the
API token. Search stops at 1,000 results a query (page 11 is refused), so past page 10 the
query goes on from the last ticket's creation time (`created>=`); a ticket seen twice at the
seam is skipped as already imported. Zendesk's Python client (zenpy) is synchronous: see
core/integrations/importers/__init__.py."""

from __future__ import annotations

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

PER_PAGE = 100
MAX_PAGE = 10  # the Search API's 1,000 results
STATUSES = ("open", "pending")


class ZendeskImporter(Importer):
    def __init__(self, credentials: Mapping[str, str], http: Http | None = None) -> None:
        base = credentials.get("api_url") or f"https://{credentials['subdomain']}.zendesk.com"
        self.http = http or Http(
            "Zendesk",
            base,
            headers=basic_auth(f"{credentials['email']}/token", credentials["api_token"]),
        )

    async def tickets(
        self, cursor: Mapping[str, Any]
    ) -> AsyncIterator[tuple[Ticket, dict[str, Any]]]:
        page = int(cursor.get("page") or 1)
        offset = int(cursor.get("offset") or 0)
        since = cursor.get("since")
        while True:
            query = "type:ticket status:open status:pending"
            if since:
                query += f" created>={since}"
            body = await self.http.get(
                "/api/v2/search.json",
                {
                    "query": query,
                    "sort_by": "created_at",
                    "sort_order": "asc",
                    "per_page": PER_PAGE,
                    "page": page,
                },
            )
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise ImportFailed("Zendesk's search answered without results")
            more = bool(body.get("next_page"))
            last_created = since
            for index in range(offset, len(results)):
                item = results[index]
                last_created = item.get("created_at") or last_created
                after: dict[str, Any] = {"page": page, "offset": index + 1, "since": since}
                if index + 1 == len(results):
                    after = _next(page, since, last_created, more)
                if item.get("status") not in STATUSES:
                    continue
                yield _ticket(item), after
            if not more or not results:
                return
            nxt = _next(page, since, last_created, more)
            page, offset, since = nxt["page"], 0, nxt.get("since")

    async def conversation(self, ticket: Ticket) -> Ticket:
        messages: list[Message] = []
        users: dict[Any, dict[str, Any]] = {}
        comments: list[dict[str, Any]] = []
        url = f"/api/v2/tickets/{ticket.source_id}/comments.json"
        params: dict[str, Any] | None = {"include": "users"}
        while url:
            body = await self.http.get(url, params)
            if not isinstance(body, dict) or not isinstance(body.get("comments"), list):
                raise ImportFailed(f"Zendesk sent no comments for ticket {ticket.source_id}")
            comments.extend(c for c in body["comments"] if isinstance(c, dict))
            users.update({u.get("id"): u for u in body.get("users") or [] if isinstance(u, dict)})
            url, params = body.get("next_page") or "", None
        customer: dict[str, Any] = {}
        for comment in comments:
            if comment.get("public") is False:
                continue  # internal notes stay in Zendesk
            user = users.get(comment.get("author_id"), {})
            author = "customer" if user.get("role", "end-user") == "end-user" else "agent"
            if author == "customer" and not customer:
                customer = user
            messages.append(
                Message(
                    author=author,
                    text=text_of(comment.get("plain_body") or comment.get("body")),
                    at=text_of(comment.get("created_at")),
                    name=user.get("name"),
                    email=user.get("email"),
                )
            )
        return replace(
            ticket,
            messages=messages,
            customer_name=ticket.customer_name or customer.get("name"),
            customer_email=ticket.customer_email or customer.get("email"),
        )


def _next(page: int, since: Any, last_created: Any, more: bool) -> dict[str, Any]:
    """The cursor after PAGE: the next page, or past the search's last page a new query from
    the last ticket's creation time; {} when the list is done (the next run starts over and
    skips what it has)."""
    if not more:
        return {}
    if page < MAX_PAGE:
        return {"page": page + 1, "offset": 0, "since": since}
    return {"page": 1, "offset": 0, "since": last_created}


def _ticket(item: Mapping[str, Any]) -> Ticket:
    via = item.get("via") if isinstance(item.get("via"), dict) else {}
    source = (via or {}).get("source") or {}
    sender = source.get("from") if isinstance(source, dict) else None
    sender = sender if isinstance(sender, dict) else {}
    return Ticket(
        source_id=str(item["id"]),
        subject=text_of(item.get("subject") or item.get("raw_subject")) or "(no subject)",
        status=str(item.get("status")),
        created_at=text_of(item.get("created_at")),
        customer_name=sender.get("name"),
        customer_email=sender.get("address"),
    )
