"""Vonage lines: the Answer and Event URL to paste are shown; with a signature secret every
request must carry Vonage's signed-webhook JWT (HS256, `payload_hash` of the body). The call
is answered with an NCCO that greets for the line and records; the recording becomes one
assist labelled with the line; forged, unsigned and tampered requests store nothing."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from channels.telephony.vonage import sign
from tests.integrations.telephony_helpers import (
    ClientFactory,
    Line,
    assists_of,
    connect_line,
    gateway_client,
    stored,
)
from tests.sims.vonage import VonageSim, recording_event, transcription_event

APPLICATION = str(uuid.UUID(int=7))
SECRET = "vonage-signature-secret-0123456789"
NUMBER = "447700900000"
CALLER = "447700900123"
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----"


async def post(
    line: Line, target: str, event: dict[str, Any], *, secret: str | None = SECRET
) -> Any:
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["Authorization"] = sign(
            body, secret, application_id=APPLICATION, iat=int(time.time())
        )
    return await line.client.post(target, data=body, headers=headers)


def recording(conversation: str) -> dict[str, Any]:
    return {
        "start_time": "2026-12-06T05:00:00Z",
        "recording_url": f"https://api.nexmo.com/v1/files/{uuid.uuid4()}",
        "size": 12222,
        "recording_uuid": str(uuid.uuid4()),
        "end_time": "2026-12-06T05:00:21Z",
        "conversation_uuid": conversation,
        "timestamp": "2026-12-06T05:00:21.000Z",
    }


async def test_vonage_line_answers_records_and_makes_one_assist(make_client: ClientFactory) -> None:
    client = await gateway_client(make_client)
    line = await connect_line(
        client,
        "vonage",
        {"application_id": APPLICATION, "private_key": PRIVATE_KEY, "signature_secret": SECRET},
        label="Acme UK",
    )
    assert line.sentence is not None and line.url in line.sentence

    conversation = "CON-" + str(uuid.uuid4())
    answer = await post(
        line,
        line.path,
        {
            "to": NUMBER,
            "from": CALLER,
            "uuid": str(uuid.uuid4()),
            "conversation_uuid": conversation,
        },
    )
    assert answer.status == 200, await answer.text()
    talk, record = await answer.json()
    assert "Acme UK" in talk["text"]
    event_url = record["eventUrl"][0]
    assert event_url.startswith(line.url + "?")
    target = urlsplit(event_url)._replace(scheme="", netloc="").geturl()

    recorded = recording(conversation)
    for _ in range(2):
        done = await post(line, target, recorded)
        assert done.status == 200, await done.text()
    [assist] = await assists_of(line)
    assert assist.labels == ["Acme UK"]
    assert assist.subject == f"Voicemail from {CALLER}"
    assert assist.transcript[0]["recording_url"] == recorded["recording_url"]

    # Call status events are acknowledged and make nothing.
    status = {"status": "completed", "uuid": str(uuid.uuid4()), "conversation_uuid": conversation}
    assert (await post(line, line.path, status)).status == 200
    assert len(await assists_of(line)) == 1


async def test_vonage_forged_unsigned_and_tampered_requests_store_nothing(
    make_client: ClientFactory,
) -> None:
    client = await gateway_client(make_client)
    line = await connect_line(
        client,
        "vonage",
        {"application_id": APPLICATION, "private_key": PRIVATE_KEY, "signature_secret": SECRET},
        label="Acme UK",
    )
    target = f"{line.path}?from={CALLER}&to={NUMBER}"
    recorded = recording("CON-forged")
    before = await stored(line)
    assert (
        await post(line, target, recorded, secret="another-secret-0123456789abcdef-0000")
    ).status == 403
    assert (await post(line, target, recorded, secret=None)).status == 403
    body = json.dumps(recorded).encode()
    header = sign(body, SECRET, application_id=APPLICATION, iat=int(time.time()))
    tampered = json.dumps({**recorded, "recording_url": "https://evil.example/x"}).encode()
    answer = await line.client.post(
        target, data=tampered, headers={"Authorization": header, "Content-Type": "application/json"}
    )
    assert answer.status == 403
    assert await stored(line) == before


SAID = ["Hello, it's Sam from Leeds.", "The invoice is wrong, please ring me."]


def files_fetched(sim: VonageSim) -> list[Any]:
    return [r for r in sim.requests if r.path.startswith("/v1/files/")]


async def vonage_line(client: Any, sim: VonageSim) -> Line:
    return await connect_line(
        client,
        "vonage",
        {
            "application_id": sim.application_id,
            "private_key": sim.private_key,
            "signature_secret": SECRET,
            "api_url": sim.url,
        },
        label="Acme UK",
    )


async def post_as(sim: VonageSim, line: Line, target: str, event: dict[str, Any]) -> Any:
    body = json.dumps(event).encode()
    header = sign(body, SECRET, application_id=sim.application_id, iat=int(time.time()))
    return await line.client.post(
        target, data=body, headers={"Authorization": header, "Content-Type": "application/json"}
    )


async def answered(sim: VonageSim, line: Line, conversation: str) -> str:
    """The call answered: the record action's event URL (as a path), checked for the
    transcription it asks for."""
    call = {"to": NUMBER, "from": CALLER, "uuid": str(uuid.uuid4())}
    answer = await post_as(sim, line, line.path, {**call, "conversation_uuid": conversation})
    _, record = await answer.json()
    transcription = record["transcription"]
    assert transcription["eventUrl"] == record["eventUrl"]
    assert transcription["language"] == "en-US"
    return str(urlsplit(record["eventUrl"][0])._replace(scheme="", netloc="").geturl())


async def test_vonage_transcript_after_the_recording_fills_the_same_assist(
    make_client: ClientFactory,
) -> None:
    async with VonageSim() as sim:
        client = await gateway_client(make_client)
        line = await vonage_line(client, sim)
        conversation = "CON-" + str(uuid.uuid4())
        target = await answered(sim, line, conversation)
        recorded = recording_event(conversation)
        assert (await post_as(sim, line, target, recorded)).status == 200

        ready = transcription_event(conversation, sim.add_transcript(SAID))
        for _ in range(2):
            answer = await post_as(sim, line, target, ready)
            assert answer.status == 200, await answer.text()
        [assist] = await assists_of(line)
        assert assist.transcript[0]["text"] == " ".join(SAID)
        assert assist.transcript[0]["recording_url"] == recorded["recording_url"]
        assert "The invoice is wrong" in assist.summary
        # Fetched with the application's JWT (the simulator checks its RS256 signature).
        assert [r.fault for r in files_fetched(sim)] == [None, None]


async def test_vonage_transcript_first_opens_the_assist_the_recording_joins_it(
    make_client: ClientFactory,
) -> None:
    async with VonageSim() as sim:
        client = await gateway_client(make_client)
        line = await vonage_line(client, sim)
        conversation = "CON-" + str(uuid.uuid4())
        target = await answered(sim, line, conversation)
        ready = transcription_event(conversation, sim.add_transcript(SAID))
        assert (await post_as(sim, line, target, ready)).status == 200
        [assist] = await assists_of(line)
        assert assist.subject == f"Voicemail from {CALLER}"
        assert assist.labels == ["Acme UK"]

        recorded = recording_event(conversation)
        for _ in range(2):
            assert (await post_as(sim, line, target, recorded)).status == 200
        [assist] = await assists_of(line)
        assert assist.transcript[0]["text"] == " ".join(SAID)
        assert assist.transcript[0]["recording_url"] == recorded["recording_url"]


async def test_vonage_forged_transcription_events_store_nothing_and_fetch_nothing(
    make_client: ClientFactory,
) -> None:
    async with VonageSim() as sim:
        client = await gateway_client(make_client)
        line = await vonage_line(client, sim)
        ready = transcription_event("CON-forged", sim.add_transcript(SAID))
        target = f"{line.path}?from={CALLER}&to={NUMBER}"
        before = await stored(line)
        wrong = "another-secret-0123456789abcdef-0000"
        assert (await post(line, target, ready, secret=wrong)).status == 403
        assert (await post(line, target, ready, secret=None)).status == 403
        # Signed, but pointing elsewhere: the application's JWT never leaves for that host.
        elsewhere = transcription_event("CON-elsewhere", "https://evil.example/v1/files/x")
        assert (await post_as(sim, line, target, elsewhere)).status == 200
        assert await stored(line) == before
        assert files_fetched(sim) == []


async def test_vonage_throttled_transcript_is_asked_again_not_lost(
    make_client: ClientFactory,
) -> None:
    async with VonageSim() as sim:
        client = await gateway_client(make_client)
        line = await vonage_line(client, sim)
        conversation = "CON-" + str(uuid.uuid4())
        target = await answered(sim, line, conversation)
        assert (await post_as(sim, line, target, recording_event(conversation))).status == 200
        url = sim.add_transcript(SAID)
        sim.fail(500, times=1, path=urlsplit(url).path)
        ready = transcription_event(conversation, url)
        refused = await post_as(sim, line, target, ready)
        assert refused.status == 503 and refused.headers["Retry-After"]
        [assist] = await assists_of(line)
        assert assist.transcript[0]["text"] == ""
        assert (await post_as(sim, line, target, ready)).status == 200
        [assist] = await assists_of(line)
        assert assist.transcript[0]["text"] == " ".join(SAID)


async def test_vonage_jwt_of_another_body_does_not_vouch_for_an_empty_one(
    make_client: ClientFactory,
) -> None:
    client = await gateway_client(make_client)
    line = await connect_line(
        client,
        "vonage",
        {"application_id": APPLICATION, "private_key": PRIVATE_KEY, "signature_secret": SECRET},
        label="Acme UK",
    )
    taken = sign(b'{"status": "ringing"}', SECRET, application_id=APPLICATION, iat=int(time.time()))
    answer = await line.client.post(line.path, data=b"", headers={"Authorization": taken})
    assert answer.status == 403
