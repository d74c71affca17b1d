"""A JSON Schema of the parts of Slack's app manifest Switchboard emits, written from Slack's
app manifest reference (https://docs.slack.dev/reference/app-manifest) and the field notes of
its official SDK (@slack/web-api `types/request/manifest.ts`): required fields, maximum
lengths, allowed characters, https request URLs, and no request URLs under Socket Mode.
Unknown keys are refused, so a typo in the manifest fails the test as it would fail in Slack."""

from __future__ import annotations

from typing import Any

# Granular bot scopes Slack documents (https://docs.slack.dev/reference/scopes?token_types=Bot),
# the subset a support bot could ask for; any other string is a typo.
BOT_SCOPES = [
    "app_mentions:read",
    "channels:history",
    "channels:join",
    "channels:read",
    "chat:write",
    "chat:write.customize",
    "chat:write.public",
    "commands",
    "files:read",
    "files:write",
    "groups:history",
    "groups:read",
    "im:history",
    "im:read",
    "im:write",
    "metadata.message:read",
    "mpim:history",
    "mpim:read",
    "mpim:write",
    "reactions:read",
    "reactions:write",
    "team:read",
    "users:read",
    "users:read.email",
]

# Bot events (https://docs.slack.dev/reference/events), the subset a support bot could use.
BOT_EVENTS = [
    "app_home_opened",
    "app_mention",
    "message.channels",
    "message.groups",
    "message.im",
    "message.mpim",
    "reaction_added",
]

_HTTPS_URL: dict[str, Any] = {"type": "string", "pattern": r"^https://[^\s/]+(/\S*)?$"}

APP_MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["display_information"],
    "properties": {
        "_metadata": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "major_version": {"enum": [1, 2]},
                "minor_version": {"type": "integer", "minimum": 0},
            },
        },
        "display_information": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 35},
                "description": {"type": "string", "maxLength": 140},
                "long_description": {"type": "string", "minLength": 174, "maxLength": 4000},
                "background_color": {
                    "type": "string",
                    "pattern": r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$",
                },
            },
        },
        "features": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "app_home": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "home_tab_enabled": {"type": "boolean"},
                        "messages_tab_enabled": {"type": "boolean"},
                        "messages_tab_read_only_enabled": {"type": "boolean"},
                    },
                },
                "bot_user": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["display_name"],
                    "properties": {
                        "display_name": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 80,
                            "pattern": r"^[a-z0-9._-]+$",
                        },
                        "always_online": {"type": "boolean"},
                    },
                },
                "slash_commands": {
                    "type": "array",
                    "maxItems": 50,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["command", "description"],
                        "properties": {
                            "command": {
                                "type": "string",
                                "pattern": r"^/[a-z0-9_-]+$",
                                "maxLength": 32,
                            },
                            "description": {"type": "string", "minLength": 1, "maxLength": 2000},
                            "usage_hint": {"type": "string", "maxLength": 1000},
                            "should_escape": {"type": "boolean"},
                            "url": _HTTPS_URL,
                        },
                    },
                },
            },
        },
        "oauth_config": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "redirect_urls": {"type": "array", "items": _HTTPS_URL, "maxItems": 1000},
                "scopes": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "bot": {
                            "type": "array",
                            "items": {"enum": BOT_SCOPES},
                            "uniqueItems": True,
                            "maxItems": 255,
                        }
                    },
                },
            },
        },
        "settings": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "event_subscriptions": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "request_url": _HTTPS_URL,
                        "bot_events": {
                            "type": "array",
                            "items": {"enum": BOT_EVENTS},
                            "uniqueItems": True,
                            "maxItems": 100,
                        },
                    },
                },
                "interactivity": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["is_enabled"],
                    "properties": {
                        "is_enabled": {"type": "boolean"},
                        "request_url": _HTTPS_URL,
                    },
                },
                "org_deploy_enabled": {"type": "boolean"},
                "socket_mode_enabled": {"type": "boolean"},
                "token_rotation_enabled": {"type": "boolean"},
            },
            # Socket Mode: Slack sends everything over the WebSocket and takes no request URLs.
            "if": {
                "properties": {"socket_mode_enabled": {"const": True}},
                "required": ["socket_mode_enabled"],
            },
            "then": {
                "properties": {
                    "event_subscriptions": {"not": {"required": ["request_url"]}},
                    "interactivity": {"not": {"required": ["request_url"]}},
                }
            },
            # Request URLs: events and interactivity both need one.
            "else": {
                "properties": {
                    "event_subscriptions": {"required": ["request_url"]},
                    "interactivity": {"required": ["request_url"]},
                }
            },
        },
    },
    # A slash command has a URL exactly when the app uses request URLs.
    "if": {
        "properties": {
            "settings": {
                "properties": {"socket_mode_enabled": {"const": True}},
                "required": ["socket_mode_enabled"],
            }
        },
        "required": ["settings"],
    },
    "then": {
        "properties": {
            "features": {
                "properties": {"slash_commands": {"items": {"not": {"required": ["url"]}}}}
            }
        }
    },
    "else": {
        "properties": {
            "features": {"properties": {"slash_commands": {"items": {"required": ["url"]}}}}
        }
    },
}
