"""The Slack channel's declaration: one route for events, interactivity and slash commands."""

from __future__ import annotations

from aiohttp import web

from channels.base import ChannelContext, ChannelRoute, ChannelSpec, channel_or_404, from_aiohttp
from channels.slack.channel import SlackChannel
from config import Settings

NAME = "slack"


async def slack_events(request: web.Request, context: ChannelContext) -> web.StreamResponse:
    """Events API, interactivity (block actions) and slash commands: one Request URL."""
    channel = channel_or_404(context, NAME, SlackChannel, "SLACK_BOT_TOKEN")
    return await channel.handle(await from_aiohttp(request))


def create(settings: Settings) -> SlackChannel:
    return SlackChannel(settings)


SLACK = ChannelSpec(
    name=NAME,
    required=("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"),
    routes=(ChannelRoute("POST", "/slack/events", slack_events),),
    create=create,
)
