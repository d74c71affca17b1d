"""Aircall: a webhook registered for `call.voicemail_left` with Basic auth (API id and
token); Aircall answers with the webhook's `token`, which every event then carries in its
body (Aircall signs nothing: the token is the check)."""

from __future__ import annotations

import aiohttp

from core.integrations.lines.common import LineSetupError, Setup, call, set_state
from core.integrations.providers import basic_auth

API = "https://api.aircall.io"
TITLE = "Aircall"
EVENTS = ("call.voicemail_left",)


def _auth(setup: Setup) -> dict[str, str]:
    return basic_auth(setup.credentials["api_id"], setup.credentials["api_token"])


async def connect(http: aiohttp.ClientSession, setup: Setup) -> str | None:
    answer = await call(
        http,
        "POST",
        f"{setup.api(API)}/v1/webhooks",
        title=TITLE,
        json={
            "custom_name": f"Switchboard: {setup.account.label}"[:64],
            "url": setup.webhook_url,
            "events": list(EVENTS),
        },
        headers=_auth(setup),
    )
    hook = answer.get("webhook") if isinstance(answer, dict) else None
    if not isinstance(hook, dict) or not hook.get("webhook_id") or not hook.get("token"):
        raise LineSetupError("Aircall did not return the webhook it created")
    set_state(
        setup.account,
        setup.vault,
        {"token": str(hook["token"])},
        webhook_id=str(hook["webhook_id"]),
    )
    return None


async def disconnect(http: aiohttp.ClientSession, setup: Setup) -> None:
    webhook_id = (setup.account.state or {}).get("webhook_id")
    if webhook_id:
        await call(
            http,
            "DELETE",
            f"{setup.api(API)}/v1/webhooks/{webhook_id}",
            title=TITLE,
            headers=_auth(setup),
        )
