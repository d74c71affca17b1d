"""Twilio REST simulator (Messages and Calls of API 2010-04-01) and a client pointed at it.

Pointing the official client at another base URL (what ``TWILIO_API_URL`` means): the
Messages and Calls resources live on the ``api`` domain, whose ``base_url`` attribute defaults
to ``https://api.twilio.com`` and is read on every request, so::

    client = Client(account_sid, auth_token, http_client=AsyncTwilioHttpClient())
    client.api.base_url = settings.twilio_api_url  # e.g. "https://api.twilio.com"

Do not combine it with ``edge``/``region`` (or the ``TWILIO_EDGE``/``TWILIO_REGION`` variables):
those rewrite the host name of every URL.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import math
import re
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.sims.base import FaultKind, Limit, Recorded, Simulator

__all__ = [
    "CompatAsyncTwilioHttpClient",
    "TwilioSim",
    "call_webhook",
    "message_webhook",
    "recording_webhook",
    "transcription_webhook",
    "twilio_client_for",
    "twilio_signature",
]

Resource = dict[str, Any]

API_VERSION = "2010-04-01"
MAX_BODY = 1600
_E164 = re.compile(r"^(whatsapp:|messenger:)?\+[1-9]\d{6,14}$")
_ERROR_MESSAGES = {
    400: (21600, "Bad Request"),
    401: (20003, "Authenticate"),
    403: (20403, "Forbidden. You do not have permission to access this resource"),
    404: (20404, "The requested resource was not found"),
    429: (20429, "Too Many Requests"),
    500: (20500, "An internal server error has occurred"),
    503: (20503, "Service unavailable"),
}


def _rfc2822(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


def _sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


class TwilioSim(Simulator):
    """Speaks the Twilio REST API for ``twilio.rest.Client`` at ``<url>/2010-04-01/...``.

    ``POST .../Messages.json`` (To, From, Body, MediaUrl, StatusCallback → message resource
    with sid ``SM...``/``MM...`` and status ``queued``), ``GET .../Messages/{sid}.json``,
    ``GET .../Messages.json`` (To/From filters, newest first, PageSize/Page paging),
    ``POST .../Calls.json``, ``GET``/``POST .../Calls/{sid}.json``, ``GET .../{sid}.json`` (the
    account, its ``status`` from ``account_status``) and ``GET .../IncomingPhoneNumbers.json``
    (``phone_numbers``, filtered by ``PhoneNumber``). HTTP Basic auth must be
    account sid + auth token; errors use Twilio's ``{code, message, more_info, status}`` body.
    ``enforce_limits=True``: message creates over 1 per second to one recipient or 25 per
    second from one sender are refused with 429 (error 20429) and Retry-After. (Twilio queues
    what exceeds a number's throughput rather than refusing it; refusing shows a test when
    the gateway sends faster than it means to.)
    """

    name: ClassVar[str] = "twilio"

    def __init__(
        self,
        *,
        account_sid: str = "AC" + "5" * 32,
        auth_token: str = "simauthtoken" + "0" * 20,
        enforce_limits: bool = False,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: dict[str, Resource] = {}
        """sid -> message resource, in creation order."""
        self.calls_made: dict[str, Resource] = {}
        """sid -> call resource, in creation order (``calls()`` is the request log)."""
        self.status_callbacks: list[tuple[str, dict[str, str], int]] = []
        """(url, params, HTTP status) of every status callback the simulator delivered."""
        self._seq = itertools.count(1)
        self._refusals: list[tuple[int, int, str]] = []
        self.account_status = "active"
        """What ``GET .../Accounts/{sid}.json`` answers as ``status`` (suspended, closed)."""
        self.phone_numbers: list[str] = []
        """E.164 numbers listed by ``GET .../IncomingPhoneNumbers.json``."""
        super().__init__(enforce_limits=enforce_limits)

    # ------------------------------------------------------------------ inspection

    def sent(self, to: str | None = None) -> list[Resource]:
        """Message resources created through the API, optionally to one recipient."""
        return [m for m in self.messages.values() if to is None or m["to"] == to]

    def message_params(self) -> list[dict[str, Any]]:
        """Form parameters of every Messages.json create call (MediaUrl repeated → list)."""
        return [r.params for r in self.calls("/Messages.json", method="POST")]

    # ------------------------------------------------------------------ scripting

    async def advance(
        self,
        sid: str,
        status: str,
        *,
        error_code: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - bounds the callback POST to the app
        deliver_to: str | None = None,
    ) -> int | None:
        """Move message ``sid`` to ``status`` and deliver its signed StatusCallback, if any.

        Returns the callback's HTTP status (``None`` when the message has no StatusCallback).
        The ``X-Twilio-Signature`` is computed with the SDK's ``RequestValidator``.
        ``deliver_to`` posts the callback to another URL while still signing the
        StatusCallback URL, as a reverse proxy in front of the app would forward it (the
        StatusCallback names the app's public address, which tests do not serve).
        """
        message = self.messages[sid]
        message["status"] = status
        message["date_updated"] = _rfc2822(datetime.now(UTC))
        if status in ("sent", "delivered", "read"):
            message["date_sent"] = message["date_sent"] or message["date_updated"]
        if error_code is not None:
            message["error_code"] = error_code
            message["error_message"] = f"Simulated error {error_code}"
        url = message.get("_status_callback")
        if not url:
            return None
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": message["from"],
            "To": message["to"],
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
        }
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.post(
                deliver_to or url, data=params, headers={"X-Twilio-Signature": signature}
            ) as response,
        ):
            await response.read()
            self.status_callbacks.append((url, params, response.status))
            return response.status

    def refuse(self, code: int, *, status: int = 400, message: str | None = None) -> None:
        """Answer the next ``Messages.json`` create with Twilio error ``code`` (e.g. 21610,
        "Attempt to send to unsubscribed recipient"; 21211, invalid 'To' number)."""
        known = {
            21610: "Attempt to send to unsubscribed recipient",
            21211: "The 'To' number is not a valid phone number.",
            21614: "'To' number is not a valid mobile number",
        }
        self._refusals.append((status, code, message or known.get(code, f"Error {code}")))

    # ------------------------------------------------------------------ routes

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        base = f"/{API_VERSION}/Accounts/{{account_sid}}"
        router.add_post(f"{base}/Messages.json", self._create_message)
        router.add_get(f"{base}/Messages.json", self._list_messages)
        router.add_get(f"{base}/Messages/{{sid}}.json", self._fetch_message)
        router.add_post(f"{base}/Calls.json", self._create_call)
        router.add_get(f"{base}/Calls/{{sid}}.json", self._fetch_call)
        router.add_post(f"{base}/Calls/{{sid}}.json", self._update_call)
        router.add_get(f"/{API_VERSION}/Accounts/{{account_sid}}.json", self._fetch_account)
        router.add_get(f"{base}/IncomingPhoneNumbers.json", self._list_numbers)

    def limits(self, record: Recorded) -> list[Limit]:
        if record.method != "POST" or not record.path.endswith("/Messages.json"):
            return []
        params = record.params
        sender = params.get("From") or params.get("MessagingServiceSid")
        return [Limit(f"to:{params.get('To')}", 1, 1.0), Limit(f"from:{sender}", 25, 1.0)]

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        code, message = _ERROR_MESSAGES.get(status, (status * 100, "Error"))
        response = _error(status, code, error or message)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    def _authorized(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        user = password = None
        if header.startswith("Basic "):
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        if (
            user != self.account_sid
            or password != self.auth_token
            or request.match_info["account_sid"] != self.account_sid
        ):
            return _error(401, 20003, "Authenticate")
        return None

    def _uri(self, kind: str, sid: str) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/{kind}/{sid}.json"

    async def _create_message(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._authorized(request)) is not None:
            return denied
        record = self.record_of(request)
        if self._refusals:
            return _error(*self._refusals.pop(0))
        form = record.form
        to, sender = form.get("To", ""), form.get("From", "")
        body = form.get("Body", "")
        media = form.getall("MediaUrl", [])
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender and not form.get("MessagingServiceSid"):
            return _error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required.")
        if not body and not media and not form.get("ContentSid"):
            return _error(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        sid = _sid("MM" if media else "SM")
        now = _rfc2822(datetime.now(UTC))
        segments = 1 if len(body) <= 160 else math.ceil(len(body) / 153)
        message: Resource = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender or None,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": str(len(media)),
            "num_segments": str(segments),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if form.get("MessagingServiceSid") and not sender else "queued",
            "subresource_uris": {
                "media": self._uri("Messages", sid).replace(".json", "/Media.json")
            },
            "to": to,
            "uri": self._uri("Messages", sid),
        }
        self.messages[sid] = {
            **message,
            "_status_callback": form.get("StatusCallback"),
            "_media": media,
        }
        return web.json_response(message, status=201)

    async def _list_messages(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._authorized(request)) is not None:
            return denied
        self.record_of(request)
        query = request.query
        found = [
            self._public(m)
            for m in reversed(self.messages.values())
            if all(
                query.get(name) in (None, m.get(field))
                for name, field in (("To", "to"), ("From", "from"))
            )
        ]
        try:
            size = max(1, min(int(query.get("PageSize", "50")), 1000))
            page = max(0, int(query.get("Page", "0")))
        except ValueError:
            return _error(400, 20001, "Invalid paging parameter.")
        start = page * size
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

        def uri(n: int) -> str:
            return f"{base}?{urlencode({**query, 'PageSize': size, 'Page': n})}"

        more = start + size < len(found)
        return web.json_response(
            {
                "messages": found[start : start + size],
                "page": page,
                "page_size": size,
                "start": start,
                "end": start + min(size, max(0, len(found) - start)) - 1,
                "uri": uri(page),
                "first_page_uri": uri(0),
                "next_page_uri": uri(page + 1) if more else None,
                "previous_page_uri": uri(page - 1) if page else None,
            }
        )

    async def _fetch_account(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._authorized(request)) is not None:
            return denied
        now = _rfc2822(datetime.now(UTC))
        # Twilio's account resource carries the auth token itself, as here.
        return web.json_response(
            {
                "sid": self.account_sid,
                "owner_account_sid": self.account_sid,
                "friendly_name": "Switchboard Sim",
                "status": self.account_status,
                "type": "Full",
                "auth_token": self.auth_token,
                "date_created": now,
                "date_updated": now,
                "uri": f"/{API_VERSION}/Accounts/{self.account_sid}.json",
                "subresource_uris": {},
            }
        )

    async def _list_numbers(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._authorized(request)) is not None:
            return denied
        wanted = request.query.get("PhoneNumber")
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers"
        found = [
            {
                "sid": f"PN{n:032d}",
                "account_sid": self.account_sid,
                "phone_number": number,
                "friendly_name": number,
                "capabilities": {"sms": True, "mms": True, "voice": True, "fax": False},
                "uri": f"{base}/PN{n:032d}.json",
            }
            for n, number in enumerate(self.phone_numbers, start=1)
            if wanted is None or number == wanted
        ]
        uri = f"{base}.json?{urlencode(request.query)}"
        return web.json_response(
            {
                "incoming_phone_numbers": found,
                "page": 0,
                "page_size": 50,
                "start": 0,
                "end": max(0, len(found) - 1),
                "uri": uri,
                "first_page_uri": uri,
                "next_page_uri": None,
                "previous_page_uri": None,
            }
        )

    def _public(self, resource: Resource) -> Resource:
        return {k: v for k, v in resource.items() if not k.startswith("_")}

    async def _fetch_message(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._authorized(request)) is not None:
            return denied
        message = self.messages.get(request.match_info["sid"])
        if message is None:
            return _not_found(request.path)
        return web.json_response(self._public(message))

    async def _create_call(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._authorized(request)) is not None:
            return denied
        form = self.record_of(request).form
        to, sender = form.get("To", ""), form.get("From", "")
        if not to:
            return _error(400, 21201, "No 'To' number is specified")
        if not _E164.match(to) and not to.startswith(("sip:", "client:")):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender:
            return _error(400, 21213, "No 'From' number is specified")
        if not (form.get("Url") or form.get("Twiml") or form.get("ApplicationSid")):
            return _error(400, 21205, "Url parameter is required.")
        sid = _sid("CA")
        now = _rfc2822(datetime.now(UTC))
        call: Resource = {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": now,
            "date_updated": now,
            "direction": "outbound-api",
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": sender,
            "from_formatted": sender,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": _sid("PN"),
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": sid,
            "start_time": None,
            "status": "queued",
            "subresource_uris": {
                "recordings": self._uri("Calls", sid).replace(".json", "/Recordings.json"),
                "notifications": self._uri("Calls", sid).replace(".json", "/Notifications.json"),
            },
            "to": to,
            "to_formatted": to,
            "trunk_sid": None,
            "uri": self._uri("Calls", sid),
        }
        self.calls_made[sid] = {
            **call,
            "_url": form.get("Url"),
            "_twiml": form.get("Twiml"),
            "_status_callback": form.get("StatusCallback"),
        }
        return web.json_response(call, status=201)

    async def _fetch_call(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._authorized(request)) is not None:
            return denied
        call = self.calls_made.get(request.match_info["sid"])
        if call is None:
            return _not_found(request.path)
        return web.json_response(self._public(call))

    async def _update_call(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._authorized(request)) is not None:
            return denied
        call = self.calls_made.get(request.match_info["sid"])
        if call is None:
            return _not_found(request.path)
        form = self.record_of(request).form
        status = form.get("Status")
        if status is not None:
            if status not in ("canceled", "completed"):
                return _error(400, 21218, f"Invalid Status value: {status}")
            call["status"] = status
            call["end_time"] = _rfc2822(datetime.now(UTC))
        for key in ("Url", "Twiml"):
            if form.get(key):
                call[f"_{key.lower()}"] = form[key]
        call["date_updated"] = _rfc2822(datetime.now(UTC))
        return web.json_response(self._public(call))


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


def _not_found(path: str) -> web.Response:
    return _error(404, 20404, f"The requested resource {path} was not found")


class CompatAsyncTwilioHttpClient(AsyncTwilioHttpClient):
    """``AsyncTwilioHttpClient`` with two twilio 9.13 defects worked around.

    * It honours its constructor ``timeout``: the stock client passes only the per-request
      timeout (always ``None`` from the resource methods) to aiohttp, so
      ``AsyncTwilioHttpClient(timeout=...)`` has no effect and a stalled Twilio holds the
      request for aiohttp's 5-minute default.
    * It sends Basic auth as a header: the stock client builds ``aiohttp.BasicAuth``, which
      aiohttp 3.14 deprecates (a ``DeprecationWarning`` on every request).
    """

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
            credentials = f"{auth[0]}:{auth[1]}".encode()
            headers = {
                **(headers or {}),
                "Authorization": "Basic " + base64.b64encode(credentials).decode(),
            }
        return await super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=timeout if timeout is not None else self.timeout,
            allow_redirects=allow_redirects,
        )


def twilio_client_for(
    sim: TwilioSim, *, timeout: float | None = 10.0, max_retries: int | None = None
) -> Client:
    """A real ``twilio.rest.Client`` with an async HTTP client, pointed at ``sim``.

    Use the ``*_async`` resource methods (``await client.messages.create_async(...)``) and
    ``await client.http_client.close()`` when done. ``max_retries`` enables the SDK's own
    aiohttp-retry (exponential backoff from 0.1 s; 5xx answers only: not 429, not timeouts).
    Must be called with an event loop running (aiohttp creates its session here).
    """
    http_client = CompatAsyncTwilioHttpClient(timeout=timeout, max_retries=max_retries)
    client = Client(sim.account_sid, sim.auth_token, http_client=http_client)
    # TWILIO_EDGE / TWILIO_REGION in the environment would rewrite the host: ignore them.
    client.edge = None
    client.region = None
    client.api.base_url = sim.url
    return client


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """``X-Twilio-Signature`` for a webhook to ``url`` with form ``params``, as Twilio signs."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


_GEOGRAPHY = ("Country", "State", "City", "Zip")


def message_webhook(
    *,
    account_sid: str,
    from_: str,
    to: str,
    body: str = "",
    sid: str | None = None,
    media: list[tuple[str, str]] | None = None,
) -> dict[str, str]:
    """The form Twilio posts to a Messaging webhook for one inbound SMS, MMS or WhatsApp
    message (``whatsapp:`` addresses); ``media`` is ``[(url, content type), ...]``."""
    media = media or []
    sid = sid or _sid("MM" if media else "SM")
    params = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": str(len(media)),
        "ToCity": "SAN FRANCISCO",
        "FromZip": "94105",
        "SmsSid": sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": body,
        "FromCountry": "US",
        "To": to,
        "ToZip": "94105",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    if from_.startswith("whatsapp:"):
        # WhatsApp webhooks carry the sender's profile instead of the numbers' geography.
        params = {k: v for k, v in params.items() if not k.endswith(_GEOGRAPHY)}
        params.update({"ProfileName": "Member", "WaId": from_.removeprefix("whatsapp:+")})
    for index, (url, content_type) in enumerate(media):
        params[f"MediaUrl{index}"] = url
        params[f"MediaContentType{index}"] = content_type
    return params


# ---------------------------------------------------------------------------- Voice webhooks


def call_webhook(
    *,
    account_sid: str,
    call_sid: str,
    from_: str,
    to: str,
    status: str = "ringing",
    speech: str | None = None,
    confidence: float = 0.92,
) -> dict[str, str]:
    """The form Twilio posts to a Voice URL: the call's start (``status`` ringing), a status
    callback (completed, busy, ...), or a ``<Gather input="speech">`` result (``speech``;
    an empty string is what a silent caller produces with ``actionOnEmptyResult``)."""
    params = {
        "Called": to,
        "ToState": "CA",
        "CallerCountry": "US",
        "Direction": "inbound",
        "CallerState": "CA",
        "ToZip": "94105",
        "CallSid": call_sid,
        "To": to,
        "CallerZip": "94105",
        "ToCountry": "US",
        "CalledZip": "94105",
        "ApiVersion": API_VERSION,
        "CalledCity": "SAN FRANCISCO",
        "CallStatus": status,
        "From": from_,
        "AccountSid": account_sid,
        "CalledCountry": "US",
        "CallerCity": "SAN FRANCISCO",
        "ToCity": "SAN FRANCISCO",
        "FromCountry": "US",
        "Caller": from_,
        "FromCity": "SAN FRANCISCO",
        "CalledState": "CA",
        "FromZip": "94105",
        "FromState": "CA",
    }
    if status in ("completed", "busy", "no-answer", "failed", "canceled"):
        params["CallDuration"] = "42"
        params["Duration"] = "1"
        params["Timestamp"] = _rfc2822(datetime.now(UTC))
        params["CallbackSource"] = "call-progress-events"
        params["SequenceNumber"] = "0"
    if speech is not None:
        params["CallStatus"] = "in-progress"
        params["SpeechResult"] = speech
        if speech:
            params["Confidence"] = f"{confidence:.8f}"
    return params


def recording_webhook(
    *,
    account_sid: str,
    call_sid: str,
    from_: str,
    to: str,
    recording_sid: str | None = None,
    duration: int = 14,
) -> dict[str, str]:
    """The form of a ``<Record>`` action request once the caller finished (or hung up)."""
    recording_sid = recording_sid or _sid("RE")
    params = call_webhook(
        account_sid=account_sid, call_sid=call_sid, from_=from_, to=to, status="completed"
    )
    for name in ("CallDuration", "Duration", "Timestamp", "CallbackSource", "SequenceNumber"):
        params.pop(name, None)
    params.update(
        {
            "RecordingSid": recording_sid,
            "RecordingUrl": (
                f"https://api.twilio.com/{API_VERSION}/Accounts/{account_sid}"
                f"/Recordings/{recording_sid}"
            ),
            "RecordingDuration": str(duration),
            "Digits": "hangup",
        }
    )
    return params


def transcription_webhook(
    *,
    account_sid: str,
    call_sid: str,
    from_: str,
    to: str,
    recording_sid: str,
    text: str | None,
) -> dict[str, str]:
    """The ``transcribeCallback`` request: ``text`` None means the transcription failed."""
    transcription_sid = _sid("TR")
    base = f"https://api.twilio.com/{API_VERSION}/Accounts/{account_sid}"
    return {
        "ApiVersion": API_VERSION,
        "TranscriptionType": "fast",
        "TranscriptionUrl": f"{base}/Recordings/{recording_sid}/Transcriptions/{transcription_sid}",
        "TranscriptionSid": transcription_sid,
        "Called": to,
        "RecordingSid": recording_sid,
        "CallStatus": "completed",
        "RecordingUrl": f"{base}/Recordings/{recording_sid}",
        "From": from_,
        "Direction": "inbound",
        "url": "",
        "AccountSid": account_sid,
        "TranscriptionText": text or "",
        "Caller": from_,
        "TranscriptionStatus": "completed" if text is not None else "failed",
        "CallSid": call_sid,
        "To": to,
    }
