"""`workspace list`, `member list`, `apikey list` and `apikey revoke`: look after a deployment
from the command line, through the same directory functions as the admin API and the console."""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cli.common import Subcommands, command_group, table, when, with_database

# The database layers are imported by the commands that use them, so `--help` and commands
# that need no database start without loading them.
if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from config import Settings

JSON_HELP = "print one JSON object per line instead of a table"


def add_parser(sub: Subcommands) -> None:
    workspaces = command_group(sub, "workspace", "manage workspaces")
    wl = workspaces.add_parser(
        "list", help="list every workspace with its plan and number of members"
    )
    wl.add_argument("--json", action="store_true", help=JSON_HELP)
    wl.set_defaults(fn=cmd_workspace_list)

    members = command_group(sub, "member", "manage members")
    ml = members.add_parser(
        "list", help="list a workspace's members: role, status, email and linked channels"
    )
    ml.add_argument("--workspace", required=True, help="workspace id or name")
    ml.add_argument("--json", action="store_true", help=JSON_HELP)
    ml.set_defaults(fn=cmd_member_list)

    keys = command_group(sub, "apikey", "manage API keys")
    kl = keys.add_parser(
        "list",
        help="list a workspace's API keys: id, name, prefix, created, last used, revoked "
        "(never the key itself, which is not stored)",
    )
    kl.add_argument("--workspace", required=True, help="workspace id or name")
    kl.add_argument("--json", action="store_true", help=JSON_HELP)
    kl.set_defaults(fn=cmd_apikey_list)
    kr = keys.add_parser("revoke", help="revoke an API key: requests made with it are refused")
    kr.add_argument("--workspace", required=True, help="workspace id or name")
    kr.add_argument("key_id", metavar="KEY_ID", help="the key's id, as `apikey list` shows it")
    kr.set_defaults(fn=cmd_apikey_revoke)


def _print_rows(args: argparse.Namespace, rows: list[dict[str, Any]], empty: str) -> None:
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, default=_iso))
        return
    if not rows:
        print(empty, file=sys.stderr)
        return
    headers = tuple(rows[0])
    cells = [tuple(_cell(row[h]) for h in headers) for row in rows]
    print(table(tuple(h.replace("_", " ") for h in headers), cells))


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, list):
        return ", ".join(value) or "-"
    return str(value)


def cmd_workspace_list(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from storage.models import Member, Workspace

    async def go(session: AsyncSession) -> int:
        active = await session.execute(
            select(Member.workspace_id, func.count())
            .where(Member.status == "active")
            .group_by(Member.workspace_id)
        )
        counts = {workspace_id: count for workspace_id, count in active}
        rows = [
            {
                "id": ws.id,
                "name": ws.name,
                "plan": ws.plan,
                "timezone": ws.timezone,
                "members": counts.get(ws.id, 0),
                "created": ws.created_at,
            }
            for ws in await session.scalars(select(Workspace).order_by(Workspace.name))
        ]
        _print_rows(args, rows, "no workspaces yet: `workspace create NAME` makes one")
        return 0

    return asyncio.run(with_database(settings, go))


def cmd_member_list(settings: Settings, args: argparse.Namespace) -> int:
    from core.team import directory
    from core.team.roster import roster

    async def go(session: AsyncSession) -> int:
        ws = await directory.find_workspace(session, args.workspace)
        rows = [
            {
                "id": entry.member.id,
                "name": entry.member.name,
                "role": entry.member.role,
                "status": entry.member.status,
                "email": entry.member.email,
                "channels": sorted({identity.channel for identity in entry.channels}),
            }
            for entry in await roster(session, ws.id)
        ]
        _print_rows(args, rows, f"{ws.name} has no members yet: `member add` adds one")
        return 0

    return asyncio.run(with_database(settings, go))


def cmd_apikey_list(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from core.team import directory
    from storage.models import ApiKey

    async def go(session: AsyncSession) -> int:
        ws = await directory.find_workspace(session, args.workspace)
        keys = await session.scalars(
            select(ApiKey).where(ApiKey.workspace_id == ws.id).order_by(ApiKey.created_at)
        )
        rows = [
            {
                "id": key.id,
                "name": key.name or None,
                "prefix": key.prefix,
                "created": key.created_at,
                "last_used": key.last_used_at,
                "revoked": key.revoked_at,
            }
            for key in keys
        ]
        _print_rows(args, rows, f"{ws.name} has no API keys: `apikey create` makes one")
        return 0

    return asyncio.run(with_database(settings, go))


def cmd_apikey_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from core.team import directory
    from storage.models import ApiKey

    async def go(session: AsyncSession) -> int:
        ws = await directory.find_workspace(session, args.workspace)
        already = await session.scalar(
            select(ApiKey.revoked_at).where(ApiKey.id == args.key_id, ApiKey.workspace_id == ws.id)
        )
        try:
            key = await directory.revoke_api_key(session, ws.id, args.key_id, actor="cli")
        except directory.NotFound as exc:
            raise directory.NotFound(
                f"{ws.name} has no API key {args.key_id!r} (`apikey list --workspace "
                f"{shlex.quote(ws.name)}` shows its keys)"
            ) from exc
        if already is not None:
            print(f"API key {key.id} ({key.prefix}…) was already revoked on {when(already)}")
        else:
            print(f"API key {key.id} ({key.prefix}…) of {ws.name} revoked: it is refused from now")
        return 0

    return asyncio.run(with_database(settings, go))
