"""DATABASE_URL as the drivers take it, and the data directory every process finds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from config import SettingsError, load_settings
from config.database import (
    DatabaseUrlError,
    default_data_dir,
    describe_database,
    locate_database,
    normalize_database_url,
)
from storage.db import Database
from tests.conftest import PG_SKIP_REASON


@pytest.mark.parametrize(
    ("given", "used"),
    [
        # As managed databases hand them out (Heroku, Render, Fly, Neon, DigitalOcean...).
        ("postgres://u:pw@db.example:5432/app", "postgresql+asyncpg://u:pw@db.example:5432/app"),
        ("postgresql://u:pw@db.example/app", "postgresql+asyncpg://u:pw@db.example/app"),
        (
            "postgres://u:pw@db.example/app?sslmode=require",
            "postgresql+asyncpg://u:pw@db.example/app?ssl=require",
        ),
        (
            "postgresql://u:pw@db.example/app?sslmode=verify-full&channel_binding=prefer",
            "postgresql+asyncpg://u:pw@db.example/app?ssl=verify-full",
        ),
        ("postgres://db.example/app?ssl=true", "postgresql+asyncpg://db.example/app?ssl=require"),
        (
            "postgres://db.example/app?sslmode=disable",
            "postgresql+asyncpg://db.example/app?ssl=disable",
        ),
        (
            "postgresql://db.example/app?target_session_attrs=read-write",
            "postgresql+asyncpg://db.example/app?target_session_attrs=read-write",
        ),
        # A password's reserved characters stay encoded.
        (
            "postgres://u:p%40ss%3Aw%2Frd@db.example/app",
            "postgresql+asyncpg://u:p%40ss%3Aw%2Frd@db.example/app",
        ),
        # Already in the driver's form: unchanged, or only libpq's names translated.
        ("postgresql+asyncpg://u@127.0.0.1/app", "postgresql+asyncpg://u@127.0.0.1/app"),
        (
            "postgresql+asyncpg://u@127.0.0.1/app?sslmode=prefer",
            "postgresql+asyncpg://u@127.0.0.1/app?ssl=prefer",
        ),
        (
            "postgresql+asyncpg://u@h/app?prepared_statement_cache_size=0",
            "postgresql+asyncpg://u@h/app?prepared_statement_cache_size=0",
        ),
        ("sqlite:///team.db", "sqlite+aiosqlite:///team.db"),
        ("sqlite+aiosqlite:////srv/team.db", "sqlite+aiosqlite:////srv/team.db"),
    ],
)
def test_database_urls_are_normalised_for_the_async_drivers(given: str, used: str) -> None:
    assert normalize_database_url(given) == used
    assert make_url(used).password == make_url(given).password


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (
            "mysql://root:hunter2@db/x",
            "must start with sqlite+aiosqlite:// or postgresql+asyncpg://",
        ),
        ("postgresql+psycopg2://u:hunter2@db/x", "must start with"),
        ("postgres://u:hunter2@db/x?sslmode=sometimes", "sslmode must be one of disable, allow"),
        ("postgres://u:hunter2@db/x?channel_binding=require", "asyncpg does not support channel"),
        ("postgres://u:hunter2@db/x?sslrootcert=/ca.pem", "set PGSSLROOTCERT to the file's path"),
        (
            "postgres://u:hunter2@db/x?application_name=sb",
            "does not take the parameter application",
        ),
        ("postgres://u:hunter2@a:5432,b:5432/x", "several hosts go as ?host=a:5432&host=b:5432"),
    ],
)
def test_unusable_database_urls_are_refused_without_the_password(given: str, says: str) -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        normalize_database_url(given)
    assert says in str(caught.value)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(SettingsError) as refused:
        load_settings(_env_file=None, DATABASE_URL=given)
    assert "DATABASE_URL" in str(refused.value) and "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("linux", {"HOME": "/home/ann"}, "/home/ann/.local/share/switchboard"),
        ("linux", {"HOME": "/home/ann", "XDG_DATA_HOME": "/data"}, "/data/switchboard"),
        # A relative XDG_DATA_HOME is invalid by the XDG spec, so ignored.
        (
            "linux",
            {"HOME": "/home/ann", "XDG_DATA_HOME": "rel"},
            "/home/ann/.local/share/switchboard",
        ),
        ("darwin", {"HOME": "/Users/ann"}, "/Users/ann/Library/Application Support/Switchboard"),
        ("win32", {"HOME": "/c/ann", "LOCALAPPDATA": "/c/ann/Local"}, "/c/ann/Local/Switchboard"),
        ("win32", {"HOME": "/c/ann"}, "/c/ann/AppData/Local/Switchboard"),
    ],
)
def test_the_default_data_directory_is_the_platforms_per_user_one(
    platform: str, environ: dict[str, str], expected: str
) -> None:
    assert default_data_dir(environ, platform) == Path(expected)


def test_sqlite_paths_resolve_in_the_data_directory(tmp_path: Path) -> None:
    data, cwd = tmp_path / "data", tmp_path / "cwd"
    cwd.mkdir()
    assert locate_database("sqlite+aiosqlite:///switchboard.db", data).url == (
        f"sqlite+aiosqlite:///{data / 'switchboard.db'}"
    )
    assert locate_database("sqlite+aiosqlite:///./sub/../x.db", data, cwd=cwd).url == (
        f"sqlite+aiosqlite:///{data / 'x.db'}"
    )
    for fixed in (
        f"sqlite+aiosqlite:///{tmp_path / 'abs.db'}",
        "sqlite+aiosqlite://",
        "sqlite+aiosqlite:///:memory:",
        "postgresql+asyncpg://u@h/app",
    ):
        assert locate_database(fixed, data, cwd=cwd) == locate_database(fixed, data)
        assert locate_database(fixed, data).url == fixed

    # A file already at the relative path in the working directory is kept (the old default),
    # unless the data directory was chosen explicitly (no cwd given).
    (cwd / "switchboard.db").write_bytes(b"")
    kept = locate_database("sqlite+aiosqlite:///./switchboard.db", data, cwd=cwd)
    assert kept.url == f"sqlite+aiosqlite:///{cwd / 'switchboard.db'}"
    assert kept.working_dir_file == cwd / "switchboard.db"
    chosen = locate_database("sqlite+aiosqlite:///./switchboard.db", data)
    assert chosen.url == f"sqlite+aiosqlite:///{data / 'switchboard.db'}"
    assert chosen.working_dir_file is None


def test_settings_put_the_database_in_the_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    default = load_settings(_env_file=None)
    assert default.data_dir == tmp_path / "xdg" / "switchboard"
    assert default.database_url == f"sqlite+aiosqlite:///{tmp_path}/xdg/switchboard/switchboard.db"
    assert default.database_in_working_dir is None and default.is_sqlite

    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", "state")  # relative: to the working directory
    monkeypatch.setenv("DATABASE_URL", "sqlite:///team.db")
    chosen = load_settings(_env_file=None)
    assert chosen.data_dir == tmp_path / "state"  # conftest runs each test in its tmp_path
    assert chosen.database_url == f"sqlite+aiosqlite:///{tmp_path}/state/team.db"

    monkeypatch.setenv("DATABASE_URL", "postgres://u:pw@db.example/app?sslmode=require")
    assert load_settings(_env_file=None).database_url == (
        "postgresql+asyncpg://u:pw@db.example/app?ssl=require"
    )


def test_the_database_is_described_without_its_password() -> None:
    assert (
        describe_database("sqlite+aiosqlite:////srv/sb/switchboard.db") == "/srv/sb/switchboard.db"
    )
    shown = describe_database("postgresql+asyncpg://sb:hunter2@db.example:5432/app?ssl=require")
    assert shown == "postgresql+asyncpg://sb:***@db.example:5432/app?ssl=require"


async def test_the_database_directory_is_made_at_first_use(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'new' / 'dir' / 'switchboard.db'}")
    try:
        await db.ping()
    finally:
        await db.dispose()
    assert (tmp_path / "new" / "dir" / "switchboard.db").is_file()


async def test_a_libpq_url_reaches_postgresql() -> None:
    admin = os.environ.get("TEST_DATABASE_URL")
    if not admin:
        pytest.skip(PG_SKIP_REASON)
    libpq = make_url(admin).set(drivername="postgres", query={"sslmode": "disable"})
    url = normalize_database_url(libpq.render_as_string(hide_password=False))
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        await db.dispose()
