"""Senders: the last step of delivery, one per channel. Console stands in without credentials."""

from __future__ import annotations

import logging
import sys
from typing import Protocol, TextIO

from core.task import Route
from delivery.deliverable import Deliverable, Receipt

log = logging.getLogger("switchboard.console")


class Sender(Protocol):
    """Sends a deliverable along a route; returns a receipt or raises a DeliveryError."""

    async def send(self, route: Route, deliverable: Deliverable) -> Receipt: ...


class ConsoleSender:
    """Shows what would be sent, for channels without credentials (the embedded default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout

    async def send(self, route: Route, deliverable: Deliverable) -> Receipt:
        thread = f" thread={route.thread}" if route.thread else ""
        self._stream.write(
            f"--- would send via {route.channel} to {route.address}{thread} ---\n"
            f"{deliverable.text}\n"
        )
        self._stream.flush()
        log.info(
            "console delivery",
            extra={"channel": route.channel, "address": route.address, "kind": deliverable.kind},
        )
        return Receipt(status="console")


class StoredSender:
    """The web channel: the reply is stored in the outbox and read through the API."""

    async def send(self, route: Route, deliverable: Deliverable) -> Receipt:
        return Receipt(status="stored")
