"""Signed, expiring media links: the file for a valid token, 404 for anything else."""

from __future__ import annotations

from datetime import timedelta

from api.state import GATEWAY
from core.team import directory
from delivery.media import MediaStore
from storage.db import Database
from storage.types import utcnow
from tests.api import start_gateway
from tests.conftest import AppFactory


async def test_tokens_verify_and_expire(db: Database) -> None:
    store = MediaStore(db, b"secret", "https://gw.example.com")
    now = utcnow()
    token = store.token("abc123", now + timedelta(minutes=5))
    assert store.verify(token, now) == "abc123"
    assert store.verify(token, now + timedelta(minutes=6)) is None
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert store.verify(forged, now) is None
    # The same id and expiry signed with another key is worthless here.
    other = MediaStore(db, b"other", None).token("abc123", now + timedelta(minutes=5))
    assert store.verify(other, now) is None
    assert store.verify("garbage", now) is None
    assert store.url("abc123", now).startswith("https://gw.example.com/media/abc123.")


async def test_media_route_serves_the_file_and_refuses_bad_links(
    make_client: AppFactory,
) -> None:
    client = await start_gateway(make_client, SWITCHBOARD_SECRET_KEY="k" * 32)
    gateway = client.app[GATEWAY]
    async with gateway.db.session() as session:
        ws = await directory.create_workspace(session, "Acme")
        fresh = MediaStore.add(
            session,
            workspace_id=ws.id,
            filename="report.csv",
            content_type="text/csv",
            data=b"a,b\n1,2\n",
        )
        old = MediaStore.add(
            session,
            workspace_id=ws.id,
            filename="old.csv",
            content_type="text/csv",
            data=b"x",
            now=utcnow() - timedelta(days=30),
        )
    good = gateway.media.token(fresh.id, fresh.expires_at)
    response = await client.get(f"/media/{good}")
    assert response.status == 200
    assert await response.read() == b"a,b\n1,2\n"
    assert response.headers["Content-Type"].startswith("text/csv")
    assert 'filename="report.csv"' in response.headers["Content-Disposition"]

    # A link signed for longer than the file lives still finds nothing once the file expired.
    stale = gateway.media.token(old.id, utcnow() + timedelta(days=1))
    tampered = good[:-1] + ("x" if good[-1] != "x" else "y")
    for token in (tampered, stale, "nope", good.split(".")[0]):
        response = await client.get(f"/media/{token}")
        assert response.status == 404, token
        assert "error" in await response.json()
