"""Slack: slack-bolt behind our aiohttp server at `POST /slack/events`; Block Kit replies."""

from __future__ import annotations

from aiohttp import web

from channels.base import channel_or_404, from_aiohttp
from channels.slack.channel import SlackChannel
from config import Settings

NAME = "slack"
REQUIRED: tuple[str, ...] = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")

__all__ = ["NAME", "REQUIRED", "ROUTES", "SlackChannel", "create"]


async def slack_events(request: web.Request) -> web.StreamResponse:
    """Events API, interactivity (block actions) and slash commands: one Request URL."""
    channel: SlackChannel = channel_or_404(request, NAME, "SLACK_BOT_TOKEN")
    return await channel.handle(await from_aiohttp(request))


ROUTES: list[web.RouteDef] = [web.post("/slack/events", slack_events)]


def create(settings: Settings) -> SlackChannel:
    return SlackChannel(settings)
