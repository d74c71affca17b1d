"""Console test helpers: sign a member in through a one-time link, read a page's CSRF token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestClient

from core.team.signin import sign_in_link
from storage.db import Database
from storage.models import Member
from storage.types import utcnow

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_BODY_CSRF = re.compile(r'data-csrf="([^"]*)"')


async def link_for(db: Database, member_id: str, base: str = "http://127.0.0.1:8080") -> str:
    async with db.session() as session:
        member = await session.get(Member, member_id)
        assert member is not None
        return await sign_in_link(session, member, base, now=utcnow())


async def sign_in(client: TestClient[Any, Any], db: Database, member_id: str) -> str:
    """Signs MEMBER in on CLIENT (its cookie jar keeps the session); returns the CSRF token."""
    link = await link_for(db, member_id)
    path = link.split("8080", 1)[1]
    response = await client.get(path, allow_redirects=False)
    assert response.status == 302, await response.text()
    page = await client.get("/console/inbox")
    assert page.status == 200, await page.text()
    return csrf_of(await page.text())


def csrf_of(html: str) -> str:
    found = _CSRF.search(html) or _BODY_CSRF.search(html)
    assert found is not None, "the page has no CSRF token"
    return found.group(1)


def origin(client: TestClient[Any, Any]) -> dict[str, str]:
    return {"Origin": str(client.make_url("")).rstrip("/")}


@asynccontextmanager
async def another_browser(client: TestClient[Any, Any]) -> AsyncIterator[ClientSession]:
    """A second browser on CLIENT's gateway (its own cookies, the same server and database):
    relative paths, like the test client; send `origin(client)` with its posts."""
    base = str(client.make_url("")).rstrip("/") + "/"
    async with ClientSession(base_url=base, cookie_jar=CookieJar(unsafe=True)) as session:
        yield session
