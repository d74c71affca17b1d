"""The per-process gateway state, the context channels get from it, and its typed key."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from api.observability.gauges import GatewayGauges
from channels.base import Channel
from channels.email.imap import ImapPoller
from channels.errors import ChannelRejected
from config import Settings
from config.logging import REQUEST_ID, TASK_ID
from config.metrics import Metrics
from core.live.sessions import LivePolicy
from core.processing.pipeline import PipelineWorker
from core.team.directory import TTLCache, route_workspace
from core.tools.registry import ToolRegistry
from delivery.media import MediaStore
from delivery.outbox.worker import OutboxWorker
from delivery.ratelimit import RateLimiter
from models.task import Task
from scheduler.imports import ImportWorker
from scheduler.live import LiveSweeper
from scheduler.runner import BriefingScheduler
from storage.db import Database
from storage.journal import Accepted, JournalClosed, TaskJournal


@dataclass
class Gateway:
    """Everything one gateway process owns; handlers reach it through `GATEWAY`. It is the
    `channels.base.ChannelContext` the channels get, which lets them see only a few of it."""

    settings: Settings
    db: Database
    metrics: Metrics
    journal: TaskJournal
    tools: ToolRegistry
    node_id: str
    media: MediaStore
    limiter: RateLimiter = field(default_factory=RateLimiter)
    # Running channel adapters by name ("slack", "telegram", "twilio"); absent when off.
    channels: dict[str, Channel] = field(default_factory=dict)
    pipeline: PipelineWorker | None = None
    outbox: OutboxWorker | None = None
    scheduler: BriefingScheduler | None = None
    live_sweeper: LiveSweeper | None = None
    imports: ImportWorker | None = None
    # The IMAP mailbox poller the scheduler's leader runs (None: IMAP_HOST etc. unset).
    imap: ImapPoller | None = None
    # The LLM endpoints the classifier uses (None: offline); the AI Inbox refines replies with it.
    llm: Any = None
    background: list[asyncio.Task[None]] = field(default_factory=list)
    # The queue and leadership gauges `/metrics` refreshes before rendering.
    gauges: GatewayGauges | None = None
    # (member ref, workspace scope) -> (member id, workspace id), for the web channel's ingest.
    members: TTLCache = field(default_factory=TTLCache)
    # Offer times, the presence timeout and the session cap of live operators.
    live: LivePolicy = field(default_factory=LivePolicy)

    async def ingest(self, task: Task) -> Accepted:
        """Commit TASK to the inbound journal (deduped by its key) before the webhook is
        answered; a 503 with Retry-After while the journal is closed (shutting down)."""
        try:
            accepted = await self.journal.append(task)
        except JournalClosed as exc:
            raise ChannelRejected(503, str(exc), {"Retry-After": "1"}) from exc
        self.count_task(task.channel, created=accepted.created)
        if REQUEST_ID.get() is not None:
            # The rest of this request (its access log line included) names the task; the
            # access middleware unsets it after. Never outside a request: a polling loop
            # (Telegram, IMAP) would name the task on every later line.
            TASK_ID.set(accepted.task_id)
        return accepted

    def count_task(self, channel: str, *, created: bool) -> None:
        self.metrics.task_ingested(channel, created=created)

    async def workspace_for(self, channel: str, address: str) -> str | None:
        """The workspace an inbound address (Slack team, Twilio number, bot) belongs to, cached."""

        async def load() -> str | None:
            async with self.db.session() as session:
                return await route_workspace(session, channel, address)

        found = await self.members.get_or_load(("route", channel, address), load)
        return None if found is None else str(found)

    def wake_outbox(self) -> None:
        if self.outbox is not None:
            self.outbox.wake()


GATEWAY = web.AppKey("gateway", Gateway)
