"""tasks: approval, briefing, sender_name and email_record, moved out of raw

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 10:00:00

Tasks still to be processed (queued, or running under a lease) have their intents copied from
raw into the new columns, so they are processed as before; raw itself is left as journaled.
Finished tasks are history and keep their raw as it was.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNFINISHED = ("queued", "running")
_tasks = sa.table(
    "tasks",
    sa.column("id", sa.String),
    sa.column("channel", sa.String),
    sa.column("kind", sa.String),
    sa.column("status", sa.String),
    sa.column("raw", sa.JSON),
    sa.column("approval", sa.JSON(none_as_null=True)),
    sa.column("briefing", sa.JSON(none_as_null=True)),
    sa.column("sender_name", sa.Text),
    sa.column("email_record", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("approval", sa.JSON(none_as_null=True), nullable=True))
        batch.add_column(sa.Column("briefing", sa.JSON(none_as_null=True), nullable=True))
        batch.add_column(sa.Column("sender_name", sa.Text(), nullable=True))
        batch.add_column(sa.Column("email_record", sa.String(length=32), nullable=True))
    bind = op.get_bind()
    query = sa.select(_tasks.c.id, _tasks.c.channel, _tasks.c.kind, _tasks.c.raw).where(
        _tasks.c.status.in_(_UNFINISHED)
    )
    for row in bind.execute(query).all():
        values = intents_of(row.channel, row.kind, row.raw or {})
        if values:
            bind.execute(sa.update(_tasks).where(_tasks.c.id == row.id).values(**values))


def downgrade() -> None:
    bind = op.get_bind()
    query = sa.select(
        _tasks.c.id, _tasks.c.raw, _tasks.c.approval, _tasks.c.briefing, _tasks.c.email_record
    ).where(_tasks.c.status.in_(_UNFINISHED))
    for row in bind.execute(query).all():
        raw = raw_with_intents(row.raw or {}, row.approval, row.briefing, row.email_record)
        if raw != row.raw:
            bind.execute(sa.update(_tasks).where(_tasks.c.id == row.id).values(raw=raw))
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("email_record")
        batch.drop_column("sender_name")
        batch.drop_column("briefing")
        batch.drop_column("approval")


def intents_of(channel: str, kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The new columns' values for a task journaled with its intents inside RAW, read the way
    the pipeline read them before this revision."""
    values: dict[str, Any] = {}
    if kind == "approval" and raw.get("decision") in ("approve", "reject"):
        proposal_id, code = raw.get("proposal_id"), raw.get("code")
        values["approval"] = {
            "decision": raw["decision"],
            "proposal_id": proposal_id if isinstance(proposal_id, str) else None,
            "code": str(code) if code is not None else None,
            "prompt": raw.get("edit") or None,
        }
    if kind == "briefing":
        values["briefing"] = {
            "type": str(raw.get("briefing_type")),
            "params": raw.get("params") or {},
        }
    name = None
    if channel == "email":
        name = raw.get("from_name") or None
    elif channel == "telegram":
        sender = ((raw.get("update") or {}).get("message") or {}).get("from") or {}
        parts = [sender.get("first_name"), sender.get("last_name")]
        name = " ".join(str(p) for p in parts if p) or None
    if name is not None:
        values["sender_name"] = str(name)
    if raw.get("email_record"):
        values["email_record"] = str(raw["email_record"])
    return values


def raw_with_intents(
    raw: dict[str, Any],
    approval: dict[str, Any] | None,
    briefing: dict[str, Any] | None,
    email_record: str | None,
) -> dict[str, Any]:
    """RAW with the intents back inside it, where the code before this revision reads them
    (the sender's name is still in an email's or a Telegram update's raw)."""
    raw = dict(raw)
    if approval:
        raw["decision"] = approval["decision"]
        for key, stored in (("proposal_id", "proposal_id"), ("code", "code"), ("edit", "prompt")):
            if approval.get(stored) is not None:
                raw[key] = approval[stored]
    if briefing:
        raw["briefing_type"], raw["params"] = briefing["type"], briefing.get("params") or {}
    if email_record:
        raw["email_record"] = email_record
    return raw
