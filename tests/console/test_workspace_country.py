"""The workspace's country, set on the Team page (or at `workspace create --country`): phone
numbers written the national way are then read as its numbers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.team import directory
from storage.db import Database
from storage.models import AuditEntry, Member, Workspace
from tests.console.helpers import origin, sign_in
from tests.factories import make_tenant


async def _country(db: Database, workspace_id: str) -> str | None:
    async with db.session() as session:
        workspace = await session.get(Workspace, workspace_id)
        assert workspace is not None
        return workspace.country


async def test_the_country_is_set_on_the_team_page_and_national_numbers_read_as_its(
    make_client: Any, db: Database
) -> None:
    client = await make_client()
    owner = await make_tenant(db)
    csrf = await sign_in(client, db, owner.member_id)
    html = await (await client.get("/console/team")).text()
    assert '<label for="country">Country (two letters' in html

    async def save(value: str) -> str:
        answer = await client.post(
            "/console/team/country",
            data={"csrf_token": csrf, "country": value},
            headers=origin(client),
            allow_redirects=False,
        )
        assert answer.status == 302
        return await (await client.get(answer.headers["Location"])).text()

    assert "That is not a country code such as US, GB or DE" in await save("Atlantis")
    assert await _country(db, owner.workspace_id) is None

    html = await save("gb")
    assert "Saved." in html and 'value="GB"' in html
    assert await _country(db, owner.workspace_id) == "GB"
    async with db.session() as session:
        assert await session.scalar(
            select(AuditEntry.id).where(AuditEntry.action == "workspace.country")
        )
        member = await session.get(Member, owner.member_id)
        assert member is not None
        linked = await directory.link_identity(session, member, "sms", "07700 900123")
    assert linked.address == "+447700900123"

    # Emptied: numbers need their country code again.
    await save("")
    assert await _country(db, owner.workspace_id) is None

    # Without the CSRF token nothing changes.
    refused = await client.post(
        "/console/team/country", data={"country": "DE"}, headers=origin(client)
    )
    assert refused.status in (400, 403)
    assert await _country(db, owner.workspace_id) is None
