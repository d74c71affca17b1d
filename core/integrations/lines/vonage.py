"""Vonage: nothing is registered (the member pastes the Answer and Event URL), but a
voicemail's transcript is fetched here. The NCCO's `record` asks Vonage to transcribe the
message; Vonage's transcription event carries a `transcription_url`, fetched with the
application's JWT (RS256 with its private key, as for every Voice API call). The file is
`{channels: [{transcript: [{sentence, ...}]}]}`."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from core.integrations.checks import vonage_jwt
from core.integrations.lines.common import LineSetupError, Pending, Setup, fetch
from core.integrations.voicemail import LineVoicemail

API = "https://api.nexmo.com"
TITLE = "Vonage"
HOSTS = ("nexmo.com", "vonage.com")  # and their subdomains (api.nexmo.com, api-eu...)


def _vonage_host(host: str) -> bool:
    return any(host == h or host.endswith("." + h) for h in HOSTS)


def sentences(document: object, limit: int = 20000) -> str:
    """The transcript's text: every channel's sentences, in order."""
    channels = document.get("channels") if isinstance(document, dict) else None
    said: list[str] = []
    for channel in channels if isinstance(channels, list) else []:
        lines = channel.get("transcript") if isinstance(channel, dict) else None
        for line in lines if isinstance(lines, list) else []:
            sentence = line.get("sentence") if isinstance(line, dict) else None
            if isinstance(sentence, str) and sentence.strip():
                said.append(sentence.strip())
    return " ".join(said)[:limit]


async def transcript(
    http: aiohttp.ClientSession, setup: Setup, pending: Pending
) -> LineVoicemail | None:
    """The transcript at PENDING's URL; only from Vonage's own hosts (or the line's
    `api_url`), so an event can never send the application's JWT elsewhere.

    Raises:
        TryLater: Vonage is throttling, failing or unreachable.
        LineSetupError: another host, a key that signs nothing, or a refusal.
    """
    parts = urlsplit(pending.ref)
    host = parts.hostname or ""
    own = urlsplit(setup.api(API)).hostname or ""
    if parts.scheme not in ("http", "https") or not (_vonage_host(host) or host == own):
        raise LineSetupError(f"the transcript is not on a Vonage host ({host})")
    try:
        token = vonage_jwt(setup.credentials["application_id"], setup.credentials["private_key"])
    except (KeyError, ValueError) as exc:
        raise LineSetupError("the line's private key cannot sign a Vonage JWT") from exc
    body = await fetch(
        http, "GET", pending.ref, title=TITLE, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        document: Any = json.loads(body)
    except ValueError as exc:
        raise LineSetupError("Vonage sent a transcript that is not JSON") from exc
    text = sentences(document)
    if not text:
        return None
    return LineVoicemail(
        key=pending.key,
        part="transcript",
        caller=pending.caller,
        called=pending.called,
        transcript=text,
    )
