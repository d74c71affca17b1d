"""Which assist an inbound email answers: by its reply+TOKEN@ address, its thread headers, or
the [A-1042] tag in its subject when it comes from the assist's customer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.email_threads import token_hash
from storage.domain import Assist, Customer
from storage.email import EmailRecord

MatchMethod = Literal["token", "references", "subject"]


@dataclass(frozen=True, slots=True)
class AssistMatch:
    """The assist an inbound reply belongs to, and how it was found."""

    workspace_id: str
    assist_id: str
    number: int
    method: MatchMethod


async def match_by_token(session: AsyncSession, tokens: Sequence[str]) -> AssistMatch | None:
    """The assist whose reply address carried one of TOKENS (the token names its workspace)."""
    if not tokens:
        return None
    row = await session.scalar(
        select(EmailRecord).where(
            EmailRecord.reply_token_hash.in_([token_hash(t) for t in tokens]),
            EmailRecord.assist_id.is_not(None),
        )
    )
    return await _match(session, row, "token") if row is not None else None


async def match_by_references(
    session: AsyncSession, workspace_id: str, ids: Sequence[str]
) -> AssistMatch | None:
    """The assist of the nearest email of IDS (In-Reply-To, then References newest first)."""
    if not ids:
        return None
    rows = list(
        await session.scalars(
            select(EmailRecord).where(
                EmailRecord.workspace_id == workspace_id,
                EmailRecord.message_id.in_(list(ids)[:50]),
                EmailRecord.assist_id.is_not(None),
            )
        )
    )
    by_id = {row.message_id: row for row in rows}
    for wanted in ids:
        if wanted in by_id:
            return await _match(session, by_id[wanted], "references")
    return None


async def match_by_subject(
    session: AsyncSession, workspace_id: str, number: int | None, sender: str
) -> AssistMatch | None:
    """Assist A-NUMBER, when SENDER is its customer: a subject tag is easy to type, so it is
    trusted only from the one person the assist is about."""
    if number is None:
        return None
    assist = await session.scalar(
        select(Assist).where(Assist.workspace_id == workspace_id, Assist.number == number)
    )
    if assist is None or sender.lower() not in await customer_addresses(session, assist):
        return None
    return AssistMatch(workspace_id, assist.id, assist.number, "subject")


async def _match(
    session: AsyncSession, row: EmailRecord, method: MatchMethod
) -> AssistMatch | None:
    assist = await session.get(Assist, row.assist_id)
    if assist is None or assist.workspace_id != row.workspace_id:
        return None
    return AssistMatch(row.workspace_id, assist.id, assist.number, method)


async def customer_addresses(session: AsyncSession, assist: Assist) -> set[str]:
    """Every address that counts as the assist's customer: the customer record's, the one in
    the extracted details, and those our emails about the assist went to."""
    found: set[str] = set()
    if assist.customer_id:
        customer = await session.get(Customer, assist.customer_id)
        if customer is not None and customer.email and customer.workspace_id == assist.workspace_id:
            found.add(customer.email.lower())
    detail = (assist.customer_details or {}).get("email")
    if isinstance(detail, str) and "@" in detail:
        found.add(detail.strip().lower())
    sent_to = await session.scalars(
        select(EmailRecord.to_addresses).where(
            EmailRecord.assist_id == assist.id, EmailRecord.direction == "out"
        )
    )
    for addresses in sent_to:
        found.update(str(a).lower() for a in addresses or ())
    return found
