"""Which assists a view of the AI Inbox holds: one filter, shared by the console's inbox, the
admin API's list, and the operator's `list_assists` and `bulk_update_assists` tools."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, String, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from storage.domain import Assist, Customer

STATUSES = ("open", "pending", "snoozed", "closed")
MAX_SEARCH = 200
_REF = re.compile(r"^(?:a-?)?(\d{1,9})$", re.IGNORECASE)

Order = Literal["newest", "number"]


@dataclass(frozen=True, slots=True)
class InboxFilter:
    """Every condition given must hold. ASSIGNEE_ID and UNASSIGNED are resolved by the caller
    ("me", a name, an id); LABEL and CATEGORY match without regard to (ASCII) case; SEARCH finds
    a reference (A-1042 or 1042), or text in the subject, the summary, or the customer's name or
    email."""

    status: str | None = None
    priority: str | None = None
    category: str | None = None
    label: str | None = None
    assignee_id: str | None = None
    unassigned: bool = False
    search: str | None = None
    created_before: datetime | None = None
    numbers: tuple[int, ...] = ()

    @property
    def narrowed(self) -> bool:
        """Whether anything beyond the status narrows the view (the empty state says so)."""
        return any(
            (
                self.priority,
                self.category,
                self.label,
                self.assignee_id,
                self.unassigned,
                self.search,
                self.created_before,
                self.numbers,
            )
        )


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    return func.lower(column).contains(text, autoescape=True)


def _search(workspace_id: str, text: str) -> ColumnElement[bool]:
    wanted = text.strip().lower()[:MAX_SEARCH]
    customers = select(Customer.id).where(
        Customer.workspace_id == workspace_id,
        or_(_contains(Customer.name, wanted), _contains(Customer.email, wanted)),
    )
    found: list[ColumnElement[bool]] = [
        _contains(Assist.subject, wanted),
        _contains(Assist.summary, wanted),
        _contains(Assist.customer_details["name"].as_string(), wanted),
        _contains(Assist.customer_details["email"].as_string(), wanted),
        Assist.customer_id.in_(customers),
    ]
    ref = _REF.match(wanted)
    if ref:
        found.append(Assist.number == int(ref.group(1)))
    return or_(*found)


def conditions(workspace_id: str, flt: InboxFilter) -> list[ColumnElement[bool]]:
    """The WHERE clauses of FLT in WORKSPACE_ID (never another workspace's rows)."""
    where: list[ColumnElement[bool]] = [Assist.workspace_id == workspace_id]
    if flt.status:
        where.append(Assist.status == flt.status)
    if flt.priority:
        where.append(Assist.priority == flt.priority)
    if flt.category:
        where.append(func.lower(Assist.category) == flt.category.strip().lower())
    if flt.label:
        # Labels are a JSON list: the label as a whole JSON string inside it, written as the
        # JSON encoder writes it (both databases keep that text).
        needle = json.dumps(flt.label.strip().lower())
        where.append(func.lower(cast(Assist.labels, String)).contains(needle, autoescape=True))
    if flt.unassigned:
        where.append(Assist.assignee_id.is_(None))
    if flt.assignee_id:
        where.append(Assist.assignee_id == flt.assignee_id)
    if flt.search and flt.search.strip():
        where.append(_search(workspace_id, flt.search))
    if flt.created_before is not None:
        where.append(Assist.created_at < flt.created_before)
    if flt.numbers:
        where.append(Assist.number.in_(flt.numbers))
    return where


def inbox_query(
    workspace_id: str,
    flt: InboxFilter,
    columns: Sequence[Any] = (Assist,),
    *,
    order: Order | None = "newest",
) -> Select[Any]:
    """SELECT COLUMNS of the assists FLT holds: newest first (the inbox), by number, or
    unordered for callers that sort themselves."""
    query = select(*columns).where(*conditions(workspace_id, flt))
    if order == "newest":
        query = query.order_by(Assist.created_at.desc(), Assist.number.desc())
    elif order == "number":
        query = query.order_by(Assist.number)
    return query


# What a row of the inbox shows: plain columns, not whole assists (whose transcripts would
# each be parsed from JSON).
ROW_COLUMNS = (
    Assist.id,
    Assist.number,
    Assist.status,
    Assist.priority,
    Assist.category,
    Assist.subject,
    Assist.summary,
    Assist.customer_details,
    Assist.assignee_id,
    Assist.unread,
    Assist.labels,
    Assist.created_at,
    Assist.updated_at,
)


@dataclass(frozen=True, slots=True)
class InboxRow:
    ref: str
    number: int
    status: str
    priority: str
    category: str | None
    subject: str | None
    summary: str
    customer: str
    assignee_id: str | None
    unread: bool
    labels: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


def customer_name(details: dict[str, Any] | None) -> str:
    """How the inbox names an assist's customer: their name, else their email, else a word."""
    details = details or {}
    for key in ("name", "email", "phone"):
        value = details.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return "Customer"


def one_line(text: str | None, limit: int = 160) -> str:
    """TEXT on one line, cut at a word near LIMIT characters."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0]
    return f"{cut}…"


async def inbox_rows(
    session: AsyncSession, workspace_id: str, flt: InboxFilter, *, limit: int = 200
) -> list[InboxRow]:
    """The inbox's view: the assists FLT holds, newest first, at most LIMIT."""
    rows = await session.execute(inbox_query(workspace_id, flt, ROW_COLUMNS).limit(limit))
    return [
        InboxRow(
            ref=f"A-{r.number}",
            number=r.number,
            status=r.status,
            priority=r.priority,
            category=r.category,
            subject=r.subject,
            summary=one_line(r.summary or r.subject),
            customer=customer_name(r.customer_details),
            assignee_id=r.assignee_id,
            unread=bool(r.unread),
            labels=tuple(str(v) for v in (r.labels or ())),
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in rows
    ]


async def status_counts(
    session: AsyncSession, workspace_id: str, flt: InboxFilter
) -> dict[str, int]:
    """How many assists each status tab holds under FLT's other conditions."""
    everywhere = replace(flt, status=None)
    rows = await session.execute(
        select(Assist.status, func.count())
        .where(*conditions(workspace_id, everywhere))
        .group_by(Assist.status)
    )
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: int(n) for status, n in rows})
    return counts


async def categories(session: AsyncSession, workspace_id: str) -> list[str]:
    """The categories the workspace's assists carry, for the filter's choices."""
    rows = await session.scalars(
        select(func.lower(Assist.category))
        .where(Assist.workspace_id == workspace_id, Assist.category.is_not(None))
        .distinct()
    )
    return sorted(c for c in rows if c)


def parse_ref(ref: str) -> int | None:
    """The number of a reference as people write it (A-1042, a-1042, 1042), or None."""
    found = _REF.match(ref.strip())
    return int(found.group(1)) if found else None


async def find_assist(session: AsyncSession, workspace_id: str, ref: str) -> Assist | None:
    """WORKSPACE_ID's assist REF, or None (another workspace's never is found)."""
    number = parse_ref(ref)
    if number is None:
        return None
    return await session.scalar(
        select(Assist).where(Assist.workspace_id == workspace_id, Assist.number == number)
    )
