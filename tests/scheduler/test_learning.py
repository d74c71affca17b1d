"""Learning mode through the web channel: a report run or a bulk action approved is offered as
a schedule once; yes makes a proposal, no is remembered for good."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from api.state import GATEWAY
from cli.seed import seed_workspace
from storage.db import Database
from storage.domain import Assist, Proposal, Schedule, ScheduleOffer
from storage.types import utcnow
from tests.factories import bearer_for
from tests.helpers import wait_until
from tests.scheduler import fire

OLIVIA = "olivia@demo.example"


async def say(client: TestClient[Any, Any], member: str, text: str) -> list[dict[str, Any]]:
    auth = await bearer_for(client.server.app[GATEWAY].db, member)
    body = {"member": member, "text": text}
    resp = await client.post("/api/v1/messages", json=body, headers=auth)
    assert resp.status == 202, await resp.text()
    task_id = (await resp.json())["task_id"]

    async def finished() -> list[dict[str, Any]] | None:
        response = await client.get(f"/api/v1/tasks/{task_id}", headers=auth)
        body: dict[str, Any] = await response.json()
        return body["replies"] if body["status"] == "done" and body["replies"] else None

    return await wait_until(finished, timeout=10)


def code_of(reply: dict[str, Any]) -> str:
    return str(reply["proposal"]["code"])


async def offers(db: Database) -> dict[str, str]:
    async with db.session() as session:
        return {o.action: o.status for o in await session.scalars(select(ScheduleOffer))}


async def test_a_report_is_offered_once_and_yes_proposes_the_schedule(
    db: Database, make_client: Any
) -> None:
    async with db.session() as session:
        await seed_workspace(session, now=utcnow() - timedelta(minutes=1))
    client = await make_client()
    card, file, offer = await say(client, OLIVIA, "run the performance report as a pdf")
    assert (card["kind"], file["kind"]) == ("card", "file")
    assert offer["text"] == (
        "Want the performance report (PDF) on the 1st of each month at 09:00 (UTC)? "
        "Reply yes and I'll set it up, or no and I won't ask again."
    )
    (proposed,) = await say(client, OLIVIA, "yes")
    assert proposed["proposal"]["summary"] == (
        "schedule performance report (PDF) on the 1st of each month at 09:00 on email (UTC)"
    )
    async with db.session() as session:
        assert (
            await session.scalars(select(Schedule).where(Schedule.briefing_type == "report"))
        ).first() is None
    (done,) = await say(client, OLIVIA, f"approve {code_of(proposed)}")
    assert done["text"].startswith("Done: schedule performance report (PDF)")
    async with db.session() as session:
        schedule = (
            await session.scalars(select(Schedule).where(Schedule.briefing_type == "report"))
        ).one()
    assert (schedule.frequency, schedule.day_of_month, schedule.time) == ("monthly", 1, "09:00")
    assert (schedule.channel, schedule.address) == ("email", OLIVIA)
    assert schedule.params["call"] == {
        "tool": "run_report",
        "args": {"report": "performance", "format": "pdf", "period": "last_30_days"},
    }
    assert await offers(db) == {"run_report:performance": "accepted"}
    # Asked again: the answer comes, the offer does not.
    again = await say(client, OLIVIA, "run the performance report as a pdf")
    assert len(again) == 2 and not any("Want the" in r["text"] for r in again)

    # When it fires, the report is built and sent as the scheduled task's answer.
    outcome = await fire(db, schedule.id, datetime(2026, 12, 1, 9, tzinfo=UTC))
    card, file = outcome.deliverables
    assert card.title == "Performance report, the last 30 days"
    assert file.kind == "file" and file.data["media"]["content_type"] == "application/pdf"


async def test_no_means_the_action_is_never_offered_again(db: Database, make_client: Any) -> None:
    async with db.session() as session:
        await seed_workspace(session, now=utcnow() - timedelta(minutes=1))
    client = await make_client()
    (_card, offer) = await say(client, OLIVIA, "run the ROI report for last week")
    assert offer["text"].startswith("Want the roi report every Monday at 09:00 (UTC)?")
    (answer,) = await say(client, OLIVIA, "no thanks")
    assert answer["text"] == "OK, I won't offer to schedule the roi report again."
    assert await offers(db) == {"run_report:roi": "declined"}
    for _ in range(2):
        replies = await say(client, OLIVIA, "run the ROI report for last week")
        assert [r["text"].startswith("Want the") for r in replies] == [False]
    # A yes later is no answer to anything: it goes to the classifier as usual.
    (later,) = await say(client, OLIVIA, "yes")
    assert later["text"] == "You have nothing waiting for approval."
    async with db.session() as session:
        assert (await session.scalars(select(Proposal))).first() is None


async def test_an_approved_bulk_action_is_offered_and_repeats_as_a_proposal(
    db: Database, make_client: Any
) -> None:
    async with db.session() as session:
        await seed_workspace(session, now=utcnow() - timedelta(minutes=1))
    client = await make_client()
    (bulk,) = await say(client, OLIVIA, "close all low priority assists older than a week")
    (approved,) = await say(client, OLIVIA, f"approve {code_of(bulk)}")
    assert approved["text"].startswith("Done: ")
    assert approved["text"].endswith(
        "Want the clean-up: close assists (low priority, older than 7 days) every Monday at "
        "09:00 (UTC)? Reply yes and I'll set it up, or no and I won't ask again."
    )
    (proposed,) = await say(client, OLIVIA, "yes")
    await say(client, OLIVIA, f"approve {code_of(proposed)}")
    async with db.session() as session:
        schedule = (
            await session.scalars(select(Schedule).where(Schedule.briefing_type == "bulk_action"))
        ).one()
    assert schedule.params["call"]["tool"] == "bulk_update_assists"
    assert schedule.params["call"]["args"]["filter"] == {"priority": "low", "older_than_days": 7}
    assert await offers(db) == {"bulk_update_assists:close": "accepted"}

    # Fired a week later: nothing matches yet, then a new old low-priority assist does, and the
    # clean-up comes back as a proposal to approve, never as a silent write.
    outcome = await fire(db, schedule.id, utcnow())
    (nothing,) = outcome.deliverables
    assert nothing.text.startswith("Nothing to change:")
    async with db.session() as session:
        session.add(
            Assist(
                workspace_id=schedule.workspace_id,
                number=2001,
                priority="low",
                subject="Old question",
                created_at=utcnow() - timedelta(days=9),
            )
        )
    outcome = await fire(db, schedule.id, utcnow())
    (reply,) = outcome.deliverables
    assert reply.kind == "proposal" and reply.data["proposal"]["status"] == "pending"
