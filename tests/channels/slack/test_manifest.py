"""`main.py slack manifest`: the app manifest validates against Slack's documented shape, names
every Slack route the gateway serves, subscribes to the events the listeners handle, and asks
for the scope of every Web API method the code calls (found by reading the code)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from slack_sdk.web.async_base_client import AsyncBaseClient
from slack_sdk.web.async_client import AsyncWebClient

from api.app import build_app
from channels.slack.inbound import COMMAND, MESSAGE_EVENTS
from channels.slack.manifest import (
    BOT_EVENTS,
    METHOD_SCOPES,
    METHODS_CALLED,
    ManifestError,
    ManifestOptions,
    bot_display_name,
    build_manifest,
    request_urls,
    sdk_methods,
)
from tests.channels.slack.manifest_schema import APP_MANIFEST_SCHEMA
from tests.conftest import make_settings
from tests.process import ROOT
from tests.test_cli import run

BASE = "https://switchboard.example.com"
# The packages whose code runs in the gateway and the CLI (tests and benchmarks excluded).
PRODUCTION = ("api", "channels", "cli", "config", "core", "delivery", "models", "scheduler")
SDK_METHODS = frozenset(
    name
    for name in dir(AsyncWebClient)
    if not name.startswith("_") and callable(getattr(AsyncWebClient, name))
) - frozenset(dir(AsyncBaseClient))


def validate(manifest: dict[str, Any]) -> None:
    jsonschema.validate(manifest, APP_MANIFEST_SCHEMA, cls=jsonschema.Draft202012Validator)


def slack_routes() -> set[str]:
    """The /slack/* paths the gateway's router serves."""
    app = build_app(make_settings("sqlite+aiosqlite:///:memory:"))
    return {
        route.resource.canonical
        for route in app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/slack/")
    }


def web_api_calls() -> dict[str, set[str]]:
    """Every Slack Web API method the production code calls, with the files calling it: calls
    of AsyncWebClient methods by name (`client.chat_postMessage(...)`) and `api_call("x.y")`."""
    found: dict[str, set[str]] = {}
    files = [ROOT / "main.py", *(p for d in PRODUCTION for p in (ROOT / d).rglob("*.py"))]
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            name = node.func.attr
            methods: tuple[str, ...] = ()
            if name in SDK_METHODS:
                methods = sdk_methods(name)
            elif name == "api_call" and node.args and isinstance(node.args[0], ast.Constant):
                methods = (str(node.args[0].value),)
            for method in methods:
                found.setdefault(method, set()).add(str(path.relative_to(ROOT)))
    return found


def test_manifest_validates_against_slacks_documented_shape() -> None:
    http = build_manifest(ManifestOptions(base_url=BASE))
    socket = build_manifest(ManifestOptions(base_url=None, socket_mode=True))
    named = build_manifest(ManifestOptions(base_url=BASE + "/", name="Acme Support Bot"))

    for manifest in (http, socket, named):
        validate(manifest)
    assert http["settings"]["socket_mode_enabled"] is False
    assert socket["settings"]["socket_mode_enabled"] is True
    assert request_urls(socket) == []  # Slack takes no request URLs in Socket Mode
    assert request_urls(named) == [BASE + "/slack/events"] * 3  # no double slash
    assert named["display_information"]["name"] == "Acme Support Bot"
    assert named["features"]["bot_user"]["display_name"] == "acme-support-bot"
    # The schema itself refuses what Slack refuses.
    broken = json.loads(json.dumps(http))
    broken["settings"]["interactivity"]["request_url"] = "http://insecure.example.com/x"
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)
    broken = json.loads(json.dumps(socket))
    broken["settings"]["event_subscriptions"]["request_url"] = BASE + "/slack/events"
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def test_manifest_names_every_slack_route_the_gateway_serves() -> None:
    routes = slack_routes()
    manifest = build_manifest(ManifestOptions(base_url=BASE))

    assert routes  # the router was read
    assert {url.removeprefix(BASE) for url in request_urls(manifest)} == routes
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == COMMAND  # the command the listeners answer


def test_manifest_subscribes_to_exactly_the_events_the_listeners_handle() -> None:
    manifest = build_manifest(ManifestOptions(base_url=BASE))
    events = manifest["settings"]["event_subscriptions"]["bot_events"]

    assert {event.split(".")[0] for event in events} == set(MESSAGE_EVENTS)
    # `message` is acted on in direct messages only (channel_type im): message.im, no other.
    assert [e for e in events if e.startswith("message")] == ["message.im"]
    assert set(manifest["oauth_config"]["scopes"]["bot"]) >= set(BOT_EVENTS.values())


def test_scopes_cover_every_web_api_method_the_code_calls() -> None:
    calls = web_api_calls()
    scopes = set(build_manifest(ManifestOptions(base_url=BASE))["oauth_config"]["scopes"]["bot"])

    assert "chat.postMessage" in calls  # the scan finds the sender's calls
    unknown = {m: f for m, f in calls.items() if m not in METHOD_SCOPES}
    assert not unknown, f"add these Web API methods to METHOD_SCOPES: {unknown}"
    assert set(calls) == set(METHODS_CALLED), "METHODS_CALLED must list what the code calls"
    for method in calls:
        assert set(METHOD_SCOPES[method]) <= scopes, method
    assert "commands" in scopes  # the slash command
    # Nothing asked for that the code does not use.
    used = {s for m in calls for s in METHOD_SCOPES[m]} | set(BOT_EVENTS.values()) | {"commands"}
    assert scopes == used


def test_bot_display_name_keeps_to_slacks_characters() -> None:
    assert bot_display_name("Switchboard") == "switchboard"
    assert bot_display_name("Équipe Ops 2") == "quipe-ops-2"
    assert bot_display_name("!!!") == "switchboard"
    with pytest.raises(ManifestError, match="35 characters"):
        build_manifest(ManifestOptions(base_url=BASE, name="x" * 36))


def test_cli_prints_the_manifest_or_says_what_to_set(tmp_path: Path) -> None:
    printed = run("slack", "manifest", cwd=tmp_path, env={"PUBLIC_BASE_URL": BASE})
    assert printed.returncode == 0, printed.stderr
    manifest = json.loads(printed.stdout)
    validate(manifest)
    assert request_urls(manifest) == [BASE + "/slack/events"] * 3
    assert "SLACK_SIGNING_SECRET" in printed.stderr

    missing = run("slack", "manifest", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert "PUBLIC_BASE_URL is not set" in missing.stderr and "--socket-mode" in missing.stderr

    socket = run("slack", "manifest", "--socket-mode", cwd=tmp_path)
    assert socket.returncode == 0, socket.stderr
    manifest = json.loads(socket.stdout)
    validate(manifest)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "SLACK_APP_TOKEN" in socket.stderr and "connections:write" in socket.stderr

    plain = run("slack", "manifest", cwd=tmp_path, env={"PUBLIC_BASE_URL": "http://10.0.0.5:8080"})
    assert plain.returncode == 0
    assert "not https" in plain.stderr
