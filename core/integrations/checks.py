"""Test a connection: one cheap authenticated call to the provider with the account's
credentials, answered as (ok, a sentence for the member). The sentence names the provider's
status and what to check, never a credential; `api_url` replaces the provider's base URL.

Plain aiohttp for every provider: each check is one request, the help-desk and telephony SDKs
are synchronous (Zendesk's zenpy, Vonage's `vonage`, which pulls its own HTTP stack) or
absent for the provider, and a thread pool for one GET buys nothing. Vonage's JWT is signed
with PyJWT (already installed with `twilio`), as Vonage's own `vonage-jwt` does."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import jwt

from core.integrations.providers import PROVIDERS, basic_auth

TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)

Check = Callable[[aiohttp.ClientSession, Mapping[str, str]], Awaitable[tuple[bool, str]]]


def _base(credentials: Mapping[str, str], default: str) -> str:
    return (credentials.get("api_url") or default).rstrip("/")


def _host(value: str, suffix: str) -> str:
    """A subdomain ("acme") or a full host ("acme.zendesk.com") as a host name."""
    value = value.strip().removeprefix("https://").removeprefix("http://").strip("/")
    return value if "." in value else f"{value}{suffix}"


async def _answer(resp: aiohttp.ClientResponse, title: str, what: str) -> tuple[bool, Any]:
    """(True, the JSON body) on 2xx; (False, why) otherwise, by status."""
    if resp.status in (401, 403):
        return False, (
            f"{title} refused the credentials (HTTP {resp.status}): check the {what} "
            "and save them again"
        )
    if resp.status == 404:
        return False, (
            f"{title} answered 404 Not Found: check the account's address or ID ({what})"
        )
    if resp.status == 429:
        return False, f"{title} is rate limiting requests (HTTP 429): test again in a minute"
    if resp.status >= 400:
        return False, f"{title} answered HTTP {resp.status}: try again later"
    try:
        body = await resp.json(content_type=None)
    except ValueError:
        body = None
    return True, body


async def _zendesk(http: aiohttp.ClientSession, c: Mapping[str, str]) -> tuple[bool, str]:
    base = _base(c, f"https://{_host(c['subdomain'], '.zendesk.com')}")
    auth = basic_auth(f"{c['email']}/token", c["api_token"])
    async with http.get(f"{base}/api/v2/users/me.json", headers=auth) as resp:
        ok, body = await _answer(resp, "Zendesk", "subdomain, agent email and API token")
    if not ok:
        return False, str(body)
    user = body.get("user") if isinstance(body, dict) else None
    # Zendesk answers an unauthenticated users/me with an anonymous user (id null).
    if not isinstance(user, dict) or user.get("id") is None:
        return False, "Zendesk did not recognise the agent: check the agent email and API token"
    return True, f"Connected to Zendesk as {user.get('name') or user.get('email') or 'the agent'}"


async def _freshdesk(http: aiohttp.ClientSession, c: Mapping[str, str]) -> tuple[bool, str]:
    base = _base(c, f"https://{_host(c['domain'], '.freshdesk.com')}")
    auth = basic_auth(c["api_key"], "X")
    async with http.get(f"{base}/api/v2/agents/me", headers=auth) as resp:
        ok, body = await _answer(resp, "Freshdesk", "domain and API key")
    if not ok:
        return False, str(body)
    contact = body.get("contact") if isinstance(body, dict) else None
    name = contact.get("name") if isinstance(contact, dict) else None
    return True, f"Connected to Freshdesk as {name or 'the agent'}"


async def _intercom(http: aiohttp.ClientSession, c: Mapping[str, str]) -> tuple[bool, str]:
    base = _base(c, "https://api.intercom.io")
    headers = {"Authorization": f"Bearer {c['access_token']}", "Accept": "application/json"}
    async with http.get(f"{base}/me", headers=headers) as resp:
        ok, body = await _answer(resp, "Intercom", "access token")
    if not ok:
        return False, str(body)
    app = body.get("app") if isinstance(body, dict) else None
    name = app.get("name") if isinstance(app, dict) else None
    return True, f"Connected to Intercom{f' workspace {name}' if name else ''}"


async def _helpscout(http: aiohttp.ClientSession, c: Mapping[str, str]) -> tuple[bool, str]:
    base = _base(c, "https://api.helpscout.net")
    form = {
        "grant_type": "client_credentials",
        "client_id": c["client_id"],
        "client_secret": c["client_secret"],
    }
    async with http.post(f"{base}/v2/oauth2/token", data=form) as resp:
        # Help Scout answers bad client credentials with 400 or 401 (OAuth2 invalid_client).
        if resp.status == 400:
            return False, (
                "Help Scout refused the app credentials (HTTP 400): check the app client ID "
                "and secret"
            )
        ok, body = await _answer(resp, "Help Scout", "app client ID and secret")
    if not ok:
        return False, str(body)
    if not isinstance(body, dict) or not body.get("access_token"):
        return False, "Help Scout answered without an access token: check the app's settings"
    return True, "Connected to Help Scout (an access token was granted)"


async def _happyfox(http: aiohttp.ClientSession, c: Mapping[str, str]) -> tuple[bool, str]:
    base = _base(c, f"https://{_host(c['subdomain'], '.happyfox.com')}")
    auth = basic_auth(c["api_key"], c["auth_code"])
    async with http.get(f"{base}/api/1.1/json/categories/", headers=auth) as resp:
        ok, body = await _answer(resp, "HappyFox", "subdomain, API key and auth code")
    if not ok:
        return False, str(body)
    count = len(body) if isinstance(body, list) else None
    return True, "Connected to HappyFox" + (f" ({count} categories)" if count is not None else "")


async def _twilio(http: aiohttp.ClientSession, c: Mapping[str, str]) -> tuple[bool, str]:
    base = _base(c, "https://api.twilio.com")
    sid = c["account_sid"]
    auth = basic_auth(sid, c["auth_token"])
    account = f"{base}/2010-04-01/Accounts/{sid}"
    async with http.get(f"{account}.json", headers=auth) as resp:
        ok, body = await _answer(resp, "Twilio", "account SID and auth token")
    if not ok:
        return False, str(body)
    number = c.get("phone_number", "")
    async with http.get(
        f"{account}/IncomingPhoneNumbers.json", params={"PhoneNumber": number}, headers=auth
    ) as resp:
        ok, found = await _answer(resp, "Twilio", "account SID and auth token")
    if not ok:
        return False, str(found)
    numbers = found.get("incoming_phone_numbers") if isinstance(found, dict) else None
    if not numbers or not any(n.get("phone_number") == number for n in numbers):
        return False, (
            f"Twilio accepted the credentials, but {number} is not one of this account's "
            "phone numbers: check the number (E.164, like +15551234567)"
        )
    name = body.get("friendly_name") if isinstance(body, dict) else None
    return True, f"Connected to Twilio{f' ({name})' if name else ''}; {number} is on the account"


async def _dialpad(http: aiohttp.ClientSession, c: Mapping[str, str]) -> tuple[bool, str]:
    base = _base(c, "https://dialpad.com")
    headers = {"Authorization": f"Bearer {c['api_key']}", "Accept": "application/json"}
    async with http.get(f"{base}/api/v2/company", headers=headers) as resp:
        ok, body = await _answer(resp, "Dialpad", "API key")
    if not ok:
        return False, str(body)
    name = body.get("name") if isinstance(body, dict) else None
    return True, f"Connected to Dialpad{f' ({name})' if name else ''}"


async def _ringcentral(http: aiohttp.ClientSession, c: Mapping[str, str]) -> tuple[bool, str]:
    base = _base(c, "https://platform.ringcentral.com")
    auth = basic_auth(c["client_id"], c["client_secret"])
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": c["jwt"]}
    async with http.post(f"{base}/restapi/oauth/token", data=form, headers=auth) as resp:
        if resp.status == 400:
            return False, (
                "RingCentral refused the sign-in (HTTP 400): check the client ID and secret and "
                "that the user JWT is current"
            )
        ok, body = await _answer(resp, "RingCentral", "client ID and secret and user JWT")
    if not ok:
        return False, str(body)
    if not isinstance(body, dict) or not body.get("access_token"):
        return False, "RingCentral answered without an access token: check the app's settings"
    return True, "Connected to RingCentral (signed in with the user JWT)"


async def _aircall(http: aiohttp.ClientSession, c: Mapping[str, str]) -> tuple[bool, str]:
    base = _base(c, "https://api.aircall.io")
    auth = basic_auth(c["api_id"], c["api_token"])
    async with http.get(f"{base}/v1/ping", headers=auth) as resp:
        ok, body = await _answer(resp, "Aircall", "API ID and API token")
    return (True, "Connected to Aircall") if ok else (False, str(body))


async def _quo(http: aiohttp.ClientSession, c: Mapping[str, str]) -> tuple[bool, str]:
    base = _base(c, "https://api.openphone.com")
    # Quo (formerly OpenPhone) takes the bare key in Authorization, no scheme.
    headers = {"Authorization": c["api_key"], "Accept": "application/json"}
    async with http.get(f"{base}/v1/phone-numbers", headers=headers) as resp:
        ok, body = await _answer(resp, "Quo", "API key")
    if not ok:
        return False, str(body)
    data = body.get("data") if isinstance(body, dict) else None
    numbers = [n.get("number") for n in data if isinstance(n, dict)] if data else []
    wanted = c.get("phone_number")
    if wanted and wanted not in numbers:
        return False, (
            f"Quo accepted the API key, but {wanted} is not one of the workspace's numbers: "
            "check the number filter (E.164) or leave it blank"
        )
    return True, f"Connected to Quo ({len(numbers)} phone numbers)"


def vonage_jwt(application_id: str, private_key: str, *, now: float | None = None) -> str:
    """A short-lived application JWT (RS256 with the application's private key), the way
    Vonage's own SDK signs its Voice API calls. Raises ValueError for a key that is no key."""
    issued = int(time.time() if now is None else now)
    claims = {
        "application_id": application_id,
        "iat": issued,
        "exp": issued + 300,
        "jti": str(uuid.uuid4()),
    }
    try:
        return jwt.encode(claims, private_key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise ValueError("the private key is not a PEM RSA private key") from exc


async def _vonage(http: aiohttp.ClientSession, c: Mapping[str, str]) -> tuple[bool, str]:
    base = _base(c, "https://api.nexmo.com")
    try:
        token = vonage_jwt(c["application_id"], c["private_key"])
    except ValueError:
        return False, (
            "The private key is not a PEM RSA private key: paste the whole private.key file "
            "Vonage gave for the application (-----BEGIN PRIVATE KEY----- ...)"
        )
    # The Application API itself takes the account's API key and secret, which a line does not
    # keep; the Voice API takes the application's JWT, so listing one call proves the pair.
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    async with http.get(f"{base}/v1/calls", params={"page_size": "1"}, headers=headers) as resp:
        ok, body = await _answer(resp, "Vonage", "application ID and private key")
    return (
        (True, "Connected to Vonage (the application's key signs in)") if ok else (False, str(body))
    )


CHECKS: dict[str, Check] = {
    "zendesk": _zendesk,
    "freshdesk": _freshdesk,
    "intercom": _intercom,
    "helpscout": _helpscout,
    "happyfox": _happyfox,
    "twilio": _twilio,
    "dialpad": _dialpad,
    "ringcentral": _ringcentral,
    "aircall": _aircall,
    "quo": _quo,
    "vonage": _vonage,
}


async def check(
    provider: str, credentials: Mapping[str, str], *, limits: aiohttp.ClientTimeout = TIMEOUT
) -> tuple[bool, str]:
    """Call PROVIDER once with CREDENTIALS: (True, what was reached) or (False, why not).
    Network failures are answered, not raised; an unknown provider raises KeyError."""
    run = CHECKS[provider]
    title = PROVIDERS[provider].title
    try:
        async with aiohttp.ClientSession(timeout=limits) as http:
            return await run(http, credentials)
    except TimeoutError:
        return False, f"{title} did not answer within {limits.total or 0:g} seconds"
    except aiohttp.InvalidURL:
        return False, f"{title}'s address is not a valid URL: check the address fields"
    except aiohttp.ClientError as exc:
        # The exception names host and port at most, never the credentials (sent in headers).
        return False, f"{title} could not be reached: {type(exc).__name__}"
