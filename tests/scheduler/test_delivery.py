"""The whole gateway: its scheduler (on a controlled clock) fires, the pipeline builds the
briefing, and the channels deliver it: Telegram a message and the chart as a photo, SMS the
text with a signed media link to the chart, Slack a Block Kit card and the chart uploaded as an
image, email one HTML message with the chart inline."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from api.state import GATEWAY
from cli.seed import Seeded, seed_workspace
from delivery.ratelimit import RULES, Rule
from storage.db import Database
from storage.domain import Schedule
from storage.models import OutboxRow
from storage.types import utcnow
from tests.helpers import wait_until
from tests.scheduler import FakeClock
from tests.sims.sendgrid import SendGridSim
from tests.sims.slack import SlackSim, _maybe_json
from tests.sims.telegram import TelegramSim
from tests.sims.twilio import TwilioSim

ADAM_TELEGRAM = 100200300  # the seed links Adam (admin) on Telegram
MARIA_PHONE = "+15550100003"  # and Maria (manager) by SMS
OLIVIA_SLACK = "U0DEMO001"  # and Olivia (owner) on Slack
OLIVIA_EMAIL = "olivia@demo.example"


@pytest.fixture(autouse=True)
def _quick_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    for rule in ("telegram.chat", "telegram.group"):
        monkeypatch.setitem(RULES, rule, Rule(0.0))


async def _seed(db: Database, now: datetime) -> Seeded:
    async with db.session() as session:
        seeded = await seed_workspace(session, now=now)
        # The seed's own briefings stay quiet, whatever the time of day the test runs at.
        await session.execute(update(Schedule).values(active=False))
    return seeded


async def _schedule(
    db: Database, seeded: Seeded, who: str, channel: str, address: str, at: datetime
) -> int:
    async with db.session() as session:
        row = Schedule(
            workspace_id=seeded.workspace_id,
            member_id=seeded.member_ids[who],
            agent_id=seeded.agent_id,
            briefing_type="daily_inbox_summary",
            time=f"{at:%H:%M}",
            channel=channel,
            address=address,
            created_at=utcnow() - timedelta(days=1),
        )
        session.add(row)
        await session.flush()
        return row.id


def _scheduler_settings() -> dict[str, Any]:
    return {"SWITCHBOARD_SCHEDULER": True, "SWITCHBOARD_SCHEDULER_POLL_INTERVAL": 0.05}


def _soon() -> datetime:
    """A fire time a few minutes ahead: the seeded figures stand as they are at it."""
    return (utcnow() + timedelta(minutes=10)).replace(second=0, microsecond=0)


async def test_a_briefing_reaches_telegram_as_a_message_and_a_photo(
    db: Database, make_client: Any, telegram_sim: TelegramSim
) -> None:
    seeded = await _seed(db, utcnow() - timedelta(minutes=1))
    at = _soon()
    await _schedule(db, seeded, "adam@demo.example", "telegram", str(ADAM_TELEGRAM), at)
    clock = FakeClock(at - timedelta(minutes=1))
    client = await make_client(
        TELEGRAM_BOT_TOKEN=telegram_sim.token,
        TELEGRAM_WEBHOOK_SECRET="secret",
        TELEGRAM_API_URL=telegram_sim.base_url,
        build={"clock": clock},
        **_scheduler_settings(),
    )
    scheduler = client.server.app[GATEWAY].scheduler
    assert scheduler is not None
    await wait_until(lambda: scheduler.is_leader and scheduler.next_due() is not None)
    assert telegram_sim.messages(ADAM_TELEGRAM) == []
    clock.set(at)
    scheduler.wake()

    sent = await wait_until(
        lambda: len(found := telegram_sim.messages(ADAM_TELEGRAM)) >= 2 and found, timeout=15
    )
    card, photo = sent
    assert "Daily inbox summary" in card["text"] and "Open: 12 (2 pending)" in card["text"]
    assert photo["caption"] == "Open assists by priority, assigned and unassigned."
    assert telegram_sim.last("/sendPhoto").files["photo"].data.startswith(b"\x89PNG\r\n\x1a\n")
    assert scheduler.fired == 1


async def test_a_briefing_by_sms_carries_a_media_link_to_its_chart(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    seeded = await _seed(db, utcnow() - timedelta(minutes=1))
    at = _soon()
    await _schedule(db, seeded, "maria@demo.example", "sms", MARIA_PHONE, at)
    clock = FakeClock(at)
    await make_client(
        TWILIO_ACCOUNT_SID=twilio_sim.account_sid,
        TWILIO_AUTH_TOKEN=twilio_sim.auth_token,
        TWILIO_API_URL=twilio_sim.url,
        TWILIO_SMS_FROM="+15550009999",
        PUBLIC_BASE_URL="https://gw.example",
        SWITCHBOARD_SECRET_KEY="test-secret-key-for-media-links",
        build={"clock": clock},
        **_scheduler_settings(),
    )

    async def delivered() -> list[OutboxRow] | None:
        async with db.session() as session:
            rows = list(
                await session.scalars(select(OutboxRow).where(OutboxRow.address == MARIA_PHONE))
            )
        return rows if len(rows) == 2 and all(r.status == "sent" for r in rows) else None

    await wait_until(delivered, timeout=15)
    params = twilio_sim.message_params()
    assert all(p["To"] == MARIA_PHONE for p in params)
    text = " ".join(p.get("Body", "") for p in params)
    assert "Daily inbox summary" in text and "Unassigned: 4" in text
    links = [p["MediaUrl"] for p in params if p.get("MediaUrl")]
    assert len(links) == 1
    link = links[0] if isinstance(links[0], str) else links[0][0]
    assert link.startswith("https://gw.example/media/")


async def _fire(db: Database, make_client: Any, seeded: Seeded, **settings: Any) -> Any:
    """Start the gateway at the schedule's minute; returns its scheduler once it has fired."""
    clock = FakeClock(_soon())
    client = await make_client(build={"clock": clock}, **settings, **_scheduler_settings())
    scheduler = client.server.app[GATEWAY].scheduler
    assert scheduler is not None
    await wait_until(lambda: scheduler.fired >= 1, timeout=15)
    return scheduler


async def test_a_briefing_reaches_slack_as_blocks_and_the_chart_image(
    db: Database, make_client: Any, slack_sim: SlackSim
) -> None:
    seeded = await _seed(db, utcnow() - timedelta(minutes=1))
    await _schedule(db, seeded, "olivia@demo.example", "slack", OLIVIA_SLACK, _soon())
    await _fire(
        db,
        make_client,
        seeded,
        SLACK_BOT_TOKEN=slack_sim.token,
        SLACK_SIGNING_SECRET="slack-signing-secret",
        SLACK_API_URL=slack_sim.api_url,
    )

    uploaded = await wait_until(
        lambda: [u for u in slack_sim.uploads.values() if u.get("channels")], timeout=15
    )
    (card,) = slack_sim.posted()
    assert "Daily inbox summary" in card["text"]
    blocks = _maybe_json(card["blocks"])
    assert blocks[0]["type"] == "header" and "Daily inbox summary" in str(blocks[0])
    assert "Open" in str(blocks) and "12" in str(blocks)
    (chart,) = uploaded
    assert chart["filename"].endswith(".png") and chart["data"].startswith(b"\x89PNG\r\n\x1a\n")
    caption = "Open assists by priority, assigned and unassigned."
    assert (chart["initial_comment"], chart["alt_txt"]) == (caption, caption)
    opened = slack_sim.args("conversations.open")
    assert [a["users"] for a in opened] == [OLIVIA_SLACK]  # the DM the card went to
    assert chart["channels"] == [card["channel"]]


async def test_a_briefing_by_email_is_html_with_the_chart_inline(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    seeded = await _seed(db, utcnow() - timedelta(minutes=1))
    await _schedule(db, seeded, "olivia@demo.example", "email", OLIVIA_EMAIL, _soon())
    await _fire(
        db,
        make_client,
        seeded,
        EMAIL_FROM="Demo Co Support <support@demo.example>",
        SENDGRID_API_KEY=sendgrid_sim.api_key,
        SENDGRID_API_URL=sendgrid_sim.url,
    )

    async def delivered() -> bool:
        async with db.session() as session:
            rows = list(
                await session.scalars(select(OutboxRow).where(OutboxRow.address == OLIVIA_EMAIL))
            )
        return bool(rows) and all(r.status == "sent" for r in rows)

    await wait_until(delivered, timeout=15)
    mails = sendgrid_sim.mails()  # one email: the card with its chart
    assert [m["personalizations"][0]["to"][0]["email"] for m in mails] == [OLIVIA_EMAIL]
    content = {c["type"]: c["value"] for c in mails[0]["content"]}
    assert "Daily inbox summary" in content["text/plain"]
    assert "Open: 12 (2 pending)" in content["text/plain"]
    assert "<table" in content["text/html"]
    (chart,) = mails[0]["attachments"]
    assert (chart["type"], chart["disposition"]) == ("image/png", "inline")
    assert f'src="cid:{chart["content_id"]}"' in content["text/html"]
    assert base64.b64decode(chart["content"]).startswith(b"\x89PNG\r\n\x1a\n")
