"""Slack requests as Slack sends them (Events API envelopes, slash-command forms, block_actions
payloads), signed with the SDK's SignatureVerifier: the helper production verifies with."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from slack_sdk.signature import SignatureVerifier

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0SIM0001"
BOT_USER = "U0SIMBOT1"
APP = "A0SIMAPP1"
CHANNEL = "C0OPS0001"

_seq = itertools.count(1)


def next_ts() -> str:
    """A message ts as Slack writes them: seconds, a dot, six digits."""
    return f"{int(time.time())}.{next(_seq):06d}"


def next_event_id() -> str:
    return f"Ev0SIM{next(_seq):06d}"


def sign(
    body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Slack's headers: `v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


def event_callback(
    event: dict[str, Any], *, event_id: str | None = None, team: str = TEAM
) -> dict[str, Any]:
    """The Events API envelope around EVENT."""
    return {
        "token": "ZZZZZZWSxiZZZ2yIvs3peJ",
        "team_id": team,
        "api_app_id": APP,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or next_event_id(),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team,
                "user_id": BOT_USER,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-eyJldCI6ImFwcF9tZW50aW9uIiwidGlkIjoiVDBTSU0wMDAxIn0",
    }


def mention(
    text: str,
    *,
    user: str,
    channel: str = CHANNEL,
    ts: str | None = None,
    thread_ts: str | None = None,
    event_id: str | None = None,
    team: str = TEAM,
) -> dict[str, Any]:
    """`@Switchboard TEXT` in a channel (an `app_mention` event)."""
    ts = ts or next_ts()
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        "client_msg_id": f"5a5b{next(_seq):04d}-2b0a-4f4e-9c61-2f9d0c3e5f1a",
        "team": team,
        "channel": channel,
        "event_ts": ts,
        "blocks": [
            {
                "type": "rich_text",
                "block_id": "Xb3x",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [
                            {"type": "user", "user_id": BOT_USER},
                            {"type": "text", "text": f" {text}"},
                        ],
                    }
                ],
            }
        ],
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event_callback(event, event_id=event_id, team=team)


def direct_message(
    text: str, *, user: str, channel: str = "D0DM00001", ts: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A message in the DM with the bot (`message` with `channel_type: im`)."""
    ts = ts or next_ts()
    event = {
        "type": "message",
        "user": user,
        "text": text,
        "ts": ts,
        "team": TEAM,
        "channel": channel,
        "event_ts": ts,
        "channel_type": "im",
        **extra,
    }
    return event_callback({k: v for k, v in event.items() if v is not None})


def slash_command(
    text: str, *, user: str, channel: str = CHANNEL, trigger_id: str | None = None
) -> bytes:
    """`/operator TEXT` as Slack posts it: application/x-www-form-urlencoded."""
    return urlencode(
        {
            "token": "ZZZZZZWSxiZZZ2yIvs3peJ",
            "team_id": TEAM,
            "team_domain": "switchboard-sim",
            "channel_id": channel,
            "channel_name": "ops",
            "user_id": user,
            "user_name": "someone",
            "command": "/operator",
            "text": text,
            "api_app_id": APP,
            "is_enterprise_install": "false",
            "response_url": "https://hooks.slack.com/commands/T0SIM0001/1234/abcd",
            "trigger_id": trigger_id or f"{next(_seq)}.1234567890.abcdef0123456789",
        }
    ).encode()


def block_actions(
    *,
    user: str,
    action_id: str,
    value: str,
    channel: str,
    message: dict[str, Any],
) -> bytes:
    """A button press on MESSAGE (as the simulator stored it): the interactivity form."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": TEAM},
        "api_app_id": APP,
        "token": "ZZZZZZWSxiZZZ2yIvs3peJ",
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel,
            "is_ephemeral": False,
            **({"thread_ts": message["thread_ts"]} if "thread_ts" in message else {}),
        },
        "trigger_id": f"{next(_seq)}.1234567890.0123456789abcdef",
        "team": {"id": TEAM, "domain": "switchboard-sim"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "ops"},
        "message": {k: v for k, v in message.items() if k not in ("channel", "_via")},
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0SIM0001/1234/abcd",
        "actions": [
            {
                "action_id": action_id,
                "block_id": f"proposal:{value}",
                "text": {"type": "plain_text", "text": "Approve", "emoji": True},
                "value": value,
                "style": "primary",
                "type": "button",
                "action_ts": next_ts(),
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


async def post(
    client: TestClient[Any, Any],
    body: bytes | dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
    signed: bool = True,
    content_type: str | None = None,
) -> ClientResponse:
    """POST /slack/events: a dict as JSON, bytes as a form (unless CONTENT_TYPE says)."""
    if isinstance(body, dict):
        raw = json.dumps(body).encode()
        content_type = content_type or "application/json"
    else:
        raw = body
        content_type = content_type or "application/x-www-form-urlencoded"
    sent = {"Content-Type": content_type, **(sign(raw) if signed else {}), **(headers or {})}
    return await client.post("/slack/events", data=raw, headers=sent)
