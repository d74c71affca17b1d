"""Read tools on the workspace's set-up: team, AI agent, training suggestions."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import func, select

from core.reports.figures import same_question
from core.team import agents
from core.team.members import active_members
from core.tools import args as a
from core.tools.registry import ToolContext
from models.deliverable import Deliverable
from storage.domain import QaPair, TrainingSuggestion


async def list_team(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.ListTeamArgs)
    members = await active_members(ctx.session, ctx.principal.workspace_id)
    if args.role:
        members = [m for m in members if m.role == args.role]
    items = tuple(f"{m.name} ({m.role})" + (f" <{m.email}>" if m.email else "") for m in members)
    text = f"{len(members)} member(s):\n" + "\n".join(f"- {i}" for i in items)
    return [Deliverable(kind="list", title="Team", text=text, items=items)]


async def get_agent_config(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.GetAgentConfigArgs)
    agent = await agents.first_agent(ctx.session, ctx.principal.workspace_id)
    if agent is None:
        return [Deliverable(text="This workspace has no AI agent set up yet.")]
    if args.field:
        value = agent.config.get(args.field) if args.field != "name" else agent.name
        return [
            Deliverable(
                text=f"{agent.name}'s {args.field.replace('_', ' ')}: {value or '(not set)'}"
            )
        ]
    items = tuple(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(agent.config.items()))
    text = f"{agent.name}:\n" + "\n".join(f"- {i}" for i in items)
    return [Deliverable(kind="list", title=agent.name, text=text, items=items)]


async def list_training_suggestions(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.ListTrainingSuggestionsArgs)
    status = args.status or "pending"
    ws = ctx.principal.workspace_id
    suggestions = list(
        await ctx.session.scalars(
            select(TrainingSuggestion)
            .where(TrainingSuggestion.workspace_id == ws, TrainingSuggestion.status == status)
            .order_by(TrainingSuggestion.quality.desc(), TrainingSuggestion.id)
        )
    )
    if not suggestions:
        return [Deliverable(text=f"No {status} training suggestions.")]
    qa = list(await ctx.session.scalars(select(QaPair).where(QaPair.workspace_id == ws)))
    by_id = {pair.id: pair for pair in qa}
    by_question = {same_question(pair.question): pair for pair in qa if pair.active}

    def conflict(s: TrainingSuggestion) -> QaPair | None:
        # The stored link when scoring found one; else an active Q&A asking the same thing.
        linked = by_id.get(s.conflicts_with) if s.conflicts_with is not None else None
        return linked or by_question.get(same_question(s.question))

    items: list[str] = []
    for s in suggestions:
        line = f'#{s.id} "{s.question}" → "{s.answer}" (quality {s.quality * 100:.0f}%)'
        clash = conflict(s)
        if clash is not None:
            line += f'; conflicts with Q&A #{clash.id} "{clash.question}" ("{clash.answer}")'
        items.append(line)
    if status == "pending":
        clean = [s for s in suggestions if conflict(s) is None]
        if clean:
            best = clean[0]
            advice = (
                f"Approve #{best.id}, the best without conflicts (quality "
                f"{best.quality * 100:.0f}%): say 'approve training suggestion {best.id}'."
            )
        else:
            best = suggestions[0]
            clash = conflict(best)
            assert clash is not None
            advice = (
                f"Decide between #{best.id} and Q&A #{clash.id}: they answer the same question "
                f"differently; edit Q&A #{clash.id} if the suggestion is right."
            )
    else:
        waiting = await ctx.session.scalar(
            select(func.count())
            .select_from(TrainingSuggestion)
            .where(TrainingSuggestion.workspace_id == ws, TrainingSuggestion.status == "pending")
        )
        advice = (
            f"{waiting} suggestion(s) are waiting for review: ask for the pending ones."
            if waiting
            else "Nothing is waiting for review."
        )
    text = (
        f"{len(suggestions)} {status} training suggestion(s), best first:\n"
        + "\n".join(f"- {i}" for i in items)
        + f"\nNext step: {advice}"
    )
    return [
        Deliverable(
            kind="list",
            title=f"Training suggestions ({status})",
            text=text,
            items=tuple(items),
            data={
                "status": status,
                "suggestions": [
                    {
                        "id": s.id,
                        "quality": s.quality,
                        "conflicts_with": (clash.id if (clash := conflict(s)) else None),
                    }
                    for s in suggestions
                ],
                "suggestion": advice,
            },
        )
    ]


HANDLERS = {
    "list_team": list_team,
    "get_agent_config": get_agent_config,
    "list_training_suggestions": list_training_suggestions,
}
