"""The AI Inbox's list: assists by status (Open / Pending / Closed), newest first, with filters
and search, read through the one inbox filter (core.assists.inbox). The same list is the left
panel of an assist's page, and `/console/inbox/rows` gives it as JSON to the live script."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from api.console.session import page, require
from api.console.templating import short_time
from api.state import GATEWAY
from core.assists.inbox import (
    MAX_SEARCH,
    STATUSES,
    InboxFilter,
    InboxRow,
    categories,
    inbox_rows,
    status_counts,
)
from core.assists.triage import PRIORITIES
from core.team.members import active_member_names
from core.team.signin import SignedIn
from storage.types import utcnow

LIST_LIMIT = 200
EMPTY = {
    "open": (
        "No open assists.",
        "When a customer asks the AI agent for a person, or the agent cannot answer "
        "confidently, the request lands here with a summary and a suggested reply.",
    ),
    "pending": (
        "No pending assists.",
        "An assist waits here after the team replies, until the customer answers (their "
        "reply moves it back to Open).",
    ),
    "snoozed": (
        "No snoozed assists.",
        "Snooze an assist from its page to set it aside until a time: it reopens by itself "
        "then, or as soon as the customer replies.",
    ),
    "closed": (
        "No closed assists.",
        "Close an assist from its page once the customer has been helped.",
    ),
}


@dataclass(frozen=True, slots=True)
class InboxView:
    """The list a member looks at, as the query string says: a status tab, filters, a search."""

    status: str = "open"
    assignee: str = ""  # "", "me", "unassigned" or a member id
    priority: str = ""
    category: str = ""
    label: str = ""
    q: str = ""

    @classmethod
    def of(cls, request: web.Request) -> InboxView:
        return cls.of_query(request.query)

    @classmethod
    def of_query(cls, query: Mapping[str, str]) -> InboxView:
        """The view QUERY asks for; anything unknown falls back to the default."""
        status = query.get("status", "open")
        priority = query.get("priority", "")
        return cls(
            status=status if status in STATUSES else "open",
            assignee=query.get("assignee", "").strip()[:40],
            priority=priority if priority in PRIORITIES else "",
            category=query.get("category", "").strip()[:60],
            label=query.get("label", "").strip()[:60],
            q=query.get("q", "").strip()[:MAX_SEARCH],
        )

    def filter(self, member_id: str) -> InboxFilter:
        assignee = member_id if self.assignee == "me" else self.assignee
        return InboxFilter(
            status=self.status,
            priority=self.priority or None,
            category=self.category or None,
            label=self.label or None,
            assignee_id=assignee if assignee and assignee != "unassigned" else None,
            unassigned=assignee == "unassigned",
            search=self.q or None,
        )

    def query(self, **changes: str) -> str:
        """The query string of this view with CHANGES, with its `?`; defaults (the Open tab,
        empty filters) are left out, so the default view's links are plain."""
        view = replace(self, **changes)
        pairs = [
            (name, getattr(view, name))
            for name in ("status", "assignee", "priority", "category", "label", "q")
            if getattr(view, name) and not (name == "status" and view.status == "open")
        ]
        return "?" + urlencode(pairs) if pairs else ""

    @property
    def narrowed(self) -> bool:
        return bool(self.assignee or self.priority or self.category or self.label or self.q)


@dataclass(frozen=True, slots=True)
class InboxList:
    view: InboxView
    rows: list[InboxRow]
    counts: dict[str, int]
    members: dict[str, str]  # active members' names by id
    categories: list[str]
    now: datetime

    def assignee_name(self, member_id: str | None) -> str:
        if member_id is None:
            return "Unassigned"
        return self.members.get(member_id, "a former member")


async def inbox_list(session: AsyncSession, who: SignedIn, view: InboxView) -> InboxList:
    flt = view.filter(who.member_id)
    return InboxList(
        view=view,
        rows=await inbox_rows(session, who.workspace_id, flt, limit=LIST_LIMIT),
        counts=await status_counts(session, who.workspace_id, flt),
        members=await active_member_names(session, who.workspace_id),
        categories=await categories(session, who.workspace_id),
        now=utcnow(),
    )


def list_context(listing: InboxList, current: str | None = None) -> dict[str, Any]:
    """What `_list.html` needs; CURRENT is the assist open beside the list."""
    title, hint = EMPTY[listing.view.status]
    return {
        "listing": listing,
        "view": listing.view,
        "current": current,
        "priorities": PRIORITIES[::-1],
        "statuses": STATUSES,
        "empty_title": title,
        "empty_hint": hint,
    }


def row_json(row: InboxRow, listing: InboxList, timezone: str) -> dict[str, Any]:
    return {
        "ref": row.ref,
        "href": f"/console/assists/{row.ref}{listing.view.query()}",
        "customer": row.customer,
        "summary": row.summary,
        "priority": row.priority,
        "status": row.status,
        "unread": row.unread,
        "assignee": listing.assignee_name(row.assignee_id),
        "time": short_time(row.created_at, timezone, listing.now),
        "datetime": row.created_at.isoformat(),
    }


async def inbox(request: web.Request) -> web.Response:
    who = await require(request, "inbox")
    async with request.app[GATEWAY].db.session() as session:
        listing = await inbox_list(session, who, InboxView.of(request))
    return page(request, "inbox.html", who, title="AI Inbox", **list_context(listing))


async def rows(request: web.Request) -> web.Response:
    """The list as JSON for the live script (the same view as the page's query string)."""
    who = await require(request, "inbox")
    async with request.app[GATEWAY].db.session() as session:
        listing = await inbox_list(session, who, InboxView.of(request))
    return web.json_response(
        {
            "rows": [row_json(r, listing, who.timezone) for r in listing.rows],
            "counts": listing.counts,
        },
        headers={"Cache-Control": "no-store"},
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/console/inbox", inbox)
    app.router.add_get("/console/inbox/rows", rows)
