"""Twilio pieces SMS, WhatsApp and voice share: webhook signatures and answers, the REST
client, its errors.

Signatures: Twilio signs the URL it called plus the sorted POST parameters with the account's
auth token (`X-Twilio-Signature`). Behind a proxy or tunnel the gateway sees another host, so
the URL is rebuilt from `PUBLIC_BASE_URL` and the request's path and query, never taken from
the local request.

REST client: `twilio.rest.Client` on an async HTTP client whose constructor timeout really
applies. twilio 9's `AsyncTwilioHttpClient` hands aiohttp only the per-request timeout, which
the resource methods never set, so a stalled API would hold a delivery for aiohttp's
five-minute default.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import re
from contextvars import ContextVar
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlparse

import aiohttp
from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator, add_port, remove_port
from twilio.rest import Client

from channels.base import (
    ChannelContext,
    InboundRequest,
    channel_or_404,
    from_aiohttp,
    missing_settings,
)
from channels.errors import ChannelRejected, SignatureRejected
from delivery.errors import (
    BadRequest,
    DeliveryError,
    Forbidden,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    parse_retry_after,
)

log = logging.getLogger(__name__)
C = TypeVar("C")

SIGNATURE_HEADER = "X-Twilio-Signature"
DEFAULT_TIMEOUT = 10.0
# Twilio's 429 (error 20429: too many concurrent requests) usually carries no Retry-After;
# a second is what its docs suggest waiting before trying again.
DEFAULT_RETRY_AFTER = 1.0
# ASCII digits (\d takes any script's digits); \Z, since $ also matches before a final newline.
E164 = re.compile(r"^\+[1-9][0-9]{6,14}\Z")

# The Retry-After of the last 429 answered in this task (the SDK's exception drops headers).
_retry_after: ContextVar[float | None] = ContextVar("twilio_retry_after", default=None)


class SignatureError(Exception):
    """The request does not carry a valid `X-Twilio-Signature` for our auth token."""


class MalformedWebhook(Exception):
    """The request is signed but its body is not what Twilio sends."""


class WebhookVerifier:
    """Checks `X-Twilio-Signature` with the SDK's `RequestValidator` against the public URL."""

    def __init__(self, auth_token: str, public_base_url: str) -> None:
        self._validator = RequestValidator(auth_token)
        self._base = public_base_url.rstrip("/")
        # Twilio may sign the URL with or without its port (the SDK's validate() tries both):
        # both forms of the base, worked out once rather than per request.
        parsed = urlparse(self._base)
        self._bases = (remove_port(parsed), add_port(parsed))

    def public_url(self, request: InboundRequest) -> str:
        """The URL Twilio called: PUBLIC_BASE_URL + path (+ query), not the local host."""
        return self._base + self._rest(request)

    @staticmethod
    def _rest(request: InboundRequest) -> str:
        query = request.raw_query
        return request.path + (f"?{query}" if query else "")

    def verify(self, request: InboundRequest) -> MultiDictProxy[str]:
        """The form parameters of a correctly signed webhook.

        Raises:
            SignatureError: the signature is missing or does not match.
            MalformedWebhook: the body is not url-encoded text.
        """
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            raise SignatureError(f"{SIGNATURE_HEADER} is missing")
        params = parse_form(request)
        rest = self._rest(request)
        # What RequestValidator.validate does for a form body, with the SDK's own signature,
        # but the second URL form computed only when the first does not match.
        expected = signature.encode()
        if not any(
            hmac.compare_digest(
                self._validator.compute_signature(base + rest, params).encode(), expected
            )
            for base in self._bases
        ):
            raise SignatureError(f"{SIGNATURE_HEADER} does not match this request")
        return params


def parse_form(request: InboundRequest) -> MultiDictProxy[str]:
    """The url-encoded body as a multidict (blank values kept: Twilio signs them too).

    Raises:
        MalformedWebhook: another content type, or bytes that are not UTF-8.
    """
    content_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if request.body and content_type != "application/x-www-form-urlencoded":
        raise MalformedWebhook("the body must be application/x-www-form-urlencoded")
    try:
        text = request.body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedWebhook(f"the form body cannot be read: {exc}") from exc
    # A NUL in the parameters is one in the text, or one percent-encoded (`%00`).
    if "\x00" in text or ("%00" in text and any("\x00" in k or "\x00" in v for k, v in pairs)):
        # Twilio never sends one, and PostgreSQL cannot take one as a query parameter.
        raise MalformedWebhook("the form holds a NUL character")
    return MultiDictProxy(MultiDict(pairs))


def running_channel(
    context: ChannelContext, name: str, kind: type[C], required: tuple[str, ...]
) -> C:
    """The running Twilio adapter NAME; a 404 naming its first missing setting when it is off."""
    missing = missing_settings(context.settings, required)
    return channel_or_404(context, name, kind, missing[0] if missing else "TWILIO_ACCOUNT_SID")


async def verified_params(
    verifier: WebhookVerifier, account_sid: str, request: web.Request
) -> MultiDictProxy[str]:
    """The signed form parameters of REQUEST; a 403 for a bad or missing signature or another
    account's webhook, 400 for a bad body."""
    try:
        params = verifier.verify(await from_aiohttp(request))
    except SignatureError as exc:
        raise SignatureRejected(403, str(exc)) from exc
    except MalformedWebhook as exc:
        raise ChannelRejected(400, str(exc)) from exc
    account = params.get("AccountSid")
    if account is not None and account != account_sid:
        raise SignatureRejected(403, "AccountSid is not this gateway's Twilio account")
    return params


def twiml_response(document: object) -> web.Response:
    """A TwiML answer (the SDK's response objects render themselves with str())."""
    return web.Response(text=str(document), content_type="text/xml")


class TimeoutHttpClient(AsyncTwilioHttpClient):
    """`AsyncTwilioHttpClient` that applies its own timeout, sends Basic auth as a header
    (aiohttp deprecates `BasicAuth` objects) and remembers a 429's Retry-After."""

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's own signature
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        if auth is not None:
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers = {**(headers or {}), "Authorization": f"Basic {credentials}"}
        _retry_after.set(None)
        response = await super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=timeout if timeout is not None else self.timeout,
            allow_redirects=allow_redirects,
        )
        if response.status_code == 429:
            _retry_after.set(_seconds(response.headers))
        return response

    # The SDK logs every request and response in several INFO lines: one DEBUG line instead.
    def log_request(self, kwargs: dict[str, Any]) -> None:
        log.debug("Twilio API %s %s", kwargs["method"], kwargs["url"])

    def log_response(self, status_code: int, response: Any) -> None:
        log.debug("Twilio API answered %s", status_code)


def _seconds(headers: object) -> float | None:
    return parse_retry_after(getattr(headers, "get", lambda _name: None)("Retry-After"))


def rest_client(
    account_sid: str, auth_token: str, api_url: str, *, timeout: float = DEFAULT_TIMEOUT
) -> Client:
    """A `twilio.rest.Client` on `TimeoutHttpClient`, its API domain at API_URL.

    Call with the event loop running (the HTTP client opens its aiohttp session here); close
    with `await client.http_client.close()`.
    """
    client = Client(account_sid, auth_token, http_client=TimeoutHttpClient(timeout=timeout))
    # TWILIO_EDGE / TWILIO_REGION would rewrite the host name of every URL: API_URL decides.
    client.edge = None
    client.region = None
    client.api.base_url = api_url.rstrip("/")
    return client


def delivery_error(exc: BaseException) -> DeliveryError:
    """The outbox's view of a failed REST call (statuses only; channels add error codes)."""
    if isinstance(exc, TwilioRestException):
        detail = f"Twilio {exc.status} error {exc.code}: {exc.msg}"
        if exc.status == 429:
            return RateLimited(detail, retry_after=_retry_after.get() or DEFAULT_RETRY_AFTER)
        if exc.status in (401, 403):
            return Forbidden(detail)
        if exc.status >= 500 or exc.status == 408:
            return ProviderUnavailable(detail)
        return BadRequest(detail)
    if isinstance(exc, TimeoutError):
        return ProviderTimeout("Twilio did not answer in time")
    if isinstance(exc, aiohttp.ClientConnectorError):  # nothing reached Twilio
        return ProviderUnavailable(f"Twilio call failed: {type(exc).__name__}: {exc}")
    if isinstance(exc, aiohttp.ClientError | json.JSONDecodeError):
        # A reset connection or an unreadable answer: the call may or may not have gone out.
        # It is retried (a lost reply is worse), after asking Twilio whether it has it.
        return ProviderUnavailable(
            f"Twilio call failed: {type(exc).__name__}: {exc}", maybe_sent=True
        )
    return DeliveryError(f"{type(exc).__name__}: {exc}")
