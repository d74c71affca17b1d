"""Switchboard's command line (`switchboard`, or `python main.py`): serve the gateway, migrate,
bootstrap and administer, classify, demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from typing import Any

from cli import admin, doctor, link
from cli.common import command_group, package_version, warn_database_location, with_database
from cli.processes import SUPERVISOR_FD
from config import Settings, SettingsError, load_settings
from config.database import describe_database
from config.logging import setup_logging

log = logging.getLogger("switchboard")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


async def _serve(settings: Settings) -> None:
    from cli.processes import ServeError, announce, start_serving, stop_on_signals

    try:
        serving = await start_serving(settings)
    except ServeError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    announce(settings, serving.host, serving.port)
    log.info("listening on http://%s:%s", serving.host, serving.port)
    await stop_on_signals().wait()
    log.info("shutting down: finishing claimed work")
    await serving.runner.cleanup()


def cmd_workspace_create(settings: Settings, args: argparse.Namespace) -> int:
    from core.team import agents

    async def go(session: Any) -> int:
        made = await agents.create_workspace_with_agent(
            session,
            args.name,
            plan=args.plan,
            timezone=args.timezone,
            country=args.country,
            actor="cli",
        )
        ws, agent = made.workspace, made.agent
        print(f"workspace {ws.name} created: id {ws.id}, plan {ws.plan}")
        print(f"AI agent {agent.name} created: id {agent.id}, serving all channels")
        return 0

    return asyncio.run(with_database(settings, go))


def cmd_member_add(settings: Settings, args: argparse.Namespace) -> int:
    from core.team import directory, signin
    from storage.types import utcnow

    async def go(session: Any) -> int:
        ws = await directory.find_workspace(session, args.workspace)
        identities = {
            channel: value
            for channel, value in (
                ("sms", args.phone),
                ("slack", args.slack),
                ("telegram", args.telegram),
            )
            if value
        }
        member = await directory.add_member(
            session, ws.id, name=args.name, role=args.role, email=args.email, identities=identities
        )
        linked = ", ".join(["email"] * bool(args.email) + list(identities)) or "none"
        print(f"member {member.name} ({member.role}) added to {ws.name}: id {member.id}")
        print(f"linked identities: {linked}")
        link = await signin.sign_in_link(session, member, settings.base_url, now=utcnow())
        print(f"console sign-in link (works once, for 30 minutes): {link}")
        return 0

    return asyncio.run(with_database(settings, go))


def cmd_member_login_link(settings: Settings, args: argparse.Namespace) -> int:
    from core.team import directory, signin
    from storage.types import utcnow

    async def go(session: Any) -> int:
        ws = await directory.find_workspace(session, args.workspace)
        member = await directory.find_member(session, args.email, workspace_id=ws.id)
        if member.status != "active":
            raise directory.DirectoryError(f"{member.name} was removed from {ws.name}")
        link = await signin.sign_in_link(session, member, settings.base_url, now=utcnow())
        print(link)
        print(
            f"sign-in link for {member.name} ({member.role}, {ws.name}): it works once, for 30 "
            "minutes",
            file=sys.stderr,
        )
        return 0

    return asyncio.run(with_database(settings, go))


def cmd_apikey_create(settings: Settings, args: argparse.Namespace) -> int:
    from core.team import directory

    async def go(session: Any) -> int:
        ws = await directory.find_workspace(session, args.workspace)
        key = await directory.create_api_key(session, ws.id, name=args.name, actor="cli")
        print(key.secret)
        print(f"API key {key.id} for {ws.name}; it is shown once: store it now.", file=sys.stderr)
        return 0

    return asyncio.run(with_database(settings, go))


def cmd_secrets_rotate(settings: Settings, _args: argparse.Namespace) -> int:
    """Re-encrypt stored credentials under SWITCHBOARD_SECRET_KEY (the previous secrets in
    SWITCHBOARD_SECRET_KEY_PREVIOUS still open the old values)."""
    from core.integrations.manage import rotate_credentials
    from core.integrations.vault import VaultError, vault_of
    from storage.db import Database

    try:
        vault = vault_of(settings)
    except VaultError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2

    async def go() -> int:
        db = Database(settings.database_url)
        try:
            if await db.pending_migrations():
                await db.migrate()
            return await rotate_credentials(db, vault)
        finally:
            await db.dispose()

    try:
        count = asyncio.run(go())
    except VaultError as exc:
        print(f"switchboard: {exc}; nothing was changed", file=sys.stderr)
        return 1
    print(
        f"re-encrypted the credentials of {count} integration account"
        f"{'' if count == 1 else 's'} under the current SWITCHBOARD_SECRET_KEY"
    )
    return 0


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from storage.db import run_migrations_blocking

    run_migrations_blocking(settings.database_url)
    print(f"database is up to date: {describe_database(settings.database_url)}")
    return 0


def cmd_classify(settings: Settings | None, args: argparse.Namespace) -> int:
    from cli.classify import run

    if settings is None:
        try:
            settings = load_settings()
        except SettingsError as exc:
            # Offline classification needs no configuration: a bad unrelated value can't stop it.
            print(f"switchboard: {exc}\nclassifying offline", file=sys.stderr)
    return run(args.text, as_json=args.json, settings=settings)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from cli.demo import run_demo

    return asyncio.run(run_demo(settings, keep=args.serve, port=args.port))


def cmd_serve(settings: Settings, _args: argparse.Namespace) -> int:
    from cli import processes

    # One of the processes a supervisor runs (SWITCHBOARD_PROCESSES > 1), or that supervisor.
    if (channel := processes.supervisor_channel()) is not None:
        return processes.serve_child(settings, channel)
    if settings.processes > 1:
        return processes.supervise(settings)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(settings))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Switchboard AI operator gateway. Settings come from the environment and "
        "./.env; with no DATABASE_URL the SQLite database is switchboard.db in "
        "SWITCHBOARD_DATA_DIR (default: the per-user data directory)."
    )
    p.add_argument("--version", action="version", version=f"switchboard {package_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="run the gateway (default)").set_defaults(fn=cmd_serve)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(fn=cmd_migrate)
    demo = sub.add_parser(
        "demo",
        help="play a scripted morning through every channel against provider simulators",
    )
    demo.add_argument(
        "--serve",
        action="store_true",
        help="then keep serving the demo's console (a sign-in link is printed) until Ctrl-C",
    )
    demo.add_argument(
        "--exit", action="store_true", help="end when the script is done (the default)"
    )
    demo.add_argument(
        "--port", type=int, default=None, help="port for the demo gateway (default: a free one)"
    )
    demo.set_defaults(fn=cmd_demo)
    c = sub.add_parser("classify", help="print the tool calls chosen for TEXT ('-' reads stdin)")
    c.add_argument("text", help="the request to classify; '-' reads one request per line")
    c.add_argument("--json", action="store_true", help="print each result as one JSON line")
    c.set_defaults(fn=cmd_classify)

    ws = command_group(sub, "workspace", "manage workspaces")
    wc = ws.add_parser("create", help="create a workspace with its default AI agent")
    wc.add_argument("name", help="the workspace's name (unique)")
    wc.add_argument(
        "--plan", choices=["plus", "pro", "enterprise"], default="pro", help="default: pro"
    )
    wc.add_argument("--timezone", default="UTC", help="IANA time zone, e.g. Europe/Paris")
    wc.add_argument(
        "--country",
        default=None,
        help="ISO country code, e.g. GB: phone numbers written without their country code "
        "are read as this country's (default: none, numbers need their code)",
    )
    wc.set_defaults(fn=cmd_workspace_create)

    mem = command_group(sub, "member", "manage members")
    ma = mem.add_parser("add", help="add a member and print a one-time console sign-in link")
    ma.add_argument("--workspace", required=True, help="workspace id or name")
    ma.add_argument("--name", required=True, help="the member's display name")
    ma.add_argument(
        "--role",
        required=True,
        choices=["owner", "admin", "manager", "support"],
        help="what the member may do",
    )
    ma.add_argument("--email", help="email address (console sign-in and the email channel)")
    ma.add_argument("--phone", help="E.164 number (SMS, WhatsApp and voice)")
    ma.add_argument("--slack", help="Slack user id")
    ma.add_argument("--telegram", help="Telegram user id")
    ma.set_defaults(fn=cmd_member_add)
    ml = mem.add_parser("login-link", help="print a one-time console sign-in link")
    ml.add_argument("--workspace", required=True, help="workspace id or name")
    ml.add_argument("--email", required=True, help="the member's email (or id)")
    ml.set_defaults(fn=cmd_member_login_link)
    link.add_parser(mem)

    key = command_group(sub, "apikey", "manage API keys")
    kc = key.add_parser("create", help="create an admin API key and print it (shown once)")
    kc.add_argument("--workspace", required=True, help="workspace id or name")
    kc.add_argument("--name", default="cli", help="a label to recognise the key by")
    kc.set_defaults(fn=cmd_apikey_create)

    sec = command_group(sub, "secrets", "manage the stored credentials' encryption")
    sec.add_parser(
        "rotate",
        help="re-encrypt every stored credential under SWITCHBOARD_SECRET_KEY (keep the old "
        "secret in SWITCHBOARD_SECRET_KEY_PREVIOUS until this has run)",
    ).set_defaults(fn=cmd_secrets_rotate)

    # Each further module adds its commands (and actions to the groups above) itself.
    admin.add_parser(sub)
    from cli import slack as slack_cli  # `slack manifest`

    slack_cli.add_parser(sub)
    doctor.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    fn = getattr(args, "fn", cmd_serve)
    if fn is cmd_classify:
        return fn(None, args)  # classify needs no settings or database
    settings = _settings()
    setup_logging(settings.log_level, settings.log_format, settings.secret_values())
    # A process of SWITCHBOARD_PROCESSES reads the settings its supervisor read and warned about.
    if SUPERVISOR_FD not in os.environ:
        for warning in settings.config_warnings:
            log.warning("%s", warning)
        warn_database_location(settings)
    return int(fn(settings, args) or 0)


if __name__ == "__main__":
    sys.exit(main())
