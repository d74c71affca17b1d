"""The Telegram channel's declaration: its webhook route and the bot adapter."""

from __future__ import annotations

import os

from aiohttp import web

from channels.base import ChannelContext, ChannelRoute, ChannelSpec, channel_or_404, from_aiohttp
from channels.telegram.adapter import WEBHOOK_PATH, TelegramChannel
from config import Settings

NAME = "telegram"


async def webhook(request: web.Request, context: ChannelContext) -> web.StreamResponse:
    channel = channel_or_404(context, NAME, TelegramChannel, "TELEGRAM_BOT_TOKEN")
    return await channel.handle_webhook(await from_aiohttp(request))


def create(settings: Settings) -> TelegramChannel:
    # PTB 22 deprecates int periods (RetryAfter.retry_after, ...) with a warning each time;
    # opting in to timedelta periods is its documented way out.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    return TelegramChannel(settings)


TELEGRAM = ChannelSpec(
    name=NAME,
    required=("TELEGRAM_BOT_TOKEN",),
    routes=(ChannelRoute("POST", WEBHOOK_PATH, webhook),),
    create=create,
)
