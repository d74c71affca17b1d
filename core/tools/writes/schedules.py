"""Schedule write tools: recurring briefings planned, retimed and stopped."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import or_, select

from core.approvals.proposals import AT_EXECUTION, Draft
from core.schedules.cadence import (
    Cadence,
    describe,
    first_run,
    label_of,
    plan_timing,
    schedule_text,
)
from core.team import directory
from core.team.plans import SCHEDULE_QUOTAS
from core.tools import args as a
from core.tools.registry import ToolContext, error_reply
from core.tools.writes.drafting import asker, create_row, reserve_id, set_field
from models.deliverable import Deliverable
from storage.domain import AiAgent, Schedule
from storage.models import ChannelIdentity, Member, Workspace

BRIEFING_CHANNELS = ("slack", "telegram", "sms", "whatsapp", "email", "voice")


async def _address_for(
    ctx: ToolContext, member: Member, channel: str, given: str | None
) -> str | None:
    """Where a briefing on CHANNEL reaches MEMBER; raises DirectoryError for a bad address."""
    if given:
        if channel == "slack" and re.fullmatch(
            r"#?[a-z0-9][a-z0-9_-]{0,79}|[CGD][A-Z0-9]{2,}", given
        ):
            return given
        workspace = await ctx.session.get(Workspace, ctx.principal.workspace_id)
        country = workspace.country if workspace is not None else None
        return directory.normalize_address(channel, given, country)
    if channel == "email" and member.email:
        return member.email
    phones = ("sms", "whatsapp", "voice")
    linked = await ctx.session.scalar(
        select(ChannelIdentity.address)
        .where(
            ChannelIdentity.member_id == member.id,
            ChannelIdentity.channel.in_(phones if channel in phones else (channel,)),
        )
        .limit(1)
    )
    if linked is not None:
        return linked
    route = ctx.task.reply_route
    if route.channel == channel:
        return route.address.removeprefix("whatsapp:")
    return None


async def _agent_schedules(ctx: ToolContext, agent_id: str | None) -> list[Schedule]:
    query = select(Schedule).where(
        Schedule.workspace_id == ctx.principal.workspace_id,
        Schedule.active.is_(True),
        Schedule.one_off_at.is_(None),
    )
    if agent_id is not None:
        # A schedule without an agent belongs to the workspace's (first) agent.
        query = query.where(or_(Schedule.agent_id == agent_id, Schedule.agent_id.is_(None)))
    return list(await ctx.session.scalars(query.order_by(Schedule.id)))


def _quota_refusal(ctx: ToolContext, taken: list[Schedule], agent: AiAgent | None) -> str | None:
    plan = ctx.principal.plan
    limit = SCHEDULE_QUOTAS.get(plan, 0)
    if limit is None or len(taken) < limit:
        return None
    mine = [s for s in taken if s.member_id == ctx.principal.member_id]
    if mine:
        listed = ", ".join(f"schedule {s.id}: {label_of(s)} at {s.time}" for s in mine)
        free = f'Cancel one of yours to free a slot ({listed}), e.g. "cancel schedule {mine[0].id}"'
    else:
        free = "They belong to teammates: one of them can cancel one to free a slot"
    upgrade = "Enterprise" if plan == "pro" else "Pro (10) or Enterprise (unlimited)"
    whose = f" for {agent.name}" if agent is not None else ""
    return (
        f"Your {plan.capitalize()} plan allows {limit} recurring briefings per AI agent and "
        f"{len(taken)} are active{whose}. {free}, or upgrade to {upgrade}."
    )


async def _agents(ctx: ToolContext) -> list[AiAgent]:
    return list(
        await ctx.session.scalars(
            select(AiAgent)
            .where(AiAgent.workspace_id == ctx.principal.workspace_id)
            .order_by(AiAgent.created_at, AiAgent.id)
        )
    )


def _briefing_agent(
    agents: list[AiAgent], name: str | None, asked_from: str, channel: str | None
) -> AiAgent | str | None:
    """The AI agent a briefing is for: the one named, else the one connected to the channel
    the member is writing from, else the one connected to the channel named, else the first.
    A message (str) when the name matches no agent."""
    if name:
        wanted = name.strip().casefold()
        for agent in agents:
            if agent.name.casefold() == wanted:
                return agent
        # "the Support bot" for an agent called "Support Bot": the first word, if only one has it
        by_first = [a for a in agents if a.name.casefold().split()[:1] == wanted.split()[:1]]
        if len(by_first) == 1:
            return by_first[0]
        known = ", ".join(agent.name for agent in agents) or "none yet"
        return f'There is no AI agent called "{name}" (agents: {known}).'
    for wanted_channel in (asked_from, channel):
        for agent in agents:
            if wanted_channel and wanted_channel in (agent.channels or []):
                return agent
    return agents[0] if agents else None


async def _briefing_channel(
    ctx: ToolContext, member: Member, agent: AiAgent | None, several: bool, named: str | None
) -> str | None:
    """The channel named; else, where the team has several AI agents, the agent's own channel
    that reaches the member; else the member's default, the channel asked from, or email."""
    if named:
        return named
    came_from = ctx.task.reply_route.channel
    default = member.default_channel
    if several and agent is not None:
        connected = [c for c in agent.channels or [] if c in BRIEFING_CHANNELS]
        for channel in dict.fromkeys([came_from, default, *connected]):
            if channel in connected and await _address_for(ctx, member, channel, None):
                return channel
    for channel in (default, came_from):
        if channel in BRIEFING_CHANNELS:
            return channel
    return "email" if member.email else None


async def draft_schedule(
    ctx: ToolContext,
    *,
    briefing_type: str,
    frequency: str | None = None,
    days: Sequence[str] | None = None,
    day_of_month: int | None = None,
    at: str | None = None,
    channel: str | None = None,
    address: str | None = None,
    agent_name: str | None = None,
    params: dict[str, Any] | None = None,
) -> list[Deliverable] | Draft:
    """A recurring schedule as a proposal, or the answer saying why not (quota, channel).

    Used by `schedule_briefing` and by learning mode (a report or bulk action made recurring,
    whose call and label travel in PARAMS)."""
    member = await asker(ctx)
    agents = await _agents(ctx)
    agent = _briefing_agent(agents, agent_name, ctx.task.reply_route.channel, channel)
    if isinstance(agent, str):
        return error_reply(agent)
    taken = await _agent_schedules(ctx, agent.id if agent else None)
    refusal = _quota_refusal(ctx, taken, agent if len(agents) > 1 else None)
    if refusal:
        return error_reply(refusal)
    cadence = plan_timing(briefing_type, frequency, days, [], day_of_month)
    if isinstance(cadence, str):
        return error_reply(cadence)
    channel = await _briefing_channel(ctx, member, agent, len(agents) > 1, channel)
    if channel is None:
        return error_reply(
            "Which channel should the briefing go to (Slack, email, SMS, Telegram...)?"
        )
    try:
        address = await _address_for(ctx, member, channel, address)
    except directory.DirectoryError as exc:
        return error_reply(f"I can't send briefings there: {exc}.")
    if address is None:
        return error_reply(
            f"I don't know your {channel} address: link it to your profile, or tell me where to "
            "send the briefing."
        )
    at = at or "08:00"
    tz = member.timezone or ctx.principal.timezone
    row = {
        "id": await reserve_id(ctx, Schedule, "schedule"),
        "workspace_id": ctx.principal.workspace_id,
        "member_id": member.id,
        "agent_id": agent.id if agent else None,
        "briefing_type": briefing_type,
        "frequency": cadence.frequency,
        "days": cadence.days,
        "day_of_month": cadence.day_of_month,
        "time": at,
        "timezone": tz,
        "channel": channel,
        "address": address,
        "one_off_at": None,
        "params": params or {},
        "active": True,
        "last_run_at": None,
        # The scheduler computes the run times; the proposal only states the first one.
        "next_run_at": None,
        "created_at": AT_EXECUTION,
    }
    label = str((params or {}).get("label") or briefing_type.replace("_", " "))
    if agent is not None and len(agents) > 1:
        label = f"{label} for {agent.name}"
    described = describe(label, cadence, at, channel)
    first = first_run(ctx.now, at, tz, cadence)
    return Draft(
        tool="schedule_briefing",
        summary=f"schedule {described} ({tz})",
        changes=(create_row("schedule", row, f"new schedule {row['id']}", f"{described} ({tz})"),),
        notice=f"The first one is due {first:%a %d %b at %H:%M} ({tz}).",
    )


async def schedule_briefing(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.ScheduleBriefingArgs)
    return await draft_schedule(
        ctx,
        briefing_type=args.briefing_type,
        frequency=args.frequency,
        days=args.days,
        day_of_month=args.day_of_month,
        at=args.time,
        channel=args.channel,
        address=args.address,
        agent_name=args.agent,
    )


async def _my_schedule(
    ctx: ToolContext,
    briefing_type: str | None,
    schedule_id: int | None,
    *,
    recurring: bool = False,
) -> Schedule | list[Deliverable]:
    """The asker's one active schedule the arguments mean (RECURRING: no one-off follow-ups),
    or an answer asking which."""
    query = select(Schedule).where(
        Schedule.workspace_id == ctx.principal.workspace_id,
        Schedule.member_id == ctx.principal.member_id,
        Schedule.active.is_(True),
    )
    if recurring:
        query = query.where(Schedule.one_off_at.is_(None))
    if schedule_id is not None:
        query = query.where(Schedule.id == schedule_id)
    if briefing_type is not None:
        query = query.where(Schedule.briefing_type == briefing_type)
    found = list(await ctx.session.scalars(query.order_by(Schedule.id)))
    if len(found) == 1:
        return found[0]
    if not found:
        what = (
            f"schedule {schedule_id}"
            if schedule_id is not None
            else f"{briefing_type.replace('_', ' ')} briefing"
            if briefing_type
            else "scheduled briefing"
        )
        return error_reply(f"You have no active {what}.")
    options = "; ".join(f"schedule {s.id}: {schedule_text(s)}" for s in found)
    return [Deliverable(text=f"Which one do you mean? {options}.")]


async def update_schedule(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.UpdateScheduleArgs)
    found = await _my_schedule(ctx, args.briefing_type, args.schedule_id, recurring=True)
    if isinstance(found, list):
        return found
    schedule = found
    if args.days is None and args.frequency is None and args.day_of_month is None:
        cadence = Cadence(schedule.frequency, list(schedule.days), schedule.day_of_month)
    else:
        timing = plan_timing(
            schedule.briefing_type,
            args.frequency,
            args.days,
            list(schedule.days),
            args.day_of_month,
            schedule.day_of_month,
        )
        if isinstance(timing, str):
            return error_reply(timing)
        cadence = timing
    wanted: dict[str, Any] = {
        "frequency": cadence.frequency,
        "days": cadence.days,
        "day_of_month": cadence.day_of_month,
    }
    if args.time:
        wanted["time"] = args.time
    if args.channel and args.channel != schedule.channel:
        member = await asker(ctx)
        address = await _address_for(ctx, member, args.channel, None)
        if address is None:
            return error_reply(
                f"I don't know your {args.channel} address; link it to your profile."
            )
        wanted["channel"] = args.channel
        wanted["address"] = address
    label = f"schedule {schedule.id} ({label_of(schedule)})"
    changes = [
        set_field("schedule", schedule, name, value, f"{label} {name.replace('_', ' ')}")
        for name, value in wanted.items()
        if getattr(schedule, name) != value
    ]
    if not changes:
        return [Deliverable(text=f"Schedule {schedule.id} already runs like that.")]
    described = describe(
        label_of(schedule),
        cadence,
        wanted.get("time", schedule.time),
        wanted.get("channel", schedule.channel or "?"),
    )
    return Draft(
        tool="update_schedule",
        summary=f"change schedule {schedule.id} to {described}",
        changes=tuple(changes),
    )


async def cancel_schedule(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.CancelScheduleArgs)
    found = await _my_schedule(ctx, args.briefing_type, args.schedule_id)
    if isinstance(found, list):
        return found
    schedule = found
    return Draft(
        tool="cancel_schedule",
        summary=f"stop schedule {schedule.id} ({schedule_text(schedule)})",
        changes=(
            set_field(
                "schedule",
                schedule,
                "active",
                False,
                f"schedule {schedule.id}",
                ("active", "stopped"),
            ),
        ),
    )


HANDLERS = {
    "schedule_briefing": schedule_briefing,
    "update_schedule": update_schedule,
    "cancel_schedule": cancel_schedule,
}
