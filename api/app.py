"""The composition root: `build_app(settings)` wires storage, workers, channels and routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from aiohttp import web, web_response
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from api import health
from api.admin import routes as admin_routes
from api.admin.problems import problem_details
from api.console import routes as console_routes
from api.console.session import console_middleware
from api.http import DATABASE_PROBE, Handler, error_middleware, error_response
from api.observability import access
from api.observability.access import observe_requests
from api.observability.gauges import GatewayGauges
from api.state import GATEWAY, Gateway
from channels.base import ExpectHandler, WebhookHandler
from channels.email.imap import ImapConfig, ImapPoller
from channels.errors import ChannelRejected, SignatureRejected
from channels.registry import SPECS, create_channels
from channels.slack.channel import SlackChannel
from channels.slack.directory import directory_of
from config import Settings
from config.command import command
from config.database import describe_database
from config.metrics import Metrics
from core.assists.desk import CustomerDesk
from core.classify.backend import Classifier, OfflineBackend
from core.integrations.vault import Vault, VaultError, vault_of
from core.live.sessions import LivePolicy
from core.llm.memory import SessionMemory
from core.processing.pipeline import PipelineWorker, TaskProcessor
from core.team.linking import AccountLinking, link_secret
from core.tools.catalogue import default_registry
from core.tools.registry import ToolRegistry
from core.training.fetch import TrainingFetcher
from delivery.media import MediaStore
from delivery.outbox.worker import OutboxWorker
from delivery.senders import ConsoleSender, Sender, StoredSender
from scheduler.availability import AvailabilityRound
from scheduler.housekeeping import Housekeeping, SnoozeWake
from scheduler.imports import ImportWorker
from scheduler.leader import AdvisoryLock, SingleNode
from scheduler.lines import LineRenewal
from scheduler.live import LiveSweeper
from scheduler.runner import BriefingScheduler, Clock
from storage.db import Database
from storage.journal import TaskJournal

log = logging.getLogger(__name__)

# Without a running adapter, a channel's replies are printed to the console.
CONSOLE_CHANNELS = ("slack", "telegram", "sms", "whatsapp", "voice", "email")


class StartupError(RuntimeError):
    """The gateway cannot start; the message says what to do."""


def node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def default_senders(settings: Settings) -> dict[str, Sender]:
    """A sender per channel: the real provider where credentials exist, the console otherwise."""
    console = ConsoleSender()
    senders: dict[str, Sender] = {"web": StoredSender(), "schedule": StoredSender()}
    for channel in CONSOLE_CHANNELS:
        senders[channel] = console
    return senders


def build_app(
    settings: Settings,
    *,
    senders: Mapping[str, Sender] | None = None,
    classifier: Classifier | None = None,
    tools: ToolRegistry | None = None,
    run_workers: bool = True,
    clock: Clock | None = None,
    media_key: bytes | None = None,
) -> web.Application:
    """The whole gateway as an aiohttp application; resources live in its cleanup context.
    MEDIA_KEY signs media links when SWITCHBOARD_SECRET_KEY is unset (the key a supervisor of
    several processes made for them all); without either, a key made at start."""
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[observe_requests, problem_details, error_middleware, console_middleware],
    )
    access.setup(app)
    app.on_response_prepare.append(_neutral_server_header)
    # What aiohttp answers itself to a request it cannot parse (no route, so no hook) takes
    # its Server header from this module default: the same neutral name there.
    web_response.SERVER_SOFTWARE = SERVER
    health.setup(app)
    admin_routes.setup(app)
    console_routes.setup(app)
    setup_channel_routes(app)
    app.router.add_get("/media/{token}", _media)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        # Resources `_start` opens besides the gateway state (the LLM clients); closed by
        # `_stop`, or here if start-up fails half-way.
        async with contextlib.AsyncExitStack() as resources:
            gateway = await _start(
                settings,
                senders=senders,
                classifier=classifier,
                tools=tools,
                run=run_workers,
                resources=resources,
                clock=clock,
                media_key=media_key,
            )
            app[GATEWAY] = gateway
            app[DATABASE_PROBE] = gateway.db.ping
            try:
                yield
            finally:
                await _stop(gateway, resources)

    app.cleanup_ctx.append(lifecycle)
    return app


SERVER = "Switchboard"


async def _neutral_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer (errors, static files, WebSocket upgrades too) names no software versions:
    aiohttp's default `Python/3.x aiohttp/3.x` would tell an attacker what to look up."""
    response.headers["Server"] = SERVER


def setup_channel_routes(app: web.Application) -> None:
    """Every channel's webhooks, registered whether or not the channel is on (its handler
    answers 404 naming the missing setting). Each handler is called with the gateway as its
    `ChannelContext`, so channels never look into the application themselves."""
    for spec in SPECS:
        for route in spec.routes:
            app.router.add_route(
                route.method,
                route.path,
                _with_context(route.handler, spec.name),
                expect_handler=(
                    _expect_with_context(route.expect, spec.name) if route.expect else None
                ),
            )


def _with_context(handler: WebhookHandler, channel: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request, request.app[GATEWAY])
        except SignatureRejected as exc:
            access.note_rejection(request, channel, exc)
            raise

    return handle


def _expect_with_context(
    expect: ExpectHandler, channel: str
) -> Callable[[web.Request], Awaitable[web.StreamResponse | None]]:
    """An `Expect: 100-continue` handler: aiohttp answers with what it returns before any
    middleware runs, so a refusal is rendered here."""

    async def handle(request: web.Request) -> web.StreamResponse | None:
        try:
            return await expect(request, request.app[GATEWAY])
        except ChannelRejected as exc:
            if isinstance(exc, SignatureRejected):
                access.note_rejection(request, channel, exc)
            return error_response(exc.status, exc.message, **exc.headers)

    return handle


async def _media(request: web.Request) -> web.Response:
    return await request.app[GATEWAY].media.handle(request)


async def _start(
    settings: Settings,
    *,
    senders: Mapping[str, Sender] | None,
    classifier: Classifier | None,
    tools: ToolRegistry | None,
    run: bool,
    resources: contextlib.AsyncExitStack,
    clock: Clock | None = None,
    media_key: bytes | None = None,
) -> Gateway:
    db = Database(settings.database_url)
    try:
        if settings.migrates_on_start:
            await db.migrate()
        else:
            pending = await db.pending_migrations()
            if pending:
                raise StartupError(
                    f"the database is missing migrations {', '.join(pending)}: "
                    f"run `{command()} migrate` first"
                )
    except (OSError, DBAPIError) as exc:
        await db.dispose()
        cause = getattr(exc, "orig", None) or exc
        # Not answering at all, or answering with a refusal: a database that does not exist,
        # a role or password it does not know.
        reach = isinstance(exc, OSError | OperationalError | InterfaceError)
        raise StartupError(
            f"cannot {'reach' if reach else 'use'} the database "
            f"{describe_database(settings.database_url)}: {type(cause).__name__}: {cause}"
        ) from exc
    except Exception:
        await db.dispose()
        raise
    # The commits the hot path makes on the loop's thread leave the WAL's checkpoints to this.
    await resources.enter_async_context(db.checkpointing())
    metrics = Metrics()
    node_id = node_name()
    registry = tools or default_registry()
    secret = settings.switchboard_secret_key
    gateway = Gateway(
        settings=settings,
        db=db,
        metrics=metrics,
        journal=TaskJournal(db),
        tools=registry,
        node_id=node_id,
        media=MediaStore(
            db,
            secret.get_secret_value().encode() if secret is not None else None,
            str(settings.public_base_url) if settings.public_base_url else None,
            fallback_key=media_key,
        ),
        live=LivePolicy.from_settings(settings),
    )
    gateway.gauges = GatewayGauges(
        db,
        lambda: gateway.scheduler is not None and gateway.scheduler.is_leader,
        ttl=settings.metrics_cache_seconds,
    )
    metrics.registry.register(gateway.gauges)
    all_senders = default_senders(settings)
    try:
        for channel in create_channels(settings):
            await channel.start(gateway)
            resources.push_async_callback(channel.stop)
            gateway.channels[channel.name] = channel
            all_senders.update(channel.senders())
    except Exception:
        await db.dispose()
        raise
    all_senders.update(senders or {})
    if run:
        gateway.outbox = OutboxWorker(
            db,
            all_senders,
            limiter=gateway.limiter,
            node_id=node_id,
            metrics=metrics,
            max_attempts=settings.outbox_max_attempts,
            backoff_base=settings.outbox_backoff_base,
            backoff_max=settings.outbox_backoff_max,
            lease_seconds=settings.task_lease_seconds,
            poll_interval=settings.poll_interval,
        )
        if settings.workers > 0:
            if classifier is None:
                classifier = _default_classifier(settings, db, metrics, registry, resources)
            gateway.llm = getattr(classifier, "gateway", None)
            # Session memory is kept only where the classifier reads it back (the LLM one
            # exposes it as `memory`); the offline classifier has no use for it.
            memory = getattr(classifier, "memory", None)
            gateway.pipeline = PipelineWorker(
                db,
                TaskProcessor(
                    classifier,
                    registry,
                    memory if isinstance(memory, SessionMemory) else None,
                    # The AI agent answering customers shares the classifier's LLM endpoints.
                    CustomerDesk.from_settings(settings, llm=gateway.llm),
                    AccountLinking(
                        secret=link_secret(settings), slack_emails=directory_of(gateway.channels)
                    ),
                ),
                node_id=node_id,
                metrics=metrics,
                lease_seconds=settings.task_lease_seconds,
                concurrency=settings.workers,
                poll_interval=settings.poll_interval,
                on_replies=gateway.outbox.wake,
                reserve=gateway.outbox.reserve,
            )
            gateway.journal = TaskJournal(
                db, on_commit=gateway.pipeline.wake, reserve=gateway.pipeline.reserve
            )
        if gateway.pipeline is not None:
            gateway.background.append(asyncio.create_task(gateway.pipeline.run(), name="pipeline"))
        gateway.background.append(asyncio.create_task(gateway.outbox.run(), name="outbox"))
        # Every node passes lapsed offers on and takes silent consoles off (each once).
        gateway.live_sweeper = LiveSweeper(db, gateway.live)
        gateway.background.append(
            asyncio.create_task(gateway.live_sweeper.run(), name="live-operators")
        )
        # Every node takes queued help-desk imports (and runs whose node died) one at a time.
        gateway.imports = ImportWorker(
            db,
            _vault_or_none(settings),
            node_id=node_id,
            lease_seconds=max(settings.task_lease_seconds, 30.0),
            poll_interval=settings.poll_interval,
        )
        gateway.background.append(asyncio.create_task(gateway.imports.run(), name="imports"))
        # URL training sources are fetched here, after the approval that asked has committed.
        fetcher = TrainingFetcher(db, poll_interval=settings.poll_interval)
        (await resources.enter_async_context(fetcher)).start()
    await gateway.journal.start()
    await _open_socket_mode(gateway)
    if settings.web_is_open:
        log.warning(
            "SWITCHBOARD_WEB_AUTH=open: the web channel takes requests without an API key; "
            "anyone who can reach %s:%s may act as any member of any workspace, operator "
            "tools included, and read every task's replies. Use it only for local "
            "experiments; unset it (the default is key) anywhere else",
            settings.switchboard_host,
            settings.switchboard_port,
        )
    if run and settings.scheduler_enabled:
        gateway.scheduler = _scheduler(gateway, clock)
        gateway.scheduler.start()
    log.info("gateway node %s started", node_id)
    return gateway


async def _open_socket_mode(gateway: Gateway) -> None:
    """Slack Socket Mode (SLACK_APP_TOKEN) takes envelopes only now the journal commits."""
    slack = gateway.channels.get("slack")
    if isinstance(slack, SlackChannel):
        await slack.open_socket_mode()
    elif gateway.settings.slack_app_token is not None:
        log.warning(
            "SLACK_APP_TOKEN is set but the Slack channel is off (it needs SLACK_BOT_TOKEN and "
            "SLACK_SIGNING_SECRET): Socket Mode is not started"
        )


def _default_classifier(
    settings: Settings,
    db: Database,
    metrics: Metrics,
    registry: ToolRegistry,
    resources: contextlib.AsyncExitStack,
) -> Classifier:
    """The LLM chain with the offline classifier as last resort when OPENAI_API_KEY is set;
    the offline classifier alone otherwise."""
    offline = OfflineBackend()
    if settings.openai_api_key is None:
        log.info("classifier: offline (OPENAI_API_KEY is not set)")
        return offline
    # Imported only here: an offline gateway never loads the OpenAI SDK (15 MB, 0.4 s).
    from core.classify.llm import LlmClassifier
    from core.llm.gateway import LlmConfigError, LlmGateway

    try:
        llm = LlmGateway.from_settings(settings, metrics=metrics)
    except LlmConfigError as exc:
        raise StartupError(str(exc)) from exc
    resources.push_async_callback(llm.aclose)
    log.info("classifier: LLM via %s, offline as the last resort", ", ".join(llm.endpoint_names))
    return LlmClassifier(llm, registry, offline=offline, metrics=metrics, memory=SessionMemory(db))


def _scheduler(gateway: Gateway, clock: Clock | None) -> BriefingScheduler:
    """The scheduler, leading on this node while it holds the lock (always on SQLite)."""
    settings, db, metrics = gateway.settings, gateway.db, gateway.metrics

    def counted(new: int, repeats: int) -> None:
        metrics.briefings_fired.labels("new").inc(new)
        metrics.briefings_fired.labels("repeat").inc(repeats)

    every_tick: Callable[[datetime], Awaitable[None]] = SnoozeWake(db)
    imap = ImapConfig.from_settings(settings)
    if imap is not None:
        gateway.imap = ImapPoller(gateway, imap)
        every_tick = _in_turn(every_tick, gateway.imap)
        log.info(
            "inbound email: polling %s on %s every %ss", imap.mailbox, imap.host, imap.poll_seconds
        )
    return BriefingScheduler(
        db,
        lambda task: gateway.journal.append(task),
        leadership=AdvisoryLock(db.engine) if db.is_postgres else SingleNode(),
        clock=clock,
        grace=timedelta(seconds=settings.scheduler_grace),
        poll_interval=settings.scheduler_poll_interval,
        housekeeping=Housekeeping(db, gateway.media, LineRenewal(db, settings)),
        every_tick=every_tick,
        availability=AvailabilityRound(
            db, str(settings.public_base_url) if settings.public_base_url else None
        ),
        on_fired=counted,
    )


def _in_turn(
    *rounds: Callable[[datetime], Awaitable[None]],
) -> Callable[[datetime], Awaitable[None]]:
    """ROUNDS as one per-tick round, each run in turn."""

    async def run(now: datetime) -> None:
        for each in rounds:
            await each(now)

    return run


def _vault_or_none(settings: Settings) -> Vault | None:
    """The vault, or None without SWITCHBOARD_SECRET_KEY (an import then fails saying so)."""
    try:
        return vault_of(settings)
    except VaultError:
        return None


async def _stop(gateway: Gateway, resources: contextlib.AsyncExitStack) -> None:
    """Finish or release claimed work, close the LLM clients, then close the database."""
    slack = gateway.channels.get("slack")
    if isinstance(slack, SlackChannel):  # first: what it has not acknowledged goes elsewhere
        await slack.close_socket_mode(gateway.settings.shutdown_grace)
    if gateway.scheduler is not None:  # before the journal it appends to
        await gateway.scheduler.close(gateway.settings.shutdown_grace)
    await gateway.journal.close()
    for worker in (gateway.pipeline, gateway.outbox, gateway.live_sweeper, gateway.imports):
        if worker is not None:
            worker.stop()
    if gateway.background:
        _done, pending = await asyncio.wait(
            gateway.background, timeout=gateway.settings.shutdown_grace
        )
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    for worker in (gateway.pipeline, gateway.outbox):
        if worker is not None:
            await worker.release()
    await resources.aclose()
    await gateway.db.dispose()
    log.info("gateway node %s stopped", gateway.node_id)
