"""Read tools against a seeded workspace, each figure recomputed here from the rows."""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select

from cli.seed import Seeded, seed_workspace
from core.assists.csat import Links
from core.team.identity import Principal
from core.tools.catalogue import default_registry
from core.tools.registry import ToolContext
from models.task import Route, Sender, Task
from storage.db import Database
from storage.domain import (
    AiAgent,
    Assist,
    Conversation,
    Integration,
    KnowledgeGap,
    QaPair,
    Schedule,
    Snapshot,
    TrainingSuggestion,
)
from storage.models import MediaObject, Member
from storage.types import new_id

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # a Wednesday


async def _seeded(db: Database, timezone: str = "UTC") -> Seeded:
    async with db.session() as session:
        return await seed_workspace(session, now=NOW, timezone=timezone)


async def _run(
    db: Database,
    seeded: Seeded,
    tool: str,
    args: dict[str, Any],
    role: str = "owner",
    *,
    who: str = "olivia@demo.example",
    timezone: str = "UTC",
    links: Links | None = None,
) -> Any:
    registry = default_registry()
    spec = registry.get(tool)
    assert spec is not None
    member_id = seeded.member_ids[who]
    principal = Principal(
        seeded.workspace_id, "Demo Co", "enterprise", timezone, member_id, "Olivia", role
    )
    task = Task(
        id=new_id(),
        workspace_id=seeded.workspace_id,
        channel="web",
        external_id=new_id(),
        sender=Sender(channel="web", address=member_id),
        conversation="c",
        text="",
        received_at=NOW,
        reply_route=Route(channel="web", address=member_id),
    )
    async with db.session() as session:
        ctx = ToolContext(session, principal, task, NOW, registry, links=links or Links())
        return await spec.handler(ctx, spec.args.model_validate(args))


async def _conversations(
    db: Database, ws: str, start: datetime, end: datetime
) -> list[Conversation]:
    async with db.session() as session:
        rows = await session.scalars(
            select(Conversation).where(
                Conversation.workspace_id == ws,
                Conversation.started_at >= start,
                Conversation.started_at < end,
            )
        )
        return list(rows)


async def test_resolution_rate_this_week_matches_the_rows(db: Database) -> None:
    seeded = await _seeded(db)
    (card,) = await _run(
        db, seeded, "get_metrics", {"metric": "resolution_rate", "period": "this_week"}
    )
    monday = datetime(2026, 11, 16, tzinfo=UTC)
    rows = await _conversations(db, seeded.workspace_id, monday, NOW)
    # The week so far against the same stretch of last week (Monday to this time Wednesday).
    before = await _conversations(
        db, seeded.workspace_id, monday - timedelta(days=7), NOW - timedelta(days=7)
    )
    expected = 100 * sum(r.resolved_by_ai for r in rows) / len(rows)
    previous = 100 * sum(r.resolved_by_ai for r in before) / len(before)
    assert card.data["value"] == expected
    assert card.data["previous"] == previous
    assert f"{expected:.1f}%" in card.text
    assert f"{abs(expected - previous):.1f} points" in card.text
    assert "Next step:" in card.text


async def test_csat_and_volume_last_month(db: Database) -> None:
    seeded = await _seeded(db)
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    rows = await _conversations(db, seeded.workspace_id, start, end)
    (volume,) = await _run(db, seeded, "get_metrics", {"metric": "volume", "period": "last_month"})
    assert volume.data["value"] == len(rows)
    (csat,) = await _run(db, seeded, "get_metrics", {"metric": "csat", "period": "last_month"})
    scores = [r.csat for r in rows if r.csat is not None]
    assert abs(csat.data["value"] - sum(scores) / len(scores)) < 1e-9
    assert f"{sum(scores) / len(scores):.2f}/5" in csat.text


async def test_topic_breakdown_counts(db: Database) -> None:
    seeded = await _seeded(db)
    (answer,) = await _run(db, seeded, "get_topic_breakdown", {"period": "last_30_days"})
    rows = await _conversations(db, seeded.workspace_id, NOW - timedelta(days=30), NOW)
    top = Counter(r.topic for r in rows).most_common(5)
    assert answer.data["total"] == len(rows)
    assert [tuple(t) for t in answer.data["topics"]] == top
    assert answer.items[0].startswith(f"{top[0][0]}: {top[0][1]} (")


async def test_list_assists_filters_and_orders(db: Database) -> None:
    seeded = await _seeded(db)
    (answer,) = await _run(db, seeded, "list_assists", {"status": "open", "priority": "urgent"})
    async with db.session() as session:
        urgent_open = list(
            await session.scalars(
                select(Assist).where(
                    Assist.workspace_id == seeded.workspace_id,
                    Assist.status == "open",
                    Assist.priority == "urgent",
                )
            )
        )
    assert len(answer.items) == len(urgent_open) > 0
    assert {line.split()[0] for line in answer.items} == {a.ref for a in urgent_open}


async def test_workload_counts_open_assists_per_member(db: Database) -> None:
    seeded = await _seeded(db)
    (answer,) = await _run(db, seeded, "get_agent_workload", {"member": "maria"})
    async with db.session() as session:
        mine = list(
            await session.scalars(
                select(Assist).where(
                    Assist.workspace_id == seeded.workspace_id,
                    Assist.assignee_id == seeded.member_ids["maria@demo.example"],
                    Assist.status.in_(("open", "pending")),
                )
            )
        )
    fields = {f.label: f.value for f in answer.fields}
    assert fields["Open assists"].startswith(f"{len(mine)} (")


async def test_show_assist_and_unknown_reference(db: Database) -> None:
    seeded = await _seeded(db)
    (card,) = await _run(db, seeded, "show_assist", {"assist": "A-1040"})
    assert card.title == "A-1040"
    assert "Refund not received for order #48213" in card.text
    (missing,) = await _run(db, seeded, "show_assist", {"assist": "A-9"})
    assert missing.kind == "error" and "no assist A-9" in missing.text
    # Without PUBLIC_BASE_URL there is no address to give.
    assert "http" not in card.text and "Link" not in [f.label for f in card.fields]


async def test_assists_shown_and_listed_link_to_the_console(db: Database) -> None:
    seeded = await _seeded(db)
    links = Links(base_url="https://gw.example/")

    (card,) = await _run(db, seeded, "show_assist", {"assist": "A-1040"}, links=links)
    (listed,) = await _run(db, seeded, "list_assists", {"status": "open"}, links=links)

    page = "https://gw.example/console/assists/A-1040"
    assert card.text.endswith(f"Open it in the console: {page}")
    assert {f.label: f.value for f in card.fields}["Link"] == page
    assert listed.text.endswith("Open the inbox in the console: https://gw.example/console/inbox")
    assert "/api/v1/" not in card.text + listed.text


# --- inbox performance, patterns, training, schedules, history, integrations, reports ----------


async def _rows(db: Database, model: Any, ws: str) -> list[Any]:
    async with db.session() as session:
        return list(await session.scalars(select(model).where(model.workspace_id == ws)))


def _inbox_expected(assists: list[Assist], start: datetime, end: datetime) -> dict[str, Any]:
    def within(when: datetime | None) -> bool:
        return when is not None and start <= when < end

    responses = [
        (x.first_response_at - x.created_at).total_seconds()
        for x in assists
        if x.first_response_at is not None and within(x.first_response_at)
    ]
    closes = [
        (x.closed_at - x.created_at).total_seconds()
        for x in assists
        if x.closed_at is not None and x.status == "closed" and within(x.closed_at)
    ]
    return {
        "opened": sum(within(x.created_at) for x in assists),
        "closed": len(closes),
        "median_first_response_seconds": statistics.median(responses) if responses else None,
        "median_time_to_close_seconds": statistics.median(closes) if closes else None,
    }


def _relative(now: float, before: float, lower_is_better: bool = True) -> str:
    direction = "down" if now < before else "up"
    good = (now < before) == lower_is_better
    return (
        f"{direction} {abs(now - before) / before * 100:.0f}% on the period before "
        f"({'better' if good else 'worse'})"
    )


async def test_inbox_performance_last_7_days_matches_the_rows(db: Database) -> None:
    seeded = await _seeded(db)
    (card,) = await _run(db, seeded, "get_inbox_performance", {"period": "last_7_days"})
    week_ago = NOW - timedelta(days=7)
    assists = await _rows(db, Assist, seeded.workspace_id)
    now = _inbox_expected(assists, week_ago, NOW)
    before = _inbox_expected(assists, week_ago - timedelta(days=7), week_ago)
    assert now["closed"] and before["closed"]  # the seed gives these figures something to say
    assert card.data["current"] == now
    assert card.data["previous"] == before
    open_now = [x for x in assists if x.status != "closed"]
    assert card.data["open_now"] == len(open_now)
    pending = sum(x.status == "pending" for x in open_now)
    assert f"Opened: {now['opened']}, " in card.text
    assert f"Closed: {now['closed']}, " in card.text
    assert f"Open now: {len(open_now)} ({pending} pending)" in card.text
    frt, frt_before = now["median_first_response_seconds"], before["median_first_response_seconds"]
    assert f"Median first response: {frt / 60:.0f} min, {_relative(frt, frt_before)}" in card.text
    ttc, ttc_before = now["median_time_to_close_seconds"], before["median_time_to_close_seconds"]
    assert f"Median time to close: {ttc / 3600:.1f} h, {_relative(ttc, ttc_before)}" in card.text
    unassigned = [x for x in open_now if x.assignee_id is None]
    oldest = min(unassigned, key=lambda x: x.created_at)
    assert (
        f"Next step: Assign the {len(unassigned)} unassigned open assist(s), "
        f"starting with {oldest.ref}" in card.text
    )


async def test_inbox_performance_for_one_member_last_week(db: Database) -> None:
    seeded = await _seeded(db)
    (card,) = await _run(
        db, seeded, "get_inbox_performance", {"period": "last_week", "member": "maria"}
    )
    maria = seeded.member_ids["maria@demo.example"]
    mine = [x for x in await _rows(db, Assist, seeded.workspace_id) if x.assignee_id == maria]
    start = datetime(2026, 11, 9, tzinfo=UTC)
    assert card.title == "Inbox performance, last week: Maria Lopez"
    assert card.data["current"] == _inbox_expected(mine, start, start + timedelta(days=7))
    assert card.data["previous"] == _inbox_expected(mine, start - timedelta(days=7), start)
    open_mine = [x for x in mine if x.status != "closed"]
    assert card.data["open_now"] == len(open_mine)
    order = {"urgent": 0, "high": 1}
    pressing = min(
        (x for x in open_mine if x.priority in order),
        key=lambda x: (order[x.priority], x.created_at),
    )
    assert f"Next step: Follow up on {pressing.ref} ({pressing.priority}" in card.text

    (missing,) = await _run(db, seeded, "get_inbox_performance", {"member": "Zed Nobody"})
    assert missing.kind == "error" and "Zed Nobody" in missing.text


PATTERN_FILTERS: dict[str, Callable[[Conversation], bool]] = {
    "escalations": lambda r: r.escalated,
    "conversations": lambda r: not r.resolved_by_ai,
    "feedback": lambda r: r.csat is not None and r.csat <= 2,
}


@pytest.mark.parametrize("focus", sorted(PATTERN_FILTERS))
async def test_analyze_patterns_counts_shares_and_riser(db: Database, focus: str) -> None:
    seeded = await _seeded(db)
    args = {"focus": focus} if focus != "escalations" else {}  # escalations is the default
    (answer,) = await _run(db, seeded, "analyze_patterns", args)
    keep = PATTERN_FILTERS[focus]
    ws = seeded.workspace_id
    now = Counter(
        r.topic for r in await _conversations(db, ws, NOW - timedelta(days=30), NOW) if keep(r)
    )
    before = Counter(
        r.topic
        for r in await _conversations(db, ws, NOW - timedelta(days=60), NOW - timedelta(days=30))
        if keep(r)
    )
    total = sum(now.values())
    top = sorted(now.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert answer.data["focus"] == focus
    assert (answer.data["total"], answer.data["previous_total"]) == (total, sum(before.values()))
    assert [tuple(t) for t in answer.data["top"]] == top
    assert list(answer.items) == [
        f"{topic}: {n} ({100 * n / total:.0f}%, {n - before[topic]:+d} vs the period before)"
        for topic, n in top
    ]
    rises = {t: now[t] - before[t] for t in now if now[t] > before[t]}
    riser = min(rises, key=lambda t: (-rises[t], -now[t], t))
    assert answer.data["riser"] == [riser, now[riser], before[riser]]
    assert f"Biggest riser: {riser}, {now[riser]} from {before[riser]}" in answer.text
    lead = top[0][0]
    gaps = [g for g in await _rows(db, KnowledgeGap, ws) if g.topic == lead and not g.resolved]
    assert f"Next step: Add Q&A for {lead}, {100 * top[0][1] / total:.0f}%" in answer.text
    if gaps:
        asked = max(gaps, key=lambda g: g.occurrences)
        assert f'"{asked.question}" (asked {asked.occurrences} times' in answer.text


async def test_analyze_patterns_over_assists_suggests_promoting_a_resolved_one(
    db: Database,
) -> None:
    seeded = await _seeded(db)
    (answer,) = await _run(
        db, seeded, "analyze_patterns", {"focus": "assists", "period": "last_7_days"}
    )
    assists = await _rows(db, Assist, seeded.workspace_id)
    start = NOW - timedelta(days=7)
    now = Counter(x.category for x in assists if start <= x.created_at < NOW)
    before = Counter(
        x.category for x in assists if start - timedelta(days=7) <= x.created_at < start
    )
    top = sorted(now.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert [tuple(t) for t in answer.data["top"]] == top
    assert answer.data["previous_total"] == sum(before.values())
    lead = top[0][0]
    resolved = [x for x in assists if x.category == lead and x.status == "closed"]
    example = max(resolved, key=lambda x: x.closed_at)
    assert f"say 'promote {example.ref} to training'" in answer.text


async def test_training_suggestions_best_first_with_conflicts(db: Database) -> None:
    seeded = await _seeded(db)
    (answer,) = await _run(db, seeded, "list_training_suggestions", {})
    ws = seeded.workspace_id
    suggestions = await _rows(db, TrainingSuggestion, ws)
    qa = await _rows(db, QaPair, ws)
    pending = sorted(
        (s for s in suggestions if s.status == "pending"), key=lambda s: (-s.quality, s.id)
    )
    assert [int(item.split()[0][1:]) for item in answer.items] == [s.id for s in pending]
    conflicting = 0
    for s, item in zip(pending, answer.items, strict=True):
        assert f'"{s.question}" → "{s.answer}" (quality {s.quality * 100:.0f}%)' in item
        clash = next((q for q in qa if q.id == s.conflicts_with or q.question == s.question), None)
        if clash is None:
            assert "conflicts" not in item
        else:
            conflicting += 1
            assert f'conflicts with Q&A #{clash.id} "{clash.question}"' in item
    assert conflicting == 2  # one by the stored link, one asking the very same question
    best = next(
        s
        for s in pending
        if not any(q.id == s.conflicts_with or q.question == s.question for q in qa)
    )
    assert f"say 'approve training suggestion {best.id}'" in answer.text

    (rejected,) = await _run(db, seeded, "list_training_suggestions", {"status": "rejected"})
    expected = [s.id for s in suggestions if s.status == "rejected"]
    assert [int(item.split()[0][1:]) for item in rejected.items] == expected
    assert f"{len(pending)} suggestion(s) are waiting for review" in rejected.text


async def test_list_schedules_shows_only_the_askers_active_briefings(db: Database) -> None:
    seeded = await _seeded(db, timezone="Europe/Berlin")
    schedules = await _rows(db, Schedule, seeded.workspace_id)
    olivia = seeded.member_ids["olivia@demo.example"]
    mine = sorted((s for s in schedules if s.member_id == olivia and s.active), key=lambda s: s.id)
    assert any(s.member_id == olivia and not s.active for s in schedules)  # a cancelled one
    (answer,) = await _run(db, seeded, "list_schedules", {}, timezone="Europe/Berlin")
    assert [int(item.split()[0][1:]) for item in answer.items] == [s.id for s in mine]
    for s, item in zip(mine, answer.items, strict=True):
        assert f"at {s.time} Europe/Berlin, on {s.channel}" in item
    assert "weekdays at 08:00" in answer.items[0]
    assert "every Monday at 09:00" in answer.items[1]
    scheduled = {s.briefing_type for s in mine}
    assert "weekly_knowledge_gaps" not in scheduled
    assert "Next step: You don't get the weekly knowledge gaps yet" in answer.text

    (digest,) = await _run(
        db, seeded, "list_schedules", {"briefing_type": "weekly_performance_digest"}
    )
    assert len(digest.items) == 1 and "weekly performance digest" in digest.items[0]
    (maria,) = await _run(db, seeded, "list_schedules", {}, who="maria@demo.example")
    theirs = [s for s in schedules if s.member_id == seeded.member_ids["maria@demo.example"]]
    assert [int(item.split()[0][1:]) for item in maria.items] == [s.id for s in theirs]
    (none,) = await _run(db, seeded, "list_schedules", {"briefing_type": "monthly_roi"})
    assert none.text.startswith("You have no scheduled monthly ROI report.")


async def test_show_history_newest_first_in_the_workspace_time_zone(db: Database) -> None:
    zone = "America/New_York"
    seeded = await _seeded(db, timezone=zone)
    ws = seeded.workspace_id
    async with db.session() as session:
        session.add(
            Snapshot(
                workspace_id=ws,
                member_id=seeded.member_ids["adam@demo.example"],
                summary="reply to A-1041",
                before=[],
                created_at=NOW - timedelta(hours=1),
            )
        )
        session.add(
            Snapshot(
                workspace_id=ws,
                member_id=seeded.member_ids["olivia@demo.example"],
                summary="close A-1043",
                before=[{"entity": "assist", "key": "x", "field": "status", "label": "A-1043"}],
                created_at=NOW - timedelta(days=100),
            )
        )
    snaps = sorted(await _rows(db, Snapshot, ws), key=lambda s: s.created_at, reverse=True)
    (answer,) = await _run(db, seeded, "show_history", {}, timezone=zone)
    assert [int(item.split()[0][1:]) for item in answer.items] == [s.id for s in snaps]
    by_summary = {s.summary: item for s, item in zip(snaps, answer.items, strict=True)}
    # Written out by hand: 2 days 3 hours before Wednesday 15:30 UTC is Monday 07:30 in New York.
    assert (
        "Mon 16 Nov 07:30 EST, Olivia Owner: set A-1047 to low priority (can be restored)"
        in (by_summary["set A-1047 to low priority"])
    )
    assert "Adam Admin" in by_summary["assign A-1048 to Tom Baker"]
    assert "(undone " in by_summary["assign A-1048 to Tom Baker"]
    assert "cannot be restored" in by_summary["reply to A-1041"]
    assert "older than the 90-day retention" in by_summary["close A-1043"]
    restorable = next(s for s in snaps if s.summary == "set A-1047 to low priority")
    assert f"Say 'restore snapshot {restorable.id}'" in answer.text

    (short,) = await _run(db, seeded, "show_history", {"limit": 2}, timezone=zone)
    assert len(short.items) == 2 and f"… and {len(snaps) - 2} earlier." in short.text
    (week,) = await _run(db, seeded, "show_history", {"period": "this_week"}, timezone=zone)
    monday = datetime(2026, 11, 16, 5, tzinfo=UTC)  # midnight in New York
    assert [int(item.split()[0][1:]) for item in week.items] == [
        s.id for s in snaps if s.created_at >= monday
    ]


async def test_list_integrations_states_and_filter(db: Database) -> None:
    seeded = await _seeded(db)
    rows = sorted(await _rows(db, Integration, seeded.workspace_id), key=lambda r: r.name)
    (answer,) = await _run(db, seeded, "list_integrations", {})
    assert list(answer.items) == [f"{r.name}: {'on' if r.enabled else 'off'}" for r in rows]
    off = next(r for r in rows if not r.enabled)
    assert f"Next step: {off.name} is off: say 'turn on {off.name}'" in answer.text
    (one,) = await _run(db, seeded, "list_integrations", {"integration": "Slack"})
    assert one.items == ("slack: on",)
    assert "say 'turn off slack'" in one.text
    (unknown,) = await _run(db, seeded, "list_integrations", {"integration": "hubspot"})
    assert unknown.kind == "error" and "shopify, slack, zendesk" in unknown.text


def _metrics(rows: list[Conversation]) -> dict[str, float]:
    scores = [r.csat for r in rows if r.csat is not None]
    times = [r.first_response_seconds for r in rows if r.first_response_seconds is not None]
    return {
        "resolution_rate": 100 * sum(r.resolved_by_ai for r in rows) / len(rows),
        "csat": sum(scores) / len(scores),
        "volume": len(rows),
        "first_response_time": statistics.median(times),
        "escalation_rate": 100 * sum(r.escalated for r in rows) / len(rows),
    }


async def test_performance_report_has_the_five_metrics_and_their_trends(db: Database) -> None:
    seeded = await _seeded(db)
    (report,) = await _run(db, seeded, "run_report", {"report": "performance"})
    ws = seeded.workspace_id
    now = _metrics(await _conversations(db, ws, NOW - timedelta(days=30), NOW))
    before = _metrics(
        await _conversations(db, ws, NOW - timedelta(days=60), NOW - timedelta(days=30))
    )
    assert report.kind == "card"
    assert (report.data["report"], report.data["period"]) == ("performance", "last_30_days")
    assert report.data["format"] == "pdf"
    assert [row["metric"] for row in report.data["rows"]] == list(now)
    for row in report.data["rows"]:
        assert row["value"] == pytest.approx(now[row["metric"]])
        assert row["previous"] == pytest.approx(before[row["metric"]])
    rate = now["resolution_rate"]
    delta = rate - before["resolution_rate"]
    assert (
        f"Resolution rate: {rate:.1f}%, {'up' if delta > 0 else 'down'} {abs(delta):.1f} points"
        in report.text
    )
    assert "Next step:" in report.text and "prepared separately" not in report.text


async def test_roi_report_counts_hours_and_cost_at_the_configured_rate(db: Database) -> None:
    seeded = await _seeded(db)
    rows = await _conversations(
        db,
        seeded.workspace_id,
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    resolved = sum(r.resolved_by_ai for r in rows)
    report, csv_file = await _run(
        db, seeded, "run_report", {"report": "roi", "period": "last_month", "format": "csv"}
    )
    assert csv_file.kind == "file" and csv_file.data["media"]["content_type"] == "text/csv"
    assert csv_file.data["media"]["filename"] == "roi-report-2026-10-01-to-2026-10-31.csv"
    async with db.session() as session:
        stored = await session.get(MediaObject, csv_file.data["media"]["id"])
        assert stored is not None
        table = list(csv.DictReader(io.StringIO(stored.data.decode())))
    assert {r["metric"]: r["value"] for r in table}["resolved_by_ai"] == str(resolved)
    values = {row["metric"]: row["value"] for row in report.data["rows"]}
    assert values["conversations"] == len(rows)
    assert values["resolved_by_ai"] == resolved
    assert values["hours_saved"] == pytest.approx(resolved * 6 / 60)
    assert values["human_cost_avoided_usd"] == pytest.approx(resolved * 5.0)
    assert f"Resolved by AI: {resolved}, " in report.text
    assert f"Hours saved: {resolved * 0.1:.1f} h at 6 min each" in report.text
    assert f"${resolved * 5:,.2f} at $5.00 per human-handled conversation" in report.text
    assert report.data["format"] == "csv"
    escalated = Counter(r.topic for r in rows if r.escalated)
    topic = min(escalated, key=lambda t: (-escalated[t], t))
    assert f"Next step: Add Q&A for {topic}: its {escalated[topic]} escalations" in report.text

    async with db.session() as session:
        agent = await session.get(AiAgent, seeded.agent_id)
        assert agent is not None
        agent.config = {**agent.config, "human_cost_per_conversation": 12.5}
    (dearer,) = await _run(db, seeded, "run_report", {"report": "roi", "period": "last_month"})
    values = {row["metric"]: row["value"] for row in dearer.data["rows"]}
    assert values["human_cost_avoided_usd"] == pytest.approx(resolved * 12.5)
    assert "at $12.50 per human-handled conversation" in dearer.text


async def test_inbox_and_assists_reports_match_the_rows(db: Database) -> None:
    seeded = await _seeded(db)
    assists = await _rows(db, Assist, seeded.workspace_id)
    start = NOW - timedelta(days=7)
    (inbox,) = await _run(db, seeded, "run_report", {"report": "inbox", "period": "last_7_days"})
    now = _inbox_expected(assists, start, NOW)
    before = _inbox_expected(assists, start - timedelta(days=7), start)
    rows = {row["metric"]: row for row in inbox.data["rows"]}
    for key, value in now.items():
        assert (rows[key]["value"], rows[key]["previous"]) == (value, before[key])
    assert rows["open_now"]["value"] == sum(x.status != "closed" for x in assists)

    listing, _csv = await _run(
        db, seeded, "run_report", {"report": "assists", "period": "last_7_days", "format": "csv"}
    )
    opened = sorted((x for x in assists if start <= x.created_at < NOW), key=lambda x: x.number)
    assert [row["ref"] for row in listing.data["rows"]] == [x.ref for x in opened]
    assert [row["status"] for row in listing.data["rows"]] == [x.status for x in opened]
    closed = sum(x.status == "closed" for x in opened)
    assert f"closed {closed}" in listing.text and closed > 0
    assert _csv.kind == "file" and _csv.data["media"]["filename"].endswith(".csv")


async def test_topics_csat_and_gaps_reports_match_the_rows(db: Database) -> None:
    seeded = await _seeded(db)
    ws = seeded.workspace_id
    rows = await _conversations(db, ws, NOW - timedelta(days=30), NOW)
    (topics,) = await _run(db, seeded, "run_report", {"report": "topics"})
    counts = Counter(r.topic for r in rows)
    assert {row["topic"]: row["conversations"] for row in topics.data["rows"]} == counts
    escalated = Counter(r.topic for r in rows if r.escalated)
    worst = max(counts, key=lambda t: (escalated[t], counts[t]))
    assert f"Next step: Add Q&A for {worst}: {escalated[worst]} of its {counts[worst]}" in (
        topics.text
    )

    (csat,) = await _run(db, seeded, "run_report", {"report": "csat"})
    scores: dict[str, list[int]] = {}
    for r in rows:
        if r.csat is not None:
            scores.setdefault(r.topic or "other", []).append(r.csat)
    assert {row["topic"]: row["responses"] for row in csat.data["rows"]} == {
        t: len(s) for t, s in scores.items()
    }
    for row in csat.data["rows"]:
        assert row["csat"] == pytest.approx(sum(scores[row["topic"]]) / len(scores[row["topic"]]))
    everything = [score for s in scores.values() for score in s]
    assert f"CSAT: {sum(everything) / len(everything):.2f}/5, " in csat.text
    lowest = min(scores, key=lambda t: (sum(scores[t]) / len(scores[t]), t))
    assert f"Next step: Review the answers for {lowest}" in csat.text

    (gaps,) = await _run(db, seeded, "run_report", {"report": "knowledge_gaps"})
    open_gaps = sorted(
        (
            g
            for g in await _rows(db, KnowledgeGap, ws)
            if not g.resolved and g.last_seen >= NOW - timedelta(days=30)
        ),
        key=lambda g: (-g.occurrences, g.question),
    )
    assert [(row["question"], row["occurrences"]) for row in gaps.data["rows"]] == [
        (g.question, g.occurrences) for g in open_gaps
    ]
    new = sum(NOW - timedelta(days=30) <= g.first_seen < NOW for g in open_gaps)
    assert f"{len(open_gaps)} open gap(s), {new} new: " in gaps.text
    assert f'Add a Q&A pair for "{open_gaps[0].question}"' in gaps.text


async def test_workload_report_counts_per_member(db: Database) -> None:
    seeded = await _seeded(db)
    assists = await _rows(db, Assist, seeded.workspace_id)
    (report,) = await _run(db, seeded, "run_report", {"report": "workload", "period": "this_week"})
    monday = datetime(2026, 11, 16, tzinfo=UTC)
    by_name = {row["member"]: row for row in report.data["rows"]}
    members = await _rows(db, Member, seeded.workspace_id)
    assert set(by_name) == {m.name for m in members} | {"unassigned"}
    for member in members:
        mine = [x for x in assists if x.assignee_id == member.id]
        row = by_name[member.name]
        assert row["open"] == sum(x.status != "closed" for x in mine)
        assert row["closed"] == sum(
            x.status == "closed" and x.closed_at is not None and monday <= x.closed_at < NOW
            for x in mine
        )
    assert sum(row["closed"] for row in report.data["rows"]) > 0
    unassigned = sum(x.assignee_id is None and x.status != "closed" for x in assists)
    assert by_name["unassigned"]["open"] == unassigned
    assert f"Next step: Assign the {unassigned} unassigned assist(s) to Sam Support" in report.text


async def _stored_file(db: Database, deliverable: Any) -> bytes:
    media = deliverable.data["media"]
    async with db.session() as session:
        stored = await session.get(MediaObject, media["id"])
        assert stored is not None
        assert (stored.filename, stored.content_type) == (media["filename"], media["content_type"])
        assert stored.size == len(stored.data) == media["size"]
        return bytes(stored.data)


async def test_performance_report_as_pdf_shows_the_figures_and_a_chart(db: Database) -> None:
    seeded = await _seeded(db)
    card, pdf = await _run(db, seeded, "run_report", {"report": "performance", "format": "pdf"})
    ws = seeded.workspace_id
    now = _metrics(await _conversations(db, ws, NOW - timedelta(days=30), NOW))
    before = _metrics(
        await _conversations(db, ws, NOW - timedelta(days=60), NOW - timedelta(days=30))
    )
    assert pdf.kind == "file"
    assert pdf.data["media"]["content_type"] == "application/pdf"
    assert pdf.data["media"]["filename"] == "performance-report-2026-10-19-to-2026-11-18.pdf"
    assert "not available" not in card.text and card.data["format"] == "pdf"
    reader = PdfReader(io.BytesIO(await _stored_file(db, pdf)))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert text.startswith("Performance report, the last 30 days")
    assert "Period: the last 30 days (2026-10-19 to 2026-11-18)" in text
    rate = now["resolution_rate"]
    assert f"Resolution rate {rate:.1f}%, " in text  # the key figures
    labels = {
        "resolution_rate": "Resolution rate",
        "csat": "CSAT",
        "volume": "Conversations",
        "first_response_time": "First response time",
        "escalation_rate": "Escalation rate",
    }
    for metric, value in now.items():  # the table: metric, label, value, previous, trend
        assert f"{metric} {labels[metric]} {value:,.2f} {before[metric]:,.2f}" in text
    assert "Next step " + " ".join(card.data["suggestion"].split()) in text
    (image,) = reader.pages[0].images
    assert Image.open(io.BytesIO(image.data)).size == (800, 400)


async def test_topics_report_as_xlsx_has_the_counts_as_numbers(db: Database) -> None:
    seeded = await _seeded(db)
    ws = seeded.workspace_id
    rows = await _conversations(db, ws, NOW - timedelta(days=30), NOW)
    earlier = await _conversations(db, ws, NOW - timedelta(days=60), NOW - timedelta(days=30))
    card, xlsx = await _run(db, seeded, "run_report", {"report": "topics", "format": "xlsx"})
    media = xlsx.data["media"]
    assert media["content_type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert media["filename"] == "topics-report-2026-10-19-to-2026-11-18.xlsx"
    book = load_workbook(io.BytesIO(await _stored_file(db, xlsx)))
    assert book.sheetnames == ["Data", "Summary"]
    sheet = book["Data"]
    header = [cell.value for cell in sheet[1]]
    assert header == [
        "topic",
        "conversations",
        "share",
        "previous",
        "resolution_rate",
        "escalated",
    ]
    assert sheet.freeze_panes == "A2" and all(cell.font.b for cell in sheet[1])
    table = [
        dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=2, values_only=True)
    ]
    counts = Counter(r.topic or "other" for r in rows)
    before = Counter(r.topic or "other" for r in earlier)
    assert {r["topic"]: r["conversations"] for r in table} == counts
    for r in table:
        topic = [c for c in rows if (c.topic or "other") == r["topic"]]
        assert type(r["conversations"]) is int and type(r["escalated"]) is int
        assert r["previous"] == before.get(r["topic"], 0)
        assert r["share"] == pytest.approx(100 * len(topic) / len(rows))
        assert r["resolution_rate"] == pytest.approx(
            100 * sum(c.resolved_by_ai for c in topic) / len(topic)
        )
        assert r["escalated"] == sum(c.escalated for c in topic)
    summary = {r[0]: r[1] for r in book["Summary"].iter_rows(values_only=True) if r[0]}
    assert book["Summary"]["A1"].value == "Topics report, the last 30 days"
    assert summary["Rows"] == len(counts)
    assert summary["Next step"] == card.data["suggestion"]


async def test_assists_report_as_xlsx_has_dates_in_the_workspace_time_zone(db: Database) -> None:
    zone = "America/New_York"
    seeded = await _seeded(db, timezone=zone)
    assists = await _rows(db, Assist, seeded.workspace_id)
    _card, xlsx = await _run(
        db,
        seeded,
        "run_report",
        {"report": "assists", "period": "last_7_days", "format": "xlsx"},
        timezone=zone,
    )
    assert xlsx.data["media"]["filename"] == "assists-report-2026-11-11-to-2026-11-18.xlsx"
    sheet = load_workbook(io.BytesIO(await _stored_file(db, xlsx)))["Data"]
    header = [cell.value for cell in sheet[1]]
    table = {
        row[0].value: dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2)
    }
    start = NOW - timedelta(days=7)
    opened = [x for x in assists if start <= x.created_at < NOW]
    assert set(table) == {x.ref for x in opened} and opened
    local = ZoneInfo(zone)
    for x in opened:
        cells = table[x.ref]
        assert cells["created"].is_date
        assert cells["created"].value == x.created_at.astimezone(local).replace(
            tzinfo=None, microsecond=0
        )
        assert cells["status"].value == x.status and cells["priority"].value == x.priority
        if x.closed_at is not None and x.status == "closed":
            assert cells["closed"].value == x.closed_at.astimezone(local).replace(
                tzinfo=None, microsecond=0
            )


async def test_knowledge_gaps_tool_lists_the_most_asked_open_gaps_of_the_period(
    db: Database,
) -> None:
    """The gaps the tool lists are the rows': open ones, last seen inside the period when one
    is asked for, most asked first, no more than the limit."""
    seeded = await _seeded(db)
    ws = seeded.workspace_id
    async with db.session() as session:
        # One asked most of all but resolved, one most asked but seen only long ago.
        session.add_all(
            [
                KnowledgeGap(workspace_id=ws, question="Resolved one?", occurrences=999,
                             resolved=True, first_seen=NOW, last_seen=NOW),
                KnowledgeGap(workspace_id=ws, question="Asked last year?", occurrences=998,
                             first_seen=NOW - timedelta(days=400),
                             last_seen=NOW - timedelta(days=400)),
            ]
        )  # fmt: skip
    gaps = [g for g in await _rows(db, KnowledgeGap, ws) if not g.resolved]
    month_start = datetime(2026, 11, 1, tzinfo=UTC)

    def listed(answer: Any) -> list[str]:
        return [item.rsplit(" (asked ", 1)[0] for item in answer.items]

    (everything,) = await _run(db, seeded, "get_knowledge_gaps", {"limit": 50})
    by_asks = sorted(gaps, key=lambda g: -g.occurrences)
    assert listed(everything)[:2] == ["Asked last year?", by_asks[1].question]
    assert sorted(listed(everything)) == sorted(g.question for g in gaps)
    assert "Resolved one?" not in everything.text

    (month,) = await _run(db, seeded, "get_knowledge_gaps", {"period": "this_month", "limit": 3})
    recent = sorted((g for g in gaps if g.last_seen >= month_start), key=lambda g: -g.occurrences)
    assert len(recent) > 3  # the limit is what cuts the list
    assert listed(month) == [g.question for g in recent[:3]]
    assert f"({recent[0].occurrences} asks)" in month.text


async def test_workload_tool_counts_each_member_s_open_assists_by_name(db: Database) -> None:
    seeded = await _seeded(db)
    ws = seeded.workspace_id
    names = {m.id: m.name for m in await _rows(db, Member, ws) if m.status == "active"}
    counts = Counter(
        a.assignee_id for a in await _rows(db, Assist, ws) if a.status in ("open", "pending")
    )
    (answer,) = await _run(db, seeded, "get_agent_workload", {})
    expected = sorted(
        ((names[m], n) for m, n in counts.items() if m in names), key=lambda p: (-p[1], p[0])
    )
    assert expected and answer.items == tuple(f"{name}: {n} open" for name, n in expected)
    assert f"Unassigned: {counts.get(None, 0)}." in answer.text
