"""Team write tools: the AI agent's settings, members, invitations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals.proposals import AT_EXECUTION, Change, Draft
from core.routing.schedule import describe as describe_schedule
from core.routing.schedule import next_boundary
from core.team import agents
from core.team.identity import Principal
from core.team.members import MemberNotFound, find_by_name
from core.tools import args as a
from core.tools.registry import ToolContext, error_reply
from core.tools.writes.drafting import create_row, set_field, stable_id
from models.deliverable import Deliverable
from storage.domain import Invitation
from storage.models import Member, Workspace
from storage.types import utcnow


async def update_agent_config(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.UpdateAgentConfigArgs)
    agent = await agents.first_agent(ctx.session, ctx.principal.workspace_id)
    if agent is None:
        return error_reply("This workspace has no AI agent to configure yet.")
    name = "name" if args.field == "name" else f"config.{args.field}"
    current = agent.name if args.field == "name" else agent.config.get(args.field)
    if current == args.value:
        return [Deliverable(text=f"{agent.name}'s {args.field.replace('_', ' ')} is already that.")]
    label = f"{agent.name} {args.field.replace('_', ' ')}"
    return Draft(
        tool="update_agent_config",
        summary=f"change {label}",
        changes=(set_field("agent", agent, name, args.value, label),),
    )


async def invite_member(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.InviteMemberArgs)
    return await invitation_draft(ctx.session, ctx.principal, args)


async def invitation_draft(
    session: AsyncSession, principal: Principal, args: a.InviteMemberArgs
) -> list[Deliverable] | Draft:
    """The invitation PRINCIPAL asks for (a new one, or a cancelled one renewed), or why not:
    the rules the chat tool and the console's Invite form share. Once executed, the invitee is
    emailed an acceptance link (see core.approvals.proposals.decide)."""
    workspace_id = principal.workspace_id
    role = args.role or "support"
    if role == "owner" and principal.role != "owner":
        return error_reply("Only an owner can invite another owner.")
    member = await session.scalar(
        select(Member).where(Member.workspace_id == workspace_id, Member.email == args.email)
    )
    if member is not None:
        if member.status == "active":
            return error_reply(f"{args.email} is already a member ({member.name}, {member.role}).")
        return error_reply(
            f"{args.email} belongs to {member.name}, who was removed; to bring them back, "
            f'say "reactivate {member.name}".'
        )
    invitation = await session.scalar(
        select(Invitation).where(
            Invitation.workspace_id == workspace_id, Invitation.email == args.email
        )
    )
    summary = f"invite {args.email} as {role}"
    notice = f"Once approved, {args.email} is emailed a link to join (it works once)."
    if invitation is None:
        row = {
            "id": stable_id("invitation", workspace_id, args.email),
            "workspace_id": workspace_id,
            "email": args.email,
            "name": args.name,
            "role": role,
            "status": "pending",
            "invited_by": principal.member_id,
            "created_at": AT_EXECUTION,
        }
        shown = f"{args.email} as {role}"
        change = create_row("invitation", row, f"invitation for {args.email}", shown)
        return Draft(tool="invite_member", summary=summary, changes=(change,), notice=notice)
    if invitation.status == "pending":
        return error_reply(
            f"{args.email} already has a pending invitation (as {invitation.role}); cancel it "
            "first to invite them with another role."
        )
    # One invitation row per email: an earlier cancelled one is renewed, not duplicated.
    label = f"invitation for {args.email}"
    changes = [set_field("invitation", invitation, "status", "pending", f"{label} status")]
    if invitation.role != role:
        changes.append(set_field("invitation", invitation, "role", role, f"{label} role"))
    if args.name and invitation.name != args.name:
        changes.append(set_field("invitation", invitation, "name", args.name, f"{label} name"))
    if invitation.invited_by != principal.member_id:
        changes.append(
            set_field(
                "invitation",
                invitation,
                "invited_by",
                principal.member_id,
                f"{label} invited by",
                ("someone else", principal.name or "you"),
            )
        )
    return Draft(tool="invite_member", summary=summary, changes=tuple(changes), notice=notice)


async def _member_for_update(ctx: ToolContext, args: a.UpdateMemberArgs) -> Member | str:
    try:
        return await find_by_name(ctx.session, ctx.principal, args.member)
    except MemberNotFound as exc:
        if not args.active:
            return str(exc)
        # Reactivation names someone no longer active, whom find_by_name does not see.
        wanted = args.member.strip().lower()
        removed = list(
            await ctx.session.scalars(
                select(Member).where(
                    Member.workspace_id == ctx.principal.workspace_id,
                    Member.status != "active",
                    or_(func.lower(Member.name) == wanted, Member.email == wanted),
                )
            )
        )
        return removed[0] if len(removed) == 1 else str(exc)


async def update_member(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.UpdateMemberArgs)
    found = await _member_for_update(ctx, args)
    if isinstance(found, str):
        return error_reply(found)
    return await member_update_draft(
        ctx.session,
        ctx.principal,
        found,
        args.role,
        args.active,
        availability=args.availability,
        work_schedule=args.work_schedule,
        now=ctx.now,
    )


async def member_update_draft(
    session: AsyncSession,
    principal: Principal,
    member: Member,
    new_role: str | None,
    active: bool | None,
    *,
    availability: str | None = None,
    work_schedule: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> list[Deliverable] | Draft:
    """PRINCIPAL's change of MEMBER's role and/or status (removed or reactivated), availability
    (by hand, until their schedule's next boundary) and work schedule (validated), or why not:
    only owners touch owners, and the last active owner stays. The chat tool and the console's
    team page share these rules."""
    role = new_role or member.role
    status = member.status if active is None else ("active" if active else "removed")
    routing = await _routing_changes(session, member, availability, work_schedule, now)
    if (role, status) == (member.role, member.status) and not routing[0]:
        if availability is not None or work_schedule is not None:
            return [Deliverable(text=_already(member, availability, work_schedule))]
        return [Deliverable(text=f"{member.name} is already {member.role} and {member.status}.")]
    if principal.role != "owner" and "owner" in (member.role, role):
        return error_reply("Only an owner can change an owner or make someone an owner.")
    stays_owner = role == "owner" and status == "active"
    if member.role == "owner" and member.status == "active" and not stays_owner:
        owners = await session.scalar(
            select(func.count())
            .select_from(Member)
            .where(
                Member.workspace_id == principal.workspace_id,
                Member.role == "owner",
                Member.status == "active",
            )
        )
        if (owners or 0) <= 1:
            return error_reply(
                f"{member.name} is the workspace's only owner; make someone else an owner first."
            )
    changes = []
    if role != member.role:
        changes.append(set_field("member", member, "role", role, f"{member.name} role"))
    if status != member.status:
        changes.append(set_field("member", member, "status", status, f"{member.name} status"))
    what = {
        "removed": f"remove {member.name} from the team",
        "active": f"reactivate {member.name}",
    }
    parts = [f"make {member.name} {role}"] if role != member.role else []
    if status != member.status:
        parts.append(what.get(status, f"set {member.name} {status}"))
    changes += routing[0]
    parts += routing[1]
    return Draft(tool="update_member", summary=" and ".join(parts), changes=tuple(changes))


def _already(member: Member, availability: str | None, schedule: dict[str, Any] | None) -> str:
    if schedule is not None:
        return f"{member.name} already has that work schedule."
    return f"{member.name} is already {availability}."


async def _routing_changes(
    session: AsyncSession,
    member: Member,
    availability: str | None,
    schedule: dict[str, Any] | None,
    now: datetime | None,
) -> tuple[list[Change], list[str]]:
    """The changes (and summary parts) of a new work schedule and/or a manual availability."""
    changes: list[Change] = []
    parts: list[str] = []
    if schedule is not None and schedule != member.work_schedule:
        changes.append(
            set_field("member", member, "work_schedule", schedule, f"{member.name} work schedule")
        )
        if member.availability_until is not None:
            # The new schedule decides from now on.
            changes.append(
                set_field("member", member, "availability_until", None, f"{member.name} until")
            )
        parts.append(f"set {member.name}'s work schedule to {describe_schedule(schedule)}")
    if availability is not None:
        effective_schedule = schedule if schedule is not None else member.work_schedule
        until = None
        if effective_schedule:
            workspace = await session.get(Workspace, member.workspace_id)
            tz = member.timezone or (workspace.timezone if workspace else "UTC")
            until = next_boundary(effective_schedule, tz, now or utcnow())
        if availability != member.availability or until != member.availability_until:
            changes = [c for c in changes if c.field != "availability_until"]
            changes.append(
                set_field(
                    "member", member, "availability", availability, f"{member.name} availability"
                )
            )
            changes.append(
                set_field(
                    "member",
                    member,
                    "availability_until",
                    until.isoformat() if until else None,
                    f"{member.name} availability holds until",
                )
            )
            changes.append(
                set_field(
                    "member",
                    member,
                    "availability_changed_at",
                    AT_EXECUTION,
                    f"{member.name} availability changed",
                )
            )
            held = " until their schedule's next change" if until else ""
            parts.append(f"set {member.name} {availability}{held}")
    return changes, parts


async def cancel_invitation(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.CancelInvitationArgs)
    invitation = await ctx.session.scalar(
        select(Invitation).where(
            Invitation.workspace_id == ctx.principal.workspace_id,
            Invitation.email == args.email,
        )
    )
    if invitation is None or invitation.status != "pending":
        state = f" (it is {invitation.status})" if invitation is not None else ""
        return error_reply(f"There is no pending invitation for {args.email}{state}.")
    return Draft(
        tool="cancel_invitation",
        summary=f"cancel the invitation for {args.email}",
        changes=(
            set_field(
                "invitation",
                invitation,
                "status",
                "cancelled",
                f"invitation for {args.email} status",
            ),
        ),
    )


HANDLERS = {
    "update_agent_config": update_agent_config,
    "invite_member": invite_member,
    "update_member": update_member,
    "cancel_invitation": cancel_invitation,
}
