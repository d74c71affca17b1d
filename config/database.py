"""Where the data lives: the data directory, and `DATABASE_URL` as the async drivers take it."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

DATABASE_FILE = "switchboard.db"
DEFAULT_DATABASE_URL = f"sqlite+aiosqlite:///{DATABASE_FILE}"

# The schemes DATABASE_URL may use, and the driver each is run with. Managed databases (Heroku,
# Render, Fly, Neon, DigitalOcean...) hand out libpq URLs: postgres:// or postgresql://.
_SCHEMES = {
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "sqlite": "sqlite+aiosqlite",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}
# libpq's sslmode values; asyncpg takes the same words as its `ssl` argument.
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_SSL_BOOLEANS = {"true": "require", "1": "require", "false": "disable", "0": "disable"}
# Query parameters passed to asyncpg.connect as they are (each a string it accepts); `host`
# and `port` carry SQLAlchemy's several-hosts form, `prepared_statement_cache_size` is
# SQLAlchemy's own (0 behind PgBouncer in transaction mode).
_ASYNCPG_PARAMETERS = frozenset(
    {
        "ssl",
        "host",
        "port",
        "target_session_attrs",
        "passfile",
        "service",
        "servicefile",
        "krbsrvname",
        "gsslib",
        "prepared_statement_cache_size",
    }
)
# libpq's certificate files: asyncpg reads them from these variables, not from arguments.
_SSL_FILES = {
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
}


class DatabaseUrlError(ValueError):
    """DATABASE_URL cannot be used; the message never repeats the URL (it may hold a password)."""


def default_data_dir(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """The platform's per-user data directory for Switchboard: `$XDG_DATA_HOME/switchboard`
    (`~/.local/share/switchboard`) on Linux and the BSDs, `~/Library/Application Support/
    Switchboard` on macOS, `%LOCALAPPDATA%\\Switchboard` on Windows. The working directory
    when no home directory is known (a service account without one)."""
    env = os.environ if environ is None else environ
    system = sys.platform if platform is None else platform
    try:
        home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    except (KeyError, RuntimeError):
        return Path.cwd()
    if system.startswith("win"):
        local = env.get("LOCALAPPDATA")
        return (Path(local) if local else home / "AppData" / "Local") / "Switchboard"
    if system == "darwin":
        return home / "Library" / "Application Support" / "Switchboard"
    xdg = env.get("XDG_DATA_HOME", "")
    # The XDG spec: a relative value is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return base / "switchboard"


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except Exception as exc:  # ArgumentError, or ValueError for a bad port
        raise DatabaseUrlError(
            "is not a database URL such as sqlite+aiosqlite:///switchboard.db or "
            "postgresql://user:password@host:5432/name (several hosts go as "
            "?host=a:5432&host=b:5432)"
        ) from exc


def normalize_database_url(url: str) -> str:
    """DATABASE_URL with the driver Switchboard runs: `sqlite://` becomes `sqlite+aiosqlite://`,
    `postgres://` and `postgresql://` become `postgresql+asyncpg://`, and libpq's query
    parameters become asyncpg's (`sslmode=require` → `ssl=require`). Raises DatabaseUrlError
    for another database, or a parameter asyncpg cannot honour."""
    scheme = url.split("://", 1)[0].strip().lower() if "://" in url else ""
    driver = _SCHEMES.get(scheme)
    if driver is None:
        raise DatabaseUrlError(
            "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (postgres:// and "
            f"postgresql:// are read as postgresql+asyncpg://) (got {scheme or url[:20]!r})"
        )
    if driver == "sqlite+aiosqlite":
        if scheme == driver:
            return url
        return _parse(url).set(drivername=driver).render_as_string(hide_password=False)
    parsed = _parse(url)
    query = _asyncpg_query(parsed.query)
    if scheme == driver and query == dict(parsed.query):
        return url
    return parsed.set(drivername=driver, query=query).render_as_string(hide_password=False)


def _asyncpg_query(query: Mapping[str, str | tuple[str, ...]]) -> dict[str, str | tuple[str, ...]]:
    out: dict[str, str | tuple[str, ...]] = {}
    refused: list[str] = []
    for name, value in query.items():
        if name in ("sslmode", "ssl"):
            mode = value if isinstance(value, str) else value[-1]
            mode = _SSL_BOOLEANS.get(mode.lower(), mode.lower())
            if mode not in _SSL_MODES:
                raise DatabaseUrlError(f"{name} must be one of {', '.join(_SSL_MODES)}")
            if name == "sslmode" and "ssl" in query:
                raise DatabaseUrlError("give sslmode or ssl, not both")
            out["ssl"] = mode
        elif name == "channel_binding":
            mode = value if isinstance(value, str) else value[-1]
            # asyncpg does not bind SCRAM to the TLS channel. libpq's "prefer" (the default)
            # connects without it where it is not offered; "require" must not be weakened.
            if mode.lower() == "require":
                raise DatabaseUrlError(
                    "channel_binding=require cannot be honoured: asyncpg does not support "
                    "channel binding; remove it (sslmode=verify-full verifies the server)"
                )
        elif name in _SSL_FILES:
            raise DatabaseUrlError(
                f"{name} is not read from the URL by asyncpg: set {_SSL_FILES[name]} to the "
                "file's path instead"
            )
        elif name in _ASYNCPG_PARAMETERS:
            out[name] = value
        else:
            refused.append(name)
    if refused:
        raise DatabaseUrlError(
            f"asyncpg does not take the parameter{'s' if len(refused) > 1 else ''} "
            f"{', '.join(sorted(refused))}; it takes {', '.join(sorted(_ASYNCPG_PARAMETERS))} "
            "and libpq's sslmode and channel_binding"
        )
    return out


@dataclass(frozen=True)
class DatabaseLocation:
    """The URL every process uses; `working_dir_file` when an existing file in the working
    directory was kept instead of the data directory's (see `locate_database`)."""

    url: str
    working_dir_file: Path | None = None


def locate_database(url: str, data_dir: Path, *, cwd: Path | None = None) -> DatabaseLocation:
    """Resolve a relative SQLite path in URL against DATA_DIR, so the server, the command line
    and the migrations open the same file from any working directory. With CWD (given when
    SWITCHBOARD_DATA_DIR is not set), a file already at that relative path in CWD is kept:
    databases made before the data directory existed (`./switchboard.db`) stay in use."""
    if not url.startswith("sqlite"):
        return DatabaseLocation(url)
    parsed = _parse(url)
    database = parsed.database
    if (
        not database
        or database == ":memory:"
        or database.startswith("file:")
        or parsed.query.get("uri") == "true"
    ):
        return DatabaseLocation(url)
    path = Path(database).expanduser()
    if path.is_absolute():
        return DatabaseLocation(url if path == Path(database) else _with_path(parsed, path))
    if cwd is not None and (cwd / path).is_file():
        found = (cwd / path).absolute()
        return DatabaseLocation(_with_path(parsed, found), working_dir_file=found)
    return DatabaseLocation(_with_path(parsed, data_dir / path))


def _with_path(url: URL, path: Path) -> str:
    return url.set(database=os.path.normpath(path)).render_as_string(hide_password=False)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database or an in-memory one)."""
    if not url.startswith("sqlite"):
        return None
    database = _parse(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def describe_database(url: str) -> str:
    """Which database URL opens, for people: a SQLite file's path, else the URL without its
    password."""
    file = sqlite_file(url)
    if file is not None:
        return str(file)
    return _parse(url).render_as_string(hide_password=True)
