"""The live operators' clock, run on every node: offers whose time is up pass to the next
operator (or the AI), and members whose console stopped sending heartbeats are taken off
(their sessions handed on). Each step is one transaction on rows claimed with SKIP LOCKED and
checked again under the lock, so any number of nodes run it and each change happens once;
a node that dies leaves nothing that another node's round does not pick up."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from config.failures import RepeatedFailure
from core.live import presence, sessions
from core.live.sessions import LivePolicy
from storage.db import Database
from storage.types import utcnow

log = logging.getLogger(__name__)

INTERVAL = 1.0  # seconds between rounds


class LiveSweeper:
    def __init__(self, db: Database, policy: LivePolicy, *, interval: float = INTERVAL) -> None:
        self._db = db
        self._policy = policy
        self._interval = interval
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        failures = RepeatedFailure(log, "live operators' round", first=self._interval)
        while not self._stopping.is_set():
            wait = self._interval
            try:
                await self.round()
            except Exception as exc:  # the database away a moment: a later round retries
                wait = max(wait, failures.failed(exc))
            else:
                failures.succeeded()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait)

    async def round(self) -> int:
        """One pass; how many offers and presences it settled."""
        settled = 0
        now = utcnow()
        async with self._db.writing(), self._db.session() as session:
            for session_id in await sessions.lapsed_offers(session, now=now):
                if await sessions.expire_offer(session, session_id, now=now, policy=self._policy):
                    settled += 1
        async with self._db.writing(), self._db.session() as session:
            for workspace_id, member_id in await presence.stale(
                session, now=now, stale_after=self._policy.presence_timeout
            ):
                await sessions.mark_offline(
                    session,
                    workspace_id,
                    member_id,
                    now=now,
                    policy=self._policy,
                    reason="no heartbeat",
                )
                settled += 1
        return settled
