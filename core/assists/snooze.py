"""Snoozing an assist: it leaves the open list until a time, then reopens by itself.

`snooze` and `wake` are the team's actions (admin API, console, the operator's tool).
`wake_due` is what the scheduler's leader runs on every tick: the wake-up is found in the
database (status `snoozed`, `snoozed_until` reached), and each assist is reopened by an UPDATE
that still requires it to be snoozed and due, so two nodes, or a restart in between, never wake
it twice. A customer's reply wakes it at once (`core.assists.replies.add_customer_reply`).

Closed assists cannot be snoozed (reopen first); an open or pending one can, and a snoozed one
can be snoozed again to another time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.team.directory import audit
from storage.domain import Assist

MAX_SNOOZE = timedelta(days=90)
WAKE_BATCH = 500
_a = cast(Table, Assist.__table__)


class SnoozeError(ValueError):
    """A snooze that cannot be done; the message says why, for the member."""


def aware(when: datetime) -> datetime:
    """WHEN as an aware UTC time (the database may hand back naive UTC)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def check_snooze(assist: Assist, until: datetime, now: datetime) -> datetime:
    """UNTIL as UTC when ASSIST may be snoozed until then; raises SnoozeError otherwise."""
    if until.tzinfo is None:
        raise SnoozeError("the time to snooze until needs a time zone (or a UTC offset)")
    until = until.astimezone(UTC)
    if assist.status == "closed":
        raise SnoozeError(f"{assist.ref} is closed; reopen it before snoozing it")
    if until <= aware(now):
        raise SnoozeError("the time to snooze until must be in the future")
    if until > aware(now) + MAX_SNOOZE:
        raise SnoozeError(f"an assist can be snoozed for at most {MAX_SNOOZE.days} days")
    return until


def snooze_changes(until: datetime) -> dict[str, Any]:
    """What snoozing sets (a proposal plans the same)."""
    return {"status": "snoozed", "snoozed_until": until}


def wake_changes() -> dict[str, Any]:
    return {"status": "open", "snoozed_until": None}


async def snooze(
    session: AsyncSession, assist: Assist, until: datetime, *, actor: str, now: datetime
) -> datetime:
    """Snooze ASSIST until UNTIL (aware; at most MAX_SNOOZE ahead); returns UNTIL in UTC.

    Raises:
        SnoozeError: closed, a past time, too far ahead, or no time zone."""
    until = check_snooze(assist, until, now)
    assist.status = "snoozed"
    assist.snoozed_until = until
    assist.closed_at = None
    assist.updated_at = now
    await audit(
        session,
        assist.workspace_id,
        actor,
        "assist.snoozed",
        assist.ref,
        {"until": until.isoformat()},
    )
    return until


async def wake(
    session: AsyncSession, assist: Assist, *, actor: str, now: datetime, reason: str
) -> bool:
    """Reopen ASSIST if it is snoozed (REASON: "time", "customer_reply", "member");
    returns whether it was."""
    if assist.status != "snoozed":
        return False
    assist.status = "open"
    assist.snoozed_until = None
    assist.updated_at = now
    await audit(session, assist.workspace_id, actor, "assist.woken", assist.ref, {"by": reason})
    return True


async def wake_due(session: AsyncSession, now: datetime) -> list[str]:
    """Reopen every assist whose snooze ended by NOW; returns the references this call woke.

    Each row is reopened by its own conditional UPDATE (still snoozed, still due): when two
    schedulers race, the database lets one of them change the row and the other sees nothing
    to do, so the wake-up (and its audit entry) happens once."""
    due = (
        await session.execute(
            select(_a.c.id, _a.c.workspace_id, _a.c.number, _a.c.snoozed_until)
            .where(_a.c.status == "snoozed", _a.c.snoozed_until <= now)
            .order_by(_a.c.snoozed_until)
            .limit(WAKE_BATCH)
        )
    ).all()
    woken: list[str] = []
    for row in due:
        result = await session.execute(
            update(_a)
            .where(_a.c.id == row.id, _a.c.status == "snoozed", _a.c.snoozed_until <= now)
            .values(status="open", snoozed_until=None, updated_at=now)
        )
        if getattr(result, "rowcount", 0) != 1:
            continue  # another node woke it (or a member changed it) meanwhile
        ref = f"A-{row.number}"
        await audit(
            session,
            row.workspace_id,
            "scheduler",
            "assist.woken",
            ref,
            {"by": "time", "until": aware(row.snoozed_until).isoformat()},
        )
        woken.append(ref)
    return woken
