"""Quo (OpenPhone) lines: connecting registers the workspace's call and transcript webhooks,
limited to the line's number, and keeps their signing keys sealed. Events signed in
`openphone-signature` become one assist labelled with the line; the transcript joins it;
forged, unsigned and replayed events store nothing."""

from __future__ import annotations

import json
import time

from tests.integrations.telephony_helpers import (
    ClientFactory,
    assists_of,
    connect_line,
    gateway_client,
    stored,
)
from tests.sims.quo import QuoSim, call_completed, transcript_completed

NUMBER = "+15550101010"
CALLER = "+15553334444"
VOICEMAIL = "https://m.openph.one/static/vm-1.mp3"


def creds(sim: QuoSim, **extra: str) -> dict[str, str]:
    return {"api_key": sim.api_key, "api_url": sim.url, **extra}


async def test_quo_line_registers_for_its_number_and_is_removed(make_client: ClientFactory) -> None:
    async with QuoSim() as sim:
        client = await gateway_client(make_client)
        line = await connect_line(
            client, "quo", creds(sim, phone_number=NUMBER), label="Acme Support"
        )
        hooks = list(sim.webhooks.values())
        assert sorted(e for h in hooks for e in h["events"]) == [
            "call.completed",
            "call.transcript.completed",
        ]
        assert all(h["url"] == line.url and h["resourceIds"] == ["PNline00001"] for h in hooks)
        state = str((await line.account()).state)
        assert all(h["key"] not in state for h in hooks)
        await line.remove()
        assert sim.webhooks == {}

        everything = await connect_line(client, "quo", creds(sim), label="Acme All")
        assert [h["resourceIds"] for h in sim.webhooks.values()] == [["*"], ["*"]]
        assert everything.sentence is None

        unknown = await connect_line(
            client, "quo", creds(sim, phone_number="+15550000000"), label="Nope"
        )
        assert unknown.sentence is not None and "+15550000000" in unknown.sentence


async def test_quo_signed_voicemail_makes_one_assist_and_the_transcript_joins_it(
    make_client: ClientFactory,
) -> None:
    async with QuoSim() as sim:
        client = await gateway_client(make_client)
        line = await connect_line(
            client, "quo", creds(sim, phone_number=NUMBER), label="Acme Support"
        )
        calls_key = sim.key_for("call.completed")
        body = json.dumps(
            call_completed(
                call_id="AC1", caller=CALLER, line_number=NUMBER, voicemail_url=VOICEMAIL
            )
        ).encode()
        for _ in range(2):
            answer = await line.client.post(
                line.path, data=body, headers=sim.signed_headers(calls_key, body)
            )
            assert answer.status == 200, await answer.text()
        [assist] = await assists_of(line)
        assert assist.labels == ["Acme Support"]
        assert assist.transcript[0]["recording_url"] == VOICEMAIL

        said = ["Hello, this is Dana.", "My login code never arrives."]
        transcript = json.dumps(
            transcript_completed(call_id="AC1", caller=CALLER, lines=said)
        ).encode()
        key = sim.key_for("call.transcript.completed")
        answer = await line.client.post(
            line.path, data=transcript, headers=sim.signed_headers(key, transcript)
        )
        assert answer.status == 200
        [assist] = await assists_of(line)
        assert assist.transcript[0]["text"] == " ".join(said)

        # A transcript of a call that left no voicemail opens nothing.
        other = json.dumps(
            transcript_completed(call_id="AC2", caller=CALLER, lines=["hi"])
        ).encode()
        assert (
            await line.client.post(line.path, data=other, headers=sim.signed_headers(key, other))
        ).status == 200
        assert len(await assists_of(line)) == 1


async def test_quo_forged_unsigned_and_replayed_events_store_nothing(
    make_client: ClientFactory,
) -> None:
    async with QuoSim() as sim:
        client = await gateway_client(make_client)
        line = await connect_line(client, "quo", creds(sim), label="Acme Support")
        body = json.dumps(
            call_completed(
                call_id="AC9", caller=CALLER, line_number=NUMBER, voicemail_url=VOICEMAIL
            )
        ).encode()
        before = await stored(line)
        wrong_key = "c29tZWJvZHkgZWxzZSdzIGtleSAwMTIzNDU2Nzg5YWI="
        forged = await line.client.post(
            line.path, data=body, headers=sim.signed_headers(wrong_key, body)
        )
        assert forged.status == 403
        assert (await line.client.post(line.path, data=body)).status == 403
        old = sim.signed_headers(sim.key_for("call.completed"), body, at=time.time() - 3600)
        assert (await line.client.post(line.path, data=body, headers=old)).status == 403
        tampered = sim.signed_headers(sim.key_for("call.completed"), body)
        assert (await line.client.post(line.path, data=body + b" ", headers=tampered)).status == 403
        assert await stored(line) == before


async def test_a_signed_event_with_text_no_database_stores_is_kept_without_it(
    make_client: ClientFactory,
) -> None:
    """A JSON string may spell half a surrogate pair or a NUL as a \\u escape: the voicemail
    is kept without them, never a 500 (the fuzz suite found the 500 this was)."""
    async with QuoSim() as sim:
        client = await gateway_client(make_client)
        line = await connect_line(
            client, "quo", creds(sim, phone_number=NUMBER), label="Acme Support"
        )
        key = sim.key_for("call.completed")
        for n, bad in enumerate(("\\ud800", "\\u0000")):
            event = call_completed(
                call_id=f"AC9{n}", caller=CALLER, line_number=NUMBER, voicemail_url=VOICEMAIL
            )
            body = json.dumps(event).replace(f'"AC9{n}"', f'"AC9{n}{bad}"').encode()
            assert bad.encode() in body
            answer = await line.client.post(
                line.path, data=body, headers=sim.signed_headers(key, body)
            )
            assert answer.status == 200, await answer.text()
        assists = await assists_of(line)
        assert len(assists) == 2
        for assist in assists:
            assert "\x00" not in assist.summary
            assist.summary.encode("utf-8")  # every character one a database can store
