"""Resend simulator (``POST /emails``), with Resend's Idempotency-Key semantics."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from aiohttp import web

from tests.sims.base import FaultKind, Simulator

__all__ = ["ResendSim"]

Email = dict[str, Any]

_NAMES = {
    401: "missing_api_key",
    403: "invalid_api_key",
    422: "validation_error",
    429: "rate_limit_exceeded",
    500: "internal_server_error",
}


class ResendSim(Simulator):
    """Accepts sends like Resend: 200 ``{"id": ...}``. Needs ``Authorization: Bearer <key>``;
    ``from``, ``to``, ``subject`` and ``html`` or ``text`` (422 ``validation_error``). A second
    request with the same ``Idempotency-Key`` and body gets the first one's id and sends
    nothing; with another body, 409 ``invalid_idempotent_request``. ``GET /domains`` lists
    ``domains`` (403 ``invalid_api_key`` for a wrong key; 401 ``restricted_api_key`` when
    ``sending_only``)."""

    name: ClassVar[str] = "resend"

    def __init__(self, *, api_key: str = "re_sim_0123456789") -> None:
        self.api_key = api_key
        self.accepted: list[tuple[str, Email]] = []
        """(id, email JSON) of every email actually sent, in order."""
        self._idempotent: dict[str, tuple[str, Email]] = {}
        self.sending_only = False
        """The key has "Sending access" only: ``GET /domains`` answers 401
        ``restricted_api_key``, as Resend does."""
        self.domains: list[str] = ["example.com"]
        super().__init__()

    def emails(self) -> list[Email]:
        return [mail for _, mail in self.accepted]

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/emails", self._send)
        router.add_get("/domains", self._domains)

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        name = _NAMES.get(status, "application_error")
        if status == 401 and error and "restricted" in error:
            name = "restricted_api_key"
        body = {
            "statusCode": status,
            "name": name,
            "message": error or ("Too many requests." if status == 429 else "Request failed."),
        }
        headers = {"retry-after": str(retry_after)} if retry_after is not None else None
        return web.json_response(body, status=status, headers=headers)

    async def _domains(self, request: web.Request) -> web.StreamResponse:
        if self.record_of(request).headers.get("Authorization") != f"Bearer {self.api_key}":
            return self.error_response(403, error="API key is invalid")
        if self.sending_only:
            return self.error_response(401, error="This API key is restricted to only send emails")
        data = [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
                "name": name,
                "status": "verified",
                "created_at": "2024-01-01T00:00:00.000Z",
                "region": "us-east-1",
            }
            for name in self.domains
        ]
        return web.json_response({"object": "list", "has_more": False, "data": data})

    async def _send(self, request: web.Request) -> web.StreamResponse:
        record = self.record_of(request)
        if record.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self.error_response(401, error="Missing or invalid API key")
        mail = record.json
        if not isinstance(mail, dict):
            return self.error_response(422, error="Invalid JSON body")
        for field in ("from", "to", "subject"):
            if not mail.get(field):
                return self.error_response(422, error=f"The `{field}` field is missing.")
        if not mail.get("html") and not mail.get("text"):
            return self.error_response(422, error="Provide `html` or `text`.")
        key = record.headers.get("Idempotency-Key")
        if key is not None and key in self._idempotent:
            first_id, first = self._idempotent[key]
            if first != mail:
                return web.json_response(
                    {
                        "statusCode": 409,
                        "name": "invalid_idempotent_request",
                        "message": "Same idempotency key used with a different request payload.",
                    },
                    status=409,
                )
            return web.json_response({"id": first_id})
        email_id = str(uuid.uuid4())
        self.accepted.append((email_id, mail))
        if key is not None:
            self._idempotent[key] = (email_id, mail)
        return web.json_response({"id": email_id})
