"""Intercom: open and snoozed conversations (snoozed is Intercom's waiting-on-someone, our
pending) through the Search API (`POST /conversations/search`, `state IN [open, snoozed]`,
150 a page, cursor `pages.next.starting_after`), each conversation from
`GET /conversations/{id}?display_as=plaintext`: its source (the first message) and its
comment parts in order (notes and assignments left out). Bearer access token, the
`Intercom-Version` header pinned. A 429 comes with `X-RateLimit-Reset` (a Unix time) rather
than Retry-After; `Http` waits until then. Intercom's Python clients are synchronous or
unmaintained: see core/integrations/importers/__init__.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from core.integrations.importers import Http, Importer, ImportFailed, Message, Ticket, text_of

PER_PAGE = 150
VERSION = "2.11"
STATES = {"open": "open", "snoozed": "pending"}
SPOKEN = ("comment", "open", "reopen")


class IntercomImporter(Importer):
    def __init__(self, credentials: Mapping[str, str], http: Http | None = None) -> None:
        self.http = http or Http(
            "Intercom",
            credentials.get("api_url") or "https://api.intercom.io",
            headers={
                "Authorization": f"Bearer {credentials['access_token']}",
                "Intercom-Version": VERSION,
                "Accept": "application/json",
            },
        )

    async def tickets(
        self, cursor: Mapping[str, Any]
    ) -> AsyncIterator[tuple[Ticket, dict[str, Any]]]:
        at = cursor.get("at")  # the starting_after that fetched the current page
        offset = int(cursor.get("offset") or 0)
        while True:
            pagination: dict[str, Any] = {"per_page": PER_PAGE}
            if at:
                pagination["starting_after"] = at
            body = await self.http.request(
                "POST",
                "/conversations/search",
                json={
                    "query": {"field": "state", "operator": "IN", "value": list(STATES)},
                    "pagination": pagination,
                },
            )
            items = body.get("conversations") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise ImportFailed("Intercom's search answered without conversations")
            following = ((body.get("pages") or {}).get("next") or {}).get("starting_after")
            nxt = {"at": following, "offset": 0} if following and items else {}
            for index in range(offset, len(items)):
                item = items[index]
                after = {"at": at, "offset": index + 1}
                if index + 1 == len(items):
                    after = nxt
                if item.get("state") not in STATES:
                    continue
                yield _ticket(item), after
            if not nxt:
                return
            at, offset = nxt["at"], 0

    async def conversation(self, ticket: Ticket) -> Ticket:
        body = await self.http.get(
            f"/conversations/{ticket.source_id}", {"display_as": "plaintext"}
        )
        if not isinstance(body, dict):
            raise ImportFailed(f"Intercom sent no conversation {ticket.source_id}")
        source = body.get("source") if isinstance(body.get("source"), dict) else {}
        source = source or {}
        first = _author(source.get("author"))
        messages = [
            Message(
                author=first[0],
                text=text_of(source.get("body")),
                at=_when(body.get("created_at")),
                name=first[1],
                email=first[2],
            )
        ]
        parts = (body.get("conversation_parts") or {}).get("conversation_parts") or []
        for part in sorted(
            (p for p in parts if isinstance(p, dict)), key=lambda p: p.get("created_at") or 0
        ):
            if part.get("part_type") not in SPOKEN or not part.get("body"):
                continue  # notes, assignments and state changes stay in Intercom
            who = _author(part.get("author"))
            messages.append(
                Message(
                    author=who[0],
                    text=text_of(part.get("body")),
                    at=_when(part.get("created_at")),
                    name=who[1],
                    email=who[2],
                )
            )
        customer = next((m for m in messages if m.author == "customer"), None)
        return replace(
            ticket,
            subject=text_of(source.get("subject") or body.get("title")) or ticket.subject,
            customer_name=customer.name if customer else None,
            customer_email=customer.email if customer else None,
            messages=messages,
        )


def _author(value: Any) -> tuple[str, str | None, str | None]:
    author = value if isinstance(value, dict) else {}
    kind = "customer" if author.get("type") in ("user", "lead", "contact") else "agent"
    return kind, author.get("name") or None, author.get("email") or None


def _when(value: Any) -> str:
    try:
        return datetime.fromtimestamp(int(value), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        return ""


def _ticket(item: Mapping[str, Any]) -> Ticket:
    source = item.get("source") if isinstance(item.get("source"), dict) else {}
    source = source or {}
    return Ticket(
        source_id=str(item["id"]),
        subject=text_of(item.get("title") or source.get("subject")) or "(no subject)",
        status=STATES.get(str(item.get("state")), "open"),
        created_at=_when(item.get("created_at")),
    )
