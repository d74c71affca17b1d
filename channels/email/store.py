"""What only the email channel reads and writes: whether an address is a member's, the inbound
email a reply answers, the workspace of an address, and the workspace's provider. Functions take
the caller's session. Assist threading lives in `core.assists`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.domain import Integration
from storage.email import EmailRecord
from storage.models import ChannelIdentity, Member, Workspace
from storage.types import utcnow

PROVIDER_SETTING = "email"  # the Integration row holding a workspace's provider choice


async def is_member(session: AsyncSession, workspace_id: str, address: str) -> bool:
    """Whether ADDRESS is a linked email identity of an active member of the workspace."""
    found = await session.scalar(
        select(Member.id)
        .join(ChannelIdentity, ChannelIdentity.member_id == Member.id)
        .where(
            ChannelIdentity.workspace_id == workspace_id,
            ChannelIdentity.channel == "email",
            ChannelIdentity.address == address.lower(),
            Member.status == "active",
        )
        .limit(1)
    )
    return found is not None


async def thread_of(session: AsyncSession, message_id: str, address: str) -> EmailRecord | None:
    """The inbound email a reply on ROUTE.thread answers (the sender's own, preferably)."""
    rows = list(
        await session.scalars(
            select(EmailRecord)
            .where(EmailRecord.message_id == message_id, EmailRecord.direction == "in")
            .limit(5)
        )
    )
    for row in rows:
        if row.from_address == address.lower():
            return row
    return rows[0] if rows else None


async def workspace_of_address(session: AsyncSession, address: str) -> str | None:
    """The one workspace whose member holds ADDRESS, or the only workspace; else None."""
    ids = set(
        await session.scalars(
            select(ChannelIdentity.workspace_id).where(
                ChannelIdentity.channel == "email", ChannelIdentity.address == address.lower()
            )
        )
    )
    if len(ids) == 1:
        return ids.pop()
    if ids:
        return None
    workspaces = list(await session.scalars(select(Workspace.id).limit(2)))
    return workspaces[0] if len(workspaces) == 1 else None


async def workspace_provider(session: AsyncSession, workspace_id: str) -> str | None:
    """The provider the workspace chose (its `email` integration's settings), if any."""
    settings = await session.scalar(
        select(Integration.settings).where(
            Integration.workspace_id == workspace_id, Integration.name == PROVIDER_SETTING
        )
    )
    chosen = (settings or {}).get("provider") if isinstance(settings, dict) else None
    return chosen if isinstance(chosen, str) else None


async def set_workspace_provider(
    session: AsyncSession, workspace_id: str, provider: str | None
) -> None:
    """Choose the workspace's email provider (None: the gateway's default)."""
    row = await session.scalar(
        select(Integration).where(
            Integration.workspace_id == workspace_id, Integration.name == PROVIDER_SETTING
        )
    )
    if row is None:
        row = Integration(workspace_id=workspace_id, name=PROVIDER_SETTING, enabled=True)
        session.add(row)
    settings = dict(row.settings or {})
    if provider is None:
        settings.pop("provider", None)
    else:
        settings["provider"] = provider
    row.settings = settings
    row.updated_at = utcnow()
    await session.flush()
