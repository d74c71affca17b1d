"""Simulator base: a loopback aiohttp app that records every request and misbehaves on demand."""

from __future__ import annotations

import asyncio
import dataclasses
import email.parser
import email.policy
import json
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any, ClassVar, Literal, Self
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

__all__ = ["FaultKind", "Limit", "Recorded", "Simulator", "UploadedFile"]

log = logging.getLogger(__name__)

FaultKind = Literal["fail", "throttle", "stall", "malformed", "forbid", "lost"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_EMPTY: MultiDictProxy[str] = MultiDictProxy(MultiDict())
_DEFAULT_MALFORMED_BODY = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One file part of a multipart request."""

    field: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True, eq=False)
class Recorded:
    """One request as the simulator received it (immutable).

    ``json`` is the decoded JSON body (``None`` when the body is not JSON); ``form`` holds the
    url-encoded or multipart text fields; ``files`` the multipart file parts by field name;
    ``at`` is ``time.monotonic()`` at arrival; ``fault`` names the injected behaviour that
    answered this request, if any.
    """

    method: str
    path: str
    query: MultiDictProxy[str]
    headers: CIMultiDictProxy[str]
    body: bytes
    json: Any
    form: MultiDictProxy[str]
    files: Mapping[str, UploadedFile]
    at: float
    fault: FaultKind | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def params(self) -> dict[str, Any]:
        """Query, form fields and a top-level JSON object merged (later wins).

        A form or query key sent more than once maps to the list of its values.
        """
        merged: dict[str, Any] = {}
        for source in (self.query, self.form):
            for key in source:
                values = source.getall(key)
                merged[key] = values[0] if len(values) == 1 else list(values)
        if isinstance(self.json, dict):
            merged.update(self.json)
        return merged


_RECORD = web.RequestKey("switchboard_sim_record", Recorded)


@dataclass(frozen=True, slots=True)
class Limit:
    """A provider's documented limit: at most ``limit`` requests on ``key`` in any sliding
    ``window`` seconds, counted on arrival."""

    key: str
    limit: int
    window: float


@dataclass(slots=True)
class _Fault:
    kind: FaultKind
    remaining: int | None  # None: until cleared
    path: str | None
    status: int = 500
    retry_after: int = 1
    body: bytes = b""
    content_type: str = "application/json"
    error: str | None = None

    def matches(self, path: str) -> bool:
        return self.path is None or path.endswith(self.path)


class Simulator:
    """An aiohttp app on ``127.0.0.1`` with an ephemeral port; subclasses add the provider routes.

    Use as ``async with SlackSim() as sim:`` (or ``await sim.start()`` / ``await sim.close()``).
    Every request is recorded before it is answered. Faults queue up in order: each request
    takes the first queued fault whose ``path`` suffix matches, and a fault is dropped once
    it has answered ``times`` requests (``times=None``: until ``clear_faults()``).
    """

    name: ClassVar[str] = "provider"

    def __init__(self, *, enforce_limits: bool = False) -> None:
        self.enforce_limits = enforce_limits
        """Answer 429 with Retry-After to a request over one of the provider's documented
        limits (``limits``), as the provider would; off unless asked for."""
        self._windows: dict[str, deque[float]] = {}
        self._records: list[Recorded] = []
        self._faults: list[_Fault] = []
        self._arrival = asyncio.Event()
        self._closing = asyncio.Event()
        self._unstall = asyncio.Event()
        self._stalled = 0
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self.handler_errors: list[BaseException] = []
        self.app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024**2)
        self.setup_routes(self.app.router)

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        if self._url is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._url

    async def start(self) -> Self:
        """Bind ``127.0.0.1:0`` and serve; returns ``self``."""
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        runner = web.AppRunner(
            self.app, handler_cancellation=True, access_log=None, shutdown_timeout=2.0
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        port = runner.addresses[0][1]
        self._url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        """Stop serving; stalled and long-polling requests are released first."""
        self._closing.set()
        self._unstall.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    # ------------------------------------------------------------------ inspection

    @property
    def requests(self) -> tuple[Recorded, ...]:
        """Every request received so far, oldest first."""
        return tuple(self._records)

    def calls(self, path_suffix: str | None = None, *, method: str | None = None) -> list[Recorded]:
        """Requests whose path ends with ``path_suffix`` (all when ``None``), oldest first."""
        return [
            r
            for r in self._records
            if (path_suffix is None or r.path.endswith(path_suffix))
            and (method is None or r.method == method.upper())
        ]

    def last(self, path_suffix: str | None = None) -> Recorded:
        """The newest matching request.

        Raises:
            AssertionError: nothing matching was received.
        """
        found = self.calls(path_suffix)
        if not found:
            raise AssertionError(
                f"{self.name} simulator received no request matching {path_suffix!r}; "
                f"got {self._summary()}"
            )
        return found[-1]

    async def wait_for(
        self,
        n: int = 1,
        *,
        path: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - the bounded wait is this helper's purpose
    ) -> list[Recorded]:
        """Wait until at least ``n`` requests matching ``path`` arrived; return all matching.

        Raises:
            AssertionError: fewer than ``n`` arrived within ``timeout`` seconds.
        """
        try:
            async with asyncio.timeout(timeout):
                while len(found := self.calls(path)) < n:
                    await self._arrival.wait()
        except TimeoutError:
            raise AssertionError(
                f"{self.name} simulator: expected {n} request(s) matching {path!r} within "
                f"{timeout:g}s, got {len(self.calls(path))}; all requests: {self._summary()}"
            ) from None
        return found

    def reset(self) -> None:
        """Forget recorded requests and queued faults."""
        self._records.clear()
        self._faults.clear()

    @staticmethod
    def record_of(request: web.Request) -> Recorded:
        """The ``Recorded`` made for ``request`` (for handlers)."""
        return request[_RECORD]

    def _summary(self) -> str:
        shown = [
            f"{r.method} {r.path}" + (f" [{r.fault}]" if r.fault else "") for r in self._records
        ]
        return "[" + ", ".join(shown) + "]" if shown else "nothing"

    # ------------------------------------------------------------------ fault injection

    def fail(self, status: int = 500, times: int | None = 1, path: str | None = None) -> None:
        """Answer the next ``times`` matching requests with ``status``, in provider error form."""
        self._faults.append(_Fault("fail", times, path, status=status))

    def throttle(
        self, retry_after: int = 1, times: int | None = 1, path: str | None = None
    ) -> None:
        """Answer 429 with ``Retry-After: <retry_after>`` and the provider's rate-limit body."""
        self._faults.append(_Fault("throttle", times, path, status=429, retry_after=retry_after))

    def stall(self, times: int | None = 1, path: str | None = None) -> None:
        """Never answer: hold the request until the client disconnects or the simulator closes.

        ``release_stalled()`` lets held requests proceed normally instead.
        """
        self._faults.append(_Fault("stall", times, path))

    def lose_answer(self, times: int | None = 1, path: str | None = None) -> None:
        """Act on the request (a message is stored, as the provider would), then never answer
        it, as when the answer is lost on the way back: the client times out not knowing the
        call went through. ``release_stalled()`` lets the held answers go."""
        self._faults.append(_Fault("lost", times, path))

    def malformed(
        self,
        times: int | None = 1,
        path: str | None = None,
        *,
        body: bytes = _DEFAULT_MALFORMED_BODY,
        content_type: str = "application/json",
    ) -> None:
        """Answer 200 with a body that is not JSON (by default while claiming to be JSON)."""
        self._faults.append(
            _Fault("malformed", times, path, status=200, body=body, content_type=content_type)
        )

    def forbid(
        self, times: int | None = 1, path: str | None = None, *, error: str | None = None
    ) -> None:
        """Answer 403 in the provider's error form (``error`` overrides its error code/message)."""
        self._faults.append(_Fault("forbid", times, path, status=403, error=error))

    def clear_faults(self) -> None:
        self._faults.clear()

    def release_stalled(self) -> None:
        """Let every currently stalled request continue to its normal answer."""
        self._unstall.set()
        self._unstall = asyncio.Event()

    @property
    def stalled(self) -> int:
        """How many requests are being held by ``stall`` right now."""
        return self._stalled

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.matches(path):
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    # ------------------------------------------------------------------ subclass hooks

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        """Add the provider's routes."""

    def limits(self, record: Recorded) -> Iterable[Limit]:
        """The documented limits a request counts against (subclasses override)."""
        return ()

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        """An error answer in the provider's own format (subclasses override)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.json_response(
            {"error": error or kind or "error", "status": status}, status=status, headers=headers
        )

    async def wait_or_close(
        self,
        event: asyncio.Event,
        timeout: float | None,  # noqa: ASYNC109 - long polls end at the client's timeout
    ) -> bool:
        """Wait for ``event``, the simulator closing, or ``timeout``; True when ``event`` is set.

        For long-poll handlers: never a fixed sleep that outlives the simulator.
        """
        waiters = {
            asyncio.ensure_future(event.wait()),
            asyncio.ensure_future(self._closing.wait()),
        }
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return event.is_set()

    # ------------------------------------------------------------------ plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        fault = self._take_fault(request.path)
        record = _record(request, body, fault.kind if fault else None)
        retry_after = self._over_limit(record) if fault is None and self.enforce_limits else None
        if retry_after is not None:
            record = dataclasses.replace(record, fault="throttle")
        self._records.append(record)
        request[_RECORD] = record
        self._arrival.set()
        self._arrival = asyncio.Event()

        if retry_after is not None:
            response = self.error_response(429, kind="throttle", retry_after=retry_after)
            response.headers["Retry-After"] = str(retry_after)
            return response
        if fault is not None and fault.kind != "lost":
            response = await self._apply_fault(fault)
            if response is not None:
                return response
        try:
            response = await handler(request)
            if fault is not None and fault.kind == "lost":  # acted on, the answer held back
                await self._apply_fault(dataclasses.replace(fault, kind="stall"))
            return response
        except web.HTTPException:
            raise
        except Exception as exc:
            # A simulator bug must fail the test, not hide behind a 500 the client may retry.
            self.handler_errors.append(exc)
            log.exception(
                "%s simulator handler failed for %s %s", self.name, request.method, request.path
            )
            raise

    def _over_limit(self, record: Recorded) -> int | None:
        """Whole seconds until the request would be within every limit it counts against, or
        None (and it is counted) when it is within them now. Refused requests do not count."""
        limits = list(self.limits(record))
        now = record.at
        wait = 0.0
        for limit in limits:
            arrivals = self._windows.setdefault(limit.key, deque())
            while arrivals and arrivals[0] <= now - limit.window:
                arrivals.popleft()
            if len(arrivals) >= limit.limit:
                wait = max(wait, arrivals[len(arrivals) - limit.limit] + limit.window - now)
        if wait > 0:
            return max(1, math.ceil(wait))
        for limit in limits:
            self._windows[limit.key].append(now)
        return None

    async def _apply_fault(self, fault: _Fault) -> web.StreamResponse | None:
        match fault.kind:
            case "fail" | "forbid":
                return self.error_response(fault.status, kind=fault.kind, error=fault.error)
            case "throttle":
                response = self.error_response(429, kind="throttle", retry_after=fault.retry_after)
                response.headers["Retry-After"] = str(fault.retry_after)
                return response
            case "malformed":
                return web.Response(status=200, body=fault.body, content_type=fault.content_type)
            case "stall":
                self._stalled += 1
                try:
                    await self._unstall.wait()
                finally:
                    self._stalled -= 1
                if self._closing.is_set():
                    return self.error_response(503, kind="stall")
                return None  # released: answer normally


def _record(request: web.Request, body: bytes, fault: FaultKind | None) -> Recorded:
    json_body, form, files = _parse_body(request.headers.get("Content-Type", ""), body)
    return Recorded(
        method=request.method,
        path=request.path,
        query=MultiDictProxy(MultiDict(request.query)),
        headers=CIMultiDictProxy(CIMultiDict(request.headers)),
        body=body,
        json=json_body,
        form=form,
        files=MappingProxyType(files),
        at=time.monotonic(),
        fault=fault,
    )


def _parse_body(
    content_type_header: str, body: bytes
) -> tuple[Any, MultiDictProxy[str], dict[str, UploadedFile]]:
    content_type = content_type_header.split(";", 1)[0].strip().lower()
    if not body:
        return None, _EMPTY, {}
    if content_type == "application/x-www-form-urlencoded":
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return None, MultiDictProxy(MultiDict(pairs)), {}
    if content_type == "multipart/form-data":
        return None, *_parse_multipart(content_type_header, body)
    if content_type.endswith("json") or body[:1] in (b"{", b"["):
        try:
            return json.loads(body), _EMPTY, {}
        except ValueError:
            return None, _EMPTY, {}
    return None, _EMPTY, {}


def _parse_multipart(
    content_type_header: str, body: bytes
) -> tuple[MultiDictProxy[str], dict[str, UploadedFile]]:
    head = f"Content-Type: {content_type_header}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    form: MultiDict[str] = MultiDict()
    files: dict[str, UploadedFile] = {}
    if not message.is_multipart():
        return MultiDictProxy(form), files
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None and part.get_content_type() in ("text/plain", "application/json"):
            charset = part.get_content_charset() or "utf-8"
            form.add(name, data.decode(charset, "replace"))
        else:
            files[name] = UploadedFile(
                field=name, filename=filename, content_type=part.get_content_type(), data=data
            )
    return MultiDictProxy(form), files


def json_dumps(value: Any) -> str:
    """Compact JSON as providers send it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
