"""Working an escalated assist with the operator's tools: the suggested reply sent (refined on
request), the resolution kept on closing and recalled, previous assists shown, and the
resolution turned into training data without personal data, answerable at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from cli.seed import Seeded, seed_workspace
from core.processing.pipeline import TaskProcessor
from core.team.identity import Principal
from core.tools.catalogue import default_registry
from models.classification import Classification, ToolCall
from models.deliverable import Deliverable
from models.task import Route, Sender, Task
from storage.db import Database
from storage.domain import Assist, AssistEvent, QaPair
from storage.models import OutboxRow
from storage.types import new_id
from tests.core.test_escalation import PHONE, _processor, say

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
OLIVIA = "olivia@demo.example"


class Scripted:
    def __init__(self, tool: str, args: dict[str, Any]) -> None:
        self.call = ToolCall(tool=tool, args=args)

    async def classify(self, text: str, principal: Principal, now: Any) -> Classification:
        return Classification(calls=(self.call,))


async def _seeded(db: Database) -> Seeded:
    async with db.session() as session:
        return await seed_workspace(session, now=NOW - timedelta(days=1))


async def ask(
    db: Database, seeded: Seeded, tool: str, args: dict[str, Any], at: datetime = NOW
) -> list[Deliverable]:
    """Olivia (owner) asks for TOOL through the pipeline's processor."""
    member = seeded.member_ids[OLIVIA]
    task = Task(
        id=new_id(),
        workspace_id=seeded.workspace_id,
        channel="web",
        external_id=new_id(),
        sender=Sender(channel="web", address=member),
        conversation="c",
        text="…",
        received_at=at,
        reply_route=Route(channel="web", address=member),
    )
    async with db.session() as session:
        outcome = await TaskProcessor(Scripted(tool, args), default_registry()).process(
            session, task, at
        )
    return outcome.deliverables


async def approve(db: Database, seeded: Seeded, proposal: Deliverable) -> str:
    code = proposal.data["proposal"]["code"]
    (done,) = await ask(db, seeded, "approve_proposal", {"code": code})
    assert done.text.startswith("Done:"), done.text
    return done.text


async def _assist(db: Database, number: int) -> Assist:
    async with db.session() as session:
        row = await session.scalar(select(Assist).where(Assist.number == number))
        assert row is not None
        return row


async def _emails(db: Database) -> list[OutboxRow]:
    async with db.session() as session:
        return list(
            await session.scalars(
                select(OutboxRow).where(OutboxRow.channel == "email").order_by(OutboxRow.seq)
            )
        )


async def test_reply_without_text_sends_the_suggested_reply(db: Database) -> None:
    seeded = await _seeded(db)
    assist = await _assist(db, 1040)
    assert assist.suggested_reply

    (proposal,) = await ask(db, seeded, "reply_to_assist", {"assist": "A-1040"})

    assert proposal.kind == "proposal"
    assert f"It reads:\n{assist.suggested_reply}" in proposal.text
    assert await _emails(db) == []
    await approve(db, seeded, proposal)
    (email,) = await _emails(db)
    assert email.address == assist.customer_details["email"]
    assert email.deliverable["text"] == assist.suggested_reply
    assert email.deliverable["title"].endswith("[A-1040]")


async def test_reply_refined_on_request_updates_the_suggestion(db: Database) -> None:
    seeded = await _seeded(db)
    before = (await _assist(db, 1041)).suggested_reply
    assert before is not None and before.startswith("Hi ")

    (proposal,) = await ask(db, seeded, "reply_to_assist", {"assist": "A-1041", "refine": "formal"})
    labels = [c["label"] for c in proposal.data["proposal"]["changes"]]
    assert "A-1041 suggested reply" in labels
    await approve(db, seeded, proposal)

    after = await _assist(db, 1041)
    assert after.suggested_reply is not None and after.suggested_reply.startswith("Dear ")
    assert after.suggested_reply == "Dear Customer 2, thank you for your patience: we are on it."
    (email,) = await _emails(db)
    assert email.deliverable["text"] == after.suggested_reply


async def test_an_escalation_closed_becomes_training_without_personal_data(
    db: Database,
) -> None:
    seeded = await _seeded(db)
    processor = _processor()
    question = (
        "Hi, I'm Jane Roe. My order #48213 was charged twice to card 4111 1111 1111 1111 and "
        "the parcel went to 221 Baker Street, Springfield, IL 62704. Call +1 (555) 010-0001. "
        "I need to talk to a person about a refund"
    )
    await say(db, seeded, question, processor=processor)
    await say(db, seeded, "Jane Roe", processor=processor)
    await say(db, seeded, "jane.roe@example.com", processor=processor)
    await say(db, seeded, "confirm", processor=processor)
    async with db.session() as session:
        assist = await session.scalar(select(Assist).order_by(Assist.number.desc()).limit(1))
        assert assist is not None and assist.customer_details["phone"] == PHONE
        session.add(
            AssistEvent(
                workspace_id=seeded.workspace_id,
                assist_id=assist.id,
                kind="reply",
                author="Maria Lopez",
                body="Hi Jane, we refunded the double charge on order #48213 to your card "
                "ending in 1111; reach us at +1 (555) 010-0002 or jane.roe@example.com if it "
                "has not arrived in 5-7 days.",
                created_at=NOW + timedelta(minutes=5),
            )
        )
        ref = assist.ref

    (close,) = await ask(db, seeded, "close_assist", {"assist": ref}, at=NOW + timedelta(hours=1))
    assert f"promote {ref} to training" in close.text
    await approve(db, seeded, close)
    closed = await _assist(db, int(ref[2:]))
    assert closed.resolution is not None
    assert closed.resolution.startswith("Hi Jane, we refunded the double charge")

    (shown,) = await ask(db, seeded, "show_assist", {"assist": ref})
    assert f"Resolution: {closed.resolution}" in shown.text

    (promote,) = await ask(db, seeded, "promote_assist_to_training", {"assist": ref})
    await approve(db, seeded, promote)
    async with db.session() as session:
        (pair,) = await session.scalars(select(QaPair).where(QaPair.source == f"assist:{ref}"))
    learned = f"{pair.question}\n{pair.answer}"
    for personal in (
        "Jane",
        "Roe",
        "48213",
        "4111",
        "ending in 1111",
        "221 Baker",
        "Springfield",
        "62704",
        "555",
        "jane.roe@",
    ):
        assert personal not in learned, personal
    for placeholder in ("[name]", "[order number]", "[card number]", "[address]", "[phone]"):
        assert placeholder in learned, placeholder
    assert "[email]" in pair.answer
    assert "Jane Roe" not in pair.question and "jane.roe@example.com" not in pair.question
    # Only the customer's own words: not the name and email typed when asked.
    assert pair.question.startswith("Hi, I'm [name]. My order [order number] was charged twice")

    # Another customer asks much the same: the AI agent answers from it at once.
    (answer,) = await say(
        db,
        seeded,
        "My order was charged twice to my card and I need a refund",
        processor=processor,
        address="+15557770009",
    )
    assert answer == pair.answer


async def test_show_assist_lists_the_customers_previous_assists(db: Database) -> None:
    seeded = await _seeded(db)
    first = await _assist(db, 1040)
    async with db.session() as session:
        session.add(
            Assist(
                workspace_id=seeded.workspace_id,
                number=2001,
                status="closed",
                subject="Wrong size delivered",
                customer_id=first.customer_id,
                resolution="Exchanged for a medium.",
                created_at=NOW - timedelta(days=30),
                updated_at=NOW - timedelta(days=29),
                closed_at=NOW - timedelta(days=29),
            )
        )

    (card,) = await ask(db, seeded, "show_assist", {"assist": "A-1040"})

    assert "Previous assists of this customer:\n- A-2001 (closed, " in card.text
    assert "Wrong size delivered — resolved: Exchanged for a medium." in card.text
    (other,) = await ask(db, seeded, "show_assist", {"assist": "A-1041"})
    assert "Previous assists" not in other.text
