"""Session memory: each member's recent exchanges, kept 24 hours for the model, never shared."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, case, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.llm.prompt import redact, user_message
from core.team.identity import Principal
from models.classification import Classification
from storage.db import Database
from storage.models import SessionMessage

WINDOW = timedelta(hours=24)
MAX_EXCHANGES = 10
MAX_CHARS = 2000

Role = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class MemoryEntry:
    role: Role
    content: str
    created_at: datetime


def summarize(classification: Classification) -> str:
    """The assistant's side of an exchange: its reply and the tools it chose, not their results
    (results can hold data, such as a new API key, that must never go back to a model)."""
    lines = [classification.reply] if classification.reply else []
    lines += [
        f"[chose {call.tool} {json.dumps(call.args, ensure_ascii=False, sort_keys=True)}]"
        for call in classification.calls
    ]
    return "\n".join(lines) or "[no answer]"


async def recall(
    session: AsyncSession,
    *,
    workspace_id: str,
    member_id: str,
    now: datetime,
    max_exchanges: int = MAX_EXCHANGES,
) -> list[MemoryEntry]:
    """The member's messages of the last 24 hours before NOW, oldest first, at most the newest
    MAX_EXCHANGES exchanges; only this member of this workspace."""
    # Within one exchange both rows share a timestamp: the user's words come first.
    user_first = case((SessionMessage.role == "user", 0), else_=1)
    rows = await session.execute(
        select(SessionMessage.role, SessionMessage.content, SessionMessage.created_at)
        .where(
            SessionMessage.workspace_id == workspace_id,
            SessionMessage.member_id == member_id,
            SessionMessage.created_at > now - WINDOW,
            SessionMessage.created_at <= now,
        )
        .order_by(SessionMessage.created_at.desc(), user_first.desc())
        .limit(max_exchanges * 2)
    )
    entries = [
        MemoryEntry(cast(Role, role), content, created_at) for role, content, created_at in rows
    ]
    entries.reverse()
    # A cut through the middle of an exchange would start with the assistant: drop that half.
    while entries and entries[0].role != "user":
        entries.pop(0)
    return entries


async def remember(
    session: AsyncSession,
    *,
    workspace_id: str,
    member_id: str,
    text: str,
    classification: Classification,
    now: datetime,
) -> None:
    """Append one exchange (as the model saw the request, secrets redacted) and forget this
    member's entries older than 24 hours."""
    session.add_all(
        [
            SessionMessage(
                workspace_id=workspace_id,
                member_id=member_id,
                role="user",
                content=user_message(text)[:MAX_CHARS],
                created_at=now,
            ),
            SessionMessage(
                workspace_id=workspace_id,
                member_id=member_id,
                role="assistant",
                content=redact(summarize(classification))[:MAX_CHARS],
                created_at=now,
            ),
        ]
    )
    await session.execute(
        delete(SessionMessage).where(
            SessionMessage.workspace_id == workspace_id,
            SessionMessage.member_id == member_id,
            SessionMessage.created_at <= now - WINDOW,
        )
    )


async def prune_expired(session: AsyncSession, now: datetime) -> int:
    """Forget every entry older than 24 hours, across workspaces; returns how many went."""
    result = await session.execute(
        delete(SessionMessage).where(SessionMessage.created_at <= now - WINDOW)
    )
    return int(cast("CursorResult[Any]", result).rowcount or 0)


class SessionMemory:
    """Session memory over a database: the classifier recalls, the pipeline remembers.

    Recalling opens its own short read session; remembering writes in the caller's session,
    so an exchange is stored exactly when its task's replies are committed.
    """

    def __init__(self, db: Database, *, max_exchanges: int = MAX_EXCHANGES) -> None:
        self._db = db
        self._max_exchanges = max_exchanges

    async def recall(self, principal: Principal, now: datetime) -> list[MemoryEntry]:
        if principal.member_id is None:
            return []
        async with self._db.session() as session:
            return await recall(
                session,
                workspace_id=principal.workspace_id,
                member_id=principal.member_id,
                now=now,
                max_exchanges=self._max_exchanges,
            )

    async def remember(
        self,
        session: AsyncSession,
        principal: Principal,
        text: str,
        classification: Classification,
        now: datetime,
    ) -> None:
        if principal.member_id is None:
            return  # customers have no operator session
        await remember(
            session,
            workspace_id=principal.workspace_id,
            member_id=principal.member_id,
            text=text,
            classification=classification,
            now=now,
        )
