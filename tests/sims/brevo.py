"""Brevo simulator (``POST /v3/smtp/email``) for ``brevo.AsyncBrevo(base_url=sim.base_url)``."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from aiohttp import web

from tests.sims.base import FaultKind, Simulator

__all__ = ["BrevoSim"]

Email = dict[str, Any]


class BrevoSim(Simulator):
    """Accepts transactional sends like Brevo: 201 ``{"messageId": "<...@smtp-relay.mailin.fr>"}``.
    Needs the ``api-key`` header (401 ``unauthorized``); ``sender.email``, ``to`` and
    ``subject`` with ``htmlContent`` or ``textContent`` (400 ``missing_parameter``). A send
    whose ``headers.IdempotencyKey`` was seen is answered with the first id, not sent again.
    ``GET /v3/account`` answers the account the key belongs to."""

    name: ClassVar[str] = "brevo"

    def __init__(self, *, api_key: str = "xkeysib-sim-0123456789") -> None:
        self.api_key = api_key
        self.accepted: list[tuple[str, Email]] = []
        self._ids = itertools.count(1)
        self._idempotent: dict[str, str] = {}
        super().__init__()

    @property
    def base_url(self) -> str:
        """The SDK's base URL (form ``https://api.brevo.com/v3``)."""
        return f"{self.url}/v3"

    def emails(self) -> list[Email]:
        return [mail for _, mail in self.accepted]

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v3/smtp/email", self._send)
        router.add_get("/v3/account", self._account)

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        code = {
            400: "bad_request",
            401: "unauthorized",
            403: "permission_denied",
            429: "too_many_requests",
        }.get(status, "internal_error")
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        message = error or ("Too many requests" if status == 429 else "Request failed")
        return web.json_response({"code": code, "message": message}, status=status, headers=headers)

    async def _account(self, request: web.Request) -> web.StreamResponse:
        if self.record_of(request).headers.get("api-key") != self.api_key:
            return web.json_response(
                {"code": "unauthorized", "message": "Key not found"}, status=401
            )
        return web.json_response(
            {
                "organization_id": "sim-organization",
                "user_id": 1,
                "enterprise": False,
                "companyName": "Switchboard Sim",
                "email": "owner@example.com",
                "firstName": "Sim",
                "lastName": "Owner",
                "address": {"city": "Paris", "country": "France", "street": "", "zipCode": ""},
                "plan": [{"type": "free", "credits": 300, "creditsType": "sendLimit"}],
                "relay": {
                    "enabled": True,
                    "data": {
                        "userName": "owner@example.com",
                        "relay": "smtp-relay.brevo.com",
                        "port": 587,
                    },
                },
            }
        )

    async def _send(self, request: web.Request) -> web.StreamResponse:
        record = self.record_of(request)
        if record.headers.get("api-key") != self.api_key:
            body = {"code": "unauthorized", "message": "Key not found"}
            return web.json_response(body, status=401)
        mail = record.json
        if not isinstance(mail, dict):
            return self.error_response(400, error="Input must be a valid JSON object")
        sender = mail.get("sender")
        problems = []
        if not isinstance(sender, dict) or "@" not in str(sender.get("email", "")):
            problems.append("sender is missing")
        to = mail.get("to")
        if not isinstance(to, list) or not to or not all("@" in str(t.get("email")) for t in to):
            problems.append("to is missing")
        if not mail.get("subject"):
            problems.append("subject is missing")
        if not mail.get("htmlContent") and not mail.get("textContent"):
            problems.append("htmlContent or textContent is missing")
        if problems:
            return web.json_response(
                {"code": "missing_parameter", "message": "; ".join(problems)}, status=400
            )
        key = (mail.get("headers") or {}).get("IdempotencyKey")
        if key is not None and key in self._idempotent:
            return web.json_response({"messageId": self._idempotent[key]}, status=201)
        message_id = f"<202403121020.{next(self._ids):011d}@smtp-relay.mailin.fr>"
        self.accepted.append((message_id, mail))
        if key is not None:
            self._idempotent[key] = message_id
        return web.json_response({"messageId": message_id}, status=201)
