"""Rejected webhook signatures: a WARNING naming channel, route, reason and address, at most
one per channel per minute with the count left out, and never the secret or the signature."""

from __future__ import annotations

import json
import logging

import pytest

from api.observability.rejections import RejectionLog
from channels.voice.elevenlabs import sign
from storage.db import Database
from tests.api import Client, ClientFactory
from tests.channels.email_helpers import email_settings
from tests.channels.email_payloads import INBOUND_PASSWORD, basic_auth
from tests.factories import make_tenant

SECRET = "whsec-elevenlabs-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_warning_per_channel_per_minute_then_the_count_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    rejections = RejectionLog(clock=clock)
    caplog.set_level(logging.WARNING, logger="switchboard.webhooks")
    assert rejections.rejected("slack", "/slack/events", "X-Slack-Signature mismatch", "10.0.0.1")
    for _ in range(3):
        clock.now += 10
        assert not rejections.rejected("slack", "/slack/events", "stale", "10.0.0.2")
    # Another channel has its own minute.
    assert rejections.rejected("telegram", "/telegram/webhook", "wrong secret header", None)
    clock.now = 1000.0 + 60
    assert rejections.rejected("slack", "/slack/events", "X-Slack-Signature mismatch", "10.0.0.3")
    clock.now += 120
    assert rejections.rejected("slack", "/slack/events", "X-Slack-Signature mismatch", "10.0.0.4")

    lines = [r for r in caplog.records if r.name == "switchboard.webhooks"]
    assert [r.levelname for r in lines] == ["WARNING"] * 4
    assert [(r.channel, r.suppressed) for r in lines] == [  # type: ignore[attr-defined]
        ("slack", 0),
        ("telegram", 0),
        ("slack", 3),
        ("slack", 0),
    ]
    assert lines[0].getMessage() == (
        "rejected a slack webhook on /slack/events from 10.0.0.1: X-Slack-Signature mismatch"
    )
    assert lines[1].getMessage().endswith("from an unknown address: wrong secret header")
    assert "(3 more rejected since the last report were not logged)" in lines[2].getMessage()
    assert lines[2].remote == "10.0.0.3"  # type: ignore[attr-defined]


async def test_a_forged_webhook_is_warned_about_once_and_counted(
    make_client: ClientFactory, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await make_tenant(db)
    caplog.set_level(logging.INFO)
    client: Client = await make_client(ELEVENLABS_WEBHOOK_SECRET=SECRET)
    body = json.dumps({"type": "post_call_transcription", "data": {}}).encode()
    forged = sign(body, "not-the-secret-at-all", 1_700_000_000)
    for _ in range(3):
        response = await client.post(
            "/elevenlabs/webhook",
            data=body,
            headers={"ElevenLabs-Signature": forged, "Content-Type": "application/json"},
        )
        assert response.status == 401
    warnings = [r for r in caplog.records if r.name == "switchboard.webhooks"]
    assert len(warnings) == 1
    (warning,) = warnings
    assert warning.levelname == "WARNING"
    assert warning.channel == "voice"  # type: ignore[attr-defined]
    assert warning.route == "/elevenlabs/webhook"  # type: ignore[attr-defined]
    assert warning.remote == "127.0.0.1"  # type: ignore[attr-defined]
    assert "ElevenLabs-Signature" in warning.reason  # type: ignore[attr-defined]
    signature_value = forged.split("v0=")[1]
    for record in caplog.records:
        assert SECRET not in str(record.__dict__)
        assert signature_value not in str(record.__dict__)

    metrics = await (await client.get("/metrics")).text()
    assert 'switchboard_webhook_rejections_total{channel="voice"} 3.0' in metrics


async def test_a_wrong_api_key_is_warned_about_but_a_missing_one_is_not(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client: Client = await make_client()
    wrong = "sk-wrong-key-0123456789abcdef"
    assert (await client.get("/api/v1/workspaces")).status == 401
    response = await client.get("/api/v1/workspaces", headers={"Authorization": f"Bearer {wrong}"})
    assert response.status == 401
    (warning,) = [r for r in caplog.records if r.name == "switchboard.webhooks"]
    assert warning.channel == "api"  # type: ignore[attr-defined]
    assert warning.route == "/api/v1/workspaces"  # type: ignore[attr-defined]
    assert all(wrong not in str(r.__dict__) for r in caplog.records)
    metrics = await (await client.get("/metrics")).text()
    assert 'switchboard_webhook_rejections_total{channel="api"} 1.0' in metrics


async def test_wrong_email_credentials_are_warned_about_also_before_the_body(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client: Client = await make_client(**email_settings())
    wrong_password = "not-the-password-987654"
    headers = {**basic_auth(password=wrong_password), "Content-Type": "multipart/form-data"}
    # Refused by the Expect: 100-continue check (no middleware runs), then on a plain post.
    early = await client.post("/email/inbound", data=b"x" * 10, headers=headers, expect100=True)
    late = await client.post("/email/inbound/postmark", data=b"{}", headers=headers)
    assert early.status == late.status == 401
    (warning,) = [r for r in caplog.records if r.name == "switchboard.webhooks"]
    assert warning.channel == "email"  # type: ignore[attr-defined]
    assert warning.route == "/email/inbound"  # type: ignore[attr-defined]
    assert warning.reason == "HTTP Basic credentials are missing or wrong"  # type: ignore[attr-defined]
    assert all(
        wrong_password not in str(r.__dict__) and INBOUND_PASSWORD not in str(r.__dict__)
        for r in caplog.records
    )
    metrics = await (await client.get("/metrics")).text()
    assert 'switchboard_webhook_rejections_total{channel="email"} 2.0' in metrics
