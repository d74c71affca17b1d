"""Follow-ups: a week after a training change is approved, how the resolution rate moved.

The rate at approval (over the week before it) is recorded in a one-off schedule due seven
days later; one-off schedules do not count against the plan's briefing quota. The comparison
goes to a channel the member has linked; without one nothing is scheduled.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.reports import analytics
from core.schedules.scope import TaskScope
from core.schedules.timing import zone
from models.deliverable import Deliverable
from storage.domain import Proposal, Schedule
from storage.models import ChannelIdentity, Member

TRAINING_TOOLS = frozenset(
    {
        "approve_training_suggestion",
        "edit_qa_pair",
        "add_training_source",
        "promote_assist_to_training",
        "remove_qa_pair",
    }
)
# A follow-up reports this long after the change it follows; its figures cover that window.
FOLLOW_UP_AFTER = timedelta(days=7)
# Where a follow-up goes when the member set no default channel and approved from none.
PREFERRED_CHANNELS = ("slack", "telegram", "whatsapp", "sms", "email")
_PHONE = ("sms", "whatsapp", "voice")


async def delivery_point(
    session: AsyncSession, member: Member, asked_from: str
) -> tuple[str, str] | None:
    """(channel, address) of a linked identity of MEMBER: their default channel, else the
    channel they approved from, else the first linked in PREFERRED_CHANNELS order."""
    identities = list(
        await session.scalars(select(ChannelIdentity).where(ChannelIdentity.member_id == member.id))
    )

    def linked(channel: str) -> str | None:
        kinds = _PHONE if channel in _PHONE else (channel,)
        return next((i.address for i in identities if i.channel in kinds), None)

    for channel in dict.fromkeys(
        c for c in (member.default_channel, asked_from, *PREFERRED_CHANNELS) if c
    ):
        if channel in PREFERRED_CHANNELS and (address := linked(channel)) is not None:
            return channel, address
    return None


async def after_training_change(ctx: TaskScope, proposal: Proposal) -> list[Deliverable]:
    """Schedule the comparison if PROPOSAL (just executed) changed the agent's training."""
    if not {part.get("tool") for part in proposal.changes} & TRAINING_TOOLS:
        return []
    member = await ctx.session.get(Member, ctx.principal.member_id)
    if member is None:
        return []
    point = await delivery_point(ctx.session, member, ctx.task.channel)
    if point is None:
        return []
    channel, address = point
    current, _ = analytics.windows("last_7_days", ctx.now, ctx.principal.timezone)
    rows = await analytics.conversations(ctx.session, ctx.principal.workspace_id, current)
    baseline = analytics.compute("resolution_rate", rows)
    tz = member.timezone or ctx.principal.timezone
    due: datetime = ctx.now + FOLLOW_UP_AFTER
    ctx.session.add(
        Schedule(
            workspace_id=ctx.principal.workspace_id,
            member_id=member.id,
            briefing_type="training_follow_up",
            frequency="once",
            days=[],
            time=f"{due.astimezone(zone(tz)):%H:%M}",
            timezone=tz,
            channel=channel,
            address=address,
            one_off_at=due,
            params={
                "since": ctx.now.isoformat(),
                "baseline": baseline,
                "baseline_conversations": len(rows),
                "change": proposal.summary,
                "proposal_id": proposal.id,
                "label": "training follow-up",
            },
            active=True,
            created_at=ctx.now,
        )
    )
    return [
        Deliverable(
            text=f"The resolution rate over the last 7 days is "
            f"{analytics.fmt('resolution_rate', baseline)}: I'll send you how it moved on "
            f"{due.astimezone(zone(tz)):%a %d %b at %H:%M} ({tz}), on {channel}.",
            data={"follow_up": {"due": due.isoformat(), "channel": channel, "baseline": baseline}},
        )
    ]
