"""Admin write tools: each proposes before/after, changes nothing until approved, executes on
the requester's approval, stops on stale values, undoes exactly, and refuses clearly."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.sql import Select

from cli.seed import Seeded, seed_workspace
from core.assists.personal_data import strip_personal_data
from core.integrations import accounts
from core.integrations.vault import Vault
from core.processing.pipeline import TaskProcessor
from core.team import directory
from core.team.identity import Principal
from core.tools import args as a
from core.tools.catalogue import build_registry
from core.tools.registry import ToolContext
from core.tools.writes import api_keys, broadcasts, integrations, schedules, team, training
from core.tools.writes.api_keys import PENDING_REVEAL, reveal_api_key
from core.tools.writes.schedules import schedule_briefing
from models.classification import Classification, ToolCall
from models.deliverable import Deliverable
from models.task import Route, Sender, Task
from storage.db import Database
from storage.domain import (
    AiAgent,
    Assist,
    AssistEvent,
    Conversation,
    Customer,
    Integration,
    Invitation,
    Proposal,
    QaPair,
    Schedule,
    Snapshot,
    TrainingSource,
    TrainingSuggestion,
)
from storage.integrations import ImportRun
from storage.models import ApiKey, AuditEntry, Base, Member, OutboxRow
from storage.types import new_id

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # a Wednesday
APPROVED_AT = NOW + timedelta(seconds=5)
UNDONE_AT = NOW + timedelta(seconds=20)
OLIVIA, ADAM, MARIA, TOM, SAM = (
    "olivia@demo.example",
    "adam@demo.example",
    "maria@demo.example",
    "tom@demo.example",
    "sam@demo.example",
)
REGISTRY = build_registry(
    {
        **training.HANDLERS,
        **team.HANDLERS,
        **api_keys.HANDLERS,
        **schedules.HANDLERS,
        **integrations.HANDLERS,
        **broadcasts.HANDLERS,
    }
)


class Scripted:
    def __init__(self, *calls: tuple[str, dict[str, Any]]) -> None:
        self.calls = calls

    async def classify(self, text: str, principal: Principal, now: Any) -> Classification:
        return Classification(calls=tuple(ToolCall(tool=t, args=a) for t, a in self.calls))


@pytest.fixture
async def seeded(db: Database) -> Seeded:
    async with db.session() as session:
        return await seed_workspace(session, now=NOW)


def _task(seeded: Seeded, member_id: str, at: datetime) -> Task:
    return Task(
        id=new_id(),
        workspace_id=seeded.workspace_id,
        channel="web",
        external_id=new_id(),
        sender=Sender(channel="web", address=member_id),
        conversation="c",
        text="…",
        received_at=at,
        reply_route=Route(channel="web", address=member_id),
    )


async def ask(
    db: Database, seeded: Seeded, who: str, *calls: tuple[str, dict[str, Any]], at: datetime = NOW
) -> list[Deliverable]:
    task = _task(seeded, seeded.member_ids[who], at)
    async with db.session() as session:
        outcome = await TaskProcessor(Scripted(*calls), REGISTRY).process(session, task, at)
    return outcome.deliverables


async def proposed(
    db: Database, seeded: Seeded, who: str, tool: str, args: dict[str, Any]
) -> tuple[Deliverable, dict[str, Any]]:
    replies = await ask(db, seeded, who, (tool, args))
    assert [r.kind for r in replies] == ["proposal"], [r.text for r in replies]
    return replies[0], replies[0].data["proposal"]


async def refused(db: Database, seeded: Seeded, who: str, tool: str, args: dict[str, Any]) -> str:
    before = await count(db, select(Proposal))
    (reply,) = await ask(db, seeded, who, (tool, args))
    assert reply.kind != "proposal" and "proposal" not in reply.data
    assert await count(db, select(Proposal)) == before  # no proposal was made
    return reply.text


async def approve(db: Database, seeded: Seeded, who: str, code: str) -> str:
    (reply,) = await ask(db, seeded, who, ("approve_proposal", {"code": code}), at=APPROVED_AT)
    return reply.text


async def undo(db: Database, seeded: Seeded, who: str) -> str:
    (reply,) = await ask(db, seeded, who, ("undo_last", {}), at=UNDONE_AT)
    return reply.text


async def count(db: Database, query: Select[Any]) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)


async def get(db: Database, model: type[Base], key: Any) -> Any:
    async with db.session() as session:
        return await session.get(model, key)


async def one(db: Database, query: Select[Any]) -> Any:
    async with db.session() as session:
        return (await session.scalars(query)).one()


async def alter(db: Database, model: type[Base], key: Any, **values: Any) -> None:
    """Someone else changes the row between proposal and approval."""
    async with db.session() as session:
        row = await session.get(model, key)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)


async def add(db: Database, *rows: Base) -> None:
    async with db.session() as session:
        session.add_all(rows)


async def planned(db: Database, proposal: dict[str, Any]) -> list[dict[str, Any]]:
    """The changes as stored on the proposal, with full rows for creations."""
    row = await get(db, Proposal, proposal["id"])
    return [c for part in row.changes for c in part["changes"]]


def _change(label: str, field: str, before: Any, after: Any) -> dict[str, Any]:
    return {"label": label, "field": field, "before": before, "after": after}


async def qa_by_question(db: Database, seeded: Seeded, question: str) -> QaPair:
    return await one(
        db,
        select(QaPair).where(
            QaPair.workspace_id == seeded.workspace_id, QaPair.question == question
        ),
    )


async def suggestion(
    db: Database, seeded: Seeded, *, conflicts_with: int | None = None, status: str = "pending"
) -> int:
    row = TrainingSuggestion(
        workspace_id=seeded.workspace_id,
        question="Do you deliver on Sundays?",
        answer="No: deliveries run Monday to Saturday.",
        quality=0.8,
        conflicts_with=conflicts_with,
        status=status,
    )
    await add(db, row)
    return row.id


# --- approve_training_suggestion ------------------------------------------------------------------


async def test_approving_a_suggestion_creates_a_qa_pair_and_undo_removes_it(
    db: Database, seeded: Seeded
) -> None:
    sid = await suggestion(db, seeded)
    pairs = select(QaPair).where(QaPair.workspace_id == seeded.workspace_id)
    before = await count(db, pairs)
    reply, proposal = await proposed(
        db, seeded, OLIVIA, "approve_training_suggestion", {"suggestion_id": sid}
    )
    status, created = proposal["changes"]
    assert status == _change(f"training suggestion {sid} status", "status", "pending", "approved")
    assert created["field"] == "__row__" and created["before"] == "—"
    assert created["after"].startswith("Do you deliver on Sundays? → No: deliveries")
    assert "pending → approved" in reply.text
    row = (await planned(db, proposal))[1]["after"]
    assert (row["question"], row["answer"], row["active"]) == (
        "Do you deliver on Sundays?",
        "No: deliveries run Monday to Saturday.",
        True,
    )
    assert (await get(db, TrainingSuggestion, sid)).status == "pending"  # nothing changed yet
    assert await count(db, pairs) == before

    assert (await approve(db, seeded, OLIVIA, proposal["code"])).startswith("Done:")
    assert (await get(db, TrainingSuggestion, sid)).status == "approved"
    pair = await get(db, QaPair, row["id"])
    assert (pair.question, pair.answer, pair.active) == (row["question"], row["answer"], True)

    assert (await undo(db, seeded, OLIVIA)).startswith("Undone:")
    assert (await get(db, TrainingSuggestion, sid)).status == "pending"
    assert await get(db, QaPair, row["id"]) is None
    assert await count(db, pairs) == before


async def test_a_conflicting_suggestion_replaces_the_answer_it_contradicts(
    db: Database, seeded: Seeded
) -> None:
    existing = await qa_by_question(db, seeded, "How do refunds work?")
    sid = await suggestion(db, seeded, conflicts_with=existing.id)
    pairs = select(QaPair).where(QaPair.workspace_id == seeded.workspace_id)
    before = await count(db, pairs)
    reply, proposal = await proposed(
        db, seeded, OLIVIA, "approve_training_suggestion", {"suggestion_id": sid}
    )
    assert proposal["changes"][1] == _change(
        f"Q&A {existing.id} answer",
        "answer",
        existing.answer,
        "No: deliveries run Monday to Saturday.",
    )
    assert f"conflicts with Q&A {existing.id}" in reply.text
    assert "replaces that answer" in reply.text
    assert (await get(db, QaPair, existing.id)).answer == existing.answer

    await approve(db, seeded, OLIVIA, proposal["code"])
    assert (await get(db, QaPair, existing.id)).answer == "No: deliveries run Monday to Saturday."
    assert await count(db, pairs) == before  # replaced, not duplicated
    await undo(db, seeded, OLIVIA)
    assert (await get(db, QaPair, existing.id)).answer == existing.answer


async def test_stale_qa_answer_stops_suggestion_approval(db: Database, seeded: Seeded) -> None:
    existing = await qa_by_question(db, seeded, "How do refunds work?")
    sid = await suggestion(db, seeded, conflicts_with=existing.id)
    _, proposal = await proposed(
        db, seeded, OLIVIA, "approve_training_suggestion", {"suggestion_id": sid}
    )
    await alter(db, QaPair, existing.id, answer="Refunds take 3 days.")
    text = await approve(db, seeded, OLIVIA, proposal["code"])
    assert text.startswith("Stopped, nothing was changed") and "answer changed" in text
    assert (await get(db, TrainingSuggestion, sid)).status == "pending"
    assert (await get(db, QaPair, existing.id)).answer == "Refunds take 3 days."


async def test_suggestion_refusals(db: Database, seeded: Seeded) -> None:
    text = await refused(db, seeded, OLIVIA, "approve_training_suggestion", {"suggestion_id": 9999})
    assert text == "There is no training suggestion 9999."
    done = await suggestion(db, seeded, status="approved")
    text = await refused(db, seeded, OLIVIA, "approve_training_suggestion", {"suggestion_id": done})
    assert text == f"Training suggestion {done} is already approved."


# --- add_training_source --------------------------------------------------------------------------


async def test_add_training_source(db: Database, seeded: Seeded) -> None:
    url = "https://example.com/returns"
    _, proposal = await proposed(
        db, seeded, ADAM, "add_training_source", {"url": url, "title": "Returns"}
    )
    (change,) = proposal["changes"]
    assert (change["field"], change["before"], change["after"]) == ("__row__", "—", url)
    row = (await planned(db, proposal))[0]["after"]
    assert (row["kind"], row["url"], row["title"], row["active"]) == ("url", url, "Returns", True)
    assert await get(db, TrainingSource, row["id"]) is None

    await approve(db, seeded, ADAM, proposal["code"])
    source = await get(db, TrainingSource, row["id"])
    assert (source.url, source.title, source.workspace_id) == (url, "Returns", seeded.workspace_id)

    await undo(db, seeded, ADAM)
    assert await get(db, TrainingSource, row["id"]) is None


async def test_duplicate_training_source_is_refused(db: Database, seeded: Seeded) -> None:
    text = await refused(
        db, seeded, ADAM, "add_training_source", {"url": "https://HELP.demo.example/"}
    )
    assert "https://HELP.demo.example/ is already a training source" in text


async def test_created_row_whose_id_got_taken_stops_as_stale(db: Database, seeded: Seeded) -> None:
    _, proposal = await proposed(
        db, seeded, ADAM, "add_training_source", {"url": "https://example.com/a"}
    )
    row = (await planned(db, proposal))[0]["after"]
    await add(
        db,
        TrainingSource(
            id=row["id"], workspace_id=seeded.workspace_id, kind="text", content="meanwhile"
        ),
    )
    text = await approve(db, seeded, ADAM, proposal["code"])
    assert text.startswith("Stopped, nothing was changed") and "exists already" in text
    assert (await get(db, TrainingSource, row["id"])).content == "meanwhile"


async def test_two_drafts_in_one_request_reserve_different_ids(
    db: Database, seeded: Seeded
) -> None:
    (reply,) = await ask(
        db,
        seeded,
        ADAM,
        ("add_training_source", {"url": "https://example.com/one"}),
        ("add_training_source", {"url": "https://example.com/two"}),
    )
    proposal = reply.data["proposal"]
    first, second = (c["after"]["id"] for c in await planned(db, proposal))
    assert first != second
    await approve(db, seeded, ADAM, proposal["code"])
    assert (await get(db, TrainingSource, first)).url == "https://example.com/one"
    assert (await get(db, TrainingSource, second)).url == "https://example.com/two"


# --- edit_qa_pair / remove_qa_pair ----------------------------------------------------------------


async def test_edit_qa_pair(db: Database, seeded: Seeded) -> None:
    pair = await qa_by_question(db, seeded, "How do refunds work?")
    new = "Refunds take 5 business days."
    reply, proposal = await proposed(
        db, seeded, OLIVIA, "edit_qa_pair", {"qa_id": pair.id, "answer": new}
    )
    assert proposal["changes"] == [_change(f"Q&A {pair.id} answer", "answer", pair.answer, new)]
    assert f"{pair.answer} → {new}" in reply.text
    assert (await get(db, QaPair, pair.id)).answer == pair.answer

    await approve(db, seeded, OLIVIA, proposal["code"])
    assert (await get(db, QaPair, pair.id)).answer == new
    await undo(db, seeded, OLIVIA)
    assert (await get(db, QaPair, pair.id)).answer == pair.answer


async def test_edit_qa_pair_stale_and_refusals(db: Database, seeded: Seeded) -> None:
    pair = await qa_by_question(db, seeded, "Can I change my plan?")
    _, proposal = await proposed(
        db, seeded, OLIVIA, "edit_qa_pair", {"qa_id": pair.id, "question": "Switch plans?"}
    )
    await alter(db, QaPair, pair.id, question="How do I switch plans?")
    assert (await approve(db, seeded, OLIVIA, proposal["code"])).startswith("Stopped")
    assert (await get(db, QaPair, pair.id)).question == "How do I switch plans?"

    assert await refused(db, seeded, OLIVIA, "edit_qa_pair", {"qa_id": 9999, "answer": "x"}) == (
        "There is no Q&A 9999."
    )
    text = await refused(
        db, seeded, OLIVIA, "edit_qa_pair", {"qa_id": pair.id, "answer": pair.answer}
    )
    assert text == f"Q&A {pair.id} already says that."


async def test_remove_qa_pair_is_soft_and_undo_restores_it(db: Database, seeded: Seeded) -> None:
    pair = await qa_by_question(db, seeded, "When will my order ship?")
    _, proposal = await proposed(db, seeded, OLIVIA, "remove_qa_pair", {"qa_id": pair.id})
    assert proposal["changes"] == [_change(f"Q&A {pair.id}", "active", "active", "removed")]
    assert (await planned(db, proposal))[0]["before"] is True
    assert (await get(db, QaPair, pair.id)).active is True

    await approve(db, seeded, OLIVIA, proposal["code"])
    removed = await get(db, QaPair, pair.id)
    assert (removed.active, removed.question, removed.answer) == (False, pair.question, pair.answer)
    text = await refused(db, seeded, OLIVIA, "remove_qa_pair", {"qa_id": pair.id})
    assert text == f"Q&A {pair.id} is already removed."

    await undo(db, seeded, OLIVIA)
    restored = await get(db, QaPair, pair.id)
    assert (restored.active, restored.question, restored.answer) == (
        True,
        pair.question,
        pair.answer,
    )
    assert await refused(db, seeded, OLIVIA, "remove_qa_pair", {"qa_id": 9999}) == (
        "There is no Q&A 9999."
    )


async def test_remove_qa_pair_stale(db: Database, seeded: Seeded) -> None:
    pair = await qa_by_question(db, seeded, "When will my order ship?")
    _, proposal = await proposed(db, seeded, OLIVIA, "remove_qa_pair", {"qa_id": pair.id})
    await alter(db, QaPair, pair.id, active=False)
    assert (await approve(db, seeded, OLIVIA, proposal["code"])).startswith("Stopped")


# --- promote_assist_to_training -------------------------------------------------------------------


def test_personal_data_is_stripped_from_a_training_answer() -> None:
    text = (
        "I'm Jane Roe, mail jane.roe@example.com or call +1 (555) 010-0001 / 0171 2345678 "
        "about order #48213 and order number 99120, placed 2026-11-18, refund in 5-7 days."
    )
    assert strip_personal_data(text, ["Jane Roe"]) == (
        "I'm [name], mail [email] or call [phone] / [phone] about order [order number] and "
        "order number [order number], placed 2026-11-18, refund in 5-7 days."
    )


async def test_promote_assist_to_training_strips_personal_data(
    db: Database, seeded: Seeded
) -> None:
    text = await refused(db, seeded, OLIVIA, "promote_assist_to_training", {"assist": "A-1040"})
    assert text == "A-1040 has no reply from the team yet, so there is no answer to learn from."

    case = await one(
        db,
        select(Assist).where(Assist.workspace_id == seeded.workspace_id, Assist.number == 1040),
    )
    customer = case.customer_details["name"]
    await alter(
        db,
        Assist,
        case.id,
        transcript=[
            {"from": "customer", "text": "Where is my refund for order #48213? Call +15550101234"},
            {"from": "agent", "text": "Let me bring in a teammate."},
        ],
    )
    await add(
        db,
        AssistEvent(
            workspace_id=seeded.workspace_id,
            assist_id=case.id,
            kind="reply",
            author="Olivia Owner",
            body=f"Hi {customer}, the refund for #48213 was sent to "
            f"{case.customer_details['email']}; it reaches your account in 5-7 days.",
            created_at=NOW - timedelta(hours=1),
        ),
    )
    reply, proposal = await proposed(
        db, seeded, OLIVIA, "promote_assist_to_training", {"assist": "A-1040"}
    )
    row = (await planned(db, proposal))[0]["after"]
    assert row["question"] == "Where is my refund for order [order number]? Call [phone]"
    assert row["answer"] == (
        "Hi [name], the refund for [order number] was sent to [email]; it reaches your account "
        "in 5-7 days."
    )
    assert f'Question: "{row["question"]}" Answer: "{row["answer"]}"' in reply.text
    assert "were removed" in reply.text
    assert "48213" not in reply.text and "@" not in json.dumps(proposal)
    assert await get(db, QaPair, row["id"]) is None

    await approve(db, seeded, OLIVIA, proposal["code"])
    pair = await get(db, QaPair, row["id"])
    assert (pair.question, pair.answer, pair.source) == (
        row["question"],
        row["answer"],
        "assist:A-1040",
    )
    await undo(db, seeded, OLIVIA)
    assert await get(db, QaPair, row["id"]) is None

    text = await refused(db, seeded, OLIVIA, "promote_assist_to_training", {"assist": "A-9999"})
    assert text == "There is no assist A-9999."


# --- update_agent_config --------------------------------------------------------------------------


async def test_update_agent_config(db: Database, seeded: Seeded) -> None:
    reply, proposal = await proposed(
        db, seeded, OLIVIA, "update_agent_config", {"field": "tone", "value": "formal"}
    )
    assert proposal["changes"] == [_change("Ava tone", "config.tone", "friendly", "formal")]
    assert "friendly → formal" in reply.text
    assert (await get(db, AiAgent, seeded.agent_id)).config["tone"] == "friendly"

    await approve(db, seeded, OLIVIA, proposal["code"])
    agent = await get(db, AiAgent, seeded.agent_id)
    assert agent.config["tone"] == "formal"
    assert agent.config["language"] == "en"  # other settings untouched
    await undo(db, seeded, OLIVIA)
    assert (await get(db, AiAgent, seeded.agent_id)).config["tone"] == "friendly"

    _, renamed = await proposed(
        db, seeded, OLIVIA, "update_agent_config", {"field": "name", "value": "Nova"}
    )
    assert renamed["changes"] == [_change("Ava name", "name", "Ava", "Nova")]
    await approve(db, seeded, OLIVIA, renamed["code"])
    assert (await get(db, AiAgent, seeded.agent_id)).name == "Nova"

    _, unset = await proposed(
        db, seeded, OLIVIA, "update_agent_config", {"field": "signature", "value": "— Nova"}
    )
    assert unset["changes"][0]["before"] is None
    text = await refused(
        db, seeded, OLIVIA, "update_agent_config", {"field": "tone", "value": "friendly"}
    )
    assert text == "Nova's tone is already that."


async def test_update_agent_config_stale(db: Database, seeded: Seeded) -> None:
    _, proposal = await proposed(
        db, seeded, OLIVIA, "update_agent_config", {"field": "tone", "value": "formal"}
    )
    agent = await get(db, AiAgent, seeded.agent_id)
    await alter(db, AiAgent, seeded.agent_id, config={**agent.config, "tone": "playful"})
    assert (await approve(db, seeded, OLIVIA, proposal["code"])).startswith("Stopped")
    assert (await get(db, AiAgent, seeded.agent_id)).config["tone"] == "playful"


# --- members --------------------------------------------------------------------------------------


def _invitations(seeded: Seeded, email: str) -> Select[Any]:
    return select(Invitation).where(
        Invitation.workspace_id == seeded.workspace_id, Invitation.email == email
    )


async def test_invite_member(db: Database, seeded: Seeded) -> None:
    _, proposal = await proposed(
        db, seeded, ADAM, "invite_member", {"email": "Jo@Acme.com", "role": "manager", "name": "Jo"}
    )
    (change,) = proposal["changes"]
    assert change == _change("invitation for jo@acme.com", "__row__", "—", "jo@acme.com as manager")
    assert await count(db, _invitations(seeded, "jo@acme.com")) == 0

    await approve(db, seeded, ADAM, proposal["code"])
    invitation = await one(db, _invitations(seeded, "jo@acme.com"))
    assert (invitation.role, invitation.status, invitation.name, invitation.invited_by) == (
        "manager",
        "pending",
        "Jo",
        seeded.member_ids[ADAM],
    )
    text = await refused(db, seeded, ADAM, "invite_member", {"email": "jo@acme.com"})
    assert "already has a pending invitation" in text

    await undo(db, seeded, ADAM)
    assert await count(db, _invitations(seeded, "jo@acme.com")) == 0


async def test_invite_refusals(db: Database, seeded: Seeded) -> None:
    text = await refused(db, seeded, ADAM, "invite_member", {"email": MARIA})
    assert text == f"{MARIA} is already a member (Maria Lopez, manager)."
    text = await refused(
        db, seeded, ADAM, "invite_member", {"email": "x@acme.com", "role": "owner"}
    )
    assert text == "Only an owner can invite another owner."


async def test_two_invitations_for_one_email_execute_once(db: Database, seeded: Seeded) -> None:
    _, first = await proposed(db, seeded, ADAM, "invite_member", {"email": "jo@acme.com"})
    _, second = await proposed(
        db, seeded, OLIVIA, "invite_member", {"email": "jo@acme.com", "role": "admin"}
    )
    assert (await approve(db, seeded, ADAM, first["code"])).startswith("Done:")
    text = await approve(db, seeded, OLIVIA, second["code"])
    assert text.startswith("Stopped, nothing was changed") and "exists already" in text
    assert (await one(db, _invitations(seeded, "jo@acme.com"))).role == "support"


async def test_a_cancelled_invitation_is_renewed(db: Database, seeded: Seeded) -> None:
    old = Invitation(
        workspace_id=seeded.workspace_id,
        email="jo@acme.com",
        role="support",
        status="cancelled",
        invited_by=seeded.member_ids[OLIVIA],
    )
    await add(db, old)
    _, proposal = await proposed(
        db, seeded, ADAM, "invite_member", {"email": "jo@acme.com", "role": "admin"}
    )
    labels = [(c["label"], c["before"], c["after"]) for c in proposal["changes"]]
    assert labels[:2] == [
        ("invitation for jo@acme.com status", "cancelled", "pending"),
        ("invitation for jo@acme.com role", "support", "admin"),
    ]
    await approve(db, seeded, ADAM, proposal["code"])
    renewed = await get(db, Invitation, old.id)
    assert (renewed.status, renewed.role, renewed.invited_by) == (
        "pending",
        "admin",
        seeded.member_ids[ADAM],
    )
    await undo(db, seeded, ADAM)
    back = await get(db, Invitation, old.id)
    assert (back.status, back.role, back.invited_by) == (
        "cancelled",
        "support",
        seeded.member_ids[OLIVIA],
    )


async def test_update_member_role_and_removal(db: Database, seeded: Seeded) -> None:
    sam = seeded.member_ids[SAM]
    _, proposal = await proposed(
        db, seeded, OLIVIA, "update_member", {"member": "sam", "role": "admin"}
    )
    assert proposal["changes"] == [_change("Sam Support role", "role", "support", "admin")]
    assert (await get(db, Member, sam)).role == "support"
    await approve(db, seeded, OLIVIA, proposal["code"])
    assert (await get(db, Member, sam)).role == "admin"
    await undo(db, seeded, OLIVIA)
    assert (await get(db, Member, sam)).role == "support"

    tom = seeded.member_ids[TOM]
    _, removal = await proposed(
        db, seeded, ADAM, "update_member", {"member": "tom", "active": False}
    )
    assert removal["changes"] == [_change("Tom Baker status", "status", "active", "removed")]
    assert "remove Tom Baker" in removal["summary"]
    await approve(db, seeded, ADAM, removal["code"])
    assert (await get(db, Member, tom)).status == "removed"
    # A removed member no longer reaches the operator: the AI agent answers them as a customer.
    (answer,) = await ask(db, seeded, TOM, ("list_team", {}))
    assert "member(s)" not in answer.text and "a person on our team" in answer.text

    _, back = await proposed(
        db, seeded, ADAM, "update_member", {"member": "Tom Baker", "active": True}
    )
    assert back["changes"] == [_change("Tom Baker status", "status", "removed", "active")]
    await approve(db, seeded, ADAM, back["code"])
    assert (await get(db, Member, tom)).status == "active"


async def test_availability_and_schedule_are_proposals_and_coming_online_hands_out(
    db: Database, seeded: Seeded
) -> None:
    sam = seeded.member_ids[SAM]
    async with db.session() as session:  # the demo is Enterprise: only Sam could take work
        for member in await session.scalars(
            select(Member).where(Member.workspace_id == seeded.workspace_id)
        ):
            member.availability = "offline"
        waiting = await session.scalar(
            select(Assist).where(Assist.workspace_id == seeded.workspace_id).limit(1)
        )
        assert waiting is not None
        waiting.status, waiting.assignee_id = "open", None
        waiting_id = waiting.id
    _, proposal = await proposed(
        db, seeded, OLIVIA, "update_member", {"member": "sam", "availability": "available"}
    )
    assert "set Sam Support available" in proposal["summary"]
    assert (await get(db, Member, sam)).availability == "offline"  # nothing before approval
    await approve(db, seeded, OLIVIA, proposal["code"])
    assert (await get(db, Member, sam)).availability == "available"
    assert (await get(db, Assist, waiting_id)).assignee_id == sam  # handed out at once

    hours = {"tz": None, "days": {"mon": [["09:00", "17:00"]]}}
    _, proposal = await proposed(
        db, seeded, OLIVIA, "update_member", {"member": "sam", "work_schedule": hours}
    )
    assert "work schedule to Mon 09:00-17:00" in proposal["summary"]
    await approve(db, seeded, OLIVIA, proposal["code"])
    assert (await get(db, Member, sam)).work_schedule == hours
    text = await refused(
        db,
        seeded,
        OLIVIA,
        "update_member",
        {"member": "sam", "work_schedule": {"days": {"mon": [["17:00", "09:00"]]}}},
    )
    assert "ends before it starts" in text


async def test_last_owner_is_never_demoted(db: Database, seeded: Seeded) -> None:
    for args in ({"member": "olivia", "role": "admin"}, {"member": "me", "active": False}):
        text = await refused(db, seeded, OLIVIA, "update_member", args)
        assert text == (
            "Olivia Owner is the workspace's only owner; make someone else an owner first."
        )
    text = await refused(db, seeded, ADAM, "update_member", {"member": "olivia", "role": "admin"})
    assert text == "Only an owner can change an owner or make someone an owner."
    assert await refused(
        db, seeded, OLIVIA, "update_member", {"member": "zed", "role": "admin"}
    ) == ("I can't find a team member called zed.")
    # With a second owner, the first may step down.
    _, promote = await proposed(
        db, seeded, OLIVIA, "update_member", {"member": "adam", "role": "owner"}
    )
    await approve(db, seeded, OLIVIA, promote["code"])
    _, step_down = await proposed(
        db, seeded, OLIVIA, "update_member", {"member": "me", "role": "admin"}
    )
    assert step_down["changes"] == [_change("Olivia Owner role", "role", "owner", "admin")]


async def test_update_member_stale(db: Database, seeded: Seeded) -> None:
    _, proposal = await proposed(
        db, seeded, OLIVIA, "update_member", {"member": "sam", "role": "admin"}
    )
    await alter(db, Member, seeded.member_ids[SAM], role="manager")
    assert (await approve(db, seeded, OLIVIA, proposal["code"])).startswith("Stopped")
    assert (await get(db, Member, seeded.member_ids[SAM])).role == "manager"


async def test_cancel_invitation(db: Database, seeded: Seeded) -> None:
    invitation = Invitation(workspace_id=seeded.workspace_id, email="jo@acme.com", role="support")
    await add(db, invitation)
    _, proposal = await proposed(db, seeded, ADAM, "cancel_invitation", {"email": "jo@acme.com"})
    assert proposal["changes"] == [
        _change("invitation for jo@acme.com status", "status", "pending", "cancelled")
    ]
    assert (await get(db, Invitation, invitation.id)).status == "pending"
    await approve(db, seeded, ADAM, proposal["code"])
    assert (await get(db, Invitation, invitation.id)).status == "cancelled"
    text = await refused(db, seeded, ADAM, "cancel_invitation", {"email": "jo@acme.com"})
    assert text == "There is no pending invitation for jo@acme.com (it is cancelled)."
    await undo(db, seeded, ADAM)
    assert (await get(db, Invitation, invitation.id)).status == "pending"
    text = await refused(db, seeded, ADAM, "cancel_invitation", {"email": "no@acme.com"})
    assert text == "There is no pending invitation for no@acme.com."


async def test_cancel_invitation_stale(db: Database, seeded: Seeded) -> None:
    invitation = Invitation(workspace_id=seeded.workspace_id, email="jo@acme.com", role="support")
    await add(db, invitation)
    _, proposal = await proposed(db, seeded, ADAM, "cancel_invitation", {"email": "jo@acme.com"})
    await alter(db, Invitation, invitation.id, status="accepted")
    assert (await approve(db, seeded, ADAM, proposal["code"])).startswith("Stopped")
    assert (await get(db, Invitation, invitation.id)).status == "accepted"


# --- API keys -------------------------------------------------------------------------------------


async def test_api_key_value_never_appears_in_chat_proposals_or_logs(
    db: Database, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    replies: list[Deliverable] = []
    reply, proposal = await proposed(db, seeded, OLIVIA, "create_api_key", {"name": "zapier"})
    replies.append(reply)
    assert proposal["changes"] == [
        _change('API key "zapier"', "__row__", "—", "new key, value not yet revealed")
    ]
    row = (await planned(db, proposal))[0]["after"]
    assert row["prefix"] == PENDING_REVEAL and not row["key_hash"].startswith("sb_")
    assert "/reveal" in reply.text and "never pass through chat" in reply.text
    assert await get(db, ApiKey, row["id"]) is None

    (done,) = await ask(
        db, seeded, OLIVIA, ("approve_proposal", {"code": proposal["code"]}), at=APPROVED_AT
    )
    replies.append(done)
    assert done.text.startswith('Done: create API key "zapier"')
    key = await get(db, ApiKey, row["id"])
    assert (key.name, key.prefix, key.revoked_at) == ("zapier", PENDING_REVEAL, None)

    async with db.session() as session:
        new = await reveal_api_key(session, seeded.workspace_id, key.id, actor="apikey:admin")
    async with db.session() as session:
        assert (await directory.authenticate_api_key(session, new.secret)) is not None
    async with db.session() as session:
        with pytest.raises(directory.Conflict):
            await reveal_api_key(session, seeded.workspace_id, key.id, actor="apikey:admin")

    async with db.session() as session:
        stored: list[Any] = [r.text for r in replies] + [r.data for r in replies]
        stored += [p.changes for p in await session.scalars(select(Proposal))]
        stored += [s.before for s in await session.scalars(select(Snapshot))]
        stored += [e.details for e in await session.scalars(select(AuditEntry))]
        stored += [o.deliverable for o in await session.scalars(select(OutboxRow))]
    secret_part = new.secret[len(new.prefix) :]
    assert secret_part not in json.dumps(stored, default=str)
    assert secret_part not in caplog.text


async def test_create_api_key_refusal_undo_and_stale(db: Database, seeded: Seeded) -> None:
    async with db.session() as session:
        await directory.create_api_key(session, seeded.workspace_id, name="ci")
    text = await refused(db, seeded, OLIVIA, "create_api_key", {"name": "CI"})
    assert text.startswith('An API key called "ci" exists already')

    _, proposal = await proposed(db, seeded, OLIVIA, "create_api_key", {"name": "zapier"})
    key_id = (await planned(db, proposal))[0]["key"]
    await approve(db, seeded, OLIVIA, proposal["code"])
    assert await get(db, ApiKey, key_id) is not None
    await undo(db, seeded, OLIVIA)
    assert await get(db, ApiKey, key_id) is None

    _, again = await proposed(db, seeded, OLIVIA, "create_api_key", {"name": "make"})
    key_id = (await planned(db, again))[0]["key"]
    await add(
        db,
        ApiKey(id=key_id, workspace_id=seeded.workspace_id, prefix="x", key_hash="taken"),
    )
    assert (await approve(db, seeded, OLIVIA, again["code"])).startswith("Stopped")


async def test_revoke_api_key(db: Database, seeded: Seeded) -> None:
    async with db.session() as session:
        new = await directory.create_api_key(session, seeded.workspace_id, name="zapier")
    reply, proposal = await proposed(db, seeded, OLIVIA, "revoke_api_key", {"name": "Zapier"})
    assert proposal["changes"] == [_change('API key "zapier"', "revoked_at", "active", "revoked")]
    assert "active → revoked" in reply.text
    async with db.session() as session:
        assert await directory.authenticate_api_key(session, new.secret) is not None

    await approve(db, seeded, OLIVIA, proposal["code"])
    assert (await get(db, ApiKey, new.id)).revoked_at == APPROVED_AT  # not when it was asked
    async with db.session() as session:
        assert await directory.authenticate_api_key(session, new.secret) is None
    await undo(db, seeded, OLIVIA)
    assert (await get(db, ApiKey, new.id)).revoked_at is None
    async with db.session() as session:
        assert await directory.authenticate_api_key(session, new.secret) is not None


async def test_revoke_api_key_ambiguous_unknown_and_stale(db: Database, seeded: Seeded) -> None:
    async with db.session() as session:
        one_key = await directory.create_api_key(session, seeded.workspace_id, name="ci")
        other = await directory.create_api_key(session, seeded.workspace_id, name="ci")
    text = await refused(db, seeded, OLIVIA, "revoke_api_key", {"name": "ci"})
    assert text.startswith('Several active API keys are called "ci"') and "Which one?" in text
    assert one_key.prefix in text and other.prefix in text
    assert await refused(db, seeded, OLIVIA, "revoke_api_key", {"name": "nope"}) == (
        'There is no active API key called "nope".'
    )
    _, proposal = await proposed(db, seeded, OLIVIA, "revoke_api_key", {"name": other.prefix})
    async with db.session() as session:
        await directory.revoke_api_key(session, seeded.workspace_id, other.id, actor="api")
    assert (await approve(db, seeded, OLIVIA, proposal["code"])).startswith("Stopped")


# --- schedules ------------------------------------------------------------------------------------


def _schedules(seeded: Seeded, who: str) -> Select[Any]:
    return select(Schedule).where(
        Schedule.workspace_id == seeded.workspace_id,
        Schedule.member_id == seeded.member_ids[who],
        Schedule.active.is_(True),
    )


async def test_schedule_briefing(db: Database, seeded: Seeded) -> None:
    args = {"briefing_type": "daily_inbox_summary", "channel": "telegram"}
    reply, proposal = await proposed(db, seeded, ADAM, "schedule_briefing", args)
    (change,) = proposal["changes"]
    assert change["after"] == "daily inbox summary every day at 08:00 on telegram (UTC)"
    assert "first one is due Thu 19 Nov at 08:00 (UTC)" in reply.text
    row = (await planned(db, proposal))[0]["after"]
    assert {k: row[k] for k in ("member_id", "agent_id", "frequency", "days", "time")} == {
        "member_id": seeded.member_ids[ADAM],
        "agent_id": seeded.agent_id,
        "frequency": "daily",
        "days": [],
        "time": "08:00",
    }
    assert (row["channel"], row["address"], row["timezone"]) == ("telegram", "100200300", "UTC")
    assert await count(db, _schedules(seeded, ADAM)) == 0

    await approve(db, seeded, ADAM, proposal["code"])
    schedule = await get(db, Schedule, row["id"])
    assert (schedule.briefing_type, schedule.channel, schedule.address, schedule.active) == (
        "daily_inbox_summary",
        "telegram",
        "100200300",
        True,
    )
    await undo(db, seeded, ADAM)
    assert await get(db, Schedule, row["id"]) is None


async def test_schedule_defaults_follow_the_member(db: Database, seeded: Seeded) -> None:
    # From the web, without a default channel: email. Weekly briefings default to Mondays.
    await alter(db, Member, seeded.member_ids[ADAM], timezone="Europe/Berlin")
    reply, proposal = await proposed(
        db, seeded, ADAM, "schedule_briefing", {"briefing_type": "weekly_performance_digest"}
    )
    row = (await planned(db, proposal))[0]["after"]
    assert (row["channel"], row["address"], row["timezone"]) == ("email", ADAM, "Europe/Berlin")
    assert (row["frequency"], row["days"], row["time"]) == ("weekly", ["monday"], "08:00")
    assert "due Mon 23 Nov at 08:00 (Europe/Berlin)" in reply.text

    await alter(db, Member, seeded.member_ids[ADAM], default_channel="telegram")
    _, proposal = await proposed(
        db,
        seeded,
        ADAM,
        "schedule_briefing",
        {"briefing_type": "weekly_knowledge_gaps", "days": ["friday"], "time": "16:00"},
    )
    row = (await planned(db, proposal))[0]["after"]
    assert (row["channel"], row["frequency"], row["days"], row["time"]) == (
        "telegram",
        "weekly",
        ["friday"],
        "16:00",
    )


async def test_schedule_refusals(db: Database, seeded: Seeded) -> None:
    text = await refused(
        db, seeded, MARIA, "schedule_briefing", {"briefing_type": "monthly_roi", "channel": "slack"}
    )
    # Maria is a manager: the operator refuses before anything else.
    assert text.startswith("I can't do that for you.")
    text = await refused(
        db, seeded, ADAM, "schedule_briefing", {"briefing_type": "monthly_roi", "channel": "slack"}
    )
    assert text.startswith("I don't know your slack address")
    text = await refused(
        db,
        seeded,
        ADAM,
        "schedule_briefing",
        {"briefing_type": "monthly_roi", "channel": "sms", "address": "12"},
    )
    assert text.startswith("I can't send briefings there:")
    text = await refused(
        db,
        seeded,
        ADAM,
        "schedule_briefing",
        {"briefing_type": "monthly_roi", "frequency": "daily", "days": ["monday"]},
    )
    assert text == "Days go with weekly briefings, not daily ones."


async def _fill_schedules(db: Database, seeded: Seeded, up_to: int, who: str = ADAM) -> int:
    taken = await count(
        db,
        select(Schedule).where(
            Schedule.workspace_id == seeded.workspace_id,
            Schedule.active.is_(True),
            Schedule.one_off_at.is_(None),
        ),
    )
    rows = [
        Schedule(
            workspace_id=seeded.workspace_id,
            member_id=seeded.member_ids[who],
            agent_id=seeded.agent_id,
            briefing_type="daily_inbox_summary",
            time=f"{n % 24:02d}:00",
            channel="email",
            address=who,
        )
        for n in range(up_to - taken)
    ]
    await add(db, *rows)
    return rows[0].id if rows else 0


async def test_schedule_quota_on_pro(db: Database) -> None:
    async with db.session() as session:
        seeded = await seed_workspace(session, name="Pro Co", plan="pro", now=NOW)
    first = await _fill_schedules(db, seeded, 10)
    text = await refused(db, seeded, ADAM, "schedule_briefing", {"briefing_type": "monthly_roi"})
    assert text.startswith(
        "Your Pro plan allows 10 recurring briefings per AI agent and 10 are active."
    )
    assert f'"cancel schedule {first}"' in text and "upgrade to Enterprise" in text
    # A one-off or stopped briefing does not count: free a slot and it fits again.
    await alter(db, Schedule, first, active=False)
    await proposed(db, seeded, ADAM, "schedule_briefing", {"briefing_type": "monthly_roi"})


async def test_schedule_quota_on_enterprise_is_unlimited(db: Database, seeded: Seeded) -> None:
    await _fill_schedules(db, seeded, 25)
    await proposed(db, seeded, ADAM, "schedule_briefing", {"briefing_type": "monthly_roi"})


async def test_schedule_quota_on_plus(db: Database) -> None:
    # The operator is not offered on Plus, but the quota holds wherever a schedule is drafted.
    async with db.session() as session:
        seeded = await seed_workspace(session, name="Plus Co", plan="plus", now=NOW)
    await _fill_schedules(db, seeded, 3, who=OLIVIA)
    member = seeded.member_ids[ADAM]
    who = Principal(seeded.workspace_id, "Plus Co", "plus", "UTC", member, "Adam Admin", "admin")
    async with db.session() as session:
        ctx = ToolContext(session, who, _task(seeded, member, NOW), NOW, REGISTRY)
        (answer,) = await schedule_briefing(
            ctx, a.ScheduleBriefingArgs(briefing_type="monthly_roi")
        )
    assert answer.text.startswith(
        "Your Plus plan allows 3 recurring briefings per AI agent and 3 are active. They belong "
        "to teammates"
    )
    assert "upgrade to Pro (10) or Enterprise (unlimited)" in answer.text


async def _adam_schedules(db: Database, seeded: Seeded) -> tuple[int, int]:
    daily = Schedule(
        workspace_id=seeded.workspace_id,
        member_id=seeded.member_ids[ADAM],
        briefing_type="daily_inbox_summary",
        time="08:00",
        channel="email",
        address=ADAM,
    )
    gaps = Schedule(
        workspace_id=seeded.workspace_id,
        member_id=seeded.member_ids[ADAM],
        briefing_type="weekly_knowledge_gaps",
        frequency="weekly",
        days=["friday"],
        time="16:00",
        channel="telegram",
        address="100200300",
    )
    await add(db, daily, gaps)
    return daily.id, gaps.id


async def test_update_schedule(db: Database, seeded: Seeded) -> None:
    daily, _ = await _adam_schedules(db, seeded)
    args = {"briefing_type": "daily_inbox_summary", "time": "09:30", "channel": "telegram"}
    _, proposal = await proposed(db, seeded, ADAM, "update_schedule", args)
    label = f"schedule {daily} (daily inbox summary)"
    assert proposal["changes"] == [
        _change(f"{label} time", "time", "08:00", "09:30"),
        _change(f"{label} channel", "channel", "email", "telegram"),
        _change(f"{label} address", "address", ADAM, "100200300"),
    ]
    assert (await get(db, Schedule, daily)).time == "08:00"
    await approve(db, seeded, ADAM, proposal["code"])
    row = await get(db, Schedule, daily)
    assert (row.time, row.channel, row.address) == ("09:30", "telegram", "100200300")
    await undo(db, seeded, ADAM)
    row = await get(db, Schedule, daily)
    assert (row.time, row.channel, row.address) == ("08:00", "email", ADAM)

    _, weekly = await proposed(
        db, seeded, ADAM, "update_schedule", {"schedule_id": daily, "days": ["tuesday"]}
    )
    assert [(c["field"], c["before"], c["after"]) for c in weekly["changes"]] == [
        ("frequency", "daily", "weekly"),
        ("days", [], ["tuesday"]),
    ]


async def test_update_schedule_asks_when_ambiguous_and_only_touches_own(
    db: Database, seeded: Seeded
) -> None:
    daily, gaps = await _adam_schedules(db, seeded)
    text = await refused(db, seeded, ADAM, "update_schedule", {"time": "10:00"})
    assert text.startswith("Which one do you mean?")
    assert f"schedule {daily}:" in text and f"schedule {gaps}:" in text
    text = await refused(
        db, seeded, OLIVIA, "update_schedule", {"schedule_id": daily, "time": "10:00"}
    )
    assert text == f"You have no active schedule {daily}."
    text = await refused(
        db, seeded, ADAM, "update_schedule", {"schedule_id": daily, "time": "08:00"}
    )
    assert text == f"Schedule {daily} already runs like that."


async def test_update_schedule_stale(db: Database, seeded: Seeded) -> None:
    daily, _ = await _adam_schedules(db, seeded)
    _, proposal = await proposed(
        db, seeded, ADAM, "update_schedule", {"schedule_id": daily, "time": "09:30"}
    )
    await alter(db, Schedule, daily, time="07:00")
    assert (await approve(db, seeded, ADAM, proposal["code"])).startswith("Stopped")
    assert (await get(db, Schedule, daily)).time == "07:00"


async def test_cancel_schedule(db: Database, seeded: Seeded) -> None:
    _, gaps = await _adam_schedules(db, seeded)
    _, proposal = await proposed(
        db, seeded, ADAM, "cancel_schedule", {"briefing_type": "weekly_knowledge_gaps"}
    )
    assert proposal["changes"] == [_change(f"schedule {gaps}", "active", "active", "stopped")]
    assert "every Friday at 16:00 on telegram" in proposal["summary"]
    assert (await get(db, Schedule, gaps)).active is True
    await approve(db, seeded, ADAM, proposal["code"])
    assert (await get(db, Schedule, gaps)).active is False
    await undo(db, seeded, ADAM)
    assert (await get(db, Schedule, gaps)).active is True

    text = await refused(db, seeded, ADAM, "cancel_schedule", {"schedule_id": 99999})
    assert text == "You have no active schedule 99999."
    _, again = await proposed(db, seeded, ADAM, "cancel_schedule", {"schedule_id": gaps})
    await alter(db, Schedule, gaps, active=False)
    assert (await approve(db, seeded, ADAM, again["code"])).startswith("Stopped")


async def test_new_schedule_stale_when_its_id_got_taken(db: Database, seeded: Seeded) -> None:
    _, proposal = await proposed(
        db, seeded, ADAM, "schedule_briefing", {"briefing_type": "monthly_roi"}
    )
    row = (await planned(db, proposal))[0]["after"]
    await add(
        db,
        Schedule(
            id=row["id"],
            workspace_id=seeded.workspace_id,
            member_id=seeded.member_ids[OLIVIA],
            briefing_type="daily_inbox_summary",
        ),
    )
    assert (await approve(db, seeded, ADAM, proposal["code"])).startswith("Stopped")
    assert (await get(db, Schedule, row["id"])).member_id == seeded.member_ids[OLIVIA]


# --- integrations, imports, broadcasts ------------------------------------------------------------


def _integration(seeded: Seeded, name: str) -> Select[Any]:
    return select(Integration).where(
        Integration.workspace_id == seeded.workspace_id, Integration.name == name
    )


async def test_toggle_integration(db: Database, seeded: Seeded) -> None:
    zendesk = await one(db, _integration(seeded, "zendesk"))
    reply, proposal = await proposed(
        db, seeded, OLIVIA, "toggle_integration", {"integration": "Zendesk", "enabled": True}
    )
    assert proposal["changes"][0] == _change("zendesk", "enabled", "off", "on")
    assert "off → on" in reply.text
    assert (await get(db, Integration, zendesk.id)).enabled is False
    await approve(db, seeded, OLIVIA, proposal["code"])
    assert (await get(db, Integration, zendesk.id)).enabled is True
    await undo(db, seeded, OLIVIA)
    back = await get(db, Integration, zendesk.id)
    assert (back.enabled, back.updated_at) == (False, zendesk.updated_at)

    text = await refused(
        db, seeded, OLIVIA, "toggle_integration", {"integration": "slack", "enabled": True}
    )
    assert text == "slack is already on."
    text = await refused(
        db, seeded, OLIVIA, "toggle_integration", {"integration": "myspace", "enabled": True}
    )
    assert text.startswith("I don't know an integration called myspace.")


async def test_toggle_creates_a_missing_integration(db: Database, seeded: Seeded) -> None:
    reply, proposal = await proposed(
        db, seeded, OLIVIA, "toggle_integration", {"integration": "twilio", "enabled": False}
    )
    assert proposal["changes"] == [_change("twilio", "__row__", "—", "off")]
    # Credentials go through the console's form (its path: no PUBLIC_BASE_URL here).
    assert "Integrations page (/console/integrations), never in chat" in reply.text
    assert "dashboard" not in reply.text
    assert await count(db, _integration(seeded, "twilio")) == 0
    await approve(db, seeded, OLIVIA, proposal["code"])
    assert (await one(db, _integration(seeded, "twilio"))).enabled is False
    await undo(db, seeded, OLIVIA)
    assert await count(db, _integration(seeded, "twilio")) == 0


async def test_toggle_integration_stale(db: Database, seeded: Seeded) -> None:
    zendesk = await one(db, _integration(seeded, "zendesk"))
    _, proposal = await proposed(
        db, seeded, OLIVIA, "toggle_integration", {"integration": "zendesk", "enabled": True}
    )
    await alter(db, Integration, zendesk.id, enabled=True)
    assert (await approve(db, seeded, OLIVIA, proposal["code"])).startswith("Stopped")


async def _connect(seeded: Seeded, db: Database, provider: str, label: str) -> str:
    async with db.session() as session:
        account = await accounts.connect(
            session,
            Vault("the tests' secret"),
            seeded.workspace_id,
            provider=provider,
            label=label,
            credentials={
                "zendesk": {"subdomain": "acme", "email": "ops@acme.example", "api_token": "t"},
            }[provider],
            actor="test",
            now=NOW,
        )
        return account.id


async def test_run_import(db: Database, seeded: Seeded) -> None:
    args = {"source": "Zendesk", "records": "tickets", "status": "open"}
    text = await refused(db, seeded, OLIVIA, "run_import", args)
    assert text.startswith("Zendesk is not connected. Connect it on the console's Integrations")
    account_id = await _connect(seeded, db, "zendesk", "Acme EU")

    reply, proposal = await proposed(db, seeded, OLIVIA, "run_import", args)
    assert proposal["changes"] == [
        _change("Acme EU import", "__row__", "—", "queued: open and pending tickets")
    ]
    run = (await planned(db, proposal))[0]["after"]
    assert (run["account_id"], run["status"]) == (account_id, "queued")
    assert "console's Integrations page" in reply.text and '"Acme EU"' in reply.text
    assert run["id"] not in reply.text  # no raw ids in what a person reads
    assert await count(db, select(ImportRun)) == 0  # nothing starts before approval

    await approve(db, seeded, OLIVIA, proposal["code"])
    started = await get(db, ImportRun, run["id"])
    assert (started.status, started.account_id, started.imported) == ("queued", account_id, 0)
    text = await refused(db, seeded, OLIVIA, "run_import", args)
    assert text.startswith("An import from Acme EU is already queued: 0 imported, 0 skipped")
    assert run["id"] not in text and "Integrations page" in text

    text = await refused(db, seeded, OLIVIA, "run_import", {"source": "myspace"})
    assert text == (
        "I can't import from myspace; sources: freshdesk, happyfox, helpscout, intercom, zendesk."
    )
    text = await refused(
        db, seeded, OLIVIA, "run_import", {"source": "zendesk", "records": "articles"}
    )
    assert "open and pending tickets" in text


async def test_run_import_stale(db: Database, seeded: Seeded) -> None:
    account_id = await _connect(seeded, db, "zendesk", "Acme EU")
    _, first = await proposed(db, seeded, OLIVIA, "run_import", {"source": "zendesk"})
    _, second = await proposed(db, seeded, OLIVIA, "run_import", {"source": "zendesk"})
    assert (await approve(db, seeded, OLIVIA, first["code"])).startswith("Done")
    # Two proposals approved one after the other start one run.
    assert (await approve(db, seeded, OLIVIA, second["code"])).startswith(
        "Stopped, nothing was changed: an import from that account is already going"
    )
    assert await count(db, select(ImportRun).where(ImportRun.account_id == account_id)) == 1


async def _emails(db: Database, seeded: Seeded, recent_only: bool) -> set[str]:
    async with db.session() as session:
        customers = {
            c.id: c.email
            for c in await session.scalars(
                select(Customer).where(Customer.workspace_id == seeded.workspace_id)
            )
            if c.email
        }
        if not recent_only:
            return {e.lower() for e in customers.values()}
        since = NOW - timedelta(hours=24)
        recent = {
            c.customer_id
            for c in await session.scalars(
                select(Conversation).where(Conversation.workspace_id == seeded.workspace_id)
            )
            if c.started_at >= since or (c.ended_at is not None and c.ended_at >= since)
        }
        return {customers[i].lower() for i in recent if i in customers}


async def test_send_broadcast(db: Database, seeded: Seeded) -> None:
    await add(db, Customer(workspace_id=seeded.workspace_id, name="No Email"))
    expected = await _emails(db, seeded, recent_only=False)
    reply, proposal = await proposed(
        db, seeded, OLIVIA, "send_broadcast", {"message": "Maintenance tonight at 10pm."}
    )
    assert proposal["estimated_count"] == len(expected)
    assert f"email {len(expected)} customer(s) (all customers)" in reply.text
    assert "cannot be undone" in reply.text
    sent = select(OutboxRow).where(OutboxRow.channel == "email")
    assert await count(db, sent) == 0

    await approve(db, seeded, OLIVIA, proposal["code"])
    async with db.session() as session:
        rows = list(await session.scalars(sent))
    assert {r.address for r in rows} == expected and len(rows) == len(expected)
    assert {r.deliverable["text"] for r in rows} == {"Maintenance tonight at 10pm."}
    assert "cannot be undone" in await undo(db, seeded, OLIVIA)
    assert await count(db, sent) == len(expected)


async def test_broadcast_audience_channel_and_cap(db: Database, seeded: Seeded) -> None:
    expected = await _emails(db, seeded, recent_only=True)
    assert expected  # the seed has recent conversations
    _, proposal = await proposed(
        db,
        seeded,
        OLIVIA,
        "send_broadcast",
        {"message": "We are back.", "audience": "active_conversations"},
    )
    assert proposal["estimated_count"] == len(expected)
    text = await refused(db, seeded, OLIVIA, "send_broadcast", {"message": "Hi", "channel": "sms"})
    assert text.startswith("Broadcasts go by email only")

    await add(
        db,
        *(
            Customer(workspace_id=seeded.workspace_id, email=f"bulk{n}@mail.example")
            for n in range(1001)
        ),
    )
    total = len(await _emails(db, seeded, recent_only=False))
    text = await refused(db, seeded, OLIVIA, "send_broadcast", {"message": "Hi"})
    assert text.startswith(f"That would email {total} customers (all customers)")
    assert "at most 1000" in text


async def test_quota_holds_when_two_pending_schedules_race(db: Database) -> None:
    async with db.session() as session:
        seeded = await seed_workspace(session, name="Race Co", plan="pro", now=NOW)
    await _fill_schedules(db, seeded, 9)
    # Both drafts see 9 of 10 slots taken, so both are proposed...
    _, first = await proposed(
        db, seeded, ADAM, "schedule_briefing", {"briefing_type": "monthly_roi"}
    )
    _, second = await proposed(
        db, seeded, ADAM, "schedule_briefing", {"briefing_type": "weekly_knowledge_gaps"}
    )
    assert (await approve(db, seeded, ADAM, first["code"])).startswith("Done:")
    # ...but the quota is checked again at execution: the second one stops, nothing changes.
    text = await approve(db, seeded, ADAM, second["code"])
    assert text.startswith("Stopped, nothing was changed: the pro plan allows 10 recurring")
    active = select(Schedule).where(
        Schedule.workspace_id == seeded.workspace_id,
        Schedule.active.is_(True),
        Schedule.one_off_at.is_(None),
    )
    assert await count(db, active) == 10


async def test_last_owner_holds_when_two_demotions_race(db: Database, seeded: Seeded) -> None:
    await alter(db, Member, seeded.member_ids[ADAM], role="owner")
    _, one = await proposed(
        db, seeded, OLIVIA, "update_member", {"member": "adam", "role": "admin"}
    )
    _, two = await proposed(
        db, seeded, OLIVIA, "update_member", {"member": "olivia", "role": "admin"}
    )
    assert (await approve(db, seeded, OLIVIA, one["code"])).startswith("Done:")
    text = await approve(db, seeded, OLIVIA, two["code"])
    assert text == (
        "Stopped, nothing was changed: the workspace would be left without an active owner."
    )
    owners = select(Member).where(
        Member.workspace_id == seeded.workspace_id, Member.role == "owner"
    )
    assert await count(db, owners) == 1
