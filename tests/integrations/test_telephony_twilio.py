"""Twilio lines: each number's Voice webhook is its line's URL, signed with that line's own
auth token. The call is greeted for the line, the recording becomes one assist labelled with
the line, the transcription fills it in; forged, unsigned and turned-off requests store
nothing."""

from __future__ import annotations

from typing import Any

from tests.integrations.telephony_helpers import (
    Client,
    ClientFactory,
    Line,
    assists_of,
    connect_line,
    gateway_client,
    stored,
)
from tests.sims.twilio import (
    call_webhook,
    recording_webhook,
    transcription_webhook,
    twilio_signature,
)

ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "line-auth-token-" + "1" * 16
NUMBER = "+15550102020"
CALLER = "+15557654321"


def creds(**overrides: str) -> dict[str, str]:
    return {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "phone_number": NUMBER,
        **overrides,
    }


async def post(line: Line, params: dict[str, str], *, token: str | None = AUTH_TOKEN) -> Any:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if token is not None:
        headers["X-Twilio-Signature"] = twilio_signature(token, line.url, params)
    return await line.client.post(line.path, data=params, headers=headers)


def parties(call_sid: str) -> dict[str, str]:
    return {"account_sid": ACCOUNT_SID, "call_sid": call_sid, "from_": CALLER, "to": NUMBER}


async def _line(client: Client, label: str = "Acme Support") -> Line:
    return await connect_line(client, "twilio", creds(), label=label)


async def test_connecting_says_where_to_paste_and_the_call_is_greeted_for_the_line(
    make_client: ClientFactory,
) -> None:
    client = await gateway_client(make_client)
    line = await _line(client)
    assert line.sentence is not None and line.url in line.sentence and NUMBER in line.sentence

    answer = await post(line, call_webhook(**parties("CA" + "1" * 32)))
    assert answer.status == 200, await answer.text()
    twiml = await answer.text()
    assert "Thanks for calling Acme Support" in twiml
    assert f'action="{line.url}"' in twiml and f'transcribeCallback="{line.url}"' in twiml
    assert (await stored(line))["assists"] == 0


async def test_a_voicemail_becomes_one_assist_with_the_line_label_and_its_transcript(
    make_client: ClientFactory,
) -> None:
    client = await gateway_client(make_client)
    line = await _line(client)
    other = await connect_line(
        client, "twilio", creds(), label="Acme Billing", workspace_id=line.workspace_id
    )
    recorded = recording_webhook(**parties("CA" + "2" * 32), duration=21)
    for _ in range(2):  # Twilio retries: still one assist
        answer = await post(line, recorded)
        assert answer.status == 200, await answer.text()
        assert "Your message has reached the team" in await answer.text()
    [assist] = await assists_of(line)
    assert assist.labels == ["Acme Support"]
    assert assist.subject == f"Voicemail from {CALLER}"
    assert assist.transcript[0]["recording_url"] == recorded["RecordingUrl"]
    assert recorded["RecordingUrl"] in assist.summary

    said = "Hi, my parcel never arrived, please call me back."
    transcribed = transcription_webhook(
        **parties("CA" + "2" * 32), recording_sid=recorded["RecordingSid"], text=said
    )
    for _ in range(2):
        assert (await post(line, transcribed)).status == 200
    [assist] = await assists_of(line)
    assert assist.transcript[0]["text"] == said and said in assist.summary

    # The second line's voicemail carries its own brand label.
    assert (await post(other, recording_webhook(**parties("CA" + "3" * 32)))).status == 200
    labels = sorted(tuple(a.labels) for a in await assists_of(line))
    assert labels == [("Acme Billing",), ("Acme Support",)]


async def test_forged_unsigned_and_turned_off_requests_store_nothing(
    make_client: ClientFactory,
) -> None:
    client = await gateway_client(make_client)
    line = await _line(client)
    recorded = recording_webhook(**parties("CA" + "4" * 32))
    before = await stored(line)
    forged = await post(line, recorded, token="not-this-lines-token-000000000000")
    assert forged.status == 403
    unsigned = await post(line, recorded, token=None)
    assert unsigned.status == 403
    # Signed by the line's token but for another Twilio account.
    other_account = {**recorded, "AccountSid": "AC" + "9" * 32}
    assert (await post(line, other_account)).status == 403
    assert await stored(line) == before

    await line.set_enabled(False)
    refused = await post(line, recorded)
    assert refused.status == 403 and "turned off" in await refused.text()
    assert await stored(line) == before

    missing = await client.post(
        f"/telephony/twilio/{'0' * 32}", data=recorded, headers={"X-Twilio-Signature": "x"}
    )
    assert missing.status == 404
    wrong_provider = await client.post(f"/telephony/dialpad/{line.account_id}", data=b"x")
    assert wrong_provider.status == 404
    unknown_provider = await client.post(f"/telephony/skype/{line.account_id}", data=b"x")
    assert unknown_provider.status == 404
    assert await stored(line) == before
