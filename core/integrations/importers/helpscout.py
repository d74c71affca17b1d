"""Help Scout (Mailbox API 2.0): an app's client id and secret get an access token by the
OAuth2 client-credentials grant (`POST /v2/oauth2/token`; a new one when a call answers 401,
as tokens expire after two days). Conversations come from `GET /v2/conversations`, one status
at a time (`active`, then `pending`), oldest first (`sortField=createdAt&sortOrder=asc`,
25 a page, with `page.totalPages`); each conversation's threads from `GET
/v2/conversations/{id}/threads` (customer messages and replies in time order; notes and line
items left out). A 429 names its wait in `X-RateLimit-Retry-After`. The community
`python-helpscout-v2` client is synchronous (requests): see
core/integrations/importers/__init__.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

from core.integrations.importers import Http, Importer, ImportFailed, Message, Ticket, text_of

STATUSES = ("active", "pending")
SPOKEN = ("customer", "reply", "chat", "phone", "message")


class HelpScoutImporter(Importer):
    def __init__(self, credentials: Mapping[str, str], http: Http | None = None) -> None:
        self._client_id = credentials["client_id"]
        self._client_secret = credentials["client_secret"]
        self.http = http or Http(
            "Help Scout", credentials.get("api_url") or "https://api.helpscout.net"
        )
        self.http.on_unauthorized = self._renew
        self._renewed = False

    async def _token(self) -> None:
        body = await self.http.request(
            "POST",
            "/v2/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            },
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ImportFailed("Help Scout gave no access token: check the app id and secret")
        self.http.set_header("Authorization", f"Bearer {token}")

    async def _renew(self) -> bool:
        if self._renewed:
            return False  # refused again with a new token: the credentials are wrong
        self._renewed = True
        await self._token()
        return True

    async def __aenter__(self) -> HelpScoutImporter:
        await super().__aenter__()
        self.http.on_unauthorized = None  # the token call's own 401 means wrong credentials
        try:
            await self._token()
        except BaseException:
            await super().__aexit__(None, None, None)
            raise
        self.http.on_unauthorized = self._renew
        return self

    async def tickets(
        self, cursor: Mapping[str, Any]
    ) -> AsyncIterator[tuple[Ticket, dict[str, Any]]]:
        status = str(cursor.get("status") or STATUSES[0])
        if status not in STATUSES:
            status = STATUSES[0]
        page = int(cursor.get("page") or 1)
        offset = int(cursor.get("offset") or 0)
        while True:
            body = await self.http.get(
                "/v2/conversations",
                {"status": status, "sortField": "createdAt", "sortOrder": "asc", "page": page},
            )
            embedded = body.get("_embedded") if isinstance(body, dict) else None
            items = (embedded or {}).get("conversations", []) if isinstance(embedded, dict) else []
            if not isinstance(items, list):
                raise ImportFailed("Help Scout listed no conversations")
            pages = int(((body or {}).get("page") or {}).get("totalPages") or 0)
            nxt = _next(status, page, pages)
            for index in range(offset, len(items)):
                item = items[index]
                after = {"status": status, "page": page, "offset": index + 1}
                if index + 1 == len(items):
                    after = nxt
                if item.get("status") != status:
                    continue
                yield _ticket(item), after
            if not nxt:
                return
            status, page, offset = nxt["status"], nxt["page"], 0

    async def conversation(self, ticket: Ticket) -> Ticket:
        threads: list[dict[str, Any]] = []
        page, pages = 1, 1
        while page <= pages:
            body = await self.http.get(
                f"/v2/conversations/{ticket.source_id}/threads", {"page": page}
            )
            embedded = body.get("_embedded") if isinstance(body, dict) else None
            if not isinstance(embedded, dict) or not isinstance(embedded.get("threads"), list):
                raise ImportFailed(
                    f"Help Scout sent no threads for conversation {ticket.source_id}"
                )
            threads.extend(t for t in embedded["threads"] if isinstance(t, dict))
            pages = int((body.get("page") or {}).get("totalPages") or 1)
            page += 1
        messages = []
        for thread in sorted(threads, key=lambda t: (str(t.get("createdAt")), t.get("id") or 0)):
            if thread.get("type") not in SPOKEN:
                continue  # notes and line items stay in Help Scout
            by = thread.get("createdBy") if isinstance(thread.get("createdBy"), dict) else {}
            by = by or {}
            name = " ".join(p for p in (by.get("first"), by.get("last")) if p) or None
            messages.append(
                Message(
                    author="customer" if by.get("type") == "customer" else "agent",
                    text=text_of(thread.get("body")),
                    at=text_of(thread.get("createdAt")),
                    name=name,
                    email=by.get("email"),
                )
            )
        return replace(ticket, messages=messages)


def _next(status: str, page: int, pages: int) -> dict[str, Any]:
    if page < pages:
        return {"status": status, "page": page + 1, "offset": 0}
    later = STATUSES.index(status) + 1
    if later < len(STATUSES):
        return {"status": STATUSES[later], "page": 1, "offset": 0}
    return {}


def _ticket(item: Mapping[str, Any]) -> Ticket:
    customer = item.get("primaryCustomer") if isinstance(item.get("primaryCustomer"), dict) else {}
    customer = customer or {}
    name = " ".join(p for p in (customer.get("first"), customer.get("last")) if p) or None
    return Ticket(
        source_id=str(item["id"]),
        subject=text_of(item.get("subject")) or "(no subject)",
        status="pending" if item.get("status") == "pending" else "open",
        created_at=text_of(item.get("createdAt")),
        customer_name=name,
        customer_email=customer.get("email"),
    )
