"""The catalogue: every tool of DESIGN.md with its access rules, wired to its handler."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel

from core.assists.csat import Links
from core.live import access
from core.tools import control
from core.tools import live as live_tools
from core.tools.args import CONTROL_TOOLS, TOOL_ARGS, TOOL_DESCRIPTIONS, WRITE_TOOLS
from core.tools.reads import history, inbox, metrics, reports, workspace
from core.tools.reads import integrations as integration_reads
from core.tools.reads import schedules as schedule_reads
from core.tools.registry import (
    ALL_PLANS,
    OPERATOR_ROLES,
    Handler,
    ToolContext,
    ToolKind,
    ToolRegistry,
    ToolSpec,
)
from core.tools.writes import api_keys, assists, broadcasts, integrations, snapshots, team, training
from core.tools.writes import schedules as schedule_writes
from models.deliverable import Deliverable
from storage.models import Workspace

PAID_PLANS = frozenset({"pro", "enterprise"})
# The AI Inbox tools: what an Enterprise manager may use besides control and help.
INBOX_TOOLS = frozenset(
    {
        "list_assists",
        "show_assist",
        "assign_assist",
        "close_assist",
        "set_assist_priority",
        "snooze_assist",
        "reply_to_assist",
        "add_internal_note",
        "bulk_update_assists",
        "get_agent_workload",
        "get_queue_health",
        "get_inbox_performance",
    }
)
MANAGER_ON_ENTERPRISE = {"enterprise": frozenset({"manager"})}
# Live operators are whoever holds the operator scopes (every role by default, support
# included), on any plan: core.live.access decides, and the tools say why when it refuses.
LIVE_TOOLS = frozenset({"list_live_operators", "set_live"})
EVERY_ROLE = frozenset({"owner", "admin", "manager", "support"})


async def _help(ctx: ToolContext, _args: BaseModel) -> list[Deliverable]:
    allowed = [
        s
        for s in ctx.registry.allowed(ctx.principal)
        if s.name != "help" and s.handler is not _not_built
    ]
    who = ctx.principal.name or "there"
    if not [s for s in allowed if s.name not in LIVE_TOOLS]:
        text = f"Hi {who}. {unavailable_reason(ctx.principal.plan, ctx.principal.role, ctx.links)}"
        workspace = await ctx.session.get(Workspace, ctx.principal.workspace_id)
        if allowed and workspace is not None and access.enabled(workspace):
            text += (
                ' As a live operator you can ask "who is live", say "go live on <workflow>" '
                'and "take me offline".'
            )
        return [Deliverable(kind="text", text=text, title="Help")]
    lines = [f"{spec.name}: {first_sentence(spec.description)}" for spec in allowed]
    text = f"Hi {who}, here is what I can do for you:\n" + "\n".join(f"- {x}" for x in lines)
    return [Deliverable(kind="list", title="What I can do", text=text, items=tuple(lines))]


# A sentence ends at a full stop followed by a capital, never at "e.g." or "i.e.".
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)\.\s+(?=[A-Z\"'(])")


def first_sentence(text: str) -> str:
    """TEXT's first sentence without its full stop (abbreviations such as "e.g." kept whole)."""
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0].rstrip(".")


async def _not_built(ctx: ToolContext, _args: BaseModel) -> list[Deliverable]:
    # Only reached for tools whose handler has not been written yet.
    return [Deliverable(kind="error", text="That isn't something I can do yet.")]


def unavailable_reason(plan: str, role: str | None, links: Links | None = None) -> str:
    """What a principal can use instead, for anyone the operator is not for; LINKS give the
    console's full address where PUBLIC_BASE_URL is set (its page path otherwise)."""
    inbox = (links or Links()).console_or_path("inbox")
    if plan == "plus":
        return (
            "The AI operator comes with the Pro and Enterprise plans. On Plus you work assists "
            f"in the AI Inbox of the team console ({inbox}) or by email."
        )
    if role == "support":
        return (
            f"Support members work assists in the team console ({inbox}) or by email: view and "
            "reply to assists, add notes, change status and priority. The operator is for owners "
            "and admins."
        )
    if role == "manager":
        if plan == "enterprise":
            return (
                "As a manager you can use the AI Inbox tools: list, show, assign, close, "
                "prioritise and reply to assists, add notes, see workload and inbox performance."
            )
        return (
            "Managers use the operator's AI Inbox tools on the Enterprise plan; ask an owner or "
            "admin for anything else."
        )
    return "Ask an owner or admin of your workspace for this."


def _spec(name: str, handler: Handler) -> ToolSpec:
    kind: ToolKind = (
        "control" if name in CONTROL_TOOLS else "write" if name in WRITE_TOOLS else "read"
    )
    if name == "help" or name in LIVE_TOOLS:
        roles, plans, extra = EVERY_ROLE, ALL_PLANS, {}
    elif name in CONTROL_TOOLS or name in INBOX_TOOLS:
        roles, plans, extra = OPERATOR_ROLES, PAID_PLANS, MANAGER_ON_ENTERPRISE
    else:
        roles, plans, extra = OPERATOR_ROLES, PAID_PLANS, {}
    return ToolSpec(
        name=name,
        description=TOOL_DESCRIPTIONS[name],
        args=TOOL_ARGS[name],
        kind=kind,
        handler=handler,
        roles=roles,
        plans=plans,
        extra_roles_by_plan=extra,
    )


def build_registry(handlers: Mapping[str, Handler] | None = None) -> ToolRegistry:
    """Every catalogue tool; HANDLERS replace implementations by name (tests use it)."""
    chosen: dict[str, Handler] = {
        "help": _help,
        **metrics.HANDLERS,
        **inbox.HANDLERS,
        **workspace.HANDLERS,
        **integration_reads.HANDLERS,
        **schedule_reads.HANDLERS,
        **history.HANDLERS,
        **reports.HANDLERS,
        **assists.HANDLERS,
        **snapshots.HANDLERS,
        **training.HANDLERS,
        **team.HANDLERS,
        **api_keys.HANDLERS,
        **schedule_writes.HANDLERS,
        **integrations.HANDLERS,
        **broadcasts.HANDLERS,
        **control.HANDLERS,
        **live_tools.HANDLERS,
    }
    chosen.update(handlers or {})
    return ToolRegistry([_spec(name, chosen.get(name, _not_built)) for name in TOOL_ARGS])


def default_registry() -> ToolRegistry:
    """Every tool the gateway knows, with its own handler."""
    return build_registry()
