"""The list_schedules read tool: the asker's scheduled briefings and the ones they lack."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import select

from core.reports.figures import local_time
from core.schedules.timing import WEEK
from core.tools import args as a
from core.tools.registry import ToolContext, error_reply
from models.deliverable import Deliverable
from storage.domain import Schedule

BRIEFING_LABELS = {
    "daily_inbox_summary": "daily inbox summary",
    "weekly_performance_digest": "weekly performance digest",
    "weekly_knowledge_gaps": "weekly knowledge gaps",
    "monthly_roi": "monthly ROI report",
}


def _when(schedule: Schedule) -> str:
    days = [str(d).lower() for d in schedule.days]
    if schedule.one_off_at is not None:
        return f"once, {local_time(schedule.one_off_at, schedule.timezone)}"
    if schedule.frequency == "monthly":
        day = schedule.day_of_month or 1
        cadence = f"monthly on day {day}" + (" (or the month's last day)" if day > 28 else "")
    elif schedule.frequency == "weekdays" or days == list(WEEK[:5]):
        cadence = "weekdays"
    elif schedule.frequency == "weekly" and days:
        cadence = "every " + ", ".join(d.capitalize() for d in days)
    elif days:
        cadence = f"{schedule.frequency} ({', '.join(d[:3].capitalize() for d in days)})"
    else:
        cadence = schedule.frequency
    return f"{cadence} at {schedule.time} {schedule.timezone}"


def _schedule_label(schedule: Schedule) -> str:
    named = (schedule.params or {}).get("label")
    return str(named or BRIEFING_LABELS.get(schedule.briefing_type, schedule.briefing_type))


async def list_schedules(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.ListSchedulesArgs)
    if ctx.principal.member_id is None:
        return error_reply("Only team members have scheduled briefings.")
    query = select(Schedule).where(
        Schedule.workspace_id == ctx.principal.workspace_id,
        Schedule.member_id == ctx.principal.member_id,
        Schedule.active.is_(True),
    )
    mine = list(await ctx.session.scalars(query.order_by(Schedule.id)))
    shown = [s for s in mine if args.briefing_type in (None, s.briefing_type)]
    missing = [t for t in BRIEFING_LABELS if t not in {s.briefing_type for s in mine}]
    channel = mine[0].channel if mine and mine[0].channel else "email"
    if missing:
        label = BRIEFING_LABELS[missing[0]]
        advice = f"You don't get the {label} yet: say 'send me the {label} on {channel} at 09:00'."
    else:
        advice = "You get every briefing; say 'move my daily inbox summary to 07:30' to retime one."
    if not shown:
        what = BRIEFING_LABELS[args.briefing_type] if args.briefing_type else "briefings"
        return [Deliverable(text=f"You have no scheduled {what}.\nNext step: {advice}")]
    items = tuple(
        f"#{s.id} {_schedule_label(s)}: {_when(s)}, "
        f"on {s.channel or 'your default channel'}" + (f" ({s.address})" if s.address else "")
        for s in shown
    )
    text = (
        f"Your {len(shown)} scheduled briefing(s):\n"
        + "\n".join(f"- {i}" for i in items)
        + f"\nNext step: {advice}"
    )
    return [
        Deliverable(
            kind="list",
            title="Your briefings",
            text=text,
            items=items,
            data={
                "schedules": [
                    {
                        "id": s.id,
                        "briefing_type": s.briefing_type,
                        "frequency": s.frequency,
                        "days": list(s.days),
                        "time": s.time,
                        "timezone": s.timezone,
                        "channel": s.channel,
                    }
                    for s in shown
                ],
                "suggestion": advice,
            },
        )
    ]


HANDLERS = {
    "list_schedules": list_schedules,
}
