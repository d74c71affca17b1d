"""The rejection a channel raises for a webhook it refuses, and pydantic errors as one line."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError


class ChannelRejected(Exception):
    """A webhook refused with STATUS and MESSAGE; the API layer answers it as its JSON error,
    with HEADERS (Retry-After, WWW-Authenticate) set on the response."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})


class SignatureRejected(ChannelRejected):
    """A webhook refused because its signature, secret header or credentials are missing or
    wrong. The gateway logs each as a warning (rate-limited per channel), so MESSAGE must
    say what is wrong without quoting the secret or the signature it was given."""


def validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "invalid request: " + "; ".join(parts)
