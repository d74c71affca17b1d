"""RingCentral: a WebHook subscription to the extension's voicemail events, made with a
token from the JWT grant (client id and secret, the user's JWT). RingCentral first calls the
address with a `Validation-Token` header that must come back in the answer (the webhook
route echoes it), and then sends every event with our `Verification-Token`. A subscription
expires: `renew` extends it before then (the scheduler's housekeeping calls it when it is
due, a member can call it by hand), and a failed renewal is kept as the line's warning."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import aiohttp

from core.integrations.lines.common import (
    LineSetupError,
    Pending,
    Setup,
    call,
    fetch,
    line_secrets,
    set_state,
)
from core.integrations.providers import basic_auth
from core.integrations.voicemail import LineVoicemail

API = "https://platform.ringcentral.com"
TITLE = "RingCentral"
EXPIRES_IN = 7 * 24 * 3600  # a week, RingCentral's default for a WebHook subscription
RENEW_BEFORE = timedelta(days=2)  # renewed when it expires sooner than this
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


async def _token(http: aiohttp.ClientSession, setup: Setup) -> str:
    answer = await call(
        http,
        "POST",
        f"{setup.api(API)}/restapi/oauth/token",
        title=TITLE,
        data={"grant_type": JWT_GRANT, "assertion": setup.credentials["jwt"]},
        headers=basic_auth(setup.credentials["client_id"], setup.credentials["client_secret"]),
    )
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not token:
        raise LineSetupError("RingCentral did not grant an access token")
    return str(token)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _expiry(answer: object) -> str:
    value = answer.get("expirationTime") if isinstance(answer, dict) else None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).isoformat()
    except ValueError as exc:
        raise LineSetupError("RingCentral did not say when the subscription expires") from exc


async def _remove_stale(http: aiohttp.ClientSession, setup: Setup, token: str) -> None:
    """Delete subscriptions an earlier attempt for this line left at its address
    (`GET /restapi/v1.0/subscription` lists them all: RingCentral does not page it)."""
    base = f"{setup.api(API)}/restapi/v1.0/subscription"
    answer = await call(http, "GET", base, title=TITLE, headers=_bearer(token))
    records = answer.get("records") if isinstance(answer, dict) else None
    for record in records if isinstance(records, list) else []:
        delivery = record.get("deliveryMode") if isinstance(record, dict) else None
        if (
            isinstance(delivery, dict)
            and delivery.get("address") == setup.webhook_url
            and record.get("id")
        ):
            await call(
                http, "DELETE", f"{base}/{record['id']}", title=TITLE, headers=_bearer(token)
            )


async def connect(http: aiohttp.ClientSession, setup: Setup) -> str | None:
    token = await _token(http, setup)
    await _remove_stale(http, setup, token)
    verification = secrets.token_urlsafe(24)
    extension = setup.credentials.get("extension_id") or "~"
    answer = await call(
        http,
        "POST",
        f"{setup.api(API)}/restapi/v1.0/subscription",
        title=TITLE,
        json={
            "eventFilters": [f"/restapi/v1.0/account/~/extension/{extension}/voicemail"],
            "deliveryMode": {
                "transportType": "WebHook",
                "address": setup.webhook_url,
                "verificationToken": verification,
            },
            "expiresIn": EXPIRES_IN,
        },
        headers=_bearer(token),
    )
    if not isinstance(answer, dict) or not answer.get("id"):
        raise LineSetupError("RingCentral did not return the subscription it created")
    set_state(
        setup.account,
        setup.vault,
        {"verification_token": verification},
        subscription_id=str(answer["id"]),
        expires_at=_expiry(answer),
    )
    return None


async def renew(http: aiohttp.ClientSession, setup: Setup, now: datetime) -> None:
    """Extend the subscription; the state keeps its new expiry and loses any warning."""
    state = dict(setup.account.state or {})
    subscription = state.get("subscription_id")
    if not subscription:
        raise LineSetupError("this RingCentral line has no subscription: connect it again")
    token = await _token(http, setup)
    answer = await call(
        http,
        "POST",
        f"{setup.api(API)}/restapi/v1.0/subscription/{subscription}/renew",
        title=TITLE,
        headers=_bearer(token),
    )
    set_state(
        setup.account,
        setup.vault,
        line_secrets(setup.vault, setup.account),
        subscription_id=subscription,
        expires_at=_expiry(answer),
        renewed_at=now.isoformat(),
    )


def renewal_due(state: dict[str, object], now: datetime) -> bool:
    expires = state.get("expires_at")
    if not state.get("subscription_id") or not isinstance(expires, str):
        return False
    return datetime.fromisoformat(expires) - now <= RENEW_BEFORE


async def disconnect(http: aiohttp.ClientSession, setup: Setup) -> None:
    subscription = (setup.account.state or {}).get("subscription_id")
    if subscription:
        token = await _token(http, setup)
        await call(
            http,
            "DELETE",
            f"{setup.api(API)}/restapi/v1.0/subscription/{subscription}",
            title=TITLE,
            headers=_bearer(token),
        )


MEDIA_HOSTS = ("platform.ringcentral.com", "media.ringcentral.com")


async def transcript_text(
    http: aiohttp.ClientSession, setup: Setup, uri: str, *, limit: int = 20000
) -> str:
    """The text of a voicemail's `AudioTranscription` attachment at URI, fetched with the
    line's token; only from RingCentral's own hosts (or the line's `api_url`), so an event
    can never send the token elsewhere.

    Raises:
        TryLater: RingCentral is throttling, failing or unreachable.
        LineSetupError: another host, or a refusal.
    """
    host = urlsplit(uri).hostname or ""
    allowed = {*MEDIA_HOSTS, urlsplit(setup.api(API)).hostname or ""}
    if urlsplit(uri).scheme not in ("http", "https") or host not in allowed:
        raise LineSetupError(f"the transcript is not on a RingCentral host ({host})")
    token = await _token(http, setup)
    body = await fetch(http, "GET", uri, title=TITLE, headers=_bearer(token), limit=limit * 4)
    return body.decode("utf-8", "replace").strip()[:limit]


async def transcript(
    http: aiohttp.ClientSession, setup: Setup, pending: Pending
) -> LineVoicemail | None:
    """The transcript part PENDING links to (None when it is empty)."""
    text = await transcript_text(http, setup, pending.ref)
    if not text:
        return None
    return LineVoicemail(key=pending.key, part="transcript", transcript=text)
