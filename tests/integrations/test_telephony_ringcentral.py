"""RingCentral lines: connecting creates a WebHook subscription through RingCentral's
validation handshake; voicemail events must carry our Verification-Token and become one
assist labelled with the line. The subscription is renewed before it expires (under a
controlled clock), a failed renewal is kept as the line's warning, a manual renewal clears
it, and removing the line deletes the subscription."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from core.integrations.lines import renew_line
from core.integrations.vault import vault_of
from scheduler.lines import LineRenewal
from storage.integrations import IntegrationAccount
from tests.integrations.telephony_helpers import (
    PUBLIC_BASE_URL,
    Client,
    ClientFactory,
    Line,
    assists_of,
    connect_line,
    gateway_client,
    stored,
)
from tests.sims.ringcentral import RingCentralSim, voicemail_event

NUMBER = "+15550105050"
CALLER = "+15556667777"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def creds(sim: RingCentralSim) -> dict[str, str]:
    return {
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "jwt": sim.jwt,
        "extension_id": "101",
        "api_url": sim.url,
    }


async def _line(client: Client, sim: RingCentralSim) -> Line:
    local = str(client.make_url("")).rstrip("/")
    sim.reach = lambda url: url.replace(PUBLIC_BASE_URL, local)
    return await connect_line(client, "ringcentral", creds(sim), label="Acme East")


async def test_subscription_handshake_voicemail_once_and_removal(
    make_client: ClientFactory,
) -> None:
    async with RingCentralSim(clock=lambda: T0) as sim:
        client = await gateway_client(make_client)
        line = await _line(client, sim)
        assert line.sentence is None, line.sentence
        [subscription] = sim.subscriptions.values()
        assert subscription["deliveryMode"]["address"] == line.url
        assert subscription["eventFilters"] == ["/restapi/v1.0/account/~/extension/101/voicemail"]
        token = sim.verification_token(line.url)
        state = (await line.account()).state
        assert token not in str(state)
        assert datetime.fromisoformat(state["expires_at"]) == T0 + timedelta(days=7)

        event = voicemail_event(
            message_id=42, caller=CALLER, line_number=NUMBER, subscription_id=subscription["id"]
        )
        for _ in range(2):
            answer = await client.post(line.path, json=event, headers={"Verification-Token": token})
            assert answer.status == 200, await answer.text()
        [assist] = await assists_of(line)
        assert assist.labels == ["Acme East"]
        assert assist.subject == f"Voicemail from {CALLER}"
        assert assist.transcript[0]["recording_url"] == event["body"]["attachments"][0]["uri"]

        # The transcription finishes: RingCentral sends the message again, and the text is
        # fetched from its attachment and joins the same assist.
        said = "Please cancel my order 5521, it was placed by mistake."
        sim.transcripts["42"] = said
        finished = voicemail_event(
            message_id=42,
            caller=CALLER,
            line_number=NUMBER,
            subscription_id=subscription["id"],
            transcript_base=sim.url,
        )
        answer = await client.post(line.path, json=finished, headers={"Verification-Token": token})
        assert answer.status == 200, await answer.text()
        [assist] = await assists_of(line)
        assert assist.transcript[0]["text"] == said and said in assist.summary

        before = await stored(line)
        forged = await client.post(
            line.path, json={**event, "uuid": "x"}, headers={"Verification-Token": "guess"}
        )
        assert forged.status == 403
        assert (await client.post(line.path, json=event)).status == 403
        assert await stored(line) == before

        await line.remove()
        assert sim.subscriptions == {}


async def test_renewal_before_expiry_and_a_failed_renewal_warns(make_client: ClientFactory) -> None:
    now = T0
    async with RingCentralSim(clock=lambda: now) as sim:
        client = await gateway_client(make_client)
        line = await _line(client, sim)
        renewal = LineRenewal(line.gateway.db, line.gateway.settings)

        now = T0 + timedelta(days=4)  # three days left: not yet
        await renewal(now)
        assert sim.calls("/renew") == []

        now = T0 + timedelta(days=5, hours=12)  # a day and a half left: renewed
        await renewal(now)
        assert len(sim.calls("/renew")) == 1 and renewal.renewed == 1
        state = (await line.account()).state
        assert datetime.fromisoformat(state["expires_at"]) == now + timedelta(days=7)
        assert "warning" not in state

        now += timedelta(days=6)  # due again, and RingCentral fails
        sim.fail(status=503, times=None, path="/renew")
        await renewal(now)
        state = (await line.account()).state
        assert renewal.failed == 1
        assert "could not be renewed" in state["warning"] and "503" in state["warning"]

        # The manual renewal, once RingCentral answers again, clears the warning.
        sim.clear_faults()
        vault = vault_of(line.gateway.settings)
        async with line.gateway.db.session() as session:
            account = await session.get(IntegrationAccount, line.account_id)
            assert account is not None
            assert await renew_line(vault, account, now=now) is None
        state = (await line.account()).state
        assert "warning" not in state
        assert datetime.fromisoformat(state["expires_at"]) == now + timedelta(days=7)

        # Its voicemails still arrive after the renewals (the token was kept).
        event = voicemail_event(
            message_id=77, caller=CALLER, line_number=NUMBER, subscription_id="s"
        )
        token = sim.verification_token(line.url)
        answer = await client.post(
            line.path, data=json.dumps(event), headers={"Verification-Token": token}
        )
        assert answer.status == 200
        assert len(await assists_of(line)) == 1
