"""The Management view (`/console/management`, Enterprise: owner, admin, manager): a workload
card per member with their availability toggle, when assists arrive by hour of the week,
the queue's health with its 7-day backlog, and the unassigned list with one-click assignment.
The figures come from core.reports.management (the admin API and the read tools share them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.admin.mailing import mailer
from api.console.actions import read_form, text_field
from api.console.session import ConsoleError, check_csrf, page, require
from api.console.templating import local_time
from api.state import GATEWAY
from core.assists import team_actions
from core.reports.figures import age_text, duration
from core.reports.management import (
    BACKLOG_DAYS,
    HIGH_LOAD_RULE,
    WINDOW,
    arrivals_by_hour,
    management_figures,
)
from core.reports.workload import OPEN_STATUSES
from core.routing.availability import AvailabilityError, set_availability, set_work_schedule
from core.routing.schedule import DAYS, ScheduleError, describe
from core.team.access import may
from core.team.members import active_member_names
from core.team.signin import SignedIn
from storage.domain import Assist
from storage.models import Member, Workspace
from storage.types import utcnow

AVAILABILITY = ("available", "offline")
UNASSIGNED_SHOWN = 50
# The charts' drawing boxes (SVG user units; the CSS scales them to the card).
SPARK_W, SPARK_H = 168, 28
BAR_W, BAR_GAP, BARS_H = 40, 14, 90


@dataclass(frozen=True)
class Bar:
    x: int
    y: float
    height: float
    count: int
    label: str


def sparkline(buckets: list[int]) -> str:
    """The polyline's points for 168 hourly buckets (Monday 00:00 first), scaled to the box."""
    top = max(buckets) or 1
    return " ".join(
        f"{i + 0.5:g},{SPARK_H - 1 - (n / top) * (SPARK_H - 2):.1f}" for i, n in enumerate(buckets)
    )


def backlog_bars(counts: list[int], now: datetime, tz: str) -> list[Bar]:
    top = max(counts) or 1
    bars = []
    for k, count in enumerate(counts):
        height = (count / top) * (BARS_H - 20) if count else 1
        moment = now - timedelta(days=len(counts) - 1 - k)
        label = "now" if k == len(counts) - 1 else local_time(moment, tz, "%a %d")
        bars.append(Bar(k * (BAR_W + BAR_GAP), BARS_H - height, height, count, label))
    return bars


def _may_toggle(who: SignedIn, member_id: str) -> bool:
    """Owners and admins set anyone's availability; a manager sets their own."""
    return who.role in ("owner", "admin") or member_id == who.member_id


async def _refuse_unless_may_set(
    session: AsyncSession, who: SignedIn, member_id: str, what: str
) -> None:
    """A 403 page unless WHO may set MEMBER_ID's WHAT (availability, schedules): owners and
    admins anyone's; others their own, unless owners and admins manage it for them."""
    if not _may_toggle(who, member_id):
        raise ConsoleError(
            403, "Not allowed", f"Owners and admins set others' {what}; you set your own."
        )
    if who.role in ("owner", "admin"):
        return
    workspace = await session.get(Workspace, who.workspace_id)
    if workspace is not None and workspace.availability_managed:
        raise ConsoleError(403, "Not allowed", f"Owners and admins set {what} in this workspace.")


async def management_page(request: web.Request) -> web.Response:
    who = await require(request, "management")
    gw = request.app[GATEWAY]
    now = utcnow()
    async with gw.db.session() as session:
        figures = await management_figures(session, who.workspace_id, now)
        team_arrivals = await arrivals_by_hour(session, who.workspace_id, now, who.timezone)
        arrivals = {
            m.member_id: await arrivals_by_hour(
                session, who.workspace_id, now, who.timezone, m.member_id
            )
            for m in figures.members
        }
        waiting = list(
            await session.execute(
                select(Assist.number, Assist.subject, Assist.summary, Assist.created_at)
                .where(
                    Assist.workspace_id == who.workspace_id,
                    Assist.status.in_(OPEN_STATUSES),
                    Assist.assignee_id.is_(None),
                )
                .order_by(Assist.created_at)
                .limit(UNASSIGNED_SHOWN)
            )
        )
        notice = await _notice(session, who, request.query)
        rows = await session.execute(
            select(Member.id, Member.work_schedule).where(
                Member.workspace_id == who.workspace_id, Member.status == "active"
            )
        )
        schedules: dict[str, dict[str, Any] | None] = {row[0]: row[1] for row in rows}
    # The suggested assignee (preselected): the available member with the fewest open
    # assists, those who work the inbox (managers, support) before owners and admins.
    available = [m for m in figures.members if m.availability == "available"]
    lightest = min(
        available or figures.members,
        key=lambda m: (m.role not in ("manager", "support"), m.open_assists, m.name),
        default=None,
    )
    queue = figures.queue
    return page(
        request,
        "management.html",
        who,
        title="Management",
        members=figures.members,
        average=figures.team_average_open,
        high_load_rule=HIGH_LOAD_RULE,
        window_days=WINDOW.days,
        duration=duration,
        spark={m: sparkline(b) for m, b in arrivals.items()},
        spark_total={m: sum(b) for m, b in arrivals.items()},
        team_spark=sparkline(team_arrivals),
        team_total=sum(team_arrivals),
        spark_w=SPARK_W,
        spark_h=SPARK_H,
        queue=queue,
        oldest=(
            age_text(timedelta(seconds=queue.oldest_unassigned_age_seconds))
            if queue.oldest_unassigned_age_seconds is not None
            else None
        ),
        bars=backlog_bars(queue.backlog_7d, now, who.timezone),
        bars_w=BACKLOG_DAYS * (BAR_W + BAR_GAP) - BAR_GAP,
        bars_h=BARS_H,
        bar_w=BAR_W,
        waiting=[
            (f"A-{n}", subject or summary[:80], age_text(now - made))
            for n, subject, summary, made in waiting
        ],
        more_waiting=queue.unassigned - len(waiting),
        lightest=lightest.member_id if lightest else None,
        may_assign=may(who.role, who.plan, "assign"),
        may_toggle={m.member_id: _may_toggle(who, m.member_id) for m in figures.members},
        notice=notice,
        days=DAY_NAMES,
        schedules={m: _schedule_form(v) for m, v in schedules.items()},
        schedule_text={m: describe(v) if v else "no schedule" for m, v in schedules.items()},
    )


async def toggle_availability(request: web.Request) -> web.Response:
    who = await require(request, "management")
    form = await read_form(request)
    check_csrf(request, who, form)
    member_id = text_field(form, "member_id", 64)
    value = text_field(form, "availability", 20)
    if value not in AVAILABILITY:
        raise ConsoleError(400, "Bad request", "Choose available or offline.")
    gw = request.app[GATEWAY]
    async with gw.db.session() as session:
        await _refuse_unless_may_set(session, who, member_id, "availability")
        try:
            await set_availability(
                session,
                who.workspace_id,
                member_id,
                "available" if value == "available" else "offline",
                actor=f"member:{who.member_id}",
                now=utcnow(),
                base_url=gw.settings.base_url,
            )
        except AvailabilityError as exc:
            raise ConsoleError(400, "Bad request", str(exc)) from exc
    raise web.HTTPFound(_back(**{value: member_id}))


async def assign_unassigned(request: web.Request) -> web.Response:
    who = await require(request, "management")
    form = await read_form(request)
    check_csrf(request, who, form)
    if not may(who.role, who.plan, "assign"):
        raise ConsoleError(403, "Not allowed", "Assigning assists is not part of your role.")
    ref = text_field(form, "ref", 20)
    member_id = text_field(form, "assignee", 64)
    number = ref.removeprefix("A-")
    if not number.isdigit():
        raise ConsoleError(400, "Bad request", "No such assist.")
    gw = request.app[GATEWAY]
    async with gw.db.session() as session:
        members = await active_member_names(session, who.workspace_id)
        if member_id not in members:
            raise ConsoleError(400, "Bad request", "Choose an active member of this workspace.")
        assist = await session.scalar(
            select(Assist).where(
                Assist.workspace_id == who.workspace_id, Assist.number == int(number)
            )
        )
        if assist is None:
            raise ConsoleError(404, "Not found", "No such assist.")
        await team_actions.update(
            session, assist, now=utcnow(), mailer=mailer(gw), assignee_id=member_id
        )
    raise web.HTTPFound(_back(assigned=assist.ref))


DAY_NAMES = tuple(
    zip(
        DAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)


def _schedule_form(schedule: dict[str, Any] | None) -> dict[str, tuple[str, str]]:
    """Each day's first working interval, as the editor's two fields show it."""
    days = (schedule or {}).get("days", {})
    return {day: tuple(days[day][0]) if days.get(day) else ("", "") for day in DAYS}


async def save_schedule(request: web.Request) -> web.Response:
    """The schedule editor: one interval a day (both times, or neither for a day off); an
    empty week removes the schedule. The member's own click on the form is the approval."""
    who = await require(request, "management")
    form = await read_form(request)
    check_csrf(request, who, form)
    member_id = text_field(form, "member_id", 64)
    gw = request.app[GATEWAY]
    async with gw.db.session() as session:
        await _refuse_unless_may_set(session, who, member_id, "schedules")
        days: dict[str, list[list[str]]] = {}
        for day, name in DAY_NAMES:
            start, end = text_field(form, f"{day}_from", 5), text_field(form, f"{day}_to", 5)
            if bool(start) != bool(end):
                raise ConsoleError(
                    400, "Bad request", f"{name}: give both times, or neither for a day off."
                )
            if start:
                days[day] = [[start, "24:00" if end == "00:00" else end]]
        try:
            await set_work_schedule(
                session,
                who.workspace_id,
                member_id,
                {"tz": None, "days": days} if days else None,
                actor=f"member:{who.member_id}",
                now=utcnow(),
                base_url=gw.settings.base_url,
            )
        except (AvailabilityError, ScheduleError) as exc:
            raise ConsoleError(400, "Bad request", f"{exc} Nothing was changed.") from exc
    raise web.HTTPFound(_back(scheduled=member_id))


def _back(**what: str) -> str:
    return "/console/management?" + urlencode(what)


async def _notice(session: AsyncSession, who: SignedIn, query: Mapping[str, str]) -> str | None:
    """The line shown after a change (Post/Redirect/Get), built from our own rows, never from
    text in the URL."""
    names = await active_member_names(session, who.workspace_id)
    member_id = query.get("available") or query.get("offline")
    if member_id in names:
        state = "available" if query.get("available") else "offline"
        return f"{names[member_id]} is now {state}."
    scheduled = query.get("scheduled")
    if scheduled in names:
        return f"{names[scheduled]}'s work schedule is saved."
    number = query.get("assigned", "").removeprefix("A-")
    if number.isdigit():
        assist = await session.scalar(
            select(Assist).where(
                Assist.workspace_id == who.workspace_id, Assist.number == int(number)
            )
        )
        if assist is not None and assist.assignee_id in names:
            return f"{assist.ref} is assigned to {names[assist.assignee_id]}."
    return None


def setup(app: web.Application) -> None:
    app.router.add_get("/console/management", management_page)
    app.router.add_post("/console/management/availability", toggle_availability)
    app.router.add_post("/console/management/assign", assign_unassigned)
    app.router.add_post("/console/management/schedule", save_schedule)
