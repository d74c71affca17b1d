"""An account's brand label as the inbox already spells it. A line's voicemails and an import's
tickets carry the account's label; when the workspace's assists already have that label in
other letter case ("billing line" for the line "Billing Line"), that spelling is reused, so the
inbox keeps one label and its filter one entry, not two that differ only in case."""

from __future__ import annotations

import json

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.domain import Assist


def _key(label: str) -> str:
    return " ".join(label.split()).lower()


async def inbox_label(session: AsyncSession, workspace_id: str, label: str) -> str:
    """LABEL, or the spelling of it the workspace's oldest assist carrying it (case and
    spacing aside) already has."""
    wanted = _key(label)
    if not wanted:
        return label
    # Labels are a JSON list: the label as a whole JSON string inside it. SQLite keeps the
    # encoder's text (non-ASCII escaped), PostgreSQL its own (non-ASCII as is): either.
    text = func.lower(cast(Assist.labels, String))
    needles = {json.dumps(wanted), json.dumps(wanted, ensure_ascii=False)}
    query = (
        select(Assist.labels)
        .where(
            Assist.workspace_id == workspace_id,
            or_(*(text.contains(n, autoescape=True) for n in needles)),
        )
        .order_by(Assist.number)
        .limit(1)
    )
    found = await session.scalar(query)
    for existing in found or ():
        if isinstance(existing, str) and _key(existing) == wanted:
            return existing
    return label
