"""Console sign-in: passwords, one-time links, sessions, CSRF, throttling, the audit log."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from core.team.signin import (
    MAX_FAILURES_PER_ACCOUNT,
    hash_password,
    sign_in_link,
)
from storage.db import Database
from storage.models import AuditEntry, ConsoleSession, Member, OutboxRow
from storage.types import utcnow
from tests.console.helpers import csrf_of, link_for, origin, sign_in
from tests.factories import make_tenant

PASSWORD = "correct horse battery"


async def _with_password(db: Database, member_id: str, password: str = PASSWORD) -> None:
    async with db.session() as session:
        member = await session.get(Member, member_id)
        assert member is not None
        member.password_hash = hash_password(password)


async def _login_form(client: Any) -> str:
    response = await client.get("/console/login")
    assert response.status == 200
    html = await response.text()
    assert 'for="email">Email<' in html and 'for="password">Password<' in html
    assert ">Sign in</button>" in html
    return csrf_of(html)


async def _post_login(client: Any, email: str, password: str, csrf: str) -> Any:
    return await client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf_token": csrf, "next": "/console/inbox"},
        headers=origin(client),
        allow_redirects=False,
    )


async def test_pages_without_a_session_send_you_to_sign_in(make_client: Any) -> None:
    client = await make_client()
    for path in ("/console/inbox", "/console/", "/"):
        response = await client.get(path, allow_redirects=True)
        assert response.url.path == "/console/login", path
    response = await client.get("/console/inbox", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/console/login?next=")


async def test_password_sign_in_sets_a_hardened_cookie_and_audits(
    make_client: Any, db: Database
) -> None:
    client = await make_client()
    tenant = await make_tenant(db)
    await _with_password(db, tenant.member_id)
    csrf = await _login_form(client)
    response = await _post_login(client, tenant.member_email.upper(), PASSWORD, csrf)
    assert response.status == 302
    assert response.headers["Location"] == "/console/inbox"
    cookie = response.cookies["sb_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert not cookie["secure"]  # plain http here; see the https test below
    inbox = await client.get("/console/inbox")
    assert inbox.status == 200
    assert tenant.member_name in await inbox.text()
    csp = inbox.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    async with db.session() as session:
        actions = list(
            await session.scalars(
                select(AuditEntry.action).where(AuditEntry.workspace_id == tenant.workspace_id)
            )
        )
    assert "console.sign_in" in actions


async def test_secure_cookie_when_public_url_is_https(make_client: Any, db: Database) -> None:
    client = await make_client(PUBLIC_BASE_URL="https://support.example.com")
    tenant = await make_tenant(db)
    link = await link_for(db, tenant.member_id)
    response = await client.get("/console/login/" + link.rsplit("/", 1)[1], allow_redirects=False)
    assert response.status == 302
    assert response.cookies["sb_session"]["secure"]


async def test_wrong_password_is_refused_audited_and_throttled(
    make_client: Any, db: Database
) -> None:
    client = await make_client()
    tenant = await make_tenant(db)
    await _with_password(db, tenant.member_id)
    csrf = await _login_form(client)
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        response = await _post_login(client, tenant.member_email, "wrong password!", csrf)
        assert response.status == 401
        assert "do not match" in await response.text()
        assert "sb_session" not in response.cookies
    # Now even the right password is refused for a while, and says why.
    response = await _post_login(client, tenant.member_email, PASSWORD, csrf)
    assert response.status == 401
    assert "Too many failed sign-ins" in await response.text()
    assert "sb_session" not in response.cookies
    async with db.session() as session:
        failures = await session.scalars(
            select(AuditEntry).where(
                AuditEntry.workspace_id == tenant.workspace_id,
                AuditEntry.action == "console.sign_in_failed",
            )
        )
        assert len(list(failures)) == MAX_FAILURES_PER_ACCOUNT


async def test_unknown_email_gets_the_same_answer(make_client: Any) -> None:
    client = await make_client()
    csrf = await _login_form(client)
    response = await _post_login(client, "nobody@example.com", PASSWORD, csrf)
    assert response.status == 401
    assert "do not match" in await response.text()


async def test_login_without_csrf_token_changes_nothing(make_client: Any, db: Database) -> None:
    client = await make_client()
    tenant = await make_tenant(db)
    await _with_password(db, tenant.member_id)
    await _login_form(client)
    response = await _post_login(client, tenant.member_email, PASSWORD, "forged")
    assert response.status == 403
    assert "sb_session" not in response.cookies
    # A cross-site form post carries the victim's cookies but another Origin.
    csrf = await _login_form(client)
    response = await client.post(
        "/console/login",
        data={"email": tenant.member_email, "password": PASSWORD, "csrf_token": csrf},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert response.status == 403


async def test_sign_in_link_works_once_and_expires(make_client: Any, db: Database) -> None:
    client = await make_client()
    tenant = await make_tenant(db)
    link = await link_for(db, tenant.member_id)
    assert re.fullmatch(r"http://127\.0\.0\.1:8080/console/login/[\w-]{40,}", link)
    path = "/console/login/" + link.rsplit("/", 1)[1]
    first = await client.get(path, allow_redirects=False)
    assert first.status == 302 and "sb_session" in first.cookies
    again = await client.get(path, allow_redirects=False)
    assert again.status == 400
    assert "already used" in await again.text()
    async with db.session() as session:
        member = await session.get(Member, tenant.member_id)
        assert member is not None
        old = await sign_in_link(session, member, "http://x", now=utcnow() - timedelta(hours=1))
    expired = await client.get("/console/login/" + old.rsplit("/", 1)[1], allow_redirects=False)
    assert expired.status == 400


async def test_sign_out_ends_the_session_for_its_cookie(make_client: Any, db: Database) -> None:
    client = await make_client()
    tenant = await make_tenant(db)
    csrf = await sign_in(client, db, tenant.member_id)
    stolen = client.session.cookie_jar.filter_cookies(client.make_url("/"))["sb_session"].value
    response = await client.post(
        "/console/logout", data={"csrf_token": csrf}, headers=origin(client), allow_redirects=False
    )
    assert response.status == 302
    # The same cookie, replayed, no longer works.
    replay = await client.get(
        "/console/inbox", headers={"Cookie": f"sb_session={stolen}"}, allow_redirects=False
    )
    assert replay.status == 302
    async with db.session() as session:
        row = await session.scalar(
            select(ConsoleSession).where(ConsoleSession.member_id == tenant.member_id)
        )
        assert row is not None and row.revoked_at is not None


async def test_removed_member_loses_the_console(make_client: Any, db: Database) -> None:
    client = await make_client()
    tenant = await make_tenant(db)
    await sign_in(client, db, tenant.member_id)
    async with db.session() as session:
        member = await session.get(Member, tenant.member_id)
        assert member is not None
        member.status = "removed"
    response = await client.get("/console/inbox", allow_redirects=False)
    assert response.status == 302


async def test_next_never_leaves_the_console(make_client: Any, db: Database) -> None:
    client = await make_client()
    tenant = await make_tenant(db)
    await _with_password(db, tenant.member_id)
    csrf = await _login_form(client)
    for target in ("https://evil.example/", "//evil.example/x", "/console/\\evil"):
        response = await client.post(
            "/console/login",
            data={
                "email": tenant.member_email,
                "password": PASSWORD,
                "csrf_token": csrf,
                "next": target,
            },
            headers=origin(client),
            allow_redirects=False,
        )
        assert response.status == 302
        assert response.headers["Location"] == "/console/inbox"


async def test_a_failing_page_is_a_console_page_not_json(
    make_client: Any, db: Database, monkeypatch: Any
) -> None:
    client = await make_client()
    tenant = await make_tenant(db)
    await sign_in(client, db, tenant.member_id)

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("api.console.inbox.active_member_names", broken)
    response = await client.get("/console/inbox")
    assert response.status == 500
    assert response.content_type == "text/html"
    body = await response.text()
    assert "Something went wrong" in body and "boom" not in body
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_email_me_a_sign_in_link(make_client: Any, db: Database) -> None:
    client = await make_client(build={"run_workers": False})
    tenant = await make_tenant(db)
    csrf = await _login_form(client)
    for email in (tenant.member_email, "stranger@example.com"):
        response = await client.post(
            "/console/login/email",
            data={"email": email, "password": "", "csrf_token": csrf},
            headers=origin(client),
        )
        assert response.status == 200
        assert "If that email belongs to an account" in await response.text()
    async with db.session() as session:
        rows = list(await session.scalars(select(OutboxRow).where(OutboxRow.channel == "email")))
    assert [r.address for r in rows] == [tenant.member_email]
    link = re.search(r"/console/login/[\w-]+", rows[0].deliverable["text"])
    assert link is not None
    opened = await client.get(link.group(0), allow_redirects=False)
    assert opened.status == 302 and "sb_session" in opened.cookies
