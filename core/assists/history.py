"""What an assist's history tells: how it was resolved, the customer's other assists, and
the question-and-answer pairs it can teach the AI agent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.domain import Assist, AssistEvent, Customer


def training_pairs(assist: Assist, events: Sequence[AssistEvent]) -> list[tuple[str, str]]:
    """Each customer question of ASSIST paired with the team's reply that answered it: the
    customer's words (the escalated conversation, then their email replies) gathered until
    a reply from the team; details typed when asked for and flagged replies are left out."""
    timeline: list[tuple[datetime, int, str, str]] = []
    opened = assist.created_at
    for order, entry in enumerate(assist.transcript or ()):
        if not isinstance(entry, dict) or entry.get("from") != "customer" or entry.get("step"):
            continue
        said = str(entry.get("text") or "").strip()
        if said:
            timeline.append((opened, order, "customer", said))
    for order, event in enumerate(events, start=len(timeline)):
        if event.flagged or not event.body.strip():
            continue
        if event.kind == "customer_reply":
            timeline.append((event.created_at, order, "customer", event.body.strip()))
        elif event.kind == "reply":
            timeline.append((event.created_at, order, "team", event.body.strip()))
    timeline.sort(key=lambda item: (item[0], item[1]))
    pairs: list[tuple[str, str]] = []
    asked: list[str] = []
    for _, _, who, said in timeline:
        if who == "customer":
            asked.append(said)
        elif asked:
            pairs.append(("\n".join(asked), said))
            asked = []
    return pairs


async def resolution_of(session: AsyncSession, assist: Assist) -> str | None:
    """What closed ASSIST: its recorded resolution, else the team's last reply."""
    if assist.resolution and assist.resolution.strip():
        return assist.resolution.strip()
    reply = await session.scalar(
        select(AssistEvent.body)
        .where(AssistEvent.assist_id == assist.id, AssistEvent.kind == "reply")
        .order_by(AssistEvent.created_at.desc())
        .limit(1)
    )
    return reply.strip() if reply else None


async def customer_assists(
    session: AsyncSession, assist: Assist, *, limit: int = 5
) -> list[Assist]:
    """The customer's other assists, newest first: same customer record, or same email."""
    conditions = []
    if assist.customer_id:
        conditions.append(Assist.customer_id == assist.customer_id)
    query = select(Assist).where(Assist.workspace_id == assist.workspace_id, Assist.id != assist.id)
    rows: list[Assist] = []
    if conditions:
        rows = list(
            await session.scalars(query.where(*conditions).order_by(Assist.created_at.desc()))
        )
    email = (assist.customer_details or {}).get("email")
    if isinstance(email, str) and email:
        same_email = await session.scalars(
            select(Customer.id).where(
                Customer.workspace_id == assist.workspace_id, Customer.email == email.lower()
            )
        )
        ids = [i for i in same_email if i != assist.customer_id]
        if ids:
            rows += list(
                await session.scalars(
                    query.where(Assist.customer_id.in_(ids)).order_by(Assist.created_at.desc())
                )
            )
    unique = {row.id: row for row in rows}
    return sorted(unique.values(), key=lambda x: x.created_at, reverse=True)[:limit]


async def last_resolution(
    session: AsyncSession, workspace_id: str, customer_id: str
) -> tuple[Assist, str] | None:
    """The customer's most recently closed assist and how it was resolved, if any."""
    closed = await session.scalars(
        select(Assist)
        .where(
            Assist.workspace_id == workspace_id,
            Assist.customer_id == customer_id,
            Assist.status == "closed",
        )
        .order_by(Assist.closed_at.desc().nulls_last(), Assist.updated_at.desc())
        .limit(3)
    )
    for assist in closed:
        text = await resolution_of(session, assist)
        if text:
            return assist, text
    return None
