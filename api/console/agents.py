"""AI agents in the console: list, create and configure the agents that answer customers."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from api.console.session import ConsoleError, check_csrf, page, require
from api.state import GATEWAY
from core.team import agents as core_agents
from core.team.directory import DirectoryError, NotFound
from core.team.signin import SignedIn
from storage.domain import AiAgent

Form = MultiDictProxy[str | bytes | bytearray | web.FileField]


def _view(agent: AiAgent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "all_channels": core_agents.serves_all(agent),
        "channels": core_agents.channels_of(agent),
        "welcome_message": core_agents.text_setting(agent, core_agents.WELCOME_MESSAGE) or "",
        "personality": core_agents.text_setting(agent, core_agents.TONE) or "",
        "rules": core_agents.text_setting(agent, core_agents.INSTRUCTIONS) or "",
        "escalation_confidence": core_agents.own_escalation_confidence(agent),
    }


def _fields(form: Form) -> core_agents.AgentFields:
    """The form as AgentFields; blank texts clear a setting. Raises DirectoryError."""

    def text(name: str) -> str | None:
        value = str(form.get(name, "")).strip()
        return value or None

    chosen = [str(c) for c in form.getall("channels", [])]
    channels = [] if core_agents.ALL in chosen or not chosen else chosen
    raw = str(form.get("escalation_confidence", "")).strip()
    try:
        confidence = float(raw) if raw else None
    except ValueError as exc:
        raise DirectoryError("escalation confidence must be a number from 0 to 1") from exc
    return core_agents.AgentFields(
        name=str(form.get("name", "")).strip(),
        channels=channels,
        welcome_message=text("welcome_message"),
        personality=text("personality"),
        rules=text("rules"),
        escalation_confidence=confidence,
    )


async def _listing(request: web.Request, who: SignedIn, **extra: Any) -> web.Response:
    gateway = request.app[GATEWAY]
    async with gateway.db.session() as session:
        rows = await core_agents.list_agents(session, who.workspace_id)
        views = [_view(a) for a in rows]
    context: dict[str, Any] = {"error": None, "draft": None, "saved": request.query.get("saved")}
    context.update(extra)
    return page(
        request,
        "agents.html",
        who,
        title="AI agents",
        agents=views,
        all_channels=core_agents.AGENT_CHANNELS,
        **context,
    )


async def agents_page(request: web.Request) -> web.Response:
    who = await require(request, "agents")
    return await _listing(request, who)


async def create(request: web.Request) -> web.Response:
    who = await require(request, "agents")
    form = await request.post()
    check_csrf(request, who, form)
    gateway = request.app[GATEWAY]
    try:
        async with gateway.db.session() as session:
            agent = await core_agents.create_agent(
                session, who.workspace_id, _fields(form), actor=f"member:{who.member_id}"
            )
            agent_id = agent.id
    except DirectoryError as exc:
        response = await _listing(request, who, error=str(exc), draft=dict(form))
        response.set_status(400)
        return response
    raise web.HTTPFound(f"/console/agents/{agent_id}?saved=1")


async def _agent_page(request: web.Request, who: SignedIn, **extra: Any) -> web.Response:
    gateway = request.app[GATEWAY]
    async with gateway.db.session() as session:
        try:
            agent = await core_agents.get_agent(
                session, who.workspace_id, request.match_info["agent_id"]
            )
        except NotFound as exc:
            raise ConsoleError(404, "No such AI agent", str(exc)) from exc
        view = _view(agent)
    context: dict[str, Any] = {"error": None, "saved": request.query.get("saved")}
    context.update(extra)
    return page(
        request,
        "agent.html",
        who,
        title=view["name"],
        agent=view,
        all_channels=core_agents.AGENT_CHANNELS,
        **context,
    )


async def agent_page(request: web.Request) -> web.Response:
    who = await require(request, "agents")
    return await _agent_page(request, who)


async def update(request: web.Request) -> web.Response:
    who = await require(request, "agents")
    form = await request.post()
    check_csrf(request, who, form)
    gateway = request.app[GATEWAY]
    agent_id = request.match_info["agent_id"]
    try:
        async with gateway.db.session() as session:
            await core_agents.update_agent(
                session, who.workspace_id, agent_id, _fields(form), actor=f"member:{who.member_id}"
            )
    except NotFound as exc:
        raise ConsoleError(404, "No such AI agent", str(exc)) from exc
    except DirectoryError as exc:
        response = await _agent_page(request, who, error=str(exc))
        response.set_status(400)
        return response
    raise web.HTTPFound(f"/console/agents/{agent_id}?saved=1")


def setup(app: web.Application) -> None:
    app.router.add_get("/console/agents", agents_page)
    app.router.add_post("/console/agents", create)
    app.router.add_get("/console/agents/{agent_id}", agent_page)
    app.router.add_post("/console/agents/{agent_id}", update)
