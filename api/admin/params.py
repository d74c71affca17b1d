"""Query parameters: each route declares the ones it takes (the OpenAPI document is written
from the same declarations); anything else, a repeated parameter or a bad value is a 400 that
names the parameter, before the handler runs."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from api.http import problem

ParamType = Literal["string", "integer", "boolean", "date-time"]
TEXT_MAX = 200


@dataclass(frozen=True)
class Param:
    """One optional query parameter: its name, what it does, and the values it takes."""

    name: str
    description: str
    type: ParamType = "string"
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    default: int | None = None
    max_length: int = TEXT_MAX
    # A regular expression the whole value must match (JSON Schema `pattern`).
    pattern: str | None = None

    def schema(self) -> dict[str, Any]:
        """This parameter's JSON Schema, as the OpenAPI document states it."""
        if self.choices:
            return {"type": "string", "enum": list(self.choices)}
        if self.type == "integer":
            schema: dict[str, Any] = {"type": "integer"}
            for key, value in (
                ("minimum", self.minimum),
                ("maximum", self.maximum),
                ("default", self.default),
            ):
                if value is not None:
                    schema[key] = value
            return schema
        if self.type == "boolean":
            return {"type": "boolean"}
        if self.type == "date-time":
            return {"type": "string", "format": "date-time"}
        schema = {"type": "string", "minLength": 1, "maxLength": self.max_length}
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        return schema

    def parse(self, raw: str) -> Any:
        """RAW as this parameter's value; raises a 400 problem naming the parameter."""
        name = self.name
        if self.choices:
            if raw not in self.choices:
                raise problem(
                    400, f"query parameter {name} must be one of {', '.join(self.choices)}"
                )
            return raw
        if self.type == "integer":
            return self._integer(raw)
        if self.type == "boolean":
            if raw not in ("true", "false"):
                raise problem(400, f"query parameter {name} must be true or false")
            return raw == "true"
        if self.type == "date-time":
            return _date_time(name, raw)
        if not raw.strip():
            raise problem(400, f"query parameter {name} must not be empty")
        if len(raw) > self.max_length:
            raise problem(
                400, f"query parameter {name} must be at most {self.max_length} characters"
            )
        if self.pattern is not None and not re.fullmatch(self.pattern, raw):
            raise problem(400, f"query parameter {name} is not in the expected form")
        if "\x00" in raw:
            raise problem(400, f"query parameter {name} must not contain NUL characters")
        return raw.strip()

    def _integer(self, raw: str) -> int:
        # int() also reads "٣", "+5" and " 5 "; the document promises plain decimal digits.
        text = raw[1:] if raw.startswith("-") else raw
        if not (text.isascii() and text.isdigit()) or len(text) > 9:
            raise problem(400, f"query parameter {self.name} must be an integer")
        value = int(raw)
        lo = self.minimum if self.minimum is not None else -(10**9)
        hi = self.maximum if self.maximum is not None else 10**9
        if not lo <= value <= hi:
            raise problem(400, f"query parameter {self.name} must be between {lo} and {hi}")
        return value


def _date_time(name: str, raw: str) -> datetime:
    """An RFC 3339 time with its offset (`Z` or `+02:00`); a date alone is midnight UTC."""
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text)
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise problem(
            400, f"query parameter {name} must be an ISO 8601 time, e.g. 2026-05-01T09:00:00Z"
        ) from exc
    if value.tzinfo is None:
        if "T" in text or " " in text:
            raise problem(400, f"query parameter {name} needs a time zone offset, e.g. Z or +02:00")
        value = value.replace(tzinfo=UTC)
    return value


def parse_query(request: web.Request, params: Sequence[Param]) -> dict[str, Any]:
    """The request's query parameters parsed by PARAMS (absent ones left out, but for those
    with a default, which hold it). Raises a 400
    problem for a parameter the route does not take, one given twice, or a bad value."""
    query = request.query
    declared = {p.name: p for p in params}
    for name in query:
        if name not in declared:
            takes = ", ".join(declared) if declared else "none"
            raise problem(400, f"unknown query parameter {name[:100]!r}; this route takes: {takes}")
        if len(query.getall(name)) > 1:
            raise problem(400, f"query parameter {name!r} is given more than once")
    defaults = {p.name: p.default for p in params if p.default is not None}
    return defaults | {name: declared[name].parse(raw) for name, raw in query.items()}


PARAMS = web.RequestKey("admin_query_params", tuple)
QUERY = web.RequestKey("admin_query", dict)


def query_of(request: web.Request) -> Mapping[str, Any]:
    """The parsed query of an admin route (parsed once the caller is known)."""
    return request.get(QUERY, {})


# ------------------------------------------------------------------ parameters many lists share

CURSOR = Param(
    "cursor",
    "Where the page starts: the `next_cursor` of the previous page, as given (opaque)",
    max_length=500,
    pattern="^[A-Za-z0-9_-]+$",
)
CREATED_AFTER = Param(
    "created_after", "Only those created at or after this time (ISO 8601)", type="date-time"
)
CREATED_BEFORE = Param(
    "created_before", "Only those created before this time (ISO 8601)", type="date-time"
)


def limit(default: int = 50, maximum: int = 500) -> Param:
    return Param(
        "limit",
        f"At most this many items on the page (default {default})",
        type="integer",
        minimum=1,
        maximum=maximum,
        default=default,
    )


def one_of(name: str, description: str, choices: Sequence[str]) -> Param:
    return Param(name, description, choices=tuple(choices))


def paged(*params: Param, default: int = 50, maximum: int = 500) -> tuple[Param, ...]:
    """PARAMS plus `limit` and `cursor`: a list's parameters."""
    return (*params, limit(default, maximum), CURSOR)
