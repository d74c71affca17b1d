"""The restore_snapshot write tool: put back the state from before an executed write."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import select

from core.approvals.proposals import (
    CREATE,
    ENTITIES,
    Change,
    Draft,
    field_value,
    key_value,
    row_state,
)
from core.team.plans import retention
from core.tools import args as a
from core.tools.registry import ToolContext, error_reply
from models.deliverable import Deliverable
from storage.domain import Snapshot


async def restore_snapshot(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    """Bring back the state from before an executed write, within the plan's retention."""
    assert isinstance(args, a.RestoreSnapshotArgs)
    snap = await ctx.session.scalar(
        select(Snapshot).where(
            Snapshot.workspace_id == ctx.principal.workspace_id, Snapshot.id == args.snapshot_id
        )
    )
    if snap is None:
        return error_reply(f"There is no snapshot {args.snapshot_id}; show history lists them.")
    keep = retention(ctx.principal.plan)
    age = ctx.now - snap.created_at
    if age > keep:
        return error_reply(
            f"Snapshot {snap.id} is {age.days} days old; the {ctx.principal.plan} plan keeps "
            f"snapshots for {keep.days} days, so it can no longer be restored."
        )
    if not snap.before:
        return error_reply(
            f"Snapshot {snap.id} ({snap.summary}) sent something out and cannot be restored."
        )
    changes: list[Change] = []
    refetch = False
    for recorded in reversed([Change.model_validate(c) for c in snap.before]):
        model = ENTITIES[recorded.entity]
        row = await ctx.session.get(model, key_value(model, recorded.key))
        if row is not None and row.workspace_id != ctx.principal.workspace_id:  # type: ignore[attr-defined]
            row = None
        label = f"{recorded.label} (restore)"
        if recorded.field == CREATE:
            target = recorded.before  # None: the write created the row; dict: it deleted it
            current = row_state(row) if row is not None else None
            if (current is None) == (target is None):
                continue
            if recorded.entity == "training_source" and (target or {}).get("kind") == "url":
                refetch = True
            changes.append(
                Change(
                    entity=recorded.entity,
                    key=recorded.key,
                    field=CREATE,
                    before=current,
                    after=target,
                    label=label,
                )
            )
            continue
        if row is None:
            continue
        current = field_value(row, recorded.field)
        if current == recorded.before:
            continue
        changes.append(
            recorded.model_copy(
                update={
                    "before": current,
                    "after": recorded.before,
                    "label": label,
                    "shown_before": None,
                    "shown_after": recorded.shown_before,
                }
            )
        )
        if recorded.entity == "training_source" and getattr(row, "kind", None) == "url":
            refetch = True
    if not changes:
        return [Deliverable(text=f"Everything in snapshot {snap.id} is already as it was then.")]
    return Draft(
        tool="restore_snapshot",
        summary=f"restore snapshot {snap.id} ({snap.summary})",
        changes=tuple(changes),
        notice="URL training sources are re-fetched from their pages after the restore."
        if refetch
        else None,
        restores_snapshot=snap.id,
    )


HANDLERS = {
    "restore_snapshot": restore_snapshot,
}
