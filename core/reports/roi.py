"""Return on the AI: hours and human cost saved by the conversations it resolves."""

from __future__ import annotations

from collections import Counter

from core.reports import analytics
from core.reports.figures import change_text
from core.reports.report import Report, ReportInput
from core.reports.scope import Scope
from core.team import agents
from models.deliverable import CardField

# What one conversation the AI resolves saves, in minutes of a person's time (ROI report).
MINUTES_SAVED_PER_CONVERSATION = 6
# What a human-handled conversation costs, in USD, unless the workspace's agent config sets
# `human_cost_per_conversation`.
DEFAULT_HUMAN_COST_PER_CONVERSATION = 5.0


async def human_cost_per_conversation(ctx: Scope) -> float:
    """USD per human-handled conversation: the agent config's value, else the default."""
    agent = await agents.first_agent(ctx.session, ctx.principal.workspace_id)
    configured = (agent.config or {}).get(agents.HUMAN_COST_PER_CONVERSATION) if agent else None
    try:
        return float(configured) if configured is not None else DEFAULT_HUMAN_COST_PER_CONVERSATION
    except (TypeError, ValueError):
        return DEFAULT_HUMAN_COST_PER_CONVERSATION


async def roi_report(r: ReportInput) -> Report:
    ws = r.ctx.principal.workspace_id
    rows, before = await analytics.conversations_pair(r.ctx.session, ws, r.current, r.previous)
    rate = await human_cost_per_conversation(r.ctx)
    resolved = sum(c.resolved_by_ai for c in rows)
    resolved_before = sum(c.resolved_by_ai for c in before)
    hours = resolved * MINUTES_SAVED_PER_CONVERSATION / 60
    hours_before = resolved_before * MINUTES_SAVED_PER_CONVERSATION / 60
    saved, saved_before = resolved * rate, resolved_before * rate
    figures = [
        ("conversations", "Conversations", len(rows), len(before), "conversations"),
        ("resolved_by_ai", "Resolved by AI", resolved, resolved_before, "conversations"),
        ("hours_saved", "Hours saved", hours, hours_before, "hours"),
        ("human_cost_avoided_usd", "Human cost avoided", saved, saved_before, "USD"),
        ("cost_per_human_conversation_usd", "Cost per human conversation", rate, rate, "USD"),
    ]
    out = [
        {"metric": key, "label": label, "value": now, "previous": then, "unit": unit}
        for key, label, now, then, unit in figures
    ]
    pairs = [
        ("Conversations", f"{len(rows)}, {change_text(len(rows), len(before))}"),
        (
            "Resolved by AI",
            f"{resolved}, {change_text(resolved, resolved_before, better='higher')}",
        ),
        (
            "Hours saved",
            f"{hours:.1f} h at {MINUTES_SAVED_PER_CONVERSATION} min each, "
            + change_text(hours, hours_before, show=lambda v: f"{v:.1f} h", better="higher"),
        ),
        (
            "Human cost avoided",
            f"${saved:,.2f} at ${rate:,.2f} per human-handled conversation, "
            + change_text(saved, saved_before, show=lambda v: f"${v:,.2f}", better="higher"),
        ),
    ]
    escalations = Counter(c.topic or "other" for c in rows if c.escalated)
    if escalations:
        topic, n = sorted(escalations.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        advice = (
            f"Add Q&A for {topic}: its {n} escalations cost about ${n * rate:,.2f} of human "
            "time this period."
        )
    else:
        advice = "No escalations this period: keep the answers current."
    return Report(
        lines=[f"{label}: {value}" for label, value in pairs],
        rows=out,
        suggestion=advice,
        fields=tuple(CardField(label=label, value=value) for label, value in pairs),
    )
