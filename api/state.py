"""The per-process gateway state and its typed application key."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from config import Settings
from config.metrics import Metrics
from core.processing.pipeline import PipelineWorker
from core.team.directory import TTLCache
from core.tools.registry import ToolRegistry
from delivery.media import MediaStore
from delivery.outbox.worker import OutboxWorker
from delivery.ratelimit import RateLimiter
from scheduler.runner import BriefingScheduler
from storage.db import Database
from storage.journal import TaskJournal


@dataclass
class Gateway:
    """Everything one gateway process owns; handlers reach it through `GATEWAY`."""

    settings: Settings
    db: Database
    metrics: Metrics
    journal: TaskJournal
    tools: ToolRegistry
    node_id: str
    media: MediaStore
    limiter: RateLimiter = field(default_factory=RateLimiter)
    # Running channel adapters by name ("slack", "telegram", "twilio"); absent when off.
    channels: dict[str, Any] = field(default_factory=dict)
    pipeline: PipelineWorker | None = None
    outbox: OutboxWorker | None = None
    scheduler: BriefingScheduler | None = None
    # The LLM endpoints the classifier uses (None: offline); the AI Inbox refines replies with it.
    llm: Any = None
    background: list[asyncio.Task[None]] = field(default_factory=list)
    # (member ref, workspace scope) -> (member id, workspace id), for the web channel's ingest.
    members: TTLCache = field(default_factory=TTLCache)


GATEWAY = web.AppKey("gateway", Gateway)
