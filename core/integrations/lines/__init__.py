"""Telephony lines at their providers: what connecting a line sets up there (the webhook
that brings its voicemails here) and what removing it takes down. Twilio and Vonage numbers
are pointed at the webhook by the member (the sentence says where); Dialpad, Aircall, Quo
and RingCentral register it through their APIs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import aiohttp

from core.integrations.accounts import credentials_of
from core.integrations.lines import aircall, dialpad, quo, ringcentral, vonage
from core.integrations.lines.common import (
    TIMEOUT,
    LineSetupError,
    Pending,
    Setup,
    TryLater,
    hurried,
    webhook_url,
)
from core.integrations.vault import Vault
from core.integrations.voicemail import LineVoicemail
from storage.integrations import IntegrationAccount

__all__ = ["LineSetupError", "Pending", "TryLater", "connect_line", "fetch_transcript"]

Step = Callable[[aiohttp.ClientSession, Setup], Awaitable[str | None]]
Undo = Callable[[aiohttp.ClientSession, Setup], Awaitable[None]]
Fetch = Callable[[aiohttp.ClientSession, Setup, Pending], Awaitable[LineVoicemail | None]]

REGISTERED: dict[str, tuple[Step, Undo]] = {
    "dialpad": (dialpad.connect, dialpad.disconnect),
    "aircall": (aircall.connect, aircall.disconnect),
    "quo": (quo.connect, quo.disconnect),
    "ringcentral": (ringcentral.connect, ringcentral.disconnect),
}

WEBHOOK_PATIENCE = 3.0  # seconds of 429s waited out while a provider's webhook waits

# Providers whose events only point at a voicemail's transcript, fetched here.
TRANSCRIPTS: dict[str, Fetch] = {
    "ringcentral": ringcentral.transcript,
    "aircall": aircall.transcript,
    "vonage": vonage.transcript,
}


def paste_sentence(
    account: IntegrationAccount, url: str, credentials: dict[str, str]
) -> str | None:
    """For the lines the member points at us themselves: where to paste which URL."""
    if account.provider == "twilio":
        number = credentials.get("phone_number", "the number")
        return (
            f"In the Twilio console, set {number}'s Voice configuration 'A call comes in' to "
            f"Webhook {url} (HTTP POST). Callers then hear a greeting for {account.label} and "
            "can leave a voicemail, which arrives in the inbox (with Twilio's transcript "
            "when it has one)."
        )
    if account.provider == "vonage":
        return (
            f"In your Vonage application's Voice capability, set both the Answer URL and the "
            f"Event URL to {url} (HTTP POST). Callers then hear a greeting for "
            f"{account.label} and can leave a voicemail, which arrives in the inbox (with Vonage's "
            "transcript when it is ready)."
            + (
                " Requests must be signed with the signature secret you entered (Vonage's "
                "signed webhooks); unsigned ones are refused."
                if credentials.get("signature_secret")
                else ""
            )
        )
    return None


async def connect_line(
    vault: Vault, account: IntegrationAccount, *, base_url: str | None, now: datetime
) -> str | None:
    """Set the line up at its provider; the sentence for the member, or None."""
    if base_url is None:
        return (
            "PUBLIC_BASE_URL is not set, so the provider has no address to send voicemails "
            "to: set it and connect the line again."
        )
    url = webhook_url(base_url, account)
    credentials = credentials_of(vault, account)
    sentence = paste_sentence(account, url, credentials)
    steps = REGISTERED.get(account.provider)
    if steps is None:
        return sentence
    setup = Setup(account=account, credentials=credentials, vault=vault, webhook_url=url)
    before = dict(account.state or {})
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            try:
                return await steps[0](http, setup)
            except LineSetupError:
                # Nothing half-made stays at the provider: what this attempt registered
                # before failing is taken down again (its ids kept only if that fails too).
                if account.state and account.state != before:
                    try:
                        await steps[1](http, setup)
                        account.state = {}
                    except LineSetupError:
                        pass
                raise
    except LineSetupError as exc:
        account.state = {
            **(account.state or {}),
            "warning": str(exc),
            "warning_at": now.isoformat(),
        }
        again = " (the provider is busy or failing: try again in a moment)"
        return (
            "The webhook could not be registered at the provider, so voicemails will not "
            f"arrive: {exc}" + (again if isinstance(exc, TryLater) else "")
        )


async def renew_line(vault: Vault, account: IntegrationAccount, *, now: datetime) -> str | None:
    """Renew the line's RingCentral subscription now (the scheduler when it is due, or a
    member by hand); a failure is kept as the line's warning and returned as a sentence."""
    if account.provider != "ringcentral":
        return None
    setup = Setup(
        account=account, credentials=credentials_of(vault, account), vault=vault, webhook_url=""
    )
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            await ringcentral.renew(http, setup, now)
    except LineSetupError as exc:
        account.state = {
            **(account.state or {}),
            "warning": f"The subscription could not be renewed: {exc}",
            "warning_at": now.isoformat(),
        }
        return str(account.state["warning"])
    return None


async def fetch_transcript(
    vault: Vault, account: IntegrationAccount, pending: Pending
) -> LineVoicemail | None:
    """The transcript part PENDING points at, fetched from the line's provider; None when
    there is none for this line.

    Raises:
        TryLater: the provider is throttling, failing or unreachable: ask again later.
        LineSetupError: the provider refused (the voicemail keeps its recording link).
    """
    fetcher = TRANSCRIPTS.get(account.provider)
    if fetcher is None:
        return None
    setup = Setup(
        account=account, credentials=credentials_of(vault, account), vault=vault, webhook_url=""
    )
    # The provider waits for our answer: a short Retry-After is waited out, a longer one
    # sends the event back to the provider to deliver again.
    with hurried(WEBHOOK_PATIENCE):
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            return await fetcher(http, setup, pending)
