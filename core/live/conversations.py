"""Every customer conversation, on any channel, with its messages in order: the customer's,
the AI agent's, the team's and the gateway's own notices. The AI agent's desk, the escalation
flow and the live sessions write here; the admin API and the console read it.

A conversation reads `open`, `snoozed` (its assist is snoozed) or `closed` (its assist was
closed, or the customer's next conversation began after it idled)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from core.team.directory import DirectoryError, NotFound
from storage.db import upsert_insert
from storage.domain import Assist, Conversation, Customer
from storage.live import ConversationMessage
from storage.types import new_id

STATUSES = ("open", "snoozed", "closed")
AUTHORS = ("customer", "agent", "member", "system")
TEXT_MAX = 20_000
LIST_MAX = 200


def next_seq(conversation_id: str) -> Any:
    """The next position in CONVERSATION_ID, as a SQL expression evaluated by the insert."""
    return (
        select(func.coalesce(func.max(ConversationMessage.seq), 0) + 1)
        .where(ConversationMessage.conversation_id == conversation_id)
        .scalar_subquery()
    )


def _values(
    conversation: Conversation,
    *,
    author: str,
    text: str,
    key: str,
    at: datetime,
    member_id: str | None,
    live_session_id: str | None,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "workspace_id": conversation.workspace_id,
        "conversation_id": conversation.id,
        "seq": next_seq(conversation.id),
        "key": key[:200],
        "author": author,
        "member_id": member_id,
        "live_session_id": live_session_id,
        "text": text[:TEXT_MAX],
        "at": at,
    }


def add(
    session: AsyncSession,
    conversation: Conversation,
    *,
    author: str,
    text: str,
    key: str,
    at: datetime,
    member_id: str | None = None,
    live_session_id: str | None = None,
) -> ConversationMessage:
    """Add a message to CONVERSATION within the caller's unit of work (flushed with it). KEY
    is unique in the workspace: use `record` where the same message may be offered twice."""
    message = ConversationMessage(
        **_values(
            conversation,
            author=author,
            text=text,
            key=key,
            at=at,
            member_id=member_id,
            live_session_id=live_session_id,
        )
    )
    session.add(message)
    conversation.updated_at = at
    return message


async def record(
    session: AsyncSession,
    conversation: Conversation,
    *,
    author: str,
    text: str,
    key: str,
    at: datetime,
    member_id: str | None = None,
    live_session_id: str | None = None,
) -> bool:
    """Add a message unless one with KEY is recorded already; whether it was added now (a
    double click or a retried request finds its message there and adds nothing)."""
    values = _values(
        conversation,
        author=author,
        text=text,
        key=key,
        at=at,
        member_id=member_id,
        live_session_id=live_session_id,
    )
    result = await session.execute(
        upsert_insert(session)(ConversationMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["workspace_id", "key"])
    )
    added = bool(getattr(result, "rowcount", 0))
    if added:
        conversation.updated_at = at
    return added


def status_of() -> ColumnElement[str]:
    """A conversation's status as read: its assist's snooze or closing shows through."""
    return case(
        (Assist.status == "closed", literal("closed", String)),
        (Assist.status == "snoozed", literal("snoozed", String)),
        else_=Conversation.status,
    )


@dataclass(frozen=True)
class Listed:
    conversation: Conversation
    status: str
    customer_name: str | None
    assist_ref: str | None
    messages: int
    last_text: str | None


def _listing() -> Any:
    counted = (
        select(
            ConversationMessage.conversation_id.label("cid"),
            func.count().label("n"),
            func.max(ConversationMessage.seq).label("last"),
        )
        .group_by(ConversationMessage.conversation_id)
        .subquery()
    )
    last = ConversationMessage.__table__.alias("last_message")
    return (
        select(
            Conversation,
            status_of().label("status_now"),
            Customer.name,
            Assist.number,
            func.coalesce(counted.c.n, 0),
            last.c.text,
        )
        .outerjoin(Assist, and_(Assist.id == Conversation.assist_id))
        .outerjoin(Customer, Customer.id == Conversation.customer_id)
        .outerjoin(counted, counted.c.cid == Conversation.id)
        .outerjoin(
            last,
            and_(last.c.conversation_id == Conversation.id, last.c.seq == counted.c.last),
        )
    )


def _listed(row: Any) -> Listed:
    conversation, status, name, number, count, text = row
    return Listed(
        conversation,
        status,
        name,
        f"A-{number}" if number is not None else None,
        int(count or 0),
        text,
    )


async def list_conversations(
    session: AsyncSession,
    workspace_id: str,
    *,
    status: str | None = None,
    channel: str | None = None,
    customer_id: str | None = None,
    before: datetime | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[Listed]:
    """The workspace's conversations, the latest active first (at most LIST_MAX); AFTER, the
    (last active, id) of a conversation listed before, continues the list after it."""
    if status is not None and status not in STATUSES:
        raise DirectoryError(f"unknown status {status!r}: use {', '.join(STATUSES)}")
    if not 1 <= limit <= LIST_MAX:
        raise DirectoryError(f"limit must be between 1 and {LIST_MAX}")
    query = _listing().where(Conversation.workspace_id == workspace_id)
    if status is not None:
        query = query.where(status_of() == status)
    if channel is not None:
        query = query.where(Conversation.channel == channel)
    if customer_id is not None:
        query = query.where(Conversation.customer_id == customer_id)
    active = func.coalesce(Conversation.updated_at, Conversation.started_at)
    if before is not None:
        query = query.where(active < before)
    if after is not None:
        at, last_id = after
        query = query.where(or_(active < at, and_(active == at, Conversation.id < last_id)))
    rows = await session.execute(query.order_by(active.desc(), Conversation.id.desc()).limit(limit))
    return [_listed(r) for r in rows.all()]


async def get(session: AsyncSession, workspace_id: str, conversation_id: str) -> Listed:
    row = (
        await session.execute(
            _listing().where(
                Conversation.workspace_id == workspace_id, Conversation.id == conversation_id
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return _listed(row)


async def messages(
    session: AsyncSession, workspace_id: str, conversation_id: str, *, after: int = 0
) -> list[ConversationMessage]:
    """CONVERSATION_ID's messages in order (those after position AFTER)."""
    found = await session.scalars(
        select(ConversationMessage)
        .where(
            ConversationMessage.workspace_id == workspace_id,
            ConversationMessage.conversation_id == conversation_id,
            ConversationMessage.seq > after,
        )
        .order_by(ConversationMessage.seq, ConversationMessage.at, ConversationMessage.id)
    )
    return list(found)


def message_json(message: ConversationMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "seq": message.seq,
        "author": message.author,
        "member_id": message.member_id,
        "live_session_id": message.live_session_id,
        "text": message.text,
        "at": message.at.isoformat(),
    }


def conversation_json(listed: Listed) -> dict[str, Any]:
    c = listed.conversation
    return {
        "id": c.id,
        "channel": c.channel,
        "status": listed.status,
        "customer": {"id": c.customer_id, "name": listed.customer_name, "address": c.address},
        "agent_id": c.agent_id,
        "assist": listed.assist_ref,
        "live_session_id": c.live_session_id,
        "resolved_by_ai": c.resolved_by_ai,
        "escalated": c.escalated,
        "started_at": c.started_at.isoformat(),
        "updated_at": (c.updated_at or c.started_at).isoformat(),
        "messages": listed.messages,
        "last_message": listed.last_text,
    }


async def close_earlier(
    session: AsyncSession, workspace_id: str, channel: str, address: str, keep: str
) -> None:
    """The customer's earlier open conversations on CHANNEL are over: a new one began."""
    found = await session.scalars(
        select(Conversation).where(
            Conversation.workspace_id == workspace_id,
            Conversation.channel == channel,
            Conversation.address == address,
            Conversation.id != keep,
            or_(Conversation.status == "open", Conversation.status == "snoozed"),
        )
    )
    for earlier in found:
        earlier.status = "closed"


async def record_for_assist(
    session: AsyncSession, assist: Assist, *, author: str, text: str, key: str, at: datetime
) -> bool:
    """Record a message of ASSIST's conversation (a customer's emailed reply, the team's
    answer from the AI Inbox), when the assist came from one."""
    if not assist.conversation_id:
        return False
    conversation = await session.get(Conversation, assist.conversation_id)
    if conversation is None or conversation.workspace_id != assist.workspace_id:
        return False
    return await record(session, conversation, author=author, text=text, key=key, at=at)
