"""A task's typed intents (approval, briefing, sender name, kept email) survive the journal,
and tasks journaled before revision 0011 (intents inside raw) are processed as before."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, select

from cli.seed import Seeded, seed_workspace
from config.metrics import Metrics
from core.processing.pipeline import PipelineWorker, TaskProcessor, row_to_task
from core.tools.catalogue import default_registry
from models.task import Approval, Briefing, Route, Sender, Task
from storage.db import Database, alembic_config
from storage.domain import Proposal
from storage.journal import TaskJournal
from storage.models import Base, OutboxRow, TaskRow
from storage.types import new_id, utcnow
from tests.pipeline.test_pipeline import HelpClassifier, seed
from tests.tools.test_proposals import Scripted

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
OLIVIA_PHONE, OLIVIA_SLACK = "+15550100001", "U0DEMO001"
# The tasks table as revision 0010 left it: the intents travel inside raw.
_tasks_0010 = sa.table(
    "tasks",
    *(
        sa.column(name)
        for name in (
            "id workspace_id channel external_id kind sender_channel sender_address "
            "conversation text status attempts received_at"
        ).split()
    ),
    sa.column("attachments", sa.JSON),
    sa.column("reply_route", sa.JSON),
    sa.column("raw", sa.JSON),
)


def _task(workspace_id: str, channel: str, address: str, **fields: Any) -> Task:
    return Task(
        id=new_id(),
        workspace_id=workspace_id,
        channel=channel,  # type: ignore[arg-type]
        external_id=new_id(),
        sender=Sender(channel=channel, address=address),  # type: ignore[arg-type]
        conversation=address,
        received_at=NOW,
        reply_route=Route(channel=channel, address=address),  # type: ignore[arg-type]
        **fields,
    )


async def _journal(db: Database, *tasks: Task) -> None:
    journal = TaskJournal(db)
    await journal.start()
    for task in tasks:
        await journal.append(task)
    await journal.close()


def _worker(db: Database, classifier: Any) -> PipelineWorker:
    return PipelineWorker(
        db,
        TaskProcessor(classifier, default_registry()),
        node_id="node-a",
        metrics=Metrics(),
        concurrency=10,
    )


async def _migrate_to(db: Database, revision: str, *, down: bool = False) -> None:
    def run(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(cfg, revision)

    async with db.engine.connect() as conn:
        await conn.run_sync(run)
        await conn.commit()


async def test_the_typed_intents_round_trip_through_the_journal(db: Database) -> None:
    ws_id, member_id = await seed(db)
    approval = _task(
        ws_id,
        "telegram",
        "100200300",
        kind="approval",
        text="approve (button)",
        approval=Approval(
            decision="approve",
            proposal_id="p" * 32,
            prompt={"chat_id": -100, "message_id": 7, "callback_query_id": "cb-1"},
        ),
        raw={"update": {"update_id": 1}},
    )
    by_code = _task(
        ws_id,
        "sms",
        "+15550001111",
        kind="approval",
        approval=Approval(decision="reject", code="1234"),
    )
    briefing = _task(
        ws_id,
        "schedule",
        member_id,
        kind="briefing",
        briefing=Briefing(type="daily_inbox_summary", params={"days": ["monday"], "hour": 8}),
        raw={"schedule_id": "s1"},
    )
    email = _task(
        ws_id,
        "email",
        "jane@example.com",
        sender_name="Jane\x00 Roe",
        email_record="e" * 32,
        raw={"subject": "Help"},
    )
    plain = _task(ws_id, "web", member_id, text="help")
    tasks = [approval, by_code, briefing, email, plain]
    await _journal(db, *tasks)

    claimed = {row.id: row_to_task(row) for row, _ in await _worker(db, HelpClassifier()).claim()}

    assert [claimed[t.id] for t in tasks] == tasks
    assert claimed[email.id].sender_name == "Jane Roe"  # NUL is dropped, as in raw
    async with db.engine.connect() as conn:
        empty = await conn.scalar(
            select(sa.func.count())
            .select_from(TaskRow)
            .where(
                TaskRow.id == plain.id,
                TaskRow.approval.is_(None),
                TaskRow.briefing.is_(None),
                TaskRow.sender_name.is_(None),
                TaskRow.email_record.is_(None),
            )
        )
    assert empty == 1  # SQL NULL, not a JSON null, where a task has no intent


async def test_the_tasks_table_matches_its_model(db: Database) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [d for d in compare_metadata(context, Base.metadata) if "tasks" in str(d)]

    async with db.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def _propose(db: Database, seeded: Seeded, assist: str, now: datetime) -> dict[str, Any]:
    """A pending proposal Olivia asked for on the web: set ASSIST to urgent priority."""
    task = _task(seeded.workspace_id, "web", seeded.member_ids["olivia@demo.example"])
    calls = ("set_assist_priority", {"assist": assist, "priority": "urgent"})
    async with db.session() as session:
        outcome = await TaskProcessor(Scripted(calls), default_registry()).process(
            session, task, now
        )
    (reply,) = outcome.deliverables
    return dict(reply.data["proposal"])


def _old_row(
    seeded: Seeded, channel: str, address: str, kind: str, **values: Any
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "workspace_id": seeded.workspace_id,
        "channel": channel,
        "external_id": new_id(),
        "kind": kind,
        "sender_channel": channel,
        "sender_address": address,
        "conversation": address,
        "text": "",
        "attachments": [],
        "reply_route": {"channel": channel, "address": address, "thread": None},
        "status": "queued",
        "attempts": 0,
        "received_at": NOW,
        **values,
    }


async def test_a_task_journaled_before_the_upgrade_is_processed_as_before(
    empty_database_url: str,
) -> None:
    db = Database(empty_database_url)
    try:
        # The workspace is seeded with today's models, then the schema is taken back to 0010
        # (later revisions only add columns and tables these rows do not need).
        await db.migrate()
        async with db.session() as session:
            seeded = await seed_workspace(session, now=utcnow(), conversations=20)
        # Proposed now: the worker decides them by the wall clock, before they expire.
        by_code = await _propose(db, seeded, "A-1045", utcnow())
        by_button = await _propose(db, seeded, "A-1043", utcnow())
        await _migrate_to(db, "0010", down=True)
        edit = {"channel": "C1", "ts": "1700000000.000100", "user": OLIVIA_SLACK}
        rows = {
            "code": _old_row(
                seeded,
                "sms",
                OLIVIA_PHONE,
                "approval",
                text=f"YES {by_code['code']}",
                raw={
                    "Body": f"YES {by_code['code']}",
                    "decision": "approve",
                    "code": by_code["code"],
                },
            ),
            "button": _old_row(
                seeded,
                "slack",
                OLIVIA_SLACK,
                "approval",
                text="reject",
                raw={
                    "decision": "reject",
                    "proposal_id": by_button["id"],
                    "edit": edit,
                    "payload": {"type": "block_actions"},
                },
            ),
            "briefing": _old_row(
                seeded,
                "schedule",
                seeded.member_ids["olivia@demo.example"],
                "briefing",
                raw={"schedule_id": "s1", "briefing_type": "daily_inbox_summary", "params": {}},
            ),
            "telegram": _old_row(
                seeded,
                "telegram",
                "999",
                "message",
                text="hello",
                raw={"update": {"message": {"from": {"first_name": "Jane", "last_name": "Roe"}}}},
            ),
            "email": _old_row(
                seeded,
                "email",
                "jane@example.com",
                "message",
                raw={"from_name": "Jane Roe", "email_record": "r" * 32},
            ),
            # Finished: history, left as it was journaled.
            "done": _old_row(
                seeded, "sms", OLIVIA_PHONE, "approval", status="done", raw={"decision": "approve"}
            ),
        }
        async with db.engine.begin() as conn:
            await conn.execute(sa.insert(_tasks_0010), list(rows.values()))

        await db.migrate()

        worker = _worker(db, HelpClassifier())
        claimed = {row.id: (row, token) for row, token in await worker.claim()}
        tasks = {
            name: row_to_task(claimed[row["id"]][0]) for name, row in rows.items() if name != "done"
        }
        assert tasks["code"].approval == Approval(decision="approve", code=by_code["code"])
        assert tasks["button"].approval == Approval(
            decision="reject", proposal_id=by_button["id"], prompt=edit
        )
        assert tasks["briefing"].briefing == Briefing(type="daily_inbox_summary")
        assert tasks["telegram"].sender_name == "Jane Roe"
        assert (tasks["email"].sender_name, tasks["email"].email_record) == ("Jane Roe", "r" * 32)
        for name in ("code", "button", "briefing"):
            await worker._handle(*claimed[rows[name]["id"]])

        async with db.session() as session:
            statuses = {p.id: p.status for p in await session.scalars(select(Proposal))}
            done = await session.get(TaskRow, rows["done"]["id"])
            outbox = await session.scalars(select(OutboxRow).order_by(OutboxRow.seq))
            replies: dict[str | None, list[dict[str, Any]]] = {}
            for reply in outbox:
                replies.setdefault(reply.task_id, []).append(reply.deliverable)
        assert statuses[by_code["id"]] == "executed"
        assert statuses[by_button["id"]] == "rejected"
        (approved,) = replies[rows["code"]["id"]]
        assert approved["text"].startswith("Done: set A-1045 to urgent priority")
        (rejected,) = replies[rows["button"]["id"]]
        assert rejected["data"]["edit"] == edit
        assert [r["kind"] for r in replies[rows["briefing"]["id"]]] == ["card", "file"]
        assert done is not None and (done.approval, done.raw) == (None, {"decision": "approve"})
    finally:
        await db.dispose()


async def test_a_downgrade_puts_the_intents_of_unfinished_tasks_back_into_raw(
    db: Database,
) -> None:
    ws_id, member_id = await seed(db)
    prompt = {"channel": "C1", "ts": "1.2", "user": "U1"}
    approval = _task(
        ws_id,
        "slack",
        "U1",
        kind="approval",
        approval=Approval(decision="reject", proposal_id="p1", prompt=prompt),
        raw={"type": "block_actions"},
    )
    briefing = _task(
        ws_id,
        "schedule",
        member_id,
        kind="briefing",
        briefing=Briefing(type="monthly_roi", params={"x": 1}),
        raw={"schedule_id": "s1"},
    )
    email = _task(ws_id, "email", "a@b.example", email_record="r1", raw={"from_name": "A"})
    await _journal(db, approval, briefing, email)

    await _migrate_to(db, "0010", down=True)

    async with db.engine.connect() as conn:
        raws = dict((await conn.execute(select(_tasks_0010.c.id, _tasks_0010.c.raw))).all())
    assert raws == {
        approval.id: {
            "type": "block_actions",
            "decision": "reject",
            "proposal_id": "p1",
            "edit": prompt,
        },
        briefing.id: {"schedule_id": "s1", "briefing_type": "monthly_roi", "params": {"x": 1}},
        email.id: {"from_name": "A", "email_record": "r1"},
    }


def test_nul_is_dropped_at_any_depth_and_nothing_else_changes() -> None:
    """A payload without NUL (nearly all) is taken as it is after one look at its JSON; one
    with NUL anywhere (a key, a list in a list) loses just that; text that only spells
    `\\u0000` is text, and values that are not JSON are still looked through."""
    from datetime import UTC, datetime

    from models.task import Route, Sender, Task

    def task(raw: dict[str, object]) -> Task:
        return Task(
            id="t1",
            workspace_id="w1",
            channel="web",
            external_id="e1",
            sender=Sender(channel="web", address="m1"),
            conversation="web:m1",
            received_at=datetime.now(UTC),
            reply_route=Route(channel="web", address="m1"),
            raw=raw,
        )

    clean = {"event": {"text": "hi", "blocks": [{"els": ["a", 1, None, 2.5]}]}, "big": 2**70}
    assert task(clean).raw == clean
    typed = {"note": "\\u0000 is what I typed", "list": ["\\\\u0000"]}
    assert task(typed).raw == typed
    dirty = {
        "event": {"text": "a\x00b", "blocks": [{"els": [["x\x00"], ("y\x00",)]}]},
        "k\x00ey": 1,
        "note": "\\u0000 typed\x00",
        "when": datetime(2026, 1, 1, tzinfo=UTC),
    }
    assert task(dirty).raw == {
        "event": {"text": "ab", "blocks": [{"els": [["x"], ("y",)]}]},
        "key": 1,
        "note": "\\u0000 typed",
        "when": datetime(2026, 1, 1, tzinfo=UTC),
    }
    odd = {"obj": object, "text": "z\x00"}  # orjson writes no such value: looked through
    assert task(odd).raw == {"obj": object, "text": "z"}
