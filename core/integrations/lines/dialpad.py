"""Dialpad: a webhook with a secret of our own (Dialpad then sends every event as a JWT
signed HS256 with it), and a call-event subscription on the line's target (a user, call
center or department) for the voicemail and transcription states. A webhook left at our URL
by an earlier attempt for the same line is deleted first (found on every page of
`GET /api/v2/webhooks`, which pages with a `cursor`)."""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp

from core.integrations.lines.common import LineSetupError, Setup, call, every_page, set_state

API = "https://dialpad.com"
TITLE = "Dialpad"
# The call states a voicemail passes through: left, uploaded (its link ready), transcribed.
CALL_STATES = ("voicemail", "voicemail_uploaded", "transcription")


def _headers(setup: Setup) -> dict[str, str]:
    return {"Authorization": f"Bearer {setup.credentials['api_key']}", "Accept": "application/json"}


def _target_id(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _items(answer: Any) -> list[Any]:
    listed = answer.get("items") if isinstance(answer, dict) else None
    return [h for h in listed if isinstance(h, dict)] if isinstance(listed, list) else []


def _next_page(answer: Any, url: str, params: dict[str, str]) -> tuple[str, dict[str, str]] | None:
    cursor = answer.get("cursor") if isinstance(answer, dict) else None
    if not isinstance(cursor, str) or not cursor:
        return None
    return url, {**params, "cursor": cursor}


async def existing_webhooks(http: aiohttp.ClientSession, setup: Setup) -> list[dict[str, Any]]:
    """Every webhook of the Dialpad company, from every page."""
    return await every_page(
        http,
        f"{setup.api(API)}/api/v2/webhooks",
        title=TITLE,
        headers=_headers(setup),
        items=_items,
        following=_next_page,
        params={"limit": "100"},
    )


async def connect(http: aiohttp.ClientSession, setup: Setup) -> str | None:
    base = setup.api(API)
    for stale in await existing_webhooks(http, setup):
        if stale.get("hook_url") == setup.webhook_url and stale.get("id"):
            await call(
                http,
                "DELETE",
                f"{base}/api/v2/webhooks/{stale['id']}",
                title=TITLE,
                headers=_headers(setup),
            )
    secret = secrets.token_urlsafe(32)
    hook = await call(
        http,
        "POST",
        f"{base}/api/v2/webhooks",
        title=TITLE,
        json={"hook_url": setup.webhook_url, "secret": secret},
        headers=_headers(setup),
    )
    if not isinstance(hook, dict) or not hook.get("id"):
        raise LineSetupError("Dialpad did not return the webhook it created")
    webhook_id = str(hook["id"])
    # Kept from here on, so a failed subscription still lets `disconnect` remove the webhook.
    set_state(setup.account, setup.vault, {"secret": secret}, webhook_id=webhook_id)
    subscription = await call(
        http,
        "POST",
        f"{base}/api/v2/subscriptions/call",
        title=TITLE,
        json={
            "webhook_id": _target_id(webhook_id),
            "call_states": list(CALL_STATES),
            "target_type": setup.credentials["target_type"],
            "target_id": _target_id(setup.credentials["target_id"]),
            "enabled": True,
        },
        headers=_headers(setup),
    )
    if not isinstance(subscription, dict) or not subscription.get("id"):
        raise LineSetupError("Dialpad did not return the call subscription it created")
    set_state(
        setup.account,
        setup.vault,
        {"secret": secret},
        webhook_id=webhook_id,
        subscription_id=str(subscription["id"]),
    )
    return None


async def disconnect(http: aiohttp.ClientSession, setup: Setup) -> None:
    state = setup.account.state or {}
    base = setup.api(API)
    if state.get("subscription_id"):
        await call(
            http,
            "DELETE",
            f"{base}/api/v2/subscriptions/call/{state['subscription_id']}",
            title=TITLE,
            headers=_headers(setup),
        )
    if state.get("webhook_id"):
        await call(
            http,
            "DELETE",
            f"{base}/api/v2/webhooks/{state['webhook_id']}",
            title=TITLE,
            headers=_headers(setup),
        )
