"""The member's own availability toggle on /console/profile (refused when an owner or admin
manages it), and the team's notification addresses on /console/team."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.assists.records import create_assist
from storage.db import Database
from storage.domain import Assist
from storage.models import Member, Workspace
from tests.console.helpers import origin, sign_in
from tests.factories import make_member, make_tenant


async def post(client: Any, path: str, csrf: str, **data: str) -> Any:
    return await client.post(
        path, data={"csrf_token": csrf, **data}, headers=origin(client), allow_redirects=False
    )


async def test_a_member_goes_offline_and_back_and_is_handed_what_waited(
    make_client: Any, db: Database
) -> None:
    client = await make_client()
    tenant = await make_tenant(db, role="support", plan="enterprise")
    csrf = await sign_in(client, db, tenant.member_id)
    html = await (await client.get("/console/profile")).text()
    assert "You are <strong>available</strong>" in html
    assert "Go offline</button>" in html

    response = await post(client, "/console/profile/availability", csrf, availability="offline")
    assert response.status == 302
    html = await (await client.get(response.headers["Location"])).text()
    assert "You are offline." in html and "Go available</button>" in html
    async with db.session() as session:
        waiting = await create_assist(
            session, workspace_id=tenant.workspace_id, subject="Help", summary=""
        )
    assert waiting.assignee_id is None

    await post(client, "/console/profile/availability", csrf, availability="available")
    async with db.session() as session:
        assignee = await session.scalar(select(Assist.assignee_id).where(Assist.id == waiting.id))
    assert assignee == tenant.member_id

    # Managed availability: a support member may not set their own; an owner still may.
    async with db.session() as session:
        workspace = await session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        workspace.availability_managed = True
    html = await (await client.get("/console/profile")).text()
    assert "An owner or admin sets availability in this workspace." in html
    assert "Go offline</button>" not in html
    refused = await post(client, "/console/profile/availability", csrf, availability="offline")
    assert refused.status == 403
    async with db.session() as session:
        member = await session.get(Member, tenant.member_id)
        assert member is not None and member.availability == "available"
        owner = await make_member(session, tenant.workspace_id, role="owner")
        owner_id = owner.id
    owner_client = await make_client()
    owner_csrf = await sign_in(owner_client, db, owner_id)
    response = await post(
        owner_client, "/console/profile/availability", owner_csrf, availability="offline"
    )
    assert response.status == 302


async def test_owners_keep_the_teams_notification_addresses(make_client: Any, db: Database) -> None:
    client = await make_client()
    tenant = await make_tenant(db, role="admin", plan="enterprise")
    csrf = await sign_in(client, db, tenant.member_id)
    html = await (await client.get("/console/team")).text()
    assert 'for="notification-addresses">Notification addresses</label>' in html

    response = await post(
        client,
        "/console/team/notifications",
        csrf,
        addresses="Alerts@Acme.example\nops@acme.example, alerts@acme.example",
        availability_managed="1",
    )
    assert response.status == 302
    html = await (await client.get(response.headers["Location"])).text()
    assert "Team notifications are saved." in html
    assert "alerts@acme.example\nops@acme.example</textarea>" in html
    async with db.session() as session:
        workspace = await session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        assert workspace.notification_addresses == ["alerts@acme.example", "ops@acme.example"]
        assert workspace.availability_managed

    refused = await post(
        client, "/console/team/notifications", csrf, addresses="<b>not-an-address</b>"
    )
    assert refused.status == 400
    html = await refused.text()
    assert "&lt;b&gt;not-an-address&lt;/b&gt; is not an email address" in html
    async with db.session() as session:
        workspace = await session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        assert workspace.notification_addresses == ["alerts@acme.example", "ops@acme.example"]

    support = await make_client()
    async with db.session() as session:
        member = await make_member(session, tenant.workspace_id, role="support")
    support_csrf = await sign_in(support, db, member.id)
    denied = await post(support, "/console/team/notifications", support_csrf, addresses="")
    assert denied.status == 403
