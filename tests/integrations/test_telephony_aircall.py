"""Aircall lines: connecting registers a webhook for `call.voicemail_left` and keeps the token
Aircall returns; an event is accepted only with that token, becomes one assist labelled with
the line (however often delivered), and a voicemail on another of the account's numbers is
left to its own line. Removing the line deletes the webhook."""

from __future__ import annotations

from tests.integrations.telephony_helpers import (
    ClientFactory,
    assists_of,
    connect_line,
    gateway_client,
    stored,
)
from tests.sims.aircall import AircallSim, voicemail_left

NUMBER = "+1 555-010-4040"
CALLER = "+15551112222"
VOICEMAIL = "https://aircall-voicemails.s3.amazonaws.com/vm-1.mp3"


def creds(sim: AircallSim) -> dict[str, str]:
    return {
        "api_id": sim.api_id,
        "api_token": sim.api_token,
        "phone_number": NUMBER,
        "api_url": sim.url,
    }


async def test_aircall_line_registers_takes_voicemails_once_and_is_removed(
    make_client: ClientFactory,
) -> None:
    async with AircallSim() as sim:
        client = await gateway_client(make_client)
        line = await connect_line(client, "aircall", creds(sim), label="Acme Support")
        [hook] = sim.webhooks.values()
        assert hook["url"] == line.url and hook["events"] == ["call.voicemail_left"]
        token = sim.token_of(line.url)
        assert token not in str((await line.account()).state)

        event = voicemail_left(
            token=token, call_id=801, caller=CALLER, line_number="+15550104040", voicemail=VOICEMAIL
        )
        for _ in range(2):
            answer = await line.client.post(line.path, json=event)
            assert answer.status == 200, await answer.text()
        [assist] = await assists_of(line)
        assert assist.labels == ["Acme Support"]
        assert assist.transcript[0]["recording_url"] == VOICEMAIL
        assert assist.subject == f"Voicemail from {CALLER}"

        elsewhere = voicemail_left(
            token=token, call_id=802, caller=CALLER, line_number="+15559990000", voicemail=VOICEMAIL
        )
        assert (await line.client.post(line.path, json=elsewhere)).status == 200
        assert len(await assists_of(line)) == 1

        await line.remove()
        assert sim.webhooks == {}


async def test_aircall_events_without_the_token_are_refused_and_store_nothing(
    make_client: ClientFactory,
) -> None:
    async with AircallSim() as sim:
        client = await gateway_client(make_client)
        line = await connect_line(client, "aircall", creds(sim), label="Acme Support")
        before = await stored(line)
        forged = voicemail_left(
            token="0" * 32, call_id=901, caller=CALLER, line_number=NUMBER, voicemail=VOICEMAIL
        )
        assert (await line.client.post(line.path, json=forged)).status == 403
        unsigned = {k: v for k, v in forged.items() if k != "token"}
        assert (await line.client.post(line.path, json=unsigned)).status == 403
        assert (await line.client.post(line.path, data=b"not json")).status == 403
        assert await stored(line) == before
