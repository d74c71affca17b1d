"""`doctor`: check the database and each configured provider, print the webhook URLs."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from config import Settings

DEFAULT_TIMEOUT = 10.0


def add_parser(sub: Any) -> None:
    """Register `doctor` on the subparsers SUB of the main parser."""
    p = sub.add_parser(
        "doctor",
        help="check the database and every configured provider, and print the webhook URLs "
        "to paste into their consoles; exit status 1 if anything configured is wrong",
        description="Checks the database (reachable, migrations applied) and makes one cheap "
        "authenticated call to each configured provider (Slack, Telegram, Twilio, SendGrid, "
        "Postmark, Resend, Brevo, ElevenLabs, each LLM endpoint), all at once. Unconfigured "
        "providers are reported as off. A failing line starts with the setting at fault; no "
        "secret is ever printed.",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long each check may take (default {DEFAULT_TIMEOUT:g})",
    )
    p.set_defaults(fn=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Print the report; 0 when everything configured works, else 1."""
    from channels.doctor import diagnose

    report = asyncio.run(diagnose(settings, seconds=args.timeout))
    print(report.render(), flush=True)
    return 0 if report.healthy else 1
