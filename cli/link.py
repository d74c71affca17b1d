"""`main.py member link-code`: a link code for a member, who sends "link <code>" from a chat
account to link it (core.team.linking)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from config import Settings


def chat_channels(settings: Settings) -> list[str]:
    """The chat channels a code can be sent from on this configuration, by name."""
    from channels.base import missing_settings
    from channels.slack.spec import SLACK
    from channels.telegram.spec import TELEGRAM
    from channels.twilio_sms.spec import TWILIO

    names = {SLACK.name: ["Slack"], TELEGRAM.name: ["Telegram"], TWILIO.name: ["SMS", "WhatsApp"]}
    return [
        label
        for spec in (SLACK, TELEGRAM, TWILIO)
        if not missing_settings(settings, spec.required)
        for label in names[spec.name]
    ]


def cmd_link_code(settings: Settings, args: argparse.Namespace) -> int:
    """Prints the code on standard output, what to do with it on standard error."""
    from core.team import directory, linking
    from storage.db import Database
    from storage.types import utcnow

    async def go(session: Any) -> int:
        ws = await directory.find_workspace(session, args.workspace)
        member = await directory.find_member(session, args.email, workspace_id=ws.id)
        issued = await linking.issue_code(
            session, member, secret=linking.link_secret(settings), now=utcnow(), actor="cli"
        )
        print(issued.code)
        print(
            f"link code for {member.name} ({ws.name}). "
            + linking.instruction(issued.code, chat_channels(settings)),
            file=sys.stderr,
        )
        return 0

    async def run() -> int:
        db = Database(settings.database_url)
        try:
            if await db.pending_migrations():
                await db.migrate()
            async with db.session() as session:
                return await go(session)
        except directory.DirectoryError as exc:
            print(f"switchboard: {exc}", file=sys.stderr)
            return 1
        finally:
            await db.dispose()

    return asyncio.run(run())


def add_parser(sub: Any) -> None:
    """Registers `link-code` under the `member` command's subparsers SUB."""
    lc = sub.add_parser(
        "link-code",
        help="print a one-time code the member sends as “link <code>” from Slack, Telegram, "
        "SMS or WhatsApp to link that account",
    )
    lc.add_argument("--workspace", required=True, help="workspace id or name")
    lc.add_argument("--email", required=True, help="the member's email (or id)")
    lc.set_defaults(fn=cmd_link_code)
