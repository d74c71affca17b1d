"""The sender's identity, resolved in one statement: the member an address is linked to in the
task's workspace (never another workspace's), a customer otherwise; and on SQLite by the
identities' unique index, never by reading every workspace's identities."""

from __future__ import annotations

import pytest

from core.team.identity import _PHONE_CHANNELS, _by_identity, resolve
from storage.db import Database
from storage.types import new_id
from tests.factories import make_member, make_task, make_workspace
from tests.helpers import query_plan


async def test_the_member_linked_in_the_task_s_workspace_and_no_other(db: Database) -> None:
    async with db.session() as session:
        acme = await make_workspace(session, name="Acme")
        other = await make_workspace(session, name="Other")
        olivia = await make_member(
            session,
            acme.id,
            name="Olivia",
            identities={"slack": "U0OLIVIA1", "sms": "+15550100001"},
        )
        await make_member(session, other.id, name="Oscar", identities={"slack": "U0OSCAR01"})
    async with db.session() as session:
        found = await resolve(session, make_task(acme.id, "slack", "U0OLIVIA1"))
        assert (found.member_id, found.name, found.workspace_name) == (olivia.id, "Olivia", "Acme")
        # The same number on WhatsApp or a call: one person on the phone channels.
        by_phone = await resolve(session, make_task(acme.id, "whatsapp", "whatsapp:+15550100001"))
        assert by_phone.member_id == olivia.id
        # Oscar's Slack id, in Acme's task: a customer there, not Other's member.
        stranger = await resolve(session, make_task(acme.id, "slack", "U0OSCAR01"))
        assert stranger.is_customer and stranger.workspace_name == "Acme"
        unknown = await resolve(session, make_task(acme.id, "sms", "+15559999999"))
        assert unknown.is_customer
        with pytest.raises(LookupError):
            await resolve(session, make_task(new_id(), "slack", "U0OLIVIA1"))


async def test_sqlite_finds_the_identity_by_its_index(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("the query plan looked at is SQLite's")
    for channels in (("slack",), _PHONE_CHANNELS):
        sql = _by_identity(channels).plan(db.engine.dialect).sql
        steps = [row[3] for row in query_plan(db, sql)]
        assert not any("SCAN channel_identities" in s or "MATERIALIZE" in s for s in steps), steps
        assert any("channel_identities USING INDEX" in s for s in steps), steps
