"""What the command line's modules share: command groups, the version, a database session."""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Awaitable, Callable
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from config import Settings

Subcommands = argparse._SubParsersAction  # what `add_subparsers` returns


def command_group(sub: Subcommands, name: str, help: str) -> Subcommands:
    """The actions of command NAME (`member`, `apikey`...), made on first use, so several
    modules may each add their own actions to one group."""
    existing = sub.choices.get(name)
    if existing is None:
        group = sub.add_parser(name, help=help, description=help)
        return group.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action in existing._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise ValueError(f"{name!r} is a command without actions")


def package_version() -> str:
    """The installed distribution's version; in a checkout run without installing, the one
    pyproject.toml declares."""
    try:
        return metadata.version("switchboard")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def warn_database_location(settings: Settings) -> None:
    """Say so when the database in use is a file kept from the working directory: commands
    run from another directory would open the data directory's instead."""
    kept = settings.database_in_working_dir
    if kept is None:
        return
    print(
        f"switchboard: using {kept}, found in the working directory; from other directories "
        f"commands use {settings.data_dir}. Set SWITCHBOARD_DATA_DIR={kept.parent} (or move "
        f"the file to {settings.data_dir}) so every command finds it.",
        file=sys.stderr,
    )


async def with_database(settings: Settings, fn: Callable[[Any], Awaitable[int]]) -> int:
    """Run FN with a session (migrating a database not yet at head first) and commit; a
    DirectoryError is printed and gives exit status 1."""
    from core.team.directory import DirectoryError
    from storage.db import Database

    db = Database(settings.database_url)
    try:
        if await db.pending_migrations():
            await db.migrate()
        async with db.session() as session:
            return await fn(session)
    except DirectoryError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()


def when(moment: datetime | None) -> str:
    """A stored time for a table: UTC to the minute, or a dash."""
    if moment is None:
        return "-"
    return moment.strftime("%Y-%m-%d %H:%M") + " UTC"


def table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Columns aligned under HEADERS, for terminal output."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in lines
    )
