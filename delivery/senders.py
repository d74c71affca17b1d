"""Senders: the last step of delivery, one per channel. Console stands in without credentials.

A sender first *plans* a deliverable for a route: the provider calls it takes (`Op`s: message
parts after splitting, an upload, an edit of an earlier message), each naming the rate-limit
keys it counts against. The outbox then *performs* them one at a time, recording after each
one how many went out, so a retry after a failure part-way never sends a part twice.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TextIO, runtime_checkable

from delivery.ratelimit import RateKey
from models.deliverable import Deliverable, Receipt
from models.task import Route

log = logging.getLogger("switchboard.console")


@dataclass(frozen=True)
class Op:
    """One provider call: what to do, its arguments, and the rate-limit keys it uses."""

    action: str
    payload: dict[str, Any] = field(default_factory=dict)
    rate_keys: tuple[RateKey, ...] = ()
    # `<outbox id>:<part>`, set by the outbox: a sender that can tag what it sends with it
    # (Slack message metadata) finds the message again by it.
    ref: str = ""


class Sender(Protocol):
    """Turns deliverables into provider calls and makes them; raises a DeliveryError."""

    def plan(self, route: Route, deliverable: Deliverable) -> list[Op]: ...

    async def perform(self, route: Route, op: Op) -> Receipt: ...


@runtime_checkable
class Confirms(Protocol):
    """A sender that can ask its provider whether a call already went through.

    The outbox asks before repeating a call that may have reached the provider unrecorded (the
    node making it died, or the call timed out), and sends again only if the answer is no.
    """

    async def find_sent(self, route: Route, op: Op, since: datetime) -> list[Receipt]:
        """Messages at the provider that may be OP's, sent after SINCE, best match first; the
        outbox takes the first it has no record of. Raises a DeliveryError if it cannot tell
        now (the outbox tries again later); returns [] if the provider has none."""
        ...


class ConsoleSender:
    """Shows what would be sent, for channels without credentials (the embedded default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout

    def plan(self, route: Route, deliverable: Deliverable) -> list[Op]:
        return [Op("print", {"text": deliverable.text, "kind": deliverable.kind})]

    async def perform(self, route: Route, op: Op) -> Receipt:
        thread = f" thread={route.thread}" if route.thread else ""
        self._stream.write(
            f"--- would send via {route.channel} to {route.address}{thread} ---\n"
            f"{op.payload['text']}\n"
        )
        self._stream.flush()
        log.info(
            "console delivery",
            extra={"channel": route.channel, "address": route.address, "kind": op.payload["kind"]},
        )
        return Receipt(status="console")


class StoredSender:
    """The web channel: the reply is stored in the outbox and read through the API."""

    def plan(self, route: Route, deliverable: Deliverable) -> list[Op]:
        return [Op("store")]

    async def perform(self, route: Route, op: Op) -> Receipt:
        return Receipt(status="stored")


class WholeSender:
    """Base for providers that take a deliverable in one call: subclasses write `send`."""

    def plan(self, route: Route, deliverable: Deliverable) -> list[Op]:
        return [Op("send", {"deliverable": deliverable})]

    async def perform(self, route: Route, op: Op) -> Receipt:
        return await self.send(route, op.payload["deliverable"])

    async def send(self, route: Route, deliverable: Deliverable) -> Receipt:
        raise NotImplementedError
