"""Telegram through python-telegram-bot: updates in by webhook (`/telegram/webhook`) or long
polling, replies out through the Bot API at `TELEGRAM_API_URL`."""

from __future__ import annotations

import os

from aiohttp import web

from channels.base import channel_or_404, from_aiohttp
from channels.telegram.adapter import WEBHOOK_PATH, TelegramChannel
from config import Settings

NAME = "telegram"
REQUIRED: tuple[str, ...] = ("TELEGRAM_BOT_TOKEN",)

__all__ = ["NAME", "REQUIRED", "ROUTES", "TelegramChannel", "create"]


async def webhook(request: web.Request) -> web.Response:
    channel: TelegramChannel = channel_or_404(request, NAME, "TELEGRAM_BOT_TOKEN")
    return await channel.handle_webhook(await from_aiohttp(request))


ROUTES: list[web.RouteDef] = [web.post(WEBHOOK_PATH, webhook)]


def create(settings: Settings) -> TelegramChannel:
    # PTB 22 deprecates int periods (RetryAfter.retry_after, ...) with a warning each time;
    # opting in to timedelta periods is its documented way out.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    return TelegramChannel(settings)
