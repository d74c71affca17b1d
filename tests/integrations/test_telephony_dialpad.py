"""Dialpad lines: connecting registers a webhook with a secret of ours and a call-event
subscription on the line's target at Dialpad; events arrive as JWTs signed with that secret.
A voicemail becomes one assist labelled with the line, its transcription fills it in, and
removing the line deletes both registrations."""

from __future__ import annotations

from typing import Any

import jwt

from tests.integrations.telephony_helpers import (
    ClientFactory,
    Line,
    assists_of,
    connect_line,
    gateway_client,
    stored,
)
from tests.sims.dialpad import DialpadSim, call_event

NUMBER = "+15550103030"
CALLER = "+15558889999"
LINK = "https://dialpad.com/r/vm/abc123"


def creds(sim: DialpadSim) -> dict[str, str]:
    return {
        "api_key": sim.api_key,
        "phone_number": NUMBER,
        "target_type": "call_center",
        "target_id": "5550001",
        "api_url": sim.url,
    }


async def post(line: Line, body: bytes) -> Any:
    return await line.client.post(line.path, data=body, headers={"Content-Type": "application/jwt"})


async def test_connecting_registers_the_webhook_and_removing_deletes_it(
    make_client: ClientFactory,
) -> None:
    async with DialpadSim() as sim:
        client = await gateway_client(make_client)
        line = await connect_line(client, "dialpad", creds(sim), label="Acme Support")
        assert line.sentence is None
        [hook] = sim.webhooks.values()
        assert hook["hook_url"] == line.url and hook["signature"]["algo"] == "HS256"
        [subscription] = sim.subscriptions.values()
        assert subscription["target_type"] == "call_center"
        assert subscription["target_id"] == "5550001"
        assert {"voicemail", "voicemail_uploaded", "transcription"} <= set(
            subscription["call_states"]
        )
        state = (await line.account()).state
        # The secret is kept sealed, never in clear.
        assert sim.secret_of(line.url) not in str(state)

        await line.remove()
        assert sim.webhooks == {} and sim.subscriptions == {}


async def test_a_signed_voicemail_becomes_one_assist_and_its_transcript_joins_it(
    make_client: ClientFactory,
) -> None:
    async with DialpadSim() as sim:
        client = await gateway_client(make_client)
        line = await connect_line(client, "dialpad", creds(sim), label="Acme Support")
        secret = sim.secret_of(line.url)
        event = call_event(
            call_id=6001,
            state="voicemail_uploaded",
            caller=CALLER,
            line_number=NUMBER,
            voicemail_link=LINK,
        )
        for _ in range(2):
            answer = await post(line, sim.signed(event, secret))
            assert answer.status == 200, await answer.text()
        [assist] = await assists_of(line)
        assert assist.labels == ["Acme Support"]
        assert assist.subject == f"Voicemail from {CALLER}"
        assert assist.transcript[0]["recording_url"] == LINK

        said = "I was double charged on my last invoice."
        later = call_event(
            call_id=6001,
            state="transcription",
            caller=CALLER,
            line_number=NUMBER,
            voicemail_link=LINK,
            transcription_text=said,
        )
        for _ in range(2):
            assert (await post(line, sim.signed(later, secret))).status == 200
        [assist] = await assists_of(line)
        assert assist.transcript[0]["text"] == said and said in assist.summary

        # Other states of the call make nothing.
        ringing = call_event(call_id=6002, state="ringing", caller=CALLER, line_number=NUMBER)
        assert (await post(line, sim.signed(ringing, secret))).status == 200
        assert len(await assists_of(line)) == 1


async def test_forged_and_unsigned_events_are_refused_and_store_nothing(
    make_client: ClientFactory,
) -> None:
    async with DialpadSim() as sim:
        client = await gateway_client(make_client)
        line = await connect_line(client, "dialpad", creds(sim), label="Acme Support")
        event = call_event(
            call_id=6101, state="voicemail", caller=CALLER, line_number=NUMBER, voicemail_link=LINK
        )
        before = await stored(line)
        forged = await post(line, sim.signed(event, "somebody-elses-secret-0123456789abcdef"))
        assert forged.status == 403
        unsigned = await post(line, jwt.encode(event, "", algorithm="none").encode())
        assert unsigned.status == 403
        plain = await line.client.post(line.path, json=event)
        assert plain.status == 403
        assert await stored(line) == before

        await line.set_enabled(False)
        off = await post(line, sim.signed(event, sim.secret_of(line.url)))
        assert off.status == 403
        assert await stored(line) == before


async def test_a_refused_registration_is_said_and_kept_as_the_line_warning(
    make_client: ClientFactory,
) -> None:
    async with DialpadSim() as sim:
        client = await gateway_client(make_client)
        sim.fail(status=403, times=1, path="/subscriptions/call")
        line = await connect_line(client, "dialpad", creds(sim), label="Acme Support")
        assert line.sentence is not None and "voicemails will not arrive" in line.sentence
        assert "403" in line.sentence
        state = (await line.account()).state
        assert "403" in state["warning"]
        # Nothing half-made stays at Dialpad: the webhook made before the refusal is gone.
        assert sim.webhooks == {} and sim.subscriptions == {}
        assert set(state) == {"warning", "warning_at", "setup_failed"}
        await line.remove()
        assert sim.webhooks == {}


async def test_signed_odd_events_get_a_4xx_or_a_harmless_2xx_never_a_5xx(
    make_client: ClientFactory,
) -> None:
    async with DialpadSim() as sim:
        client = await gateway_client(make_client)
        line = await connect_line(client, "dialpad", creds(sim), label="Acme Support")
        secret = sim.secret_of(line.url)
        odd: list[Any] = [
            {"state": "voicemail", "voicemail_link": LINK},  # no call_id
            {"call_id": {"a": 1}, "state": "voicemail", "voicemail_link": 5},
            {
                "call_id": "x\x00y",
                "state": "voicemail",
                "voicemail_link": "https://dialpad.com/r/\x00",
                "external_number": "9" * 300,
                "duration": "soon",
            },
            {"call_id": 7, "state": ["voicemail"], "transcription_text": {"t": 1}},
        ]
        statuses = [(await post(line, sim.signed(event, secret))).status for event in odd]
        assert all(status < 500 for status in statuses), statuses
        assert statuses[0] == 400
        # The odd but usable one became an assist with what the columns take.
        [assist] = await assists_of(line)
        assert assist.labels == ["Acme Support"]
        assert "\x00" not in assist.summary
