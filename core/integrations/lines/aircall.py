"""Aircall: a webhook registered for `call.voicemail_left` and `transcription.created` with
Basic auth (API id and token); Aircall answers with the webhook's `token`, which every event
then carries in its body (Aircall signs nothing: the token is the check).

A webhook left at our URL by an earlier attempt for the same line is deleted first (found
on every page of `GET /v1/webhooks`, which pages with `page`/`per_page` and says where the
next page is in `meta.next_page_link`), so no voicemail arrives twice. A transcript comes
later than its voicemail (`transcription.created`, Aircall AI): the call is read
(`GET /v1/calls/{id}`) to know which number it rang and whether it was a voicemail, and the
transcript (`GET /v1/calls/{id}/transcription`) when the event did not carry it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from core.integrations.lines.common import (
    LineSetupError,
    Pending,
    Setup,
    call,
    every_page,
    set_state,
)
from core.integrations.providers import basic_auth
from core.integrations.voicemail import LineVoicemail

API = "https://api.aircall.io"
TITLE = "Aircall"
EVENTS = ("call.voicemail_left", "transcription.created")
PER_PAGE = "50"  # Aircall's largest page


def _auth(setup: Setup) -> dict[str, str]:
    return basic_auth(setup.credentials["api_id"], setup.credentials["api_token"])


def _hooks(answer: Any) -> list[Any]:
    listed = answer.get("webhooks") if isinstance(answer, dict) else None
    return [h for h in listed if isinstance(h, dict)] if isinstance(listed, list) else []


def _next_page(answer: Any, url: str, params: dict[str, str]) -> tuple[str, dict[str, str]] | None:
    meta = answer.get("meta") if isinstance(answer, dict) else None
    link = meta.get("next_page_link") if isinstance(meta, dict) else None
    if not isinstance(link, str) or not link:
        return None
    # The link names Aircall's public host; the page is asked where the line's API is.
    parts = urlsplit(link)
    return f"{url.split('/v1/')[0]}{parts.path}" + (f"?{parts.query}" if parts.query else ""), {}


async def existing_webhooks(http: aiohttp.ClientSession, setup: Setup) -> list[dict[str, Any]]:
    """Every webhook of the Aircall account, from every page."""
    return await every_page(
        http,
        f"{setup.api(API)}/v1/webhooks",
        title=TITLE,
        headers=_auth(setup),
        items=_hooks,
        following=_next_page,
        params={"per_page": PER_PAGE},
    )


async def _delete(http: aiohttp.ClientSession, setup: Setup, webhook_id: str) -> None:
    await call(
        http,
        "DELETE",
        f"{setup.api(API)}/v1/webhooks/{webhook_id}",
        title=TITLE,
        headers=_auth(setup),
    )


async def connect(http: aiohttp.ClientSession, setup: Setup) -> str | None:
    for stale in await existing_webhooks(http, setup):
        if stale.get("url") == setup.webhook_url and stale.get("webhook_id"):
            await _delete(http, setup, str(stale["webhook_id"]))
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
        await _delete(http, setup, str(webhook_id))


def _digits(value: object) -> str:
    return re.sub(r"[^0-9]", "", value) if isinstance(value, str) else ""


def utterances_text(content: object, limit: int = 20000) -> str:
    """A transcription's `content.utterances` as one text, in order."""
    utterances = content.get("utterances") if isinstance(content, dict) else None
    words = [
        str(u["text"]).strip()
        for u in (utterances if isinstance(utterances, list) else [])
        if isinstance(u, dict) and isinstance(u.get("text"), str) and u["text"].strip()
    ]
    return " ".join(words)[:limit]


async def transcript(
    http: aiohttp.ClientSession, setup: Setup, pending: Pending
) -> LineVoicemail | None:
    """The transcript part of the call PENDING names, for this line: None when the call rang
    another of the account's numbers (another line's) or Aircall has no transcript.

    Raises:
        TryLater: Aircall is throttling, failing or unreachable.
        LineSetupError: Aircall refused.
    """
    base = f"{setup.api(API)}/v1/calls/{pending.ref}"
    answer = await call(http, "GET", base, title=TITLE, headers=_auth(setup))
    found = answer.get("call") if isinstance(answer, dict) else None
    the_call: dict[str, Any] = found if isinstance(found, dict) else {}
    number = the_call.get("number") if isinstance(the_call.get("number"), dict) else {}
    assert isinstance(number, dict)
    called = number.get("digits") if isinstance(number.get("digits"), str) else None
    line_number = setup.credentials.get("phone_number")
    if line_number and called and _digits(called) != _digits(line_number):
        return None
    text = pending.text
    if not text:
        answer = await call(http, "GET", f"{base}/transcription", title=TITLE, headers=_auth(setup))
        body = answer.get("transcription") if isinstance(answer, dict) else None
        text = utterances_text(body.get("content")) if isinstance(body, dict) else ""
    if not text:
        return None
    voicemail = the_call.get("voicemail")
    caller = the_call.get("raw_digits")
    return LineVoicemail(
        key=pending.key,
        part="transcript",
        caller=caller if isinstance(caller, str) else None,
        called=called,
        transcript=text,
        recording_url=voicemail if isinstance(voicemail, str) else None,
        # Aircall transcribes answered calls too: only a voicemail's transcript opens one.
        opens=bool(voicemail) or pending.kind == "voicemail",
    )
