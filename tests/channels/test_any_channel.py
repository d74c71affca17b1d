"""Any-channel delivery: a result asked for on one channel, pushed to another with that
channel's own rendering."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from cli.seed import seed_workspace
from storage.db import Database
from storage.types import utcnow
from tests.channels.slack_payloads import SIGNING_SECRET
from tests.channels.twilio_helpers import Phone, twilio_settings
from tests.helpers import wait_until
from tests.sims.slack import SlackSim
from tests.sims.twilio import TwilioSim

OLIVIA_PHONE = "+15550100001"
OLIVIA_SLACK = "U0DEMO001"


async def test_a_result_asked_for_by_sms_is_sent_to_slack_as_block_kit(
    db: Database, make_client: Any, slack_sim: SlackSim, twilio_sim: TwilioSim
) -> None:
    async with db.session() as session:
        await seed_workspace(session, now=utcnow() - timedelta(minutes=1))
    client = await make_client(
        SLACK_BOT_TOKEN=slack_sim.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_sim.api_url,
        **twilio_settings(twilio_sim),
    )
    phone = Phone(client, twilio_sim)

    await phone.text(OLIVIA_PHONE, "how is our resolution rate this week?")
    (answer,) = await phone.replies(OLIVIA_PHONE, 1)
    assert "resolution rate" in answer.lower()
    assert slack_sim.posted() == []

    await phone.text(OLIVIA_PHONE, "send that to slack")
    confirmation = (await phone.replies(OLIVIA_PHONE, 2))[1]
    assert "slack" in confirmation.lower()

    def delivered() -> list[dict[str, Any]] | None:
        return slack_sim.posted() or None

    (message,) = await wait_until(delivered, timeout=10, message="the result posted on Slack")
    # A direct message to Olivia's own Slack account, rendered as a Block Kit card with the
    # same figure the SMS carried as plain text.
    (call,) = slack_sim.calls("chat.postMessage")
    assert call.params["channel"] == OLIVIA_SLACK
    assert message.get("blocks"), message
    # "no data" early in the week, before its first conversation.
    figure = re.search(r"\d+(?:\.\d+)?%|no data", answer).group()  # type: ignore[union-attr]
    fields = [f["text"] for b in message["blocks"] for f in b.get("fields", [])]
    assert f"*Resolution rate*\n{figure}" in fields
    await phone.settled(db)
    assert len(slack_sim.posted()) == 1
    assert len(twilio_sim.sent(to=OLIVIA_PHONE)) == 2
