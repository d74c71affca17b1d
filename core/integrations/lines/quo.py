"""Quo (formerly OpenPhone): webhooks for the workspace's calls (`call.completed`, which
carries a voicemail) and call transcripts (`call.transcript.completed`), limited to the
line's number when one is given (Quo filters by its phone-number id, looked up here). Quo
answers each webhook with its signing `key`, which signs every event it sends. The number is
looked for on every page of `GET /v1/phone-numbers` (`nextPageToken`); a webhook left at our
URL by an earlier attempt for the same line is deleted first."""

from __future__ import annotations

from typing import Any

import aiohttp

from core.integrations.lines.common import LineSetupError, Setup, call, every_page, set_state

API = "https://api.openphone.com"
TITLE = "Quo"
HOOKS = (("calls", "call.completed"), ("call-transcripts", "call.transcript.completed"))


def _headers(setup: Setup) -> dict[str, str]:
    # Quo takes the API key itself as the Authorization header, without a scheme.
    return {"Authorization": setup.credentials["api_key"]}


def _data(answer: Any) -> list[Any]:
    listed = answer.get("data") if isinstance(answer, dict) else None
    return [i for i in listed if isinstance(i, dict)] if isinstance(listed, list) else []


def _next_page(answer: Any, url: str, params: dict[str, str]) -> tuple[str, dict[str, str]] | None:
    token = answer.get("nextPageToken") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        return None
    return url, {**params, "pageToken": token}


async def _number_id(http: aiohttp.ClientSession, setup: Setup, number: str) -> str:
    numbers = await every_page(
        http,
        f"{setup.api(API)}/v1/phone-numbers",
        title=TITLE,
        headers=_headers(setup),
        items=_data,
        following=_next_page,
        params={"maxResults": "100"},
    )
    for item in numbers:
        if isinstance(item, dict) and item.get("number") == number and item.get("id"):
            return str(item["id"])
    raise LineSetupError(f"Quo has no number {number} in this workspace")


async def connect(http: aiohttp.ClientSession, setup: Setup) -> str | None:
    number = setup.credentials.get("phone_number")
    resources = [await _number_id(http, setup, number)] if number else ["*"]
    listed = await call(
        http, "GET", f"{setup.api(API)}/v1/webhooks", title=TITLE, headers=_headers(setup)
    )
    for stale in _data(listed):
        if stale.get("url") == setup.webhook_url and stale.get("id"):
            await call(
                http,
                "DELETE",
                f"{setup.api(API)}/v1/webhooks/{stale['id']}",
                title=TITLE,
                headers=_headers(setup),
            )
    ids: list[str] = []
    keys: dict[str, str] = {}
    try:
        for kind, event in HOOKS:
            answer = await call(
                http,
                "POST",
                f"{setup.api(API)}/v1/webhooks/{kind}",
                title=TITLE,
                json={
                    "url": setup.webhook_url,
                    "events": [event],
                    "resourceIds": resources,
                    "label": f"Switchboard: {setup.account.label}",
                    "status": "enabled",
                },
                headers=_headers(setup),
            )
            hook = answer.get("data") if isinstance(answer, dict) else None
            if not isinstance(hook, dict) or not hook.get("id") or not hook.get("key"):
                raise LineSetupError("Quo did not return the webhook it created")
            ids.append(str(hook["id"]))
            keys[f"key{len(ids)}"] = str(hook["key"])
    finally:
        set_state(setup.account, setup.vault, keys, webhook_ids=ids)
    return None


async def disconnect(http: aiohttp.ClientSession, setup: Setup) -> None:
    for webhook_id in (setup.account.state or {}).get("webhook_ids") or []:
        await call(
            http,
            "DELETE",
            f"{setup.api(API)}/v1/webhooks/{webhook_id}",
            title=TITLE,
            headers=_headers(setup),
        )
