"""The show_history read tool: the workspace's changes, newest first, and which can be restored."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import func, select

from core.approvals.snapshots import snapshot_state
from core.reports import analytics
from core.reports.figures import local_time, member_names
from core.tools import args as a
from core.tools.registry import ToolContext
from models.deliverable import Deliverable
from storage.domain import Snapshot


async def show_history(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.ShowHistoryArgs)
    tz = ctx.principal.timezone
    conditions = [Snapshot.workspace_id == ctx.principal.workspace_id]
    label = ""
    if args.period:
        current, _ = analytics.windows(args.period, ctx.now, tz)
        conditions += [Snapshot.created_at >= current.start, Snapshot.created_at < current.end]
        label = f" {current.label}"
    total = await ctx.session.scalar(select(func.count()).select_from(Snapshot).where(*conditions))
    snaps = list(
        await ctx.session.scalars(
            select(Snapshot)
            .where(*conditions)
            .order_by(Snapshot.created_at.desc(), Snapshot.id.desc())
            .limit(args.limit or 10)
        )
    )
    if not snaps:
        return [Deliverable(text=f"No changes were made{label}.")]
    names = await member_names(ctx)

    def state(snap: Snapshot) -> str:
        found = snapshot_state(snap, plan=ctx.principal.plan, now=ctx.now)
        if found.blocked in ("undone", "restored") and found.since is not None:
            return f"{found.blocked} {local_time(found.since, tz)}"
        if found.blocked == "not_reversible":
            return "sent out, cannot be restored"
        if found.blocked == "expired":
            return f"older than the {found.retention_days}-day retention"
        return "can be restored"

    items = tuple(
        f"#{s.id} {local_time(s.created_at, tz)}, {names.get(s.member_id or '', 'someone')}: "
        f"{s.summary} ({state(s)})"
        for s in snaps
    )
    restorable = [s for s in snaps if state(s) == "can be restored"]
    advice = (
        f"Say 'restore snapshot {restorable[0].id}' to put back the state from before "
        f'"{restorable[0].summary}"; it is proposed for approval first.'
        if restorable
        else "None of these can be restored; 'restore snapshot N' works on ones that can."
    )
    more = f"\n… and {(total or 0) - len(snaps)} earlier." if (total or 0) > len(snaps) else ""
    text = (
        f"Changes{label}, newest first:\n"
        + "\n".join(f"- {i}" for i in items)
        + more
        + f"\nNext step: {advice}"
    )
    return [
        Deliverable(
            kind="list",
            title="History",
            text=text,
            items=items,
            data={"snapshots": [s.id for s in snaps], "total": total, "suggestion": advice},
        )
    ]


HANDLERS = {
    "show_history": show_history,
}
