"""RingCentral simulator: the JWT grant (`POST /restapi/oauth/token`, Basic auth with the
client id and secret), and WebHook subscriptions (`POST /restapi/v1.0/subscription`, which
first calls the address with a `Validation-Token` header that must come back, as RingCentral
does; `POST .../{id}/renew`; `DELETE .../{id}`), with expiry times from a clock the test
controls; `GET /restapi/v1.0/subscription` (`{uri, records}`: RingCentral does not page it);
and the voicemail events RingCentral sends with our `Verification-Token`. Errors in
RingCentral's shape (`{errorCode, message, errors}`; a 429 is `CMN-301` with Retry-After)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import aiohttp
from aiohttp import web

from tests.sims.base import FaultKind, Simulator

__all__ = ["RingCentralSim", "voicemail_event"]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class RingCentralSim(Simulator):
    name: ClassVar[str] = "ringcentral"

    def __init__(
        self,
        *,
        client_id: str = "rc-client-0000",
        client_secret: str = "rc-secret-0000",
        jwt: str = "rc-user-jwt-0000",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.jwt = jwt
        self.clock = clock or (lambda: datetime.now(UTC))
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.transcripts: dict[str, str] = {}
        """Transcript text by message id, served as its AudioTranscription attachment."""
        self.tokens: set[str] = set()
        self.reach: Callable[[str], str] = lambda url: url
        """Where the simulator really posts for an address (the test's gateway)."""
        super().__init__()

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/restapi/oauth/token", self._token)
        router.add_get("/restapi/v1.0/subscription", self._list)
        router.add_post("/restapi/v1.0/subscription", self._subscribe)
        router.add_post("/restapi/v1.0/subscription/{id}/renew", self._renew)
        router.add_delete("/restapi/v1.0/subscription/{id}", self._delete)
        router.add_get(
            "/restapi/v1.0/account/~/extension/{ext}/message-store/{id}/content/{attachment}",
            self._content,
        )

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response(
            {
                "errorCode": code,
                "message": message,
                "errors": [{"errorCode": code, "message": message}],
            },
            status=status,
        )

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        code, message = {
            401: ("AGW-401", "Authorization header is not specified"),
            403: ("CMN-408", "In order to call this API endpoint, user needs to have permissions"),
            429: ("CMN-301", "Request rate exceeded"),
        }.get(status, ("CMN-211", "Internal server error"))
        response = self._error(status, code, error or message)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    async def _list(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._error(401, "AGW-401", "Authorization header is not specified")
        return web.json_response(
            {
                "uri": "https://platform.ringcentral.com/restapi/v1.0/subscription",
                "records": list(self.subscriptions.values()),
            }
        )

    async def _token(self, request: web.Request) -> web.StreamResponse:
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        form = self.record_of(request).form
        if request.headers.get("Authorization") != f"Basic {basic}":
            return web.json_response(
                {"error": "invalid_client", "error_description": "Invalid client"}, status=401
            )
        if (
            form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer"
            or form.get("assertion") != self.jwt
        ):
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Invalid JWT"}, status=400
            )
        token = secrets.token_hex(16)
        self.tokens.add(token)
        return web.json_response(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": 3600,
                "scope": "ReadMessages",
            }
        )

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.tokens

    async def _subscribe(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._error(401, "AGW-401", "Authorization header is not specified")
        body = self.record_of(request).json or {}
        delivery = body.get("deliveryMode") or {}
        address = delivery.get("address")
        if delivery.get("transportType") != "WebHook" or not address:
            return self._error(400, "SUB-400", "deliveryMode.address is required")
        challenge = secrets.token_hex(8)
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.post(self.reach(address), headers={"Validation-Token": challenge}) as answer,
            ):
                echoed = answer.headers.get("Validation-Token")
                ok = answer.status == 200 and echoed == challenge
        except aiohttp.ClientError:
            ok = False
        if not ok:
            return self._error(
                400, "SUB-523", "WebHook responds with incorrect HTTP status or Validation-Token"
            )
        sub_id = secrets.token_hex(12)
        expires_in = int(body.get("expiresIn") or 604800)
        now = self.clock()
        subscription = {
            "uri": f"https://platform.ringcentral.com/restapi/v1.0/subscription/{sub_id}",
            "id": sub_id,
            "creationTime": _iso(now),
            "status": "Active",
            "eventFilters": body.get("eventFilters") or [],
            "expirationTime": _iso(now + timedelta(seconds=expires_in)),
            "expiresIn": expires_in,
            "deliveryMode": {
                "transportType": "WebHook",
                "address": address,
                "verificationToken": delivery.get("verificationToken"),
                "encryption": False,
            },
        }
        self.subscriptions[sub_id] = subscription
        return web.json_response(subscription)

    async def _renew(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._error(401, "AGW-401", "Authorization header is not specified")
        subscription = self.subscriptions.get(request.match_info["id"])
        if subscription is None:
            return self._error(404, "SUB-404", "Subscription not found")
        now = self.clock()
        subscription["expirationTime"] = _iso(now + timedelta(seconds=subscription["expiresIn"]))
        return web.json_response(subscription)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._error(401, "AGW-401", "Authorization header is not specified")
        if self.subscriptions.pop(request.match_info["id"], None) is None:
            return self._error(404, "SUB-404", "Subscription not found")
        return web.Response(status=204)

    async def _content(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._error(401, "AGW-401", "Authorization header is not specified")
        text = self.transcripts.get(request.match_info["id"])
        if text is None:
            return self._error(404, "CMN-102", "Resource for parameter [messageId] is not found")
        return web.Response(text=text, content_type="text/plain")

    def verification_token(self, address: str) -> str:
        sub = next(
            s for s in self.subscriptions.values() if s["deliveryMode"]["address"] == address
        )
        return str(sub["deliveryMode"]["verificationToken"])


def voicemail_event(
    *,
    message_id: int,
    caller: str,
    line_number: str,
    subscription_id: str,
    transcript_base: str | None = None,
) -> dict[str, Any]:
    """A voicemail notification in RingCentral's shape: `body` is the voicemail message;
    with TRANSCRIPT_BASE (the simulator's URL) its transcription is finished and attached."""
    attachments: list[dict[str, Any]] = [
        {
            "id": 7001,
            "uri": (
                "https://media.ringcentral.com/restapi/v1.0/account/101/extension/101"
                f"/message-store/{message_id}/content/7001"
            ),
            "type": "AudioRecording",
            "contentType": "audio/mpeg",
            "vmDuration": 19,
        }
    ]
    if transcript_base is not None:
        attachments.append(
            {
                "id": 7002,
                "uri": (
                    f"{transcript_base}/restapi/v1.0/account/~/extension/101"
                    f"/message-store/{message_id}/content/7002"
                ),
                "type": "AudioTranscription",
                "contentType": "text/plain",
            }
        )
    return {
        "uuid": secrets.token_hex(8),
        "event": "/restapi/v1.0/account/~/extension/~/voicemail",
        "timestamp": "2026-12-06T05:00:00.000Z",
        "subscriptionId": subscription_id,
        "ownerId": "101",
        "body": {
            "id": message_id,
            "type": "VoiceMail",
            "from": {"phoneNumber": caller, "name": "Caller"},
            "to": [{"phoneNumber": line_number}],
            "readStatus": "Unread",
            "vmTranscriptionStatus": "Completed" if transcript_base else "InProgress",
            "attachments": attachments,
        },
    }
