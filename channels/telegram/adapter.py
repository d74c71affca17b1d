"""The Telegram channel: updates in by webhook or long polling, replies out through the Bot API."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web
from telegram import Update
from telegram.error import Conflict, InvalidToken, TelegramError

from channels.base import ChannelContext, InboundRequest
from channels.errors import ChannelRejected, SignatureRejected
from channels.telegram.inbound import (
    ALLOWED_UPDATES,
    SECRET_HEADER,
    Intake,
    UnusableUpdate,
    build_application,
    decode_update,
    parse_update,
)
from channels.telegram.outbound import TelegramSender
from config import Settings
from storage.journal import Accepted

if TYPE_CHECKING:
    from delivery.senders import Sender

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
MAX_RETRY_DELAY = 60.0


class NoWorkspace(LookupError):
    """Several workspaces exist and none is mapped to this bot."""


class TelegramChannel:
    """One bot: its PTB Application (parsing), its sender, and in polling mode the loop that
    fetches updates with getUpdates."""

    name = "telegram"

    def __init__(
        self,
        settings: Settings,
        *,
        poll_timeout: int = 25,
        retry_delay: float = 1.0,
    ) -> None:
        if settings.telegram_bot_token is None:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        token = settings.telegram_bot_token.get_secret_value()
        secret = settings.telegram_webhook_secret
        # The bot's id is the number before the colon: no getMe needed to route by it.
        self.bot_id = token.partition(":")[0]
        self.mode = settings.telegram_mode
        self._secret = secret.get_secret_value().encode() if secret is not None else None
        self._public_base_url = (
            str(settings.public_base_url).rstrip("/") if settings.public_base_url else None
        )
        self.application = build_application(token, str(settings.telegram_api_url).rstrip("/"))
        self.sender = TelegramSender(self.application.bot)
        self._poll_timeout = poll_timeout
        self._retry_delay = retry_delay
        self._context: ChannelContext | None = None
        self._ready = asyncio.Event()
        self._offset: int | None = None
        self._poller: asyncio.Task[None] | None = None
        self._initializer: asyncio.Task[None] | None = None
        # Callback query answers in flight (the webhook does not wait for them).
        self._background: set[asyncio.Task[None]] = set()

    @property
    def bot(self) -> Any:
        return self.application.bot

    def senders(self) -> Mapping[str, Sender]:
        return {"telegram": self.sender}

    # ------------------------------------------------------------------ lifecycle

    async def start(self, context: ChannelContext) -> None:
        """Initialize the bot (getMe); in polling mode start fetching updates.

        Raises:
            RuntimeError: Telegram rejected the token.
        """
        self._context = context
        self.sender.media = context.media
        if self.mode == "webhook" and self._secret is None:
            log.error(
                "TELEGRAM_WEBHOOK_SECRET is not set: every call to %s is refused until it "
                "is; set it (and register the webhook with it as secret_token), or use "
                "SWITCHBOARD_TELEGRAM_MODE=polling",
                WEBHOOK_PATH,
            )
        try:
            await self._initialize()
        except InvalidToken:
            # PTB's message quotes the token: neither it nor its chain goes any further.
            await self.application.bot.shutdown()
            raise RuntimeError(
                "TELEGRAM_BOT_TOKEN was rejected by Telegram (getMe answered Unauthorized)"
            ) from None
        except TelegramError as exc:
            log.warning("Telegram is unreachable (%s); the bot is initialized when it is", exc)
            self._initializer = asyncio.create_task(
                self._initialize_until_ready(), name="telegram-initialize"
            )
        if self.mode == "polling":
            self._poller = asyncio.create_task(self._poll(), name="telegram-polling")

    async def _initialize(self) -> None:
        await self.application.initialize()
        self._ready.set()
        log.info("Telegram bot @%s ready (%s mode)", self.bot.username, self.mode)
        if self.mode == "webhook" and self._public_base_url and self._secret is not None:
            url = self._public_base_url + WEBHOOK_PATH
            try:
                await self.bot.set_webhook(
                    url=url,
                    secret_token=self._secret.decode(),
                    allowed_updates=list(ALLOWED_UPDATES),
                )
            except TelegramError as exc:
                log.warning("could not register the Telegram webhook %s: %s", url, exc)
            else:
                log.info("Telegram webhook registered: %s", url)

    async def _initialize_until_ready(self) -> None:
        delay = self._retry_delay
        while not self._ready.is_set():
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)
            try:
                await self._initialize()
            except InvalidToken:
                log.error("TELEGRAM_BOT_TOKEN was rejected by Telegram; the channel stays off")
                return
            except TelegramError as exc:
                log.warning("Telegram still unreachable: %s", exc)

    async def stop(self) -> None:
        """Stop polling (confirming what was taken), finish callback answers, close clients."""
        if self._initializer is not None:
            self._initializer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._initializer
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
            await self._confirm_offset()
        if self._background:
            _done, pending = await asyncio.wait(self._background, timeout=2.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.application.shutdown()
        await self.application.bot.shutdown()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ inbound

    async def receive(self, update: Update) -> Accepted | None:
        """Turn UPDATE into a task and commit it; None when there is nothing to act on.

        Raises:
            UnusableUpdate: the handlers could not read the update.
            NoWorkspace: no workspace takes this bot's traffic.
            ChannelRejected: 503 while the gateway shuts down (from `ingest`).
        """
        context = self._context
        assert context is not None, "start() first"
        workspace_id = await context.workspace_for("telegram", self.bot_id)
        if workspace_id is None:
            raise NoWorkspace(
                f"several workspaces exist and none is mapped to Telegram bot {self.bot_id}"
            )
        intake = await parse_update(
            self.application, update, Intake(workspace_id, self.bot.username)
        )
        accepted = await context.ingest(intake.task) if intake.task is not None else None
        if intake.callback_query_id is not None:
            # Stops the button's spinner now; the outcome edits the prompt once decided (a
            # refusal comes as a reply to it).
            if accepted is None:
                answer = intake.refusal
            else:
                answer = None if accepted.created else "Already received."
            self._spawn(self._answer(intake.callback_query_id, answer))
        return accepted

    async def _answer(self, query_id: str, text: str | None) -> None:
        try:
            await self.bot.answer_callback_query(query_id, text=text)
        except TelegramError as exc:  # too old, or Telegram unreachable: only cosmetic
            log.info("could not answer Telegram callback query: %s", exc)

    async def handle_webhook(self, request: InboundRequest) -> web.Response:
        """POST /telegram/webhook: secret checked, update committed, then 200.

        Raises:
            ChannelRejected: 404 in polling mode, 403 without a configured secret, 401 for
                a missing or wrong secret header, 400 for a body that is not an update, 503
                before the bot is initialized or when no workspace takes the bot's traffic.
        """
        if self.mode != "webhook":
            raise ChannelRejected(
                404, "the Telegram channel fetches its updates (polling mode): no webhook"
            )
        if self._secret is None:
            raise ChannelRejected(403, "TELEGRAM_WEBHOOK_SECRET is not set: webhooks are refused")
        given = request.headers.get(SECRET_HEADER)
        if given is None or not hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), self._secret
        ):
            raise SignatureRejected(401, f"missing or wrong {SECRET_HEADER} header")
        try:
            update = decode_update(request.body, self.bot)
        except UnusableUpdate as exc:
            raise ChannelRejected(400, str(exc)) from exc
        if not self._ready.is_set():
            raise ChannelRejected(
                503, "the Telegram bot is not initialized yet", {"Retry-After": "5"}
            )
        try:
            await self.receive(update)
        except UnusableUpdate as exc:
            log.warning("Telegram update %s refused: %s", update.update_id, exc.__cause__)
            raise ChannelRejected(400, str(exc)) from exc
        except NoWorkspace as exc:
            log.error("%s: map it in workspace_addresses (channel telegram)", exc)
            raise ChannelRejected(503, str(exc), {"Retry-After": "60"}) from exc
        return web.json_response({"ok": True})

    # ------------------------------------------------------------------ long polling

    async def _poll(self) -> None:
        """Fetch updates with getUpdates; an update is confirmed (the next offset) only once
        its task is committed, so a crash re-fetches it and the journal dedupes it."""
        await self._ready.wait()
        await self._retrying("deleteWebhook", self._delete_webhook)
        delay = self._retry_delay
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=self._offset,
                    timeout=self._poll_timeout,
                    allowed_updates=list(ALLOWED_UPDATES),
                )
            except Conflict as exc:
                log.warning("getUpdates conflict: %s", exc)
                if "webhook" in exc.message.lower():
                    await self._retrying("deleteWebhook", self._delete_webhook)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY)
                continue
            except TelegramError as exc:
                log.warning("getUpdates failed: %s; retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY)
                continue
            delay = self._retry_delay
            for update in updates:
                try:
                    await self.receive(update)
                except UnusableUpdate as exc:
                    log.warning("Telegram update %s skipped: %s", update.update_id, exc.__cause__)
                except Exception as exc:
                    # Not committed: leave it unconfirmed, Telegram hands it out again.
                    log.warning(
                        "Telegram update %s not taken (%s); fetching it again",
                        update.update_id,
                        exc,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, MAX_RETRY_DELAY)
                    break
                self._offset = update.update_id + 1

    async def _delete_webhook(self) -> None:
        # Telegram refuses getUpdates while a webhook is set.
        await self.bot.delete_webhook(drop_pending_updates=False)

    async def _retrying(self, what: str, call: Any) -> None:
        delay = self._retry_delay
        while True:
            try:
                await call()
                return
            except TelegramError as exc:
                log.warning("%s failed: %s; retrying in %.0f s", what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY)

    async def _confirm_offset(self) -> None:
        """Tell Telegram which updates were taken, so the next start does not re-fetch them."""
        if self._offset is None:
            return
        try:
            await self.bot.get_updates(offset=self._offset, timeout=0, limit=1, read_timeout=2)
        except TelegramError as exc:
            log.info("could not confirm Telegram updates at stop: %s", exc)
