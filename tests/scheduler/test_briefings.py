"""Each briefing's figures against values recomputed here from the seeded rows, and its chart."""

from __future__ import annotations

import asyncio
import io
import statistics
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from cli.seed import Seeded, seed_workspace
from core.classify.backend import OfflineBackend
from core.processing.pipeline import TaskProcessor
from core.schedules.briefings import ChartCache
from core.tools.catalogue import default_registry
from models.deliverable import Deliverable
from models.task import Briefing, Route, Sender, Task
from storage.db import Database
from storage.domain import Assist, Conversation, KnowledgeGap, TrainingSuggestion
from storage.models import MediaObject

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # a Wednesday
DAY = timedelta(days=1)
OLIVIA = "olivia@demo.example"


@pytest.fixture
async def seeded(db: Database) -> Seeded:
    async with db.session() as session:
        return await seed_workspace(session, now=NOW)


async def brief(
    db: Database, seeded: Seeded, briefing_type: str, params: dict[str, Any] | None = None
) -> list[Deliverable]:
    """The deliverables of BRIEFING_TYPE fired at NOW for Olivia, through the pipeline."""
    member = seeded.member_ids[OLIVIA]
    task = Task(
        id="t" * 32,
        workspace_id=seeded.workspace_id,
        channel="schedule",
        external_id=f"schedule:1:{NOW.isoformat()}",
        sender=Sender(channel="schedule", address=member),
        conversation="schedule:1",
        text=briefing_type,
        received_at=NOW,
        reply_route=Route(channel="slack", address="U0DEMO001"),
        kind="briefing",
        briefing=Briefing(type=briefing_type, params=params or {}),
        raw={"schedule_id": 1},
    )
    processor = TaskProcessor(OfflineBackend(), default_registry())
    async with db.session() as session:
        # Processed a day later: the figures are still those of the scheduled time.
        outcome = await processor.process(session, task, NOW + DAY)
    assert outcome.route == task.reply_route
    return outcome.deliverables


async def chart_of(db: Database, file: Deliverable) -> Image.Image:
    assert file.kind == "file"
    media = file.data["media"]
    assert media["content_type"] == "image/png" and media["filename"].endswith(".png")
    async with db.session() as session:
        row = await session.get(MediaObject, media["id"])
    assert row is not None and row.size == len(row.data) == media["size"]
    image = Image.open(io.BytesIO(row.data))
    image.load()
    assert image.format == "PNG" and image.size == (800, 400)
    return image


async def rows_between(db: Database, ws: str, start: datetime, end: datetime) -> list[Conversation]:
    async with db.session() as session:
        return list(
            await session.scalars(
                select(Conversation).where(
                    Conversation.workspace_id == ws,
                    Conversation.started_at >= start,
                    Conversation.started_at < end,
                )
            )
        )


async def test_daily_inbox_summary_counts_the_queue(db: Database, seeded: Seeded) -> None:
    card, chart = await brief(db, seeded, "daily_inbox_summary")
    async with db.session() as session:
        assists = list(
            await session.scalars(select(Assist).where(Assist.workspace_id == seeded.workspace_id))
        )
    open_now = [x for x in assists if x.status != "closed"]
    urgent = sorted((x for x in open_now if x.priority == "urgent"), key=lambda x: x.created_at)
    oldest = min(open_now, key=lambda x: x.created_at)
    expected = {
        "new": sum(NOW - DAY <= x.created_at <= NOW for x in assists),
        "new_previous": sum(NOW - 2 * DAY <= x.created_at < NOW - DAY for x in assists),
        "open": len(open_now),
        "pending": sum(x.status == "pending" for x in open_now),
        "unassigned": sum(x.assignee_id is None for x in open_now),
        "oldest": oldest.ref,
        "urgent": [x.ref for x in urgent],
        "high": sum(x.priority == "high" for x in open_now),
        "closed": sum(x.closed_at is not None and NOW - DAY <= x.closed_at <= NOW for x in assists),
    }
    assert {k: card.data[k] for k in expected} == expected
    assert expected["open"] > 0 and expected["urgent"] and expected["unassigned"] > 0
    assert f"- Open: {expected['open']} ({expected['pending']} pending)" in card.text
    assert f"- Unassigned: {expected['unassigned']}" in card.text
    assert f"- Urgent: {len(urgent)}: {', '.join(expected['urgent'])}" in card.text
    assert f"- Oldest: {oldest.ref}, open " in card.text
    # What needs attention: every urgent assist is listed, most pressing first.
    assert "Needs attention:" in card.text
    assert [line.split()[0] for line in card.data["attention"][: len(urgent)]] == expected["urgent"]
    assert "\nNext step: Assign the " in card.text
    await chart_of(db, chart)


async def test_weekly_performance_digest_has_four_metrics_with_trends(
    db: Database, seeded: Seeded
) -> None:
    card, chart = await brief(db, seeded, "weekly_performance_digest")
    ws = seeded.workspace_id
    week = await rows_between(db, ws, NOW - 7 * DAY, NOW)
    before = await rows_between(db, ws, NOW - 14 * DAY, NOW - 7 * DAY)

    def figures(rows: list[Conversation]) -> dict[str, float]:
        return {
            "resolution_rate": 100 * sum(r.resolved_by_ai for r in rows) / len(rows),
            "csat": statistics.fmean(r.csat for r in rows if r.csat is not None),
            "volume": float(len(rows)),
            "first_response_time": statistics.median(
                r.first_response_seconds for r in rows if r.first_response_seconds is not None
            ),
        }

    now, prior = figures(week), figures(before)
    metrics = card.data["metrics"]
    assert set(metrics) == set(now)
    for name, value in now.items():
        assert metrics[name]["value"] == pytest.approx(value)
        assert metrics[name]["previous"] == pytest.approx(prior[name])
    assert f"- Resolution rate: {now['resolution_rate']:.1f}%, " in card.text
    delta = abs(now["resolution_rate"] - prior["resolution_rate"])
    assert f"{delta:.1f} points on the period before" in card.text
    assert f"- CSAT: {now['csat']:.2f}/5, " in card.text
    assert f"- Conversations: {len(week)}, " in card.text
    assert "- First response time: " in card.text and "Next step:" in card.text
    await chart_of(db, chart)


async def test_weekly_knowledge_gaps_pairs_questions_with_training(
    db: Database, seeded: Seeded
) -> None:
    card, chart = await brief(db, seeded, "weekly_knowledge_gaps")
    async with db.session() as session:
        gaps = list(
            await session.scalars(
                select(KnowledgeGap).where(
                    KnowledgeGap.workspace_id == seeded.workspace_id,
                    KnowledgeGap.resolved.is_(False),
                    KnowledgeGap.last_seen >= NOW - 7 * DAY,
                )
            )
        )
        pending = {
            s.question: s.id
            for s in await session.scalars(
                select(TrainingSuggestion).where(
                    TrainingSuggestion.workspace_id == seeded.workspace_id,
                    TrainingSuggestion.status == "pending",
                )
            )
        }
    gaps.sort(key=lambda g: (-g.occurrences, g.question))
    shown = [(row["question"], row["occurrences"]) for row in card.data["gaps"]]
    assert shown == [(g.question, g.occurrences) for g in gaps]
    # A pending suggestion asking the same question is the training to approve; else a new Q&A.
    assert [row["suggestion_id"] for row in card.data["gaps"]] == [
        pending.get(g.question) for g in gaps
    ]
    top = gaps[0]
    assert pending[top.question] is not None
    assert card.data["asks"] == sum(g.occurrences for g in gaps)
    assert card.data["new"] == sum(g.first_seen >= NOW - 7 * DAY for g in gaps)
    assert (
        f'- "{top.question}" asked {top.occurrences} times: approve training suggestion '
        f"{pending[top.question]}"
    ) in card.text
    without = next(g for g in gaps if g.question not in pending)
    assert f'add a Q&A pair for "{without.question}"' in card.text
    assert card.text.endswith(f"it was asked {top.occurrences} times.")
    await chart_of(db, chart)


async def test_monthly_roi_counts_resolutions_hours_and_costs(db: Database, seeded: Seeded) -> None:
    card, chart = await brief(db, seeded, "monthly_roi")
    month = await rows_between(db, seeded.workspace_id, NOW - 30 * DAY, NOW)
    resolved = sum(r.resolved_by_ai for r in month)
    rate = 5.0  # the default cost of a human-handled conversation (the seed sets none)
    assert (card.data["conversations"], card.data["resolved_by_ai"]) == (len(month), resolved)
    assert card.data["hours_saved"] == pytest.approx(resolved * 6 / 60)
    assert card.data["cost_avoided"] == pytest.approx(resolved * rate)
    assert card.data["cost_without_ai"] == pytest.approx(len(month) * rate)
    assert card.data["cost_with_ai"] == pytest.approx((len(month) - resolved) * rate)
    assert f"- Resolved by AI: {resolved}, " in card.text
    assert f"- Hours saved: {resolved * 6 / 60:.1f} h at 6 min each" in card.text
    assert (
        f"- Cost comparison: ${len(month) * rate:,.2f} if people handled all {len(month)} "
        f"conversations, ${(len(month) - resolved) * rate:,.2f} with the AI resolving {resolved}"
    ) in card.text
    await chart_of(db, chart)


async def test_a_chart_everyone_gets_is_drawn_once() -> None:
    drawn: list[str] = []

    def draw(title: str, values: list[int]) -> bytes:
        drawn.append(title)
        return f"{title}:{values}".encode()

    cache = ChartCache()
    same, again, other = await asyncio.gather(
        cache.png(partial(draw, "inbox", [1, 2])),
        cache.png(partial(draw, "inbox", [1, 2])),
        cache.png(partial(draw, "inbox", [1, 3])),
    )
    assert (same, again, other) == (b"inbox:[1, 2]", b"inbox:[1, 2]", b"inbox:[1, 3]")
    assert sorted(drawn) == ["inbox", "inbox"]  # once per distinct chart
    assert await cache.png(partial(draw, "inbox", [1, 2])) == same and len(drawn) == 2
