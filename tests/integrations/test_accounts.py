"""Connected accounts: credentials checked against the provider's fields, stored only
encrypted (the database file holds none of them in clear), shown back masked, replaced field
by field, and bad input refused with nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.integrations import accounts
from core.integrations.vault import Vault
from core.team.directory import DirectoryError
from storage.db import Database
from storage.integrations import IntegrationAccount
from storage.types import utcnow
from tests.factories import make_tenant

TOKEN = "zd-SECRET-token-0123456789"
VAULT = Vault("a long random secret for the tests")


def _database_bytes(folder: Path) -> bytes:
    """The SQLite database as stored: its file and any journal or WAL beside it."""
    return b"".join(p.read_bytes() for p in sorted(folder.glob("switchboard.db*")))


async def test_connected_credentials_are_encrypted_at_rest_and_shown_masked(
    sqlite_url: str, tmp_path: Path
) -> None:
    db = Database(sqlite_url)
    await db.migrate()
    try:
        tenant = await make_tenant(db)
        async with db.session() as session:
            account = await accounts.connect(
                session,
                VAULT,
                tenant.workspace_id,
                provider="zendesk",
                label="Acme EU",
                credentials={"subdomain": "acme", "email": "ops@acme.example", "api_token": TOKEN},
                actor="test",
                now=utcnow(),
            )
            shown = accounts.account_json(account)
            account_id = account.id
        assert shown["settings"] == {
            "subdomain": "acme",
            "email": "ops@acme.example",
            "api_token": "••••6789",
        }
        assert TOKEN not in str(shown)
        await db.dispose()
        raw = _database_bytes(tmp_path)
        assert TOKEN.encode() not in raw and b"SECRET-token" not in raw
        db = Database(sqlite_url)
        async with db.session() as session:
            found = await accounts.get_account(session, tenant.workspace_id, account_id)
            assert accounts.credentials_of(VAULT, found)["api_token"] == TOKEN
            # A blank secret keeps the saved one; a new plain field replaces its value.
            await accounts.update(
                session,
                VAULT,
                found,
                credentials={"subdomain": "acme-eu", "api_token": ""},
                enabled=False,
                actor="test",
                now=utcnow(),
            )
            assert accounts.credentials_of(VAULT, found) == {
                "subdomain": "acme-eu",
                "email": "ops@acme.example",
                "api_token": TOKEN,
            }
            assert found.enabled is False
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("provider", "credentials", "problem"),
    [
        ("zendesk", {"subdomain": "acme", "email": "a@b.c"}, "needs api_token"),
        ("zendesk", {"subdomain": "a", "email": "a@b.c", "api_token": "t", "pw": "x"}, "not pw"),
        (
            "dialpad",
            {"api_key": "k", "phone_number": "+1", "target_type": "team", "target_id": "1"},
            "target_type is one of",
        ),
        ("freshdesk", {"domain": "d", "api_key": "k", "api_url": "ftp://x"}, "must be an http"),
        ("myspace", {}, "unknown provider"),
        ("intercom", "token", "must be an object"),
    ],
)
async def test_bad_credentials_are_refused_and_nothing_is_stored(
    db: Database, provider: str, credentials: object, problem: str
) -> None:
    tenant = await make_tenant(db)
    with pytest.raises(DirectoryError, match=problem):
        async with db.session() as session:
            await accounts.connect(
                session,
                VAULT,
                tenant.workspace_id,
                provider=provider,
                label=None,
                credentials=credentials,
                actor="test",
                now=utcnow(),
            )
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(IntegrationAccount)) == 0
