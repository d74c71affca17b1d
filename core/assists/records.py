"""Opening assists in the AI Inbox from outside the operator tools: voicemails, post-call
transcripts, escalations. Functions take the session and never commit."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.routing.assignment import assign, hold_team
from storage.domain import Assist, Customer
from storage.types import utcnow

FIRST_NUMBER = 1001  # A-1001 is a workspace's first assist
_ATTEMPTS = 5  # two requests racing for the next number: the loser takes the one after

# Keyword → category, first match wins (the categories the seeded inbox and reports use).
_CATEGORIES: Sequence[tuple[str, re.Pattern[str]]] = (
    ("refund", re.compile(r"\b(refund\w*|money back|reimburs\w*)\b", re.I)),
    (
        "billing",
        re.compile(
            r"\b(bill\w*|invoice\w*|charg\w*|payment\w*|pay|paid|subscription\w*|plan|"
            r"price\w*|discount\w*|coupon\w*|card)\b",
            re.I,
        ),
    ),
    (
        "shipping",
        re.compile(
            r"\b(ship\w*|deliver\w*|package\w*|parcel\w*|tracking|courier|arriv\w*|order\w*)\b",
            re.I,
        ),
    ),
    (
        "technical",
        re.compile(
            r"\b(log ?in|sign ?in|password\w*|crash\w*|error\w*|bug\w*|broken|app|website|"
            r"account|two-factor|2fa|code\w*)\b",
            re.I,
        ),
    ),
)


def guess_category(text: str) -> str:
    """A first category from keywords ("other" when none fits); the team can change it."""
    for category, pattern in _CATEGORIES:
        if pattern.search(text):
            return category
    return "other"


async def next_number(session: AsyncSession, workspace_id: str) -> int:
    """The number after the workspace's highest (FIRST_NUMBER for the first assist)."""
    highest = await session.scalar(
        select(func.max(Assist.number)).where(Assist.workspace_id == workspace_id)
    )
    return FIRST_NUMBER if highest is None else int(highest) + 1


async def customer_for(
    session: AsyncSession,
    workspace_id: str,
    *,
    phone: str | None = None,
    email: str | None = None,
    name: str | None = None,
) -> Customer:
    """The workspace's customer with that phone number (or email), created when new."""
    query = select(Customer).where(Customer.workspace_id == workspace_id)
    if phone:
        found = await session.scalar(query.where(Customer.phone == phone).limit(1))
    elif email:
        found = await session.scalar(query.where(Customer.email == email.lower()).limit(1))
    else:
        found = None
    if found is not None:
        if name and not found.name:
            found.name = name[:200]
        return found
    customer = Customer(
        workspace_id=workspace_id,
        name=name[:200] if name else None,
        phone=phone,
        email=email.lower() if email else None,
    )
    session.add(customer)
    await session.flush()
    return customer


async def create_assist(
    session: AsyncSession,
    *,
    workspace_id: str,
    subject: str,
    summary: str,
    transcript: Sequence[dict[str, Any]] = (),
    customer: Customer | None = None,
    category: str | None = None,
    priority: str = "normal",
    labels: Sequence[str] = (),
    tags: Sequence[str] = (),
    escalation_reason: str | None = None,
    now: datetime | None = None,
) -> Assist:
    """Open an assist numbered after the workspace's last one, in the caller's transaction.

    CATEGORY defaults to `guess_category` of the subject, summary and transcript. On Enterprise
    it goes to an available member by workload (`core.routing.assignment`). Raises
    IntegrityError only if the number stays taken after several tries (a storm of inserts).
    """
    now = now or utcnow()
    if category is None:
        words = " ".join([subject, summary, *(str(t.get("text", "")) for t in transcript)])
        category = guess_category(words)
    details: dict[str, Any] = {}
    if customer is not None:
        details = {
            key: value
            for key, value in (
                ("name", customer.name),
                ("email", customer.email),
                ("phone", customer.phone),
            )
            if value
        }
    await hold_team(session, workspace_id)
    for attempt in range(_ATTEMPTS):
        assist = Assist(
            workspace_id=workspace_id,
            number=await next_number(session, workspace_id),
            status="open",
            priority=priority,
            category=category,
            subject=subject[:300],
            summary=summary,
            customer_id=customer.id if customer is not None else None,
            customer_details=details,
            escalation_reason=escalation_reason,
            tags=list(dict.fromkeys(tags)),
            labels=list(dict.fromkeys(labels)),
            transcript=list(transcript),
            unread=True,
            created_at=now,
            updated_at=now,
        )
        try:
            # A savepoint: losing the race for a number must not undo the caller's work.
            async with session.begin_nested():
                session.add(assist)
                await session.flush()
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise
            continue
        await assign(session, assist.id, now=now)
        return assist
    raise AssertionError("unreachable")
