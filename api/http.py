"""HTTP plumbing shared by every route: JSON errors, body parsing, typed app keys."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from annotated_types import MaxLen
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy.exc import DBAPIError

from channels.errors import ChannelRejected, validation_message
from config.failures import RepeatedFailure

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
# Requests that found the database away (a restart, a failover, a SQLite file locked past its
# timeout): answered 503 with Retry-After, logged once per outage rather than per request.
DATABASE_AWAY = RepeatedFailure(log, "requests: the database")
RETRY_AFTER_SECONDS = "5"
# How the middleware asks whether the database answers at all (the gateway sets it): a
# database error while it does not is an outage (503), while it does, a defect (500).
Probe = Callable[[], Awaitable[None]]
DATABASE_PROBE: web.AppKey[Probe] = web.AppKey("database_probe")
PROBE_SECONDS = 2.0


async def _database_away(request: web.Request) -> bool:
    probe = request.app.get(DATABASE_PROBE)
    if probe is None:
        return False
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            await probe()
    except Exception:  # any failure to answer SELECT 1 is the database being away
        return True
    return False


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, message: str, **headers: str) -> web.Response:
    reason = web.Response(status=status).reason or "error"
    body = {"error": reason.lower().replace(" ", "_"), "message": message}
    return web.json_response(body, status=status, headers=headers or None)


def problem(status: int, message: str, **headers: str) -> web.HTTPException:
    """An HTTP error to raise from a handler; the middleware renders it as JSON."""
    return _Problem(status, message, headers)


class _Problem(web.HTTPException):
    def __init__(self, status: int, message: str, headers: dict[str, str]) -> None:
        self.status_code = status
        super().__init__(text=message, headers=headers or None)
        self.message = message


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error becomes a JSON body with a clear message; nothing else leaks."""
    try:
        if any("\x00" in value for value in request.match_info.values()):
            # No id holds a NUL, and PostgreSQL would reject it as a query parameter.
            raise problem(404, f"no such resource: {request.path!r}")
        response = await handler(request)
        DATABASE_AWAY.succeeded()
        return response
    except _Problem as exc:
        return error_response(exc.status_code, exc.message, **_extra_headers(exc))
    except ChannelRejected as exc:
        return error_response(exc.status, exc.message, **exc.headers)
    except web.HTTPRequestEntityTooLarge:
        # The exception does not keep the limit; the request does.
        limit = request.client_max_size
        return error_response(413, f"body too large: the limit is {limit} bytes")
    except web.HTTPException as exc:
        if exc.status_code < 400:
            raise
        message = {
            404: f"no route for {request.method} {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
        }.get(exc.status_code, exc.text or exc.reason)
        return error_response(exc.status_code, message, **_extra_headers(exc))
    except DBAPIError as exc:
        if not await _database_away(request):
            return _internal_error(request)
        DATABASE_AWAY.failed(exc)
        return error_response(
            503,
            "the database is unavailable for a moment; nothing was stored: try again",
            **{"Retry-After": RETRY_AFTER_SECONDS},
        )
    except Exception:
        return _internal_error(request)


def _internal_error(request: web.Request) -> web.Response:
    """A defect: logged with its traceback (called inside the `except`), a bare 500 out."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal error; it has been logged")


def _extra_headers(exc: web.HTTPException) -> dict[str, str]:
    keep = ("Allow", "WWW-Authenticate", "Retry-After")
    return {k: v for k, v in exc.headers.items() if k in keep}


async def read_json(request: web.Request, model: type[M]) -> M:
    """Parse and validate the JSON body; raises a 400 naming what is wrong."""
    raw = await request.read()
    if not raw:
        raise problem(400, "the request body is empty; send a JSON object")
    try:
        data = json.loads(raw)
    except RecursionError as exc:
        raise problem(400, "the body is not valid JSON: it is nested too deeply") from exc
    except ValueError as exc:  # also UnicodeDecodeError and over-long integer literals
        raise problem(400, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise problem(400, "the body must be a JSON object")
    if _has_nul(data):
        # PostgreSQL cannot store NUL in text; refuse it here rather than fail at commit.
        raise problem(400, "invalid request: strings must not contain NUL (\\u0000) characters")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise problem(400, validation_message(exc)) from exc


class Input(BaseModel):
    """A request body: unknown fields refused, strings stripped of surrounding whitespace.

    A string's length limit holds for what was sent, as the OpenAPI document says, not only
    for what is left once stripped (pydantic strips first, then measures)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _sent_lengths(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, limit in _max_lengths(cls):
                value = data.get(key)
                if isinstance(value, str) and len(value) > limit:
                    raise PydanticCustomError(
                        "string_too_long",
                        "{field} should have at most {max_length} characters",
                        {"field": key, "max_length": limit},
                    )
        return data


@functools.cache
def _max_lengths(model: type[BaseModel]) -> tuple[tuple[str, int], ...]:
    """(key in the body, maximum length) of each of MODEL's fields that has one."""
    return tuple(
        (field.alias or name, meta.max_length)
        for name, field in model.model_fields.items()
        for meta in field.metadata
        if isinstance(meta, MaxLen)
    )


def _has_nul(data: Any) -> bool:
    """Whether any key or string in parsed JSON holds a NUL; iterative, so depth is no issue."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def query_int(request: web.Request, name: str, default: int, *, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise problem(400, f"query parameter {name!r} must be an integer") from exc
    if not lo <= value <= hi:
        raise problem(400, f"query parameter {name!r} must be between {lo} and {hi}")
    return value


def json_ok(payload: Any, status: int = 200) -> web.Response:
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    return web.json_response(payload, status=status, dumps=_dumps)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str, ensure_ascii=False)


def bearer_token(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer ...` header, or None when there is none."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    # Non-ASCII bytes arrive as surrogate escapes, which no key contains and hashing rejects.
    if scheme.lower() != "bearer" or not token or not (token.isascii() and token.isprintable()):
        raise problem(
            401, "Authorization must be 'Bearer <api key>'", **{"WWW-Authenticate": "Bearer"}
        )
    return token
