"""AI agents in core.team.agents: a workspace starts with one serving every channel; which
agent serves a channel; creating and changing agents with validation that changes nothing
when it refuses; one set of config keys for the chat tools, the API and the desk."""

from __future__ import annotations

import math
from typing import Any, get_args

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.team import agents
from core.team.agents import AgentFields
from core.team.directory import Conflict, DirectoryError, NotFound
from core.tools.args import AgentConfigField
from storage.db import Database
from storage.domain import AiAgent
from storage.models import AuditEntry, Workspace


async def _agents(db: Database, workspace_id: str) -> list[tuple[str, list[Any], dict[str, Any]]]:
    async with db.session() as session:
        return [
            (a.name, list(a.channels), dict(a.config))
            for a in await agents.list_agents(session, workspace_id)
        ]


async def _served(session: AsyncSession, workspace_id: str, channel: str) -> str | None:
    agent = await agents.agent_for(session, workspace_id, channel)
    return agent.id if agent is not None else None


async def test_a_workspace_starts_with_an_agent_serving_every_channel(db: Database) -> None:
    async with db.session() as session:
        made = await agents.create_workspace_with_agent(session, "Acme", plan="plus", actor="cli")
        workspace_id = made.workspace.id

    assert await _agents(db, workspace_id) == [("Acme Assistant", [], {})]
    async with db.session() as session:
        for channel in ("sms", "whatsapp", "telegram", "email", "voice", "web", "slack"):
            served = await agents.agent_for(session, workspace_id, channel)
            assert served is not None and served.id == made.agent.id, channel
        actions = list(
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.workspace_id == workspace_id)
                .order_by(AuditEntry.created_at)
            )
        )
    assert actions == ["workspace.create", "agent.create"]


async def test_a_taken_workspace_name_creates_neither_workspace_nor_agent(db: Database) -> None:
    async with db.session() as session:
        await agents.create_workspace_with_agent(session, "Acme")
    with pytest.raises(Conflict, match="exists already"):
        async with db.session() as session:
            await agents.create_workspace_with_agent(session, "Acme")
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Workspace)) == 1
        assert await session.scalar(select(func.count()).select_from(AiAgent)) == 1


async def test_an_agent_listing_a_channel_serves_it_before_the_one_serving_all(
    db: Database,
) -> None:
    async with db.session() as session:
        made = await agents.create_workspace_with_agent(session, "Acme")
        ws = made.workspace.id
        max_ = await agents.create_agent(
            session, ws, AgentFields(name="Max", channels=["telegram", "whatsapp"])
        )

    async with db.session() as session:
        assert await _served(session, ws, "telegram") == max_.id
        assert await _served(session, ws, "sms") == made.agent.id
        # The default agent narrowed to e-mail: SMS is served by nobody.
        await agents.update_agent(session, ws, made.agent.id, AgentFields(channels=["email"]))
        assert await _served(session, ws, "sms") is None
        # A channel another agent lists cannot be listed twice.
        with pytest.raises(Conflict, match="telegram: served by the AI agent 'Max'"):
            await agents.create_agent(session, ws, AgentFields(name="Nova", channels=["telegram"]))
        with pytest.raises(Conflict):
            await agents.update_agent(
                session, ws, made.agent.id, AgentFields(channels=["email", "whatsapp"])
            )
        # "all" is every channel again.
        await agents.update_agent(session, ws, made.agent.id, AgentFields(channels=["all"]))
        assert await _served(session, ws, "sms") == made.agent.id

    assert [(name, channels) for name, channels, _ in await _agents(db, ws)] == [
        ("Acme Assistant", []),
        ("Max", ["whatsapp", "telegram"]),
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (AgentFields(name="  "), "needs a name"),
        (AgentFields(name="x" * 121), "at most 120"),
        (AgentFields(channels=["fax"]), "unknown channel 'fax'"),
        (AgentFields(channels=["all", "sms"]), '"all" stands alone'),
        (AgentFields(welcome_message="x" * 1001), "welcome_message has at most 1000"),
        (AgentFields(personality="x" * 501), "personality has at most 500"),
        (AgentFields(rules="x" * 4001), "rules has at most 4000"),
        (AgentFields(escalation_confidence=1.5), "from 0 to 1"),
        (AgentFields(escalation_confidence=-0.1), "from 0 to 1"),
        (AgentFields(escalation_confidence=math.nan), "from 0 to 1"),
        (AgentFields(name="Fine", escalation_confidence=math.inf), "from 0 to 1"),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(
    db: Database, fields: AgentFields, message: str
) -> None:
    async with db.session() as session:
        made = await agents.create_workspace_with_agent(session, "Acme")
    before = await _agents(db, made.workspace.id)

    with pytest.raises(DirectoryError, match=message):
        async with db.session() as session:
            await agents.update_agent(session, made.workspace.id, made.agent.id, fields)
    with pytest.raises(DirectoryError):
        async with db.session() as session:
            new = (
                fields if fields.name is not agents.KEEP else AgentFields(name="N", **_rest(fields))
            )
            await agents.create_agent(session, made.workspace.id, new)

    assert await _agents(db, made.workspace.id) == before


def _rest(fields: AgentFields) -> dict[str, Any]:
    return {k: v for k, v in vars(fields).items() if k != "name" and v is not agents.KEEP}


async def test_an_agent_of_another_workspace_is_not_found(db: Database) -> None:
    async with db.session() as session:
        acme = await agents.create_workspace_with_agent(session, "Acme")
        globex = await agents.create_workspace_with_agent(session, "Globex")
    with pytest.raises(NotFound):
        async with db.session() as session:
            await agents.update_agent(
                session, acme.workspace.id, globex.agent.id, AgentFields(name="Mine now")
            )
    assert [name for name, _, _ in await _agents(db, globex.workspace.id)] == ["Globex Assistant"]


async def test_settings_are_stored_under_the_keys_the_chat_tools_use(db: Database) -> None:
    async with db.session() as session:
        made = await agents.create_workspace_with_agent(session, "Acme")
        await agents.update_agent(
            session,
            made.workspace.id,
            made.agent.id,
            AgentFields(
                welcome_message="  Hello from Acme!  ",
                personality="calm",
                rules="Never promise refunds.",
                escalation_confidence=0.7,
            ),
        )
    ((_, _, config),) = await _agents(db, made.workspace.id)
    assert config == {
        "welcome_message": "Hello from Acme!",
        "tone": "calm",
        "instructions": "Never promise refunds.",
        "escalation_confidence": 0.7,
    }
    # Every setting the operator's chat can change is one of these keys.
    assert set(get_args(AgentConfigField)) - {"name"} <= set(agents.CONFIG_KEYS)

    async with db.session() as session:
        await agents.update_agent(
            session,
            made.workspace.id,
            made.agent.id,
            AgentFields(personality=None, escalation_confidence=None, welcome_message=""),
        )
    ((_, _, config),) = await _agents(db, made.workspace.id)
    assert config == {"instructions": "Never promise refunds."}  # cleared, not blanked
