"""The workspace's AI agents: the one every workspace starts with, and listing, creating and
changing them; which agent serves a channel; the settings an agent keeps in its `config`.

Functions take the session and never commit; bad input raises `DirectoryError` (400),
`NotFound` (404) or `Conflict` (409) and changes nothing."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.team.directory import Conflict, DirectoryError, NotFound, audit, create_workspace
from storage.domain import AiAgent
from storage.models import Workspace

# The channels a customer reaches an agent on. An agent listing none of them serves them all.
AGENT_CHANNELS = ("sms", "whatsapp", "telegram", "email", "voice", "web")
ALL = "all"

# The settings an agent keeps in `AiAgent.config`, by key: the operator's chat tools
# (`update_agent_config`, `get_agent_config`), the admin API and the customer desk all read
# and write these keys. The admin API calls TONE `personality` and INSTRUCTIONS `rules`.
WELCOME_MESSAGE = "welcome_message"
AWAY_MESSAGE = "away_message"
HANDOFF_MESSAGE = "handoff_message"
FALLBACK_MESSAGE = "fallback_message"
TONE = "tone"
LANGUAGE = "language"
BUSINESS_HOURS = "business_hours"
INSTRUCTIONS = "instructions"
SIGNATURE = "signature"
ESCALATION_CONFIDENCE = "escalation_confidence"
HUMAN_COST_PER_CONVERSATION = "human_cost_per_conversation"
CONFIG_KEYS = (
    WELCOME_MESSAGE,
    AWAY_MESSAGE,
    HANDOFF_MESSAGE,
    FALLBACK_MESSAGE,
    TONE,
    LANGUAGE,
    BUSINESS_HOURS,
    INSTRUCTIONS,
    SIGNATURE,
    ESCALATION_CONFIDENCE,
    HUMAN_COST_PER_CONVERSATION,
)

NAME_MAX = 120  # the column's width
WELCOME_MAX = 1000
PERSONALITY_MAX = 500
RULES_MAX = 4000


def default_name(workspace_name: str) -> str:
    """The name a workspace's first agent gets: the workspace's assistant."""
    return f"{workspace_name} Assistant"[:NAME_MAX].strip()


def welcome_of(agent: AiAgent) -> str:
    """What AGENT says to a customer's hello: its welcome message, else a greeting by name."""
    welcome = (agent.config or {}).get(WELCOME_MESSAGE)
    if isinstance(welcome, str) and welcome.strip():
        return welcome.strip()
    return f"Hi! I'm {agent.name}. How can I help?"


def text_setting(agent: AiAgent, key: str) -> str | None:
    """AGENT's text setting KEY (one of CONFIG_KEYS), None when unset or blank."""
    value = (agent.config or {}).get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def own_escalation_confidence(agent: AiAgent) -> float | None:
    """AGENT's own escalation confidence, None when it follows the gateway's setting."""
    value = (agent.config or {}).get(ESCALATION_CONFIDENCE)
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    return None


def escalation_confidence(agent: AiAgent, default: float) -> float:
    """The score below which AGENT hands a customer to the team: its own, else DEFAULT
    (SWITCHBOARD_ESCALATION_CONFIDENCE)."""
    own = own_escalation_confidence(agent)
    return default if own is None else own


def serves_all(agent: AiAgent) -> bool:
    return not agent.channels


def channels_of(agent: AiAgent) -> list[str]:
    """The channels AGENT lists (empty: it serves every channel)."""
    return [str(c).lower() for c in agent.channels or ()]


# ---------------------------------------------------------------------------- reading


async def list_agents(session: AsyncSession, workspace_id: str) -> list[AiAgent]:
    """The workspace's agents, oldest first (the first is its default agent)."""
    rows = await session.scalars(
        select(AiAgent)
        .where(AiAgent.workspace_id == workspace_id)
        .order_by(AiAgent.created_at, AiAgent.id)
    )
    return list(rows)


async def first_agent(session: AsyncSession, workspace_id: str) -> AiAgent | None:
    """The workspace's oldest agent: the one the operator's chat tools configure."""
    agents = await list_agents(session, workspace_id)
    return agents[0] if agents else None


async def get_agent(session: AsyncSession, workspace_id: str, agent_id: str) -> AiAgent:
    """The workspace's agent AGENT_ID; raises NotFound (also for another workspace's)."""
    agent = await session.scalar(
        select(AiAgent).where(AiAgent.id == agent_id, AiAgent.workspace_id == workspace_id)
    )
    if agent is None:
        raise NotFound(f"no AI agent {agent_id!r}")
    return agent


async def agent_for(session: AsyncSession, workspace_id: str, channel: str) -> AiAgent | None:
    """The agent serving CHANNEL: the oldest that lists it, else the oldest serving every
    channel (listing none); None when no agent serves it."""
    agents = await list_agents(session, workspace_id)
    for agent in agents:
        if channel in channels_of(agent):
            return agent
    return next((agent for agent in agents if serves_all(agent)), None)


# ---------------------------------------------------------------------------- writing


class _Keep(enum.Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP


@dataclass(frozen=True)
class AgentFields:
    """What to set on an agent; KEEP leaves a field as it is, None clears a text setting (and
    `escalation_confidence`, which then follows SWITCHBOARD_ESCALATION_CONFIDENCE).
    `channels`: a subset of AGENT_CHANNELS; empty or ["all"] serves every channel."""

    name: str | _Keep = KEEP
    channels: Sequence[str] | _Keep = KEEP
    welcome_message: str | _Keep | None = KEEP
    personality: str | _Keep | None = KEEP
    rules: str | _Keep | None = KEEP
    escalation_confidence: float | _Keep | None = KEEP
    # Whether a new conversation on the agent is offered to live operators (core.live).
    live_routing: bool | _Keep = KEEP


def _name(value: str) -> str:
    name = value.strip()
    if not name:
        raise DirectoryError("an AI agent needs a name")
    if len(name) > NAME_MAX:
        raise DirectoryError(f"an AI agent's name has at most {NAME_MAX} characters")
    return name


def normalize_channels(channels: Sequence[str]) -> list[str]:
    """CHANNELS as stored: known channels, each once, in AGENT_CHANNELS' order; [] for every
    channel (empty or ["all"]). Raises DirectoryError."""
    wanted = [str(c).strip().lower() for c in channels]
    if ALL in wanted:
        if len(set(wanted)) > 1:
            raise DirectoryError('channels: "all" stands alone')
        return []
    unknown = [c for c in wanted if c not in AGENT_CHANNELS]
    if unknown:
        raise DirectoryError(
            f"channels: unknown channel {unknown[0]!r}; use {', '.join(AGENT_CHANNELS)} or all"
        )
    return [c for c in AGENT_CHANNELS if c in wanted]


def _text(label: str, value: str | None, limit: int) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > limit:
        raise DirectoryError(f"{label} has at most {limit} characters")
    return value.strip()


def _confidence(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not math.isfinite(value) or not 0 <= value <= 1:
        raise DirectoryError("escalation_confidence is a number from 0 to 1")
    return float(value)


def _validated(fields: AgentFields) -> tuple[dict[str, Any], dict[str, Any]]:
    """(column values, config values) that FIELDS sets, validated; None in config clears."""
    columns: dict[str, Any] = {}
    config: dict[str, Any] = {}
    if not isinstance(fields.name, _Keep):
        columns["name"] = _name(fields.name)
    if not isinstance(fields.channels, _Keep):
        columns["channels"] = normalize_channels(fields.channels)
    if not isinstance(fields.live_routing, _Keep):
        if not isinstance(fields.live_routing, bool):
            raise DirectoryError("live_routing is true or false")
        columns["live_routing"] = fields.live_routing
    if not isinstance(fields.welcome_message, _Keep):
        config[WELCOME_MESSAGE] = _text("welcome_message", fields.welcome_message, WELCOME_MAX)
    if not isinstance(fields.personality, _Keep):
        config[TONE] = _text("personality", fields.personality, PERSONALITY_MAX)
    if not isinstance(fields.rules, _Keep):
        config[INSTRUCTIONS] = _text("rules", fields.rules, RULES_MAX)
    if not isinstance(fields.escalation_confidence, _Keep):
        config[ESCALATION_CONFIDENCE] = _confidence(fields.escalation_confidence)
    return columns, config


async def _check_channels_free(
    session: AsyncSession, workspace_id: str, channels: Sequence[str], agent_id: str | None
) -> None:
    """One agent per listed channel, so who answers a channel is never a matter of age."""
    for other in await list_agents(session, workspace_id):
        if other.id == agent_id:
            continue
        taken = [c for c in channels if c in channels_of(other)]
        if taken:
            raise Conflict(f"{', '.join(taken)}: served by the AI agent {other.name!r} already")


def _merged(config: dict[str, Any] | None, changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(config or {})
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


async def create_agent(
    session: AsyncSession, workspace_id: str, fields: AgentFields, *, actor: str = "system"
) -> AiAgent:
    """A new agent of the workspace; FIELDS must name it. Raises DirectoryError or Conflict
    (a channel another agent lists)."""
    if isinstance(fields.name, _Keep):
        raise DirectoryError("an AI agent needs a name")
    columns, config = _validated(fields)
    channels = columns.get("channels", [])
    await _check_channels_free(session, workspace_id, channels, None)
    agent = AiAgent(
        workspace_id=workspace_id,
        name=columns["name"],
        channels=channels,
        config=_merged({}, config),
        live_routing=columns.get("live_routing", False),
    )
    session.add(agent)
    await session.flush()
    await audit(session, workspace_id, actor, "agent.create", agent.id, {"name": agent.name})
    return agent


async def update_agent(
    session: AsyncSession,
    workspace_id: str,
    agent_id: str,
    fields: AgentFields,
    *,
    actor: str = "system",
) -> AiAgent:
    """Change the workspace's agent AGENT_ID as FIELDS says. Raises NotFound, DirectoryError
    or Conflict, having changed nothing."""
    agent = await get_agent(session, workspace_id, agent_id)
    columns, config = _validated(fields)
    if "channels" in columns:
        await _check_channels_free(session, workspace_id, columns["channels"], agent.id)
    for name, value in columns.items():
        setattr(agent, name, value)
    if config:
        agent.config = _merged(agent.config, config)
    changed = sorted([*columns, *config])
    if changed:
        await audit(session, workspace_id, actor, "agent.update", agent.id, {"fields": changed})
    return agent


async def create_default_agent(
    session: AsyncSession, workspace: Workspace, *, actor: str = "system"
) -> AiAgent:
    """The agent a workspace starts with: named for it, serving every channel. It keeps no
    welcome message of its own: chat greets with its name (`welcome_of`), and the phone line,
    where callers leave a voicemail, with the workspace's name."""
    return await create_agent(
        session,
        workspace.id,
        AgentFields(name=default_name(workspace.name), channels=[]),
        actor=actor,
    )


@dataclass(frozen=True)
class NewWorkspace:
    workspace: Workspace
    agent: AiAgent


async def create_workspace_with_agent(
    session: AsyncSession,
    name: str,
    *,
    plan: str = "pro",
    timezone: str = "UTC",
    country: str | None = None,
    actor: str = "system",
) -> NewWorkspace:
    """A new workspace and its default AI agent serving all its channels, so its customers
    are answered from the first message. Every public path that creates a workspace (the
    command line, the API) goes through here. Raises DirectoryError or Conflict (the name)."""
    workspace = await create_workspace(session, name, plan=plan, timezone=timezone, country=country)
    agent = await create_default_agent(session, workspace, actor=actor)
    return NewWorkspace(workspace, agent)
