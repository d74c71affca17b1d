"""Linking a chat account from the console: the profile page's link code (it links the Slack
account that sends it), and the Team page's "link Slack users by their verified email"."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from core.team.linking import code_digest
from storage.db import Database
from storage.linking import LinkCode
from storage.models import AuditEntry, ChannelIdentity, Workspace
from tests.channels.slack_payloads import SIGNING_SECRET, direct_message, post
from tests.console.helpers import origin, sign_in
from tests.factories import make_tenant
from tests.helpers import wait_until
from tests.sims.slack import SlackSim

SECRET = "console-link-test-secret"
_CODE = re.compile(r'<strong class="link-code" aria-label="Link code">([0-9]{6})</strong>')


async def test_profile_shows_a_link_code_that_links_the_slack_account_sending_it(
    make_client: Any, db: Database, slack_sim: SlackSim
) -> None:
    client = await make_client(
        SLACK_BOT_TOKEN=slack_sim.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_sim.api_url,
        SWITCHBOARD_SECRET_KEY=SECRET,
    )
    tenant = await make_tenant(db, role="support", plan="plus")
    csrf = await sign_in(client, db, tenant.member_id)
    html = await (await client.get("/console/profile")).text()
    assert '<h2 id="link-title">Link a chat account</h2>' in html
    assert "Get a link code</button>" in html
    assert _CODE.search(html) is None

    response = await client.post(
        "/console/profile/link-code",
        data={"csrf_token": csrf},
        headers=origin(client),
        allow_redirects=False,
    )
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = await response.text()
    found = _CODE.search(html)
    assert found is not None
    code = found.group(1)
    # Only Slack is set up here, so only Slack is named.
    assert (
        f"Send “link {code}” from Slack to link that account to you. The code works once, for "
        "10 minutes." in html
    )
    async with db.session() as session:
        (row,) = list(await session.scalars(select(LinkCode)))
        audit = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "link_code.issue")
        )
    assert row.member_id == tenant.member_id and row.used_at is None
    assert row.code_hash == code_digest(SECRET.encode(), tenant.workspace_id, code)
    assert code not in row.code_hash
    assert audit is not None and audit.target == tenant.member_id

    await post(client, direct_message(f"link {code}", user="U0SUPPORT1"))
    (message,) = await wait_until(lambda: slack_sim.posted(), timeout=10)
    assert message["text"] == (
        f"Linked this Slack account to {tenant.member_name} ({tenant.member_email})."
    )
    async with db.session() as session:
        identity = await session.scalar(
            select(ChannelIdentity).where(ChannelIdentity.channel == "slack")
        )
    assert identity is not None
    assert (identity.member_id, identity.address) == (tenant.member_id, "U0SUPPORT1")

    # No CSRF token, no code.
    refused = await client.post(
        "/console/profile/link-code", headers=origin(client), allow_redirects=False
    )
    assert refused.status in (400, 403)


async def test_without_a_chat_channel_the_profile_says_so_and_offers_no_code(
    make_client: Any, db: Database
) -> None:
    client = await make_client()
    tenant = await make_tenant(db)
    await sign_in(client, db, tenant.member_id)
    html = await (await client.get("/console/profile")).text()
    assert "No chat channel (Slack, Telegram, SMS or WhatsApp) is set up on this gateway" in html
    assert 'action="/console/profile/link-code"' not in html


async def test_owners_switch_slack_email_linking_on_the_team_page(
    make_client: Any, db: Database
) -> None:
    client = await make_client()
    owner = await make_tenant(db)
    csrf = await sign_in(client, db, owner.member_id)
    html = await (await client.get("/console/team")).text()
    assert "Link Slack users by their verified email</label>" in html
    assert 'name="slack_email_linking" value="1" aria' in html  # not ticked: off by default

    saved = await client.post(
        "/console/team/linking",
        data={"csrf_token": csrf, "slack_email_linking": "1"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert saved.status == 302
    html = await (await client.get(saved.headers["Location"])).text()
    assert 'name="slack_email_linking" value="1" checked' in html
    assert "Saved." in html
    async with db.session() as session:
        workspace = await session.get(Workspace, owner.workspace_id)
        audit = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "workspace.slack_email_linking")
        )
    assert workspace is not None and workspace.slack_email_linking is True
    assert audit is not None and audit.details == {"slack_email_linking": True}

    await client.post("/console/team/linking", data={"csrf_token": csrf}, headers=origin(client))
    async with db.session() as session:
        workspace = await session.get(Workspace, owner.workspace_id)
    assert workspace is not None and workspace.slack_email_linking is False

    support_client = await make_client()
    support = await make_tenant(db, role="support")
    support_csrf = await sign_in(support_client, db, support.member_id)
    refused = await support_client.post(
        "/console/team/linking",
        data={"csrf_token": support_csrf, "slack_email_linking": "1"},
        headers=origin(support_client),
        allow_redirects=False,
    )
    assert refused.status == 403
    async with db.session() as session:
        workspace = await session.get(Workspace, support.workspace_id)
    assert workspace is not None and workspace.slack_email_linking is False
