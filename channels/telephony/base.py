"""What a provider's module gets (the line, with its credentials in clear for the check only)
and gives back (the voicemail parts it read, and the answer the provider expects)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from core.integrations.lines.common import Pending
from core.integrations.voicemail import LineVoicemail


class SignatureError(Exception):
    """The request is not signed by the provider for this line (missing or wrong)."""


class MalformedEvent(Exception):
    """The request is signed but its body is not what the provider sends."""


@dataclass(frozen=True, slots=True)
class Line:
    """The line a webhook was addressed to: URL is the public address the provider called
    (PUBLIC_BASE_URL + the route), which some providers sign."""

    account_id: str
    provider: str
    label: str
    credentials: Mapping[str, str]
    secrets: Mapping[str, str]
    url: str
    base_url: str


@dataclass(frozen=True, slots=True)
class Inbound:
    """What a webhook brought: voicemail parts to record, and the answer to give once they
    are committed (None: a JSON `{"ok": true}`)."""

    voicemails: tuple[LineVoicemail, ...] = ()
    answer: web.Response | None = None
    # Transcripts the event only points at (RingCentral, Aircall, Vonage): fetched from the
    # provider before the parts are recorded.
    pending: tuple[Pending, ...] = ()


def text_or_none(value: object, limit: int = 20000) -> str | None:
    """VALUE as stripped text, or None when it is not text or blank."""
    if not isinstance(value, str):
        return None
    value = value.strip().replace("\x00", "")
    return value[:limit] or None


def seconds(value: object) -> int | None:
    """A duration in whole seconds from a number or numeric text, None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return max(0, int(value))
    if isinstance(value, str):
        try:
            return max(0, int(float(value)))
        except ValueError:
            return None
    return None
