"""Identity resolution: channel identity → member → workspace and role; others are customers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.task import Task
from storage.models import ChannelIdentity, Member, Workspace

# A phone number is one identity across SMS, WhatsApp and voice.
_PHONE_CHANNELS = ("sms", "whatsapp", "voice")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking, as far as the workspace knows."""

    workspace_id: str
    workspace_name: str
    plan: str
    timezone: str
    member_id: str | None = None
    name: str | None = None
    role: str | None = None

    @property
    def is_member(self) -> bool:
        return self.member_id is not None

    @property
    def is_customer(self) -> bool:
        return self.member_id is None


async def resolve(session: AsyncSession, task: Task) -> Principal:
    """The principal behind TASK; raises LookupError if the workspace is gone."""
    workspace = await session.get(Workspace, task.workspace_id)
    if workspace is None:
        raise LookupError(f"workspace {task.workspace_id} does not exist")
    member: Member | None = None
    if task.sender.channel in ("web", "schedule"):
        # These senders are member ids put there by our own authenticated edge.
        member = await session.get(Member, task.sender.address)
        if member is not None and member.workspace_id != workspace.id:
            member = None
    else:
        channels = (
            _PHONE_CHANNELS if task.sender.channel in _PHONE_CHANNELS else (task.sender.channel,)
        )
        address = task.sender.address.removeprefix("whatsapp:")
        if task.sender.channel == "email":
            address = address.lower()
        member = await session.scalar(
            select(Member)
            .join(ChannelIdentity, ChannelIdentity.member_id == Member.id)
            .where(
                ChannelIdentity.workspace_id == workspace.id,
                ChannelIdentity.channel.in_(channels),
                ChannelIdentity.address == address,
            )
            .limit(1)
        )
    base = {
        "workspace_id": workspace.id,
        "workspace_name": workspace.name,
        "plan": workspace.plan,
        "timezone": workspace.timezone,
    }
    if member is None or member.status != "active":
        return Principal(**base)
    return Principal(**base, member_id=member.id, name=member.name, role=member.role)
