"""The tool registry: each tool declared once, with its argument model, access rules and handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals.proposals import Draft
from core.assists.csat import Links
from core.live.sessions import LivePolicy
from core.team.identity import Principal
from core.tools.schema import function_definition
from models.deliverable import Deliverable
from models.task import Task

if TYPE_CHECKING:
    from core.assists.mail import AssistMailer
    from core.llm.gateway import LlmGateway

ToolKind = Literal["read", "write", "control"]
ALL_PLANS = frozenset({"plus", "pro", "enterprise"})
OPERATOR_ROLES = frozenset({"owner", "admin"})


@dataclass(frozen=True)
class ToolContext:
    """What a handler may use: the open session, who asks, the task, and the current time."""

    session: AsyncSession
    principal: Principal
    task: Task
    now: datetime
    registry: ToolRegistry
    # Emails about assists (threaded replies, CSAT surveys on closing); None: plain emails.
    mailer: AssistMailer | None = None
    # The LLM endpoints, where configured: the AI Inbox's refinements use them.
    llm: LlmGateway | None = None
    # Console pages under PUBLIC_BASE_URL, for replies that point people at them.
    links: Links = field(default_factory=Links)
    # Live operators' offer time, presence timeout and cap (set_live hands sessions on).
    live: LivePolicy = field(default_factory=LivePolicy)


# Reads and control tools answer with deliverables; write tools return a Draft (a proposal).
Handler = Callable[[ToolContext, BaseModel], Awaitable["list[Deliverable] | Draft"]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    args: type[BaseModel]
    kind: ToolKind
    handler: Handler
    roles: frozenset[str] = OPERATOR_ROLES
    plans: frozenset[str] = frozenset({"pro", "enterprise"})
    # Enterprise managers get the AI Inbox tools only: those list "manager" in roles.
    extra_roles_by_plan: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def allows(self, principal: Principal) -> bool:
        """Whether PRINCIPAL may be offered and run this tool."""
        if principal.role is None:
            return False
        if principal.plan not in self.plans:
            return False
        roles = self.roles | self.extra_roles_by_plan.get(principal.plan, frozenset())
        return principal.role in roles


def error_reply(text: str) -> list[Deliverable]:
    """A tool's answer when it cannot do what was asked; TEXT says why, for the user."""
    return [Deliverable(kind="error", text=text)]


class ToolRegistry:
    """An explicit mapping of tool name to spec; built once by the composition root."""

    def __init__(self, specs: list[ToolSpec]) -> None:
        self._specs = {spec.name: spec for spec in specs}
        if len(self._specs) != len(specs):
            raise ValueError("duplicate tool name in registry")

    def get(self, name: str) -> ToolSpec | None:
        return self._specs.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def names(self) -> list[str]:
        return list(self._specs)

    def allowed(self, principal: Principal) -> list[ToolSpec]:
        return [spec for spec in self._specs.values() if spec.allows(principal)]

    def openai_tools(self, principal: Principal) -> list[dict[str, Any]]:
        """Function definitions for the tools PRINCIPAL may use, and no others."""
        return [
            function_definition(spec.name, spec.description, spec.args)
            for spec in self.allowed(principal)
        ]
