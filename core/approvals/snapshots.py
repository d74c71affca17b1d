"""Whether an executed write's snapshot can still be restored, and if not, why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from core.team.plans import retention
from storage.domain import Snapshot

Blocked = Literal["undone", "restored", "not_reversible", "expired"]


@dataclass(frozen=True, slots=True)
class SnapshotState:
    """BLOCKED is None when the snapshot can be restored; SINCE is when it was undone or
    restored; RETENTION_DAYS is how long the plan keeps snapshots restorable."""

    blocked: Blocked | None
    since: datetime | None
    retention_days: int

    @property
    def restorable(self) -> bool:
        return self.blocked is None


def snapshot_state(snap: Snapshot, *, plan: str, now: datetime) -> SnapshotState:
    """The one rule history and the console show: an undone or restored write has nothing
    to put back, one that sent something out cannot be taken back, and past the plan's
    retention it is kept for the record only (restore_snapshot refuses it too)."""
    keep = retention(plan)
    if snap.undone_at is not None:
        return SnapshotState("undone", snap.undone_at, keep.days)
    if snap.restored_at is not None:
        return SnapshotState("restored", snap.restored_at, keep.days)
    if not snap.before:
        return SnapshotState("not_reversible", None, keep.days)
    if now - snap.created_at > keep:
        return SnapshotState("expired", None, keep.days)
    return SnapshotState(None, None, keep.days)
