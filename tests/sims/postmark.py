"""Postmark simulator (``POST /email``) for ``postmark.ServerClient(token, base_url=...)``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiohttp import web

from tests.sims.base import FaultKind, Simulator

__all__ = ["PostmarkSim"]

Email = dict[str, Any]

# Postmark's own ErrorCode values (https://postmarkapp.com/developer/api/overview#error-codes).
_ERRORS = {
    401: (
        10,
        "The Server Token you provided in the X-Postmark-Server-Token request header was invalid.",
    ),
    422: (300, "Invalid email request"),
    429: (429, "Rate limit exceeded."),
    500: (500, "Internal Server Error"),
    503: (503, "Service Unavailable"),
}


class PostmarkSim(Simulator):
    """Accepts single sends like Postmark: 200 with ``{To, SubmittedAt, MessageID, ErrorCode: 0,
    Message: "OK"}``. Needs ``X-Postmark-Server-Token`` (401, ErrorCode 10); From, To, and a
    TextBody or HtmlBody (422, ErrorCode 300 otherwise); an inactive recipient gets 422 with
    ErrorCode 406 like Postmark's suppression list. ``GET /server`` answers the server's
    configuration (``delivery_type``, ``inbound_hook_url``)."""

    name: ClassVar[str] = "postmark"

    def __init__(self, *, server_token: str = "pm-server-token-0000") -> None:
        self.server_token = server_token
        self.inactive: set[str] = set()
        self.delivery_type = "Live"
        """``GET /server``'s DeliveryType: Live, or Sandbox (nothing is delivered)."""
        self.inbound_hook_url: str | None = None
        self.accepted: list[tuple[str, Email]] = []
        """(MessageID, email JSON) of every accepted send, in order."""
        super().__init__()

    def emails(self) -> list[Email]:
        return [mail for _, mail in self.accepted]

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/email", self._send)
        router.add_get("/server", self._server)

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        code, message = _ERRORS.get(status, (status, "Error"))
        if status == 403:
            code, message = 412, error or "Your account is pending approval: you cannot send yet."
        return web.json_response({"ErrorCode": code, "Message": error or message}, status=status)

    async def _server(self, request: web.Request) -> web.StreamResponse:
        if self.record_of(request).headers.get("X-Postmark-Server-Token") != self.server_token:
            return self.error_response(401)
        return web.json_response(
            {
                "ID": 1,
                "Name": "Switchboard Sim",
                "ApiTokens": [self.server_token],
                "Color": "Blue",
                "SmtpApiActivated": True,
                "RawEmailEnabled": False,
                "DeliveryType": self.delivery_type,
                "ServerLink": "https://account.postmarkapp.com/servers/1/streams",
                "InboundAddress": "0123456789abcdef@inbound.postmarkapp.com",
                "InboundHookUrl": self.inbound_hook_url,
                "BounceHookUrl": None,
                "OpenHookUrl": None,
                "DeliveryHookUrl": None,
                "PostFirstOpenOnly": False,
                "InboundDomain": None,
                "InboundHash": "0123456789abcdef",
                "InboundSpamThreshold": 0,
                "TrackOpens": False,
                "TrackLinks": "None",
                "IncludeBounceContentInHook": True,
                "ClickHookUrl": None,
                "EnableSmtpApiErrorHooks": False,
            }
        )

    async def _send(self, request: web.Request) -> web.StreamResponse:
        record = self.record_of(request)
        if record.headers.get("X-Postmark-Server-Token") != self.server_token:
            return self.error_response(401)
        mail = record.json
        if not isinstance(mail, dict):
            return self.error_response(422, error="Request body is not valid JSON.")
        for field in ("From", "To"):
            if not mail.get(field):
                return web.json_response(
                    {"ErrorCode": 300, "Message": f"Invalid '{field}' address: ''."}, status=422
                )
        if not mail.get("TextBody") and not mail.get("HtmlBody"):
            return web.json_response(
                {"ErrorCode": 300, "Message": "Provide either email TextBody or HtmlBody or both."},
                status=422,
            )
        if str(mail["To"]).lower() in self.inactive:
            return web.json_response(
                {
                    "ErrorCode": 406,
                    "Message": (
                        "You tried to send to recipient(s) that have been marked as inactive. "
                        f"Found inactive addresses: {mail['To']}. Inactive recipients are ones "
                        "that have generated a hard bounce, a spam complaint, or a manual "
                        "suppression."
                    ),
                },
                status=422,
            )
        message_id = str(uuid.uuid4())
        self.accepted.append((message_id, mail))
        return web.json_response(
            {
                "To": mail["To"],
                "SubmittedAt": datetime.now(UTC).isoformat(),
                "MessageID": message_id,
                "ErrorCode": 0,
                "Message": "OK",
            }
        )
