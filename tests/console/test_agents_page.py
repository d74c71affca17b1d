"""The AI agents page: owners and admins list, create and configure agents; support may not."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.team.agents import create_default_agent, own_escalation_confidence, text_setting
from storage.db import Database
from storage.domain import AiAgent
from storage.models import Workspace
from tests.console.helpers import origin, sign_in
from tests.factories import make_member, make_tenant


async def _agents(db: Database, workspace_id: str) -> list[AiAgent]:
    async with db.session() as session:
        return list(
            await session.scalars(
                select(AiAgent).where(AiAgent.workspace_id == workspace_id).order_by(AiAgent.name)
            )
        )


async def test_owner_configures_an_agent(make_client: Any, db: Database) -> None:
    client = await make_client()
    tenant = await make_tenant(db)
    async with db.session() as session:
        workspace = await session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        await create_default_agent(session, workspace)
    csrf = await sign_in(client, db, tenant.member_id)
    listing = await client.get("/console/agents")
    assert listing.status == 200
    [agent] = await _agents(db, tenant.workspace_id)
    assert agent.name in await listing.text()

    form = {
        "csrf_token": csrf,
        "name": "Ava",
        "channels": "all",
        "welcome_message": "Hi, I'm Ava <b>from</b> support.",
        "personality": "warm",
        "rules": "Never promise refunds.",
        "escalation_confidence": "0.6",
    }
    saved = await client.post(f"/console/agents/{agent.id}", data=form, headers=origin(client))
    assert saved.status == 200 and "Saved." in await saved.text()
    # The welcome message shows escaped, as the member typed it.
    assert "Hi, I&#39;m Ava &lt;b&gt;from&lt;/b&gt; support." in await saved.text()
    [agent] = await _agents(db, tenant.workspace_id)
    assert agent.name == "Ava"
    assert text_setting(agent, "tone") == "warm"
    assert own_escalation_confidence(agent) == 0.6

    bad = await client.post(
        f"/console/agents/{agent.id}",
        data={**form, "name": "Changed", "escalation_confidence": "7"},
        headers=origin(client),
    )
    assert bad.status == 400 and "Nothing was changed" in await bad.text()
    [agent] = await _agents(db, tenant.workspace_id)
    assert agent.name == "Ava" and own_escalation_confidence(agent) == 0.6

    created = await client.post(
        "/console/agents",
        data={"csrf_token": csrf, "name": "Sam", "channels": "sms", "personality": "brief"},
        headers=origin(client),
    )
    assert created.status == 200
    names = [a.name for a in await _agents(db, tenant.workspace_id)]
    assert names == ["Ava", "Sam"]


async def test_support_gets_a_403_page(make_client: Any, db: Database) -> None:
    client = await make_client()
    tenant = await make_tenant(db)
    async with db.session() as session:
        support = await make_member(session, tenant.workspace_id, role="support")
    csrf = await sign_in(client, db, support.id)
    page = await client.get("/console/agents")
    assert page.status == 403
    assert "AI agents is for" in await page.text()
    posted = await client.post(
        "/console/agents", data={"csrf_token": csrf, "name": "X"}, headers=origin(client)
    )
    assert posted.status == 403
    assert await _agents(db, tenant.workspace_id) == []
