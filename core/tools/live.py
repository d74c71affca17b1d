"""Live operators by chat: `list_live_operators` (read: who is live, on which workflows, how
many conversations each holds) and `set_live` (control: the asking member's own presence,
"go live on billing", "take me offline"). Both act through core.live: the scopes and the
workspace's feature flags hold as in the console, and a refusal says why."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select

from core.live import access, groups, presence, sessions
from core.live.presence import CHAT_HOLD, LiveOperator
from core.schedules.timing import zone
from core.team.directory import DirectoryError
from core.tools import args as a
from core.tools.registry import ToolContext, error_reply
from models.deliverable import Deliverable
from storage.domain import AiAgent
from storage.live import LiveSession
from storage.models import Member, Workspace


async def _who(ctx: ToolContext) -> tuple[Workspace, Member] | None:
    workspace = await ctx.session.get(Workspace, ctx.principal.workspace_id)
    member_id = ctx.principal.member_id
    member = await ctx.session.get(Member, member_id) if member_id else None
    if workspace is None or member is None or member.workspace_id != workspace.id:
        return None
    return workspace, member


def _names(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _clock(ctx: ToolContext, at: datetime) -> str:
    return at.astimezone(zone(ctx.principal.timezone)).strftime("%H:%M")


def _line(ctx: ToolContext, op: LiveOperator) -> str:
    flows = _names([w["name"] for w in op.workflows]) or "no workflow"
    via = "in the console" if op.via == "console" else "by chat"
    held = _plural(op.active_sessions, "conversation")
    return f"{op.name} on {flows}: {held}, live since {_clock(ctx, op.since)} ({via})"


async def list_live_operators(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.ListLiveOperatorsArgs)
    found = await _who(ctx)
    if found is None:
        return error_reply("Only a member of the team can see who is live.")
    workspace, member = found
    try:
        access.check(workspace, member, access.READ, "presence")
    except access.Forbidden as exc:
        return error_reply(str(exc))
    live = await presence.live_operators(
        ctx.session, workspace.id, now=ctx.now, stale_after=ctx.live.presence_timeout
    )
    if not live:
        return [Deliverable(text="Nobody is live right now.", title="Live operators")]
    items = tuple(_line(ctx, op) for op in live)
    held = sum(op.active_sessions for op in live)
    text = (
        f"{_plural(len(live), 'operator')} live now, holding {_plural(held, 'conversation')}:\n"
        + "\n".join(f"- {i}" for i in items)
    )
    return [Deliverable(kind="list", title="Live operators", text=text, items=items)]


async def _chosen(
    ctx: ToolContext, workspace: Workspace, member: Member, said: list[str]
) -> list[str]:
    """The agent ids SAID names: each an agent of the member's groups or one of their groups
    (all its workflows), by name whatever the case. Raises DirectoryError naming the choices."""
    mine = await groups.workflows_of(ctx.session, workspace.id, member.id)
    own_groups = [
        v
        for v in await groups.list_groups(ctx.session, workspace.id)
        if any(m.id == member.id for m in v.members)
    ]
    if not mine:
        raise DirectoryError(
            "You are in no operator group that handles a workflow; a manager adds you to one "
            "under Live."
        )
    agents = {agent.name.casefold(): agent.id for agent in mine}
    by_group = {v.group.name.casefold(): [x.id for x in v.agents] for v in own_groups}
    chosen: list[str] = []
    for name in said:
        key = " ".join(name.split()).casefold()
        if key in agents:
            chosen.append(agents[key])
        elif by_group.get(key):
            chosen.extend(by_group[key])
        else:
            options = sorted({x.name for x in mine} | {v.group.name for v in own_groups})
            raise DirectoryError(
                f"None of your workflows or groups is called {name!r}; yours are {_names(options)}."
            )
    return list(dict.fromkeys(chosen))


async def set_live(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.SetLiveArgs)
    found = await _who(ctx)
    if found is None:
        return error_reply("Only a member of the team can go live.")
    workspace, member = found
    if not args.live:
        return await _go_offline(ctx, workspace, member)
    try:
        # The scope and the flag first: naming workflows to someone who may not go live
        # would only mislead.
        access.check(workspace, member, access.WRITE)
        flows = await _chosen(ctx, workspace, member, args.workflows) if args.workflows else None
        route = ctx.task.reply_route
        held = await presence.go_live(
            ctx.session,
            workspace,
            member,
            workflows=flows,
            via="chat",
            now=ctx.now,
            route={"channel": route.channel, "address": route.address},
        )
    except DirectoryError as exc:  # Forbidden included
        return error_reply(str(exc))
    names = dict(
        (
            await ctx.session.execute(
                select(AiAgent.id, AiAgent.name).where(AiAgent.workspace_id == workspace.id)
            )
        ).all()
    )
    on = _names([names[f] for f in held.workflows or [] if f in names])
    until = held.until or ctx.now + CHAT_HOLD
    hours = int(CHAT_HOLD.total_seconds() // 3600)
    text = (
        f"You're live on {on} until {_clock(ctx, until)} ({hours} hours) or until you say "
        "'take me offline'. New conversations are offered to you here."
    )
    return [Deliverable(text=text, title="Live")]


async def _go_offline(ctx: ToolContext, workspace: Workspace, member: Member) -> list[Deliverable]:
    # Going offline is never refused: whatever the flags or scopes now, nobody stays live
    # against their will.
    held = list(
        await ctx.session.scalars(
            select(LiveSession.id).where(
                LiveSession.workspace_id == workspace.id,
                ((LiveSession.status == "offered") & (LiveSession.offered_to == member.id))
                | ((LiveSession.status == "active") & (LiveSession.operator_id == member.id)),
            )
        )
    )
    was_live = await sessions.mark_offline(
        ctx.session,
        workspace.id,
        member.id,
        now=ctx.now,
        policy=ctx.live,
        reason="offline by chat",
    )
    to_ai = passed = 0
    for session_id in held:
        live = await ctx.session.get(LiveSession, session_id, populate_existing=True)
        if live is None:
            continue
        if live.status == "ai":
            to_ai += 1
        elif live.status == "offered" and live.offered_to != member.id:
            passed += 1
    if not was_live and not held:
        return [Deliverable(text="You weren't live, so there was nothing to end.", title="Live")]
    parts = []
    if to_ai:
        parts.append(f"{_plural(to_ai, 'conversation')} went back to the AI")
    if passed:
        verb = "was" if passed == 1 else "were"
        parts.append(f"{_plural(passed, 'conversation')} {verb} offered to another live operator")
    text = "You're offline" + ("; " + " and ".join(parts) if parts else "") + "."
    return [Deliverable(text=text, title="Live")]


HANDLERS = {"list_live_operators": list_live_operators, "set_live": set_live}
