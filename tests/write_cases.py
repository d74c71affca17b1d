"""Every write tool with a request that makes it propose, and the rows that request needs:
shared by the lifecycle tests through the pipeline and over HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from cli.seed import Seeded
from core.integrations import accounts
from core.integrations.vault import Vault
from core.processing.pipeline import TaskProcessor
from core.team import directory
from core.team.identity import Principal
from core.tools.catalogue import default_registry
from models.classification import Classification, ToolCall
from models.deliverable import Deliverable
from models.task import Route, Sender, Task
from storage.db import Database
from storage.domain import Assist, AssistEvent, Invitation
from storage.types import new_id

Setup = Callable[[Database, Seeded, datetime], Awaitable[None]]


class Scripted:
    """A classifier that always chooses one call, whatever the text."""

    def __init__(self, tool: str, args: dict[str, Any]) -> None:
        self.call = ToolCall(tool=tool, args=args)

    async def classify(self, text: str, principal: Principal, now: Any) -> Classification:
        return Classification(calls=(self.call,))


async def ask(
    db: Database,
    seeded: Seeded,
    who: str,
    tool: str,
    args: dict[str, Any],
    at: datetime,
    channel: str = "web",
) -> list[Deliverable]:
    """WHO (a member's email, or an address on CHANNEL) asks for TOOL at AT, through the
    pipeline's processor; the replies."""
    address = seeded.member_ids[who] if channel == "web" else who
    task = Task(
        id=new_id(),
        workspace_id=seeded.workspace_id,
        channel=channel,
        external_id=new_id(),
        sender=Sender(channel=channel, address=address),
        conversation="c",
        text="…",
        received_at=at,
        reply_route=Route(channel=channel, address=address),
    )
    async with db.session() as session:
        processor = TaskProcessor(Scripted(tool, args), default_registry())
        outcome = await processor.process(session, task, at)
    return outcome.deliverables


async def _nothing(db: Database, seeded: Seeded, now: datetime) -> None:
    return None


async def _a_reply_on_a_closed_assist(db: Database, seeded: Seeded, now: datetime) -> None:
    async with db.session() as session:
        assist = await session.scalar(select(Assist).where(Assist.number == 1052))
        assert assist is not None
        session.add(
            AssistEvent(
                workspace_id=seeded.workspace_id,
                assist_id=assist.id,
                kind="reply",
                author="Maria Lopez",
                body="You can reset it from the sign-in page.",
                created_at=now - timedelta(days=3),
            )
        )


async def _an_invitation(db: Database, seeded: Seeded, now: datetime) -> None:
    async with db.session() as session:
        session.add(Invitation(workspace_id=seeded.workspace_id, email="jo@demo.example"))


async def _an_api_key(db: Database, seeded: Seeded, now: datetime) -> None:
    async with db.session() as session:
        await directory.create_api_key(session, seeded.workspace_id, name="ci")


async def _zendesk_connected(db: Database, seeded: Seeded, now: datetime) -> None:
    async with db.session() as session:
        await accounts.connect(
            session,
            Vault("the tests' secret"),
            seeded.workspace_id,
            provider="zendesk",
            label="Acme",
            credentials={"subdomain": "acme", "email": "ops@acme.example", "api_token": "t"},
            actor="test",
            now=now,
        )


# tool, arguments, setup, reversible (undo and restore apply)
CASES: list[tuple[str, dict[str, Any], Setup, bool]] = [
    ("assign_assist", {"assist": "A-1042", "member": "tom"}, _nothing, True),
    ("close_assist", {"assist": "A-1043"}, _nothing, True),
    ("set_assist_priority", {"assist": "A-1045", "priority": "urgent"}, _nothing, True),
    ("snooze_assist", {"assist": "A-1041", "until": "in 2 days"}, _nothing, True),
    ("reply_to_assist", {"assist": "A-1040", "message": "On it."}, _nothing, False),
    ("add_internal_note", {"assist": "A-1044", "note": "Checked the logs."}, _nothing, True),
    (
        "bulk_update_assists",
        {"action": "set_priority", "filter": {"priority": "low"}, "set": {"priority": "normal"}},
        _nothing,
        True,
    ),
    ("approve_training_suggestion", {"suggestion_id": 1}, _nothing, True),
    ("add_training_source", {"url": "https://docs.demo.example/faq"}, _nothing, True),
    (
        "edit_qa_pair",
        {"qa_id": 1, "answer": "Use the reset link on the sign-in page."},
        _nothing,
        True,
    ),
    ("remove_qa_pair", {"qa_id": 2}, _nothing, True),
    ("promote_assist_to_training", {"assist": "A-1052"}, _a_reply_on_a_closed_assist, True),
    ("update_agent_config", {"field": "tone", "value": "formal"}, _nothing, True),
    ("invite_member", {"email": "new@demo.example", "role": "support"}, _nothing, True),
    ("update_member", {"member": "sam", "role": "manager"}, _nothing, True),
    ("cancel_invitation", {"email": "jo@demo.example"}, _an_invitation, True),
    ("create_api_key", {"name": "zapier"}, _nothing, True),
    ("revoke_api_key", {"name": "ci"}, _an_api_key, True),
    (
        "schedule_briefing",
        {"briefing_type": "weekly_knowledge_gaps", "channel": "email"},
        _nothing,
        True,
    ),
    ("update_schedule", {"schedule_id": 1, "time": "09:30"}, _nothing, True),
    ("cancel_schedule", {"schedule_id": 2}, _nothing, True),
    ("toggle_integration", {"integration": "zendesk", "enabled": True}, _nothing, True),
    # An import pulls tickets in: there is no undoing it.
    ("run_import", {"source": "zendesk"}, _zendesk_connected, False),
    (
        "send_broadcast",
        {"message": "We are back online.", "audience": "all_customers"},
        _nothing,
        False,
    ),
    ("restore_snapshot", {"snapshot_id": 1}, _nothing, True),
]
