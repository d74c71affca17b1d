"""The ingest benchmark's durable floor (`bench/floor_server.py`) is a reference only if it does
the work it stands for: a request is answered 2xx only when its signature is right and its row
is committed, once per provider id. A floor that skipped any of it would make the gateway look
slower than what it is compared with."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient, TestServer

from bench.floor_server import InlineCommit, build
from tests.channels.slack_payloads import BOT_USER, mention, sign
from tests.sims.twilio import message_webhook, twilio_signature

SECRET = "floor-signing-secret"
TOKEN = "floor-auth-token-000000000000000"
URL = "https://floor.example/twilio/sms"


def _rows(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute("SELECT channel, external_id, text FROM floor_tasks ORDER BY 1"))


async def _client(path: Path) -> TestClient:  # type: ignore[type-arg]
    app = build(InlineCommit(str(path)), slack_secret=SECRET, twilio_token=TOKEN, twilio_url=URL)
    client: TestClient = TestClient(TestServer(app, host="127.0.0.1"))  # type: ignore[type-arg]
    await client.start_server()
    return client


async def test_signed_requests_are_committed_once_and_forged_ones_refused(tmp_path: Path) -> None:
    path = tmp_path / "floor.db"
    client = await _client(path)
    try:
        body = json.dumps(mention("hello", user="U0FLOOR", event_id="Ev001")).encode()
        headers = {"Content-Type": "application/json", **sign(body, secret=SECRET)}
        forged = {**headers, **sign(body, secret="another-secret")}
        assert (await client.post("/slack/events", data=body, headers=forged)).status == 401
        assert _rows(path) == []
        assert (await client.post("/slack/events", data=body, headers=headers)).status == 200
        assert (await client.post("/slack/events", data=body, headers=headers)).status == 200

        params = message_webhook(
            account_sid="AC" + "0" * 32, from_="+15550002000", to="+15550001000", body="hi"
        )
        form = urlencode(params).encode()
        signed = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(TOKEN, URL, params),
        }
        wrong_url = {**signed, "X-Twilio-Signature": twilio_signature(TOKEN, URL + "x", params)}
        assert (await client.post("/twilio/sms", data=form, headers=wrong_url)).status == 401
        assert (await client.post("/twilio/sms", data=form, headers=signed)).status == 200
    finally:
        await client.close()
    assert _rows(path) == [
        ("slack", "Ev001", f"<@{BOT_USER}> hello"),
        ("sms", params["MessageSid"], "hi"),
    ]
