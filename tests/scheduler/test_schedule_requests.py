"""Plain-language scheduling through the offline classifier and the schedule tools: cadences,
time zones, channels, several AI agents, and quotas per plan and per agent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.approvals.proposals import Draft
from core.classify.backend import OfflineBackend
from core.processing.pipeline import TaskProcessor
from core.team.identity import Principal
from core.tools.args import ScheduleBriefingArgs
from core.tools.catalogue import default_registry
from core.tools.registry import ToolContext
from core.tools.writes.schedules import schedule_briefing
from models.task import Route, Sender, Task
from storage.db import Database
from storage.domain import AiAgent, Proposal, Schedule
from storage.models import Member
from storage.types import new_id
from tests.factories import make_member, make_workspace

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # a Wednesday
SLACK, TELEGRAM = "U0ADAM01", "7001"


class Team:
    def __init__(self, workspace_id: str, member_id: str, agents: dict[str, str]) -> None:
        self.workspace_id = workspace_id
        self.member_id = member_id
        self.agents = agents


async def team(
    db: Database,
    *,
    plan: str = "pro",
    agents: dict[str, list[str]] | None = None,
    workspace_tz: str = "Europe/London",
    member_tz: str | None = None,
    default_channel: str | None = None,
) -> Team:
    async with db.session() as session:
        ws = await make_workspace(session, plan=plan, timezone=workspace_tz)
        member = await make_member(
            session, ws.id, role="owner", identities={"slack": SLACK, "telegram": TELEGRAM}
        )
        member.timezone, member.default_channel = member_tz, default_channel
        ids = {}
        for n, (name, channels) in enumerate((agents or {"Ava": ["email", "web"]}).items()):
            agent = AiAgent(
                workspace_id=ws.id,
                name=name,
                channels=channels,
                created_at=NOW - timedelta(days=10 - n),
            )
            session.add(agent)
            await session.flush()
            ids[name] = agent.id
    return Team(ws.id, member.id, ids)


async def say(
    db: Database, t: Team, text: str, *, via: str = "web", address: str | None = None
) -> list[Any]:
    address = address or t.member_id
    task = Task(
        id=new_id(),
        workspace_id=t.workspace_id,
        channel=via,  # type: ignore[arg-type]
        external_id=new_id(),
        sender=Sender(channel=via, address=address),  # type: ignore[arg-type]
        conversation=f"{via}:{address}",
        text=text,
        received_at=NOW,
        reply_route=Route(channel=via, address=address),  # type: ignore[arg-type]
    )
    async with db.session() as session:
        outcome = await TaskProcessor(OfflineBackend(), default_registry()).process(
            session, task, NOW
        )
    return outcome.deliverables


async def planned(db: Database, t: Team, text: str, **kw: Any) -> dict[str, Any]:
    """The schedule row a request proposes (nothing is created before approval)."""
    replies = await say(db, t, text, **kw)
    assert [r.kind for r in replies] == ["proposal"], [r.text for r in replies]
    async with db.session() as session:
        proposal = await session.get(Proposal, replies[0].data["proposal"]["id"])
        assert proposal is not None
        (change,) = proposal.changes[0]["changes"]
    row: dict[str, Any] = change["after"]
    row["notice"] = replies[0].text
    return row


@pytest.mark.parametrize(
    ("text", "frequency", "days", "day_of_month", "at"),
    [
        ("send me a daily inbox summary at 7:30", "daily", [], None, "07:30"),
        (
            "send me the inbox summary every weekday at 8am",
            "weekdays",
            ["monday", "tuesday", "wednesday", "thursday", "friday"],
            None,
            "08:00",
        ),
        (
            "send me the weekly performance digest every Monday and Thursday at 9",
            "weekly",
            ["monday", "thursday"],
            None,
            "09:00",
        ),
        ("send me the monthly ROI report on the 15th at 10am", "monthly", [], 15, "10:00"),
        ("ROI report on the last day of every month at 5pm", "monthly", [], 31, "17:00"),
    ],
)
async def test_cadences_in_plain_language(
    db: Database, text: str, frequency: str, days: list[str], day_of_month: int | None, at: str
) -> None:
    t = await team(db)
    row = await planned(db, t, text)
    assert (row["frequency"], row["days"], row["day_of_month"], row["time"]) == (
        frequency,
        days,
        day_of_month,
        at,
    )


async def test_the_members_time_zone_else_the_workspaces(db: Database) -> None:
    london = await team(db)
    row = await planned(db, london, "send me the monthly ROI report on the 15th at 10am")
    assert row["timezone"] == "Europe/London"
    assert "The first one is due Tue 15 Dec at 10:00 (Europe/London)." in row["notice"]
    tokyo = await team(db, member_tz="Asia/Tokyo")
    row = await planned(db, tokyo, "send me a daily inbox summary at 7:30")
    # 00:30 on Thursday in Tokyo when asked: 07:30 is still ahead that day.
    assert row["timezone"] == "Asia/Tokyo"
    assert "The first one is due Thu 19 Nov at 07:30 (Asia/Tokyo)." in row["notice"]


async def test_a_named_channel_else_the_default_else_where_it_was_asked(db: Database) -> None:
    t = await team(db, default_channel="telegram")
    named = await planned(db, t, "send me a daily inbox summary on Slack at 8")
    assert (named["channel"], named["address"]) == ("slack", SLACK)
    default = await planned(db, t, "send me a daily inbox summary at 8")
    assert (default["channel"], default["address"]) == ("telegram", TELEGRAM)
    async with db.session() as session:
        member = await session.get(Member, t.member_id)
        assert member is not None
        member.default_channel = None
    asked_on_slack = await planned(
        db, t, "send me a daily inbox summary at 8", via="slack", address=SLACK
    )
    assert (asked_on_slack["channel"], asked_on_slack["address"]) == ("slack", SLACK)


async def test_with_several_agents_the_briefing_goes_to_the_right_agents_channel(
    db: Database,
) -> None:
    t = await team(db, agents={"Ava": ["slack", "web"], "Max": ["telegram", "whatsapp"]})
    for_max = await planned(db, t, "send me the daily inbox summary for Max at 8")
    assert (for_max["agent_id"], for_max["channel"], for_max["address"]) == (
        t.agents["Max"],
        "telegram",
        TELEGRAM,
    )
    assert "daily inbox summary for Max every day at 08:00 on telegram" in for_max["notice"]
    for_ava = await planned(db, t, "send me the daily inbox summary for Ava at 8")
    assert (for_ava["agent_id"], for_ava["channel"]) == (t.agents["Ava"], "slack")
    # Asked on Max's channel without a name: Max's briefing, there.
    asked = await planned(db, t, "send me the weekly digest at 9", via="telegram", address=TELEGRAM)
    assert (asked["agent_id"], asked["channel"]) == (t.agents["Max"], "telegram")
    # Unless the member names another channel.
    named = await planned(db, t, "send me the daily inbox summary for Max on Slack at 8")
    assert (named["agent_id"], named["channel"], named["address"]) == (
        t.agents["Max"],
        "slack",
        SLACK,
    )
    (unknown,) = await say(db, t, "send me the daily inbox summary for Zed at 8")
    assert unknown.text == 'There is no AI agent called "Zed" (agents: Ava, Max).'


async def _fill(db: Database, t: Team, agent: str, count: int) -> None:
    async with db.session() as session:
        session.add_all(
            Schedule(
                workspace_id=t.workspace_id,
                member_id=t.member_id,
                agent_id=t.agents[agent],
                briefing_type="daily_inbox_summary",
                channel="slack",
                address=SLACK,
                time=f"{n:02d}:00",
            )
            for n in range(count)
        )
        # A one-off follow-up and a stopped briefing take no slot.
        session.add(
            Schedule(
                workspace_id=t.workspace_id,
                member_id=t.member_id,
                agent_id=t.agents[agent],
                briefing_type="training_follow_up",
                frequency="once",
                one_off_at=NOW + timedelta(days=7),
                channel="slack",
                address=SLACK,
            )
        )
        session.add(
            Schedule(
                workspace_id=t.workspace_id,
                member_id=t.member_id,
                agent_id=t.agents[agent],
                briefing_type="monthly_roi",
                active=False,
                channel="slack",
                address=SLACK,
            )
        )


async def draft(db: Database, t: Team, plan: str, **args: Any) -> Any:
    """schedule_briefing itself, for any plan (the operator is offered on Pro and up, but the
    quota holds wherever a schedule is drafted)."""
    principal = Principal(t.workspace_id, "Team", plan, "Europe/London", t.member_id, "A", "admin")
    task = Task(
        id=new_id(),
        workspace_id=t.workspace_id,
        channel="web",
        external_id=new_id(),
        sender=Sender(channel="web", address=t.member_id),
        conversation="c",
        received_at=NOW,
        reply_route=Route(channel="web", address=t.member_id),
    )
    registry = default_registry()
    async with db.session() as session:
        ctx = ToolContext(session, principal, task, NOW, registry)
        return await schedule_briefing(ctx, ScheduleBriefingArgs(**args))


@pytest.mark.parametrize(("plan", "limit"), [("plus", 3), ("pro", 10), ("enterprise", None)])
async def test_quotas_per_plan_and_per_agent(db: Database, plan: str, limit: int | None) -> None:
    t = await team(db, plan=plan, agents={"Ava": ["slack"], "Max": ["telegram"]})
    await _fill(db, t, "Ava", limit or 25)
    made = await draft(db, t, plan, briefing_type="weekly_performance_digest", agent="Ava")
    if limit is None:
        assert isinstance(made, Draft)
        return
    (refusal,) = made
    assert refusal.text.startswith(
        f"Your {plan.capitalize()} plan allows {limit} recurring briefings per AI agent and "
        f"{limit} are active for Ava. Cancel one of yours to free a slot (schedule "
    )
    upgrade = "Enterprise" if plan == "pro" else "Pro (10) or Enterprise (unlimited)"
    assert refusal.text.endswith(f"or upgrade to {upgrade}.")
    # Max's slots are his own.
    made = await draft(db, t, plan, briefing_type="weekly_performance_digest", agent="Max")
    assert isinstance(made, Draft)
    assert made.changes[0].after["agent_id"] == t.agents["Max"]


async def test_the_quota_is_checked_again_when_a_proposal_executes(db: Database) -> None:
    # Two proposals drafted while one slot was left: the second approval finds it taken.
    t = await team(db, plan="pro", agents={"Ava": ["slack"], "Max": ["telegram"]})
    await _fill(db, t, "Ava", 9)
    first = await say(db, t, "send me the weekly digest for Ava at 9")
    second = await say(db, t, "send me the monthly ROI report for Ava on the 1st")
    codes = [r[0].data["proposal"]["code"] for r in (first, second)]
    results = [(await say(db, t, f"approve {code}"))[0].text for code in codes]
    assert results[0].startswith("Done: schedule weekly performance digest for Ava")
    assert results[1] == (
        "Stopped, nothing was changed: the pro plan allows 10 recurring briefings per AI agent "
        "and this would make 11."
    )
    # Max is untouched by Ava's count.
    assert (await planned(db, t, "send me the weekly digest for Max at 9"))["agent_id"] == (
        t.agents["Max"]
    )
