"""The profile page: every member's name, time zone (times shown in it), password change that
signs out the other sessions, and signing out everywhere."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from core.team.signin import MAX_FAILURES_PER_ACCOUNT, hash_password
from storage.db import Database
from storage.models import AuditEntry, ConsoleSession, Member, SignInAttempt
from tests.console.helpers import another_browser, csrf_of, origin, sign_in
from tests.factories import make_tenant

OLD, NEW = "the old password", "a brand new password"


async def post(client: Any, path: str, csrf: str, *, via: Any = None, **data: str) -> Any:
    return await (via or client).post(
        path, data={"csrf_token": csrf, **data}, headers=origin(client), allow_redirects=False
    )


async def test_every_role_has_a_profile_linked_from_the_top_bar(
    make_client: Any, db: Database
) -> None:
    client = await make_client()
    tenant = await make_tenant(db, role="support", plan="plus")
    await sign_in(client, db, tenant.member_id)
    inbox = await (await client.get("/console/inbox")).text()
    assert f'<a href="/console/profile" title="Your profile">{tenant.member_name}</a>' in inbox
    page = await client.get("/console/profile")
    assert page.status == 200
    html = await page.text()
    for label in ("Name", "Time zone", "New password", "New password again"):
        assert f'">{label}</label>' in html
    assert "Set a password" in html  # signed in by link, no password yet
    assert 'for="current-password"' not in html
    assert "Sign out everywhere</button>" in html
    anonymous = await make_client()
    response = await anonymous.get("/console/profile", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/console/login")


async def test_name_and_time_zone_are_saved_and_times_follow_the_zone(
    make_client: Any, db: Database
) -> None:
    client = await make_client()
    tenant = await make_tenant(db)
    csrf = await sign_in(client, db, tenant.member_id)
    async with db.session() as session:
        member = await session.get(Member, tenant.member_id)
        assert member is not None
        member.last_sign_in_at = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    team = await (await client.get("/console/team")).text()
    assert "15 Jan 2026, 12:00" in team

    response = await post(
        client, "/console/profile", csrf, name="  Ana   María <i>Ruiz</i> ", timezone="Asia/Tokyo"
    )
    assert response.status == 302
    saved = await (await client.get(response.headers["Location"])).text()
    assert "Your profile is saved." in saved
    assert 'value="Ana María &lt;i&gt;Ruiz&lt;/i&gt;"' in saved
    assert '<option value="Asia/Tokyo" selected>' in saved
    team = await (await client.get("/console/team")).text()
    assert "15 Jan 2026, 21:00" in team  # noon UTC is 21:00 in Tokyo
    assert 'data-tz="Asia/Tokyo"' in team
    async with db.session() as session:
        member = await session.get(Member, tenant.member_id)
        assert member is not None
        assert (member.name, member.timezone) == ("Ana María <i>Ruiz</i>", "Asia/Tokyo")
        audit = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "profile.update")
        )
        assert audit is not None and audit.details == {"changed": ["name", "timezone"]}

    for bad in ({"name": "Ana", "timezone": "Mars/Olympus"}, {"name": " ", "timezone": ""}):
        refused = await post(client, "/console/profile", csrf, **bad)
        assert refused.status == 400
    # Empty: back to the workspace's zone.
    await post(client, "/console/profile", csrf, name="Ana", timezone="")
    async with db.session() as session:
        member = await session.get(Member, tenant.member_id)
        assert member is not None and member.timezone is None


async def test_password_change_keeps_this_session_and_ends_the_others(
    make_client: Any, db: Database
) -> None:
    client = await make_client()
    tenant = await make_tenant(db)
    async with db.session() as session:
        member = await session.get(Member, tenant.member_id)
        assert member is not None
        member.password_hash = hash_password(OLD)
    csrf = await sign_in(client, db, tenant.member_id)
    async with another_browser(client) as laptop:
        await sign_in(laptop, db, tenant.member_id)
        html = await (await client.get("/console/profile")).text()
        assert 'for="current-password">Current password</label>' in html

        wrong = await post(
            client, "/console/profile/password", csrf, current="not it at all", password=NEW,
            confirm=NEW,
        )  # fmt: skip
        assert wrong.status == 400
        assert "current password is not right" in await wrong.text()
        differ = await post(
            client, "/console/profile/password", csrf, current=OLD, password=NEW, confirm="x"
        )
        assert differ.status == 400 and "differ" in await differ.text()
        short = await post(
            client, "/console/profile/password", csrf, current=OLD, password="short",
            confirm="short",
        )  # fmt: skip
        assert short.status == 400 and "at least 10 characters" in await short.text()
        assert (await laptop.get("/console/inbox", allow_redirects=False)).status == 200

        done = await post(
            client, "/console/profile/password", csrf, current=OLD, password=NEW, confirm=NEW
        )
        assert done.status == 302
        page = await client.get(done.headers["Location"])
        assert "Your password is changed." in await page.text()  # this session stays
        assert (await laptop.get("/console/inbox", allow_redirects=False)).status == 302
    async with another_browser(client) as elsewhere:
        for password, status in ((OLD, 401), (NEW, 302)):
            form = await (await elsewhere.get("/console/login")).text()
            answer = await post(
                client, "/console/login", csrf_of(form), via=elsewhere,
                email=tenant.member_email, password=password,
            )  # fmt: skip
            assert answer.status == status, password
    async with db.session() as session:
        failures = await session.scalars(
            select(SignInAttempt.email).where(SignInAttempt.succeeded.is_(False))
        )
        # The wrong current password counted as a failed sign-in, as did the old password.
        assert len(list(failures)) == 2


async def test_guessing_the_current_password_is_throttled(make_client: Any, db: Database) -> None:
    client = await make_client()
    tenant = await make_tenant(db)
    async with db.session() as session:
        member = await session.get(Member, tenant.member_id)
        assert member is not None
        member.password_hash = hash_password(OLD)
    csrf = await sign_in(client, db, tenant.member_id)
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        response = await post(
            client, "/console/profile/password", csrf, current="guess guess", password=NEW,
            confirm=NEW,
        )  # fmt: skip
        assert response.status == 400
    response = await post(
        client, "/console/profile/password", csrf, current=OLD, password=NEW, confirm=NEW
    )
    assert response.status == 400
    assert "Too many failed sign-ins" in await response.text()


async def test_sign_out_everywhere_ends_every_session(make_client: Any, db: Database) -> None:
    client = await make_client()
    tenant = await make_tenant(db)
    csrf = await sign_in(client, db, tenant.member_id)
    async with another_browser(client) as phone:
        await sign_in(phone, db, tenant.member_id)
        forged = await post(client, "/console/profile/sign-out-everywhere", "forged")
        assert forged.status == 403
        assert (await phone.get("/console/inbox", allow_redirects=False)).status == 200
        response = await post(client, "/console/profile/sign-out-everywhere", csrf)
        assert response.status == 302 and response.headers["Location"] == "/console/login"
        for browser in (client, phone):
            answer = await browser.get("/console/inbox", allow_redirects=False)
            assert answer.status == 302
    async with db.session() as session:
        sessions = list(
            await session.scalars(
                select(ConsoleSession).where(ConsoleSession.member_id == tenant.member_id)
            )
        )
    assert len(sessions) == 2 and all(s.revoked_at is not None for s in sessions)
