"""SendGrid v3 simulator (``POST /v3/mail/send``) for ``sendgrid.SendGridAPIClient(host=...)``."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from aiohttp import web

from tests.sims.base import FaultKind, Simulator

__all__ = ["SendGridSim"]

Mail = dict[str, Any]

_HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"


class SendGridSim(Simulator):
    """Accepts mail like SendGrid: 202, empty body, ``X-Message-Id`` header; ``GET /v3/scopes``
    lists the key's permissions (``scopes``).

    Needs ``Authorization: Bearer <api_key>`` (401 otherwise) and a body with personalizations
    (each with a ``to``), ``from.email``, a subject and content (unless ``template_id``);
    otherwise 400 with SendGrid's ``{"errors": [{message, field, help}]}``.
    """

    name: ClassVar[str] = "sendgrid"

    def __init__(self, *, api_key: str = "SG.simkey.simsecret") -> None:
        self.api_key = api_key
        self.accepted: list[tuple[str, Mail]] = []
        """(X-Message-Id, mail JSON) of every accepted send, in order."""
        self.scopes: list[str] = ["mail.send", "user.profile.read"]
        """What ``GET /v3/scopes`` lists for the key (SendGrid's key permissions)."""
        super().__init__()

    @property
    def host(self) -> str:
        """The SDK ``host`` (form ``https://api.sendgrid.com``; the SDK appends ``/v3``)."""
        return self.url

    def mails(self) -> list[Mail]:
        """Bodies of the accepted sends, oldest first."""
        return [mail for _, mail in self.accepted]

    def recipients(self) -> list[str]:
        """Every ``to`` address of every accepted send, in order."""
        return [
            to["email"]
            for mail in self.mails()
            for personalization in mail["personalizations"]
            for to in personalization["to"]
        ]

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v3/mail/send", self._send)
        router.add_get("/v3/scopes", self._scopes)

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        headers: dict[str, str] = {}
        if status == 429:
            message = "too many requests"
            headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0"}
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
                headers["X-RateLimit-Reset"] = str(retry_after)
        elif status == 403:
            message = error or (
                "The from address does not match a verified Sender Identity. Mail cannot be "
                "sent until this error is resolved."
            )
        elif status == 401:
            message = error or "The provided authorization grant is invalid, expired, or revoked"
        elif status >= 500:
            message = error or "internal server error"
        else:
            message = error or "bad request"
        return _errors([(message, None)], status, headers)

    async def _scopes(self, request: web.Request) -> web.StreamResponse:
        if self.record_of(request).headers.get("Authorization") != f"Bearer {self.api_key}":
            return self.error_response(401)
        return web.json_response({"scopes": self.scopes})

    async def _send(self, request: web.Request) -> web.StreamResponse:
        record = self.record_of(request)
        if record.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self.error_response(401)
        mail = record.json
        if not isinstance(mail, dict):
            return _errors([("Bad Request", None)], 400)
        problems = _validate(mail)
        if problems:
            return _errors(problems, 400)
        message_id = uuid.uuid4().hex[:22]
        self.accepted.append((message_id, mail))
        return web.Response(status=202, headers={"X-Message-Id": message_id})


def _validate(mail: Mail) -> list[tuple[str, str | None]]:
    problems: list[tuple[str, str | None]] = []
    personalizations = mail.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        problems.append(
            (
                "The personalizations field is required and must have at least one "
                "personalization.",
                "personalizations",
            )
        )
        personalizations = []
    for i, personalization in enumerate(personalizations):
        to = personalization.get("to") if isinstance(personalization, dict) else None
        if (
            not isinstance(to, list)
            or not to
            or not all(isinstance(t, dict) and "@" in str(t.get("email", "")) for t in to)
        ):
            problems.append(
                (
                    "The to array is required for all personalization objects, and must have "
                    "at least one email object with a valid email address.",
                    f"personalizations.{i}.to",
                )
            )
    sender = mail.get("from")
    if not isinstance(sender, dict) or "@" not in str(sender.get("email", "")):
        problems.append(
            (
                "The from object must be provided for every email send. It is an object that "
                "requires an email parameter, but may also contain a name parameter.",
                "from",
            )
        )
    templated = bool(mail.get("template_id"))
    has_subject = bool(mail.get("subject")) or (
        bool(personalizations)
        and all(isinstance(p, dict) and p.get("subject") for p in personalizations)
    )
    if not templated and not has_subject:
        problems.append(
            (
                "The subject is required. You can get around this requirement if you use a "
                "template with a subject defined or if every personalization has a subject "
                "defined.",
                "subject",
            )
        )
    content = mail.get("content")
    if not templated and (
        not isinstance(content, list)
        or not content
        or not all(isinstance(c, dict) and c.get("type") and c.get("value") for c in content)
    ):
        problems.append(
            (
                "Unless a valid template_id is provided, the content parameter is required. "
                "There must be at least one defined content block.",
                "content",
            )
        )
    return problems


def _errors(
    problems: list[tuple[str, str | None]], status: int, headers: dict[str, str] | None = None
) -> web.Response:
    body = {
        "errors": [
            {
                "message": message,
                "field": field,
                "help": f"{_HELP}#message.{field}" if field else None,
            }
            for message, field in problems
        ]
    }
    return web.json_response(body, status=status, headers=headers)
