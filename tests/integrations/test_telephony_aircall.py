"""Aircall lines: connecting registers a webhook for `call.voicemail_left` and keeps the token
Aircall returns; an event is accepted only with that token, becomes one assist labelled with
the line (however often delivered), and a voicemail on another of the account's numbers is
left to its own line. Removing the line deletes the webhook."""

from __future__ import annotations

import pytest

from core.integrations.lines import common
from tests.integrations.telephony_helpers import (
    ClientFactory,
    assists_of,
    connect_line,
    gateway_client,
    stored,
)
from tests.sims.aircall import AircallSim, transcription_created, voicemail_left

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
        assert hook["url"] == line.url and "call.voicemail_left" in hook["events"]
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


VOICEMAIL_SAID = ["Hi, this is Dana.", "My order never arrived, please call me back."]


async def test_aircall_registers_for_transcripts_and_a_later_transcript_fills_the_assist(
    make_client: ClientFactory,
) -> None:
    async with AircallSim() as sim:
        client = await gateway_client(make_client)
        line = await connect_line(client, "aircall", creds(sim), label="Acme Support")
        [hook] = sim.webhooks.values()
        assert hook["events"] == ["call.voicemail_left", "transcription.created"]
        token = sim.token_of(line.url)
        sim.add_call(
            call_id=811,
            caller=CALLER,
            line_number="+15550104040",
            voicemail=VOICEMAIL,
            transcript=VOICEMAIL_SAID,
        )
        left = voicemail_left(
            token=token, call_id=811, caller=CALLER, line_number="+15550104040", voicemail=VOICEMAIL
        )
        assert (await line.client.post(line.path, json=left)).status == 200
        [assist] = await assists_of(line)
        assert assist.transcript[0]["text"] == ""

        # The event names the transcription only: the transcript is read from Aircall.
        ready = transcription_created(token=token, call_id=811)
        for _ in range(2):
            answer = await line.client.post(line.path, json=ready)
            assert answer.status == 200, await answer.text()
        [assist] = await assists_of(line)
        assert assist.transcript[0]["text"] == " ".join(VOICEMAIL_SAID)
        assert assist.transcript[0]["recording_url"] == VOICEMAIL
        assert "My order never arrived" in assist.summary
        assert sim.calls("/v1/calls/811/transcription", method="GET")


async def test_aircall_transcript_first_opens_the_assist_and_the_voicemail_joins_it(
    make_client: ClientFactory,
) -> None:
    async with AircallSim() as sim:
        client = await gateway_client(make_client)
        line = await connect_line(client, "aircall", creds(sim), label="Acme Support")
        token = sim.token_of(line.url)
        sim.add_call(call_id=812, caller=CALLER, line_number="+15550104040", voicemail=VOICEMAIL)
        # This time the event carries the transcript itself: only the call is read.
        ready = transcription_created(token=token, call_id=812, lines=VOICEMAIL_SAID, caller=CALLER)
        assert (await line.client.post(line.path, json=ready)).status == 200
        [assist] = await assists_of(line)
        assert assist.subject == f"Voicemail from {CALLER}"
        assert assist.labels == ["Acme Support"]
        assert not sim.calls("/transcription")

        left = voicemail_left(
            token=token, call_id=812, caller=CALLER, line_number="+15550104040", voicemail=VOICEMAIL
        )
        for _ in range(2):
            assert (await line.client.post(line.path, json=left)).status == 200
        [assist] = await assists_of(line)
        assert assist.transcript[0]["text"] == " ".join(VOICEMAIL_SAID)
        assert assist.transcript[0]["recording_url"] == VOICEMAIL


async def test_aircall_transcripts_of_answered_calls_and_other_numbers_open_nothing(
    make_client: ClientFactory,
) -> None:
    async with AircallSim() as sim:
        client = await gateway_client(make_client)
        line = await connect_line(client, "aircall", creds(sim), label="Acme Support")
        token = sim.token_of(line.url)
        sim.add_call(
            call_id=813,
            caller=CALLER,
            line_number="+15550104040",
            voicemail=None,
            transcript=["Hi"],
        )
        sim.add_call(
            call_id=814,
            caller=CALLER,
            line_number="+15559990000",
            voicemail=VOICEMAIL,
            transcript=["Hello"],
        )
        for call_id, kind in ((813, "call"), (814, "voicemail")):
            event = transcription_created(token=token, call_id=call_id, kind=kind)
            assert (await line.client.post(line.path, json=event)).status == 200
        assert await assists_of(line) == []


async def test_aircall_forged_transcript_events_are_refused_and_store_nothing(
    make_client: ClientFactory,
) -> None:
    async with AircallSim() as sim:
        client = await gateway_client(make_client)
        line = await connect_line(client, "aircall", creds(sim), label="Acme Support")
        sim.add_call(
            call_id=815,
            caller=CALLER,
            line_number="+15550104040",
            voicemail=VOICEMAIL,
            transcript=VOICEMAIL_SAID,
        )
        before = await stored(line)
        forged = transcription_created(token="0" * 32, call_id=815, lines=VOICEMAIL_SAID)
        assert (await line.client.post(line.path, json=forged)).status == 403
        unsigned = {k: v for k, v in forged.items() if k != "token"}
        assert (await line.client.post(line.path, json=unsigned)).status == 403
        assert await stored(line) == before
        assert not sim.calls("/v1/calls/815")


async def test_aircall_throttled_transcript_is_asked_again_not_lost(
    make_client: ClientFactory,
) -> None:
    async with AircallSim() as sim:
        client = await gateway_client(make_client)
        line = await connect_line(client, "aircall", creds(sim), label="Acme Support")
        token = sim.token_of(line.url)
        sim.add_call(
            call_id=816,
            caller=CALLER,
            line_number="+15550104040",
            voicemail=VOICEMAIL,
            transcript=VOICEMAIL_SAID,
        )
        # Aircall keeps answering 429 for longer than the gateway waits: the event is
        # refused with 503 and Retry-After, so Aircall delivers it again.
        sim.throttle(retry_after=120, times=1, path="/v1/calls/816")
        ready = transcription_created(token=token, call_id=816)
        refused = await line.client.post(line.path, json=ready)
        assert refused.status == 503
        assert refused.headers["Retry-After"] == "120"
        assert await assists_of(line) == []
        # Delivered again once Aircall answers: the transcript arrives.
        assert (await line.client.post(line.path, json=ready)).status == 200
        [assist] = await assists_of(line)
        assert assist.transcript[0]["text"] == " ".join(VOICEMAIL_SAID)


async def test_aircall_short_throttle_on_a_transcript_is_waited_out(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(common, "sleep", sleep)
    async with AircallSim() as sim:
        client = await gateway_client(make_client)
        line = await connect_line(client, "aircall", creds(sim), label="Acme Support")
        sim.add_call(
            call_id=817,
            caller=CALLER,
            line_number="+15550104040",
            voicemail=VOICEMAIL,
            transcript=VOICEMAIL_SAID,
        )
        sim.throttle(retry_after=2, times=1, path="/v1/calls/817/transcription")
        ready = transcription_created(token=sim.token_of(line.url), call_id=817)
        assert (await line.client.post(line.path, json=ready)).status == 200
        assert waited == [2]
        [assist] = await assists_of(line)
        assert assist.transcript[0]["text"] == " ".join(VOICEMAIL_SAID)
