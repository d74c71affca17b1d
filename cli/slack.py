"""`main.py slack manifest`: print the Slack app manifest to paste at app creation."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from config import Settings


def add_parser(sub: Any) -> None:
    """Register `slack manifest` on SUB (the top-level subparsers of main.parser())."""
    slack = sub.add_parser("slack", help="set up the Slack app").add_subparsers(
        dest="action", required=True
    )
    manifest = slack.add_parser(
        "manifest",
        help="print the Slack app manifest (JSON) to paste at api.slack.com/apps, "
        "'Create New App', 'From a manifest'; request URLs come from PUBLIC_BASE_URL",
    )
    manifest.add_argument(
        "--socket-mode",
        action="store_true",
        help="events over Socket Mode (SLACK_APP_TOKEN) instead of request URLs: no public "
        "address needed",
    )
    manifest.add_argument(
        "--name", default="Switchboard", help="the app's name in Slack (35 characters at most)"
    )
    manifest.set_defaults(fn=cmd_slack_manifest)


def cmd_slack_manifest(settings: Settings, args: argparse.Namespace) -> int:
    # Imported here: the Slack SDKs load only for the command that needs them.
    from channels.slack.manifest import (
        ManifestError,
        ManifestOptions,
        build_manifest,
        request_urls,
    )

    base_url = str(settings.public_base_url) if settings.public_base_url else None
    try:
        manifest = build_manifest(
            ManifestOptions(base_url=base_url, socket_mode=args.socket_mode, name=args.name)
        )
    except ManifestError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(manifest, indent=2))
    urls = request_urls(manifest)
    if any(not url.startswith("https://") for url in urls):
        print(
            f"warning: PUBLIC_BASE_URL ({base_url}) is not https: Slack only posts to https "
            "request URLs, so it will refuse this manifest's URLs",
            file=sys.stderr,
        )
    if args.socket_mode:
        print(
            "Next: create the app from this manifest, install it, then under Basic "
            "Information > App-Level Tokens generate a token with the connections:write scope "
            "and set SLACK_APP_TOKEN (xapp-...), SLACK_BOT_TOKEN (xoxb-..., OAuth & "
            "Permissions) and SLACK_SIGNING_SECRET (Basic Information).",
            file=sys.stderr,
        )
    else:
        print(
            f"Next: create the app from this manifest (Slack verifies {urls[0]} once the "
            "gateway is running there), install it, then set SLACK_BOT_TOKEN (xoxb-..., OAuth "
            "& Permissions) and SLACK_SIGNING_SECRET (Basic Information).",
            file=sys.stderr,
        )
    return 0
