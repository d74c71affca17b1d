"""The Slack app manifest for this gateway: what to paste at https://api.slack.com/apps ("From
a manifest") so the app has the scopes, events, interactivity and slash command the code uses.

Everything here is derived from the code it describes: the bot events the listeners act on,
the slash command they answer, the route Slack posts to, and the OAuth scopes of every Web API
method the sender calls (tests check each against the code)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from channels.slack.inbound import COMMAND

# The one route Slack posts events, interactivity and slash commands to (channels.slack.spec).
EVENTS_PATH = "/slack/events"

# Web API methods the gateway calls with the bot token, and the bot scopes each needs
# (https://docs.slack.dev/reference/methods). conversations.history/replies read whichever kind
# of conversation the reply went to: public and private channels, DMs and group DMs.
HISTORY_SCOPES = ("channels:history", "groups:history", "im:history", "mpim:history")
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    "conversations.open": ("im:write",),
    "conversations.history": HISTORY_SCOPES,
    "conversations.replies": HISTORY_SCOPES,
    # A user's email in users.info (linking by verified email) needs users:read.email too.
    "users.info": ("users:read", "users:read.email"),
    "users.lookupByEmail": ("users:read.email",),
}
# The slack_sdk client methods that make several Web API calls.
SDK_COMPOSITES: dict[str, tuple[str, ...]] = {
    "files_upload_v2": ("files.getUploadURLExternal", "files.completeUploadExternal"),
}
# What the gateway calls: channels.slack.sender, channels.slack.directory for linking a Slack
# user by their confirmed email, and the doctor's auth.test (tests scan the code for every
# client call and compare).
METHODS_CALLED: tuple[str, ...] = (
    "auth.test",
    "chat.postMessage",
    "chat.update",
    "files.getUploadURLExternal",
    "files.completeUploadExternal",
    "conversations.open",
    "conversations.history",
    "conversations.replies",
    "users.info",
)

# Events API events the listeners act on (channels.slack.inbound), and the scope each needs:
# mentions in channels, and messages in the bot's direct messages (`message` with
# `channel_type: im`, the `message.im` subscription).
BOT_EVENTS: dict[str, str] = {"app_mention": "app_mentions:read", "message.im": "im:history"}

COMMAND_DESCRIPTION = "Ask Switchboard: questions, changes, reports"
COMMAND_USAGE = "[request, for example: how is our resolution rate this week?]"


def sdk_methods(name: str) -> tuple[str, ...]:
    """The Web API methods behind a slack_sdk client method (`chat_postMessage` ->
    `chat.postMessage`, `files_upload_v2` -> its two calls)."""
    return SDK_COMPOSITES.get(name, (name.replace("_", "."),))


def bot_scopes(methods: tuple[str, ...] = METHODS_CALLED) -> list[str]:
    """The bot scopes METHODS, the events and the slash command need, sorted."""
    scopes = {scope for method in methods for scope in METHOD_SCOPES[method]}
    scopes.update(BOT_EVENTS.values())
    scopes.add("commands")
    return sorted(scopes)


@dataclass(frozen=True, slots=True)
class ManifestOptions:
    """BASE_URL: the gateway's public address (None only with SOCKET_MODE, where Slack takes
    no request URLs); NAME: the app's name in Slack."""

    base_url: str | None
    socket_mode: bool = False
    name: str = "Switchboard"


class ManifestError(ValueError):
    """The manifest cannot be made as asked; the message says what to set."""


def bot_display_name(name: str) -> str:
    """NAME as a bot user name: Slack allows a-z, 0-9, '-', '_' and '.' (80 at most)."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in name.lower())
    cleaned = "".join(c for c in cleaned if c.isascii()).strip("-")
    return (cleaned or "switchboard")[:80]


def build_manifest(options: ManifestOptions) -> dict[str, Any]:
    """The app manifest (Slack's manifest schema, version 1) as a JSON-ready dict.

    Raises:
        ManifestError: no base URL outside Socket Mode, or a name Slack would refuse.
    """
    name = options.name.strip()
    if not name or len(name) > 35:
        raise ManifestError("the app name must be 1 to 35 characters (Slack's limit)")
    url: str | None = None
    if not options.socket_mode:
        if not options.base_url:
            raise ManifestError(
                "PUBLIC_BASE_URL is not set: Slack needs the gateway's public https address "
                "for its request URLs. Set PUBLIC_BASE_URL, or print a Socket Mode manifest "
                "with --socket-mode (no public address needed; set SLACK_APP_TOKEN)"
            )
        url = options.base_url.rstrip("/") + EVENTS_PATH
    command: dict[str, Any] = {
        "command": COMMAND,
        "description": COMMAND_DESCRIPTION,
        "usage_hint": COMMAND_USAGE,
        "should_escape": False,
    }
    events: dict[str, Any] = {"bot_events": sorted(BOT_EVENTS)}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if url is not None:
        command["url"] = url
        events["request_url"] = url
        interactivity["request_url"] = url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "AI operator for your support team: ask, act, report.",
            "background_color": "#1d3557",
        },
        "features": {
            # The Messages tab lets people write to the bot directly (message.im).
            "app_home": {
                "home_tab_enabled": False,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": bot_display_name(name), "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": bot_scopes()}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": options.socket_mode,
            "token_rotation_enabled": False,
        },
    }


def request_urls(manifest: dict[str, Any]) -> list[str]:
    """Every request URL MANIFEST gives Slack (events, interactivity, slash commands)."""
    settings = manifest.get("settings", {})
    urls = [
        settings.get("event_subscriptions", {}).get("request_url"),
        settings.get("interactivity", {}).get("request_url"),
        *(c.get("url") for c in manifest.get("features", {}).get("slash_commands", [])),
    ]
    return [u for u in urls if u]
