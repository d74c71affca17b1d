"""`/api/v1/agents`: the workspace's AI agents (name, channels, welcome message, personality,
rules, escalation confidence), through `core.team.agents`."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from api.admin.auth import Caller
from api.admin.models import AgentIn, AgentOut, AgentPatch, Page
from api.admin.pagination import Order, page_rows
from api.http import json_ok, read_json
from api.state import Gateway
from core.team import agents
from storage.domain import AiAgent


def agent_out(agent: AiAgent) -> AgentOut:
    return AgentOut(
        id=agent.id,
        workspace_id=agent.workspace_id,
        name=agent.name,
        channels=agents.channels_of(agent) or [agents.ALL],
        welcome_message=agents.text_setting(agent, agents.WELCOME_MESSAGE),
        personality=agents.text_setting(agent, agents.TONE),
        rules=agents.text_setting(agent, agents.INSTRUCTIONS),
        escalation_confidence=agents.own_escalation_confidence(agent),
        live_routing=bool(agent.live_routing),
        created_at=agent.created_at,
    )


ORDER = Order("agents", ("datetime", "str"))


async def list_agents(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """Oldest first, as `core.team.agents.list_agents` orders them (the default agent first)."""
    query = select(AiAgent).where(AiAgent.workspace_id == who.workspace_id)
    async with gw.db.session() as session:
        found = await page_rows(
            request,
            session,
            query,
            ORDER,
            (AiAgent.created_at, AiAgent.id),
            lambda a: (a.created_at, a.id),
        )
        items = [agent_out(a) for a in found.items]
    return json_ok(Page[AgentOut](items=items, next_cursor=found.next_cursor))


async def create_agent(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    body = await read_json(request, AgentIn)
    fields = agents.AgentFields(**body.model_dump())
    async with gw.db.session() as session:
        agent = await agents.create_agent(session, who.workspace_id, fields, actor=who.actor)
        out = agent_out(agent)
    return json_ok(out, status=201)


async def get_agent(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        agent = await agents.get_agent(session, who.workspace_id, request.match_info["agent_id"])
        return json_ok(agent_out(agent))


async def patch_agent(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    body = await read_json(request, AgentPatch)
    fields = agents.AgentFields(**body.model_dump(exclude_unset=True))
    async with gw.db.session() as session:
        agent = await agents.update_agent(
            session, who.workspace_id, request.match_info["agent_id"], fields, actor=who.actor
        )
        out = agent_out(agent)
    return json_ok(out)
