"""Invitations that are sent: an approved invite_member emails a single-use acceptance link in
the approval's transaction, exactly once; cancelling (or undoing) makes the link stop working."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cli.seed import Seeded, seed_workspace
from config import Settings
from core.assists.desk import CustomerDesk
from core.processing.pipeline import TaskProcessor
from core.team.identity import Principal
from core.team.invitations import accept_invitation, open_invitation
from core.tools.catalogue import build_registry
from models.classification import Classification, ToolCall
from models.deliverable import Deliverable
from models.task import Route, Sender, Task
from storage.db import Database
from storage.domain import Invitation
from storage.models import AuditEntry, Member, OutboxRow
from storage.types import new_id
from tests.conftest import make_settings

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
ADAM, OLIVIA = "adam@demo.example", "olivia@demo.example"
LINK = re.compile(r"(\S+)/console/invitations/(\S+)")


class Scripted:
    def __init__(self, *calls: tuple[str, dict[str, Any]]) -> None:
        self.calls = calls

    async def classify(self, text: str, principal: Principal, now: Any) -> Classification:
        return Classification(calls=tuple(ToolCall(tool=t, args=a) for t, a in self.calls))


@pytest.fixture
async def seeded(db: Database) -> Seeded:
    async with db.session() as session:
        return await seed_workspace(session, now=NOW, conversations=0)


async def ask(
    db: Database,
    seeded: Seeded,
    who: str,
    tool: str,
    args: dict[str, Any],
    *,
    at: datetime,
    desk: CustomerDesk | None = None,
) -> Deliverable:
    member_id = seeded.member_ids[who]
    task = Task(
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
    processor = TaskProcessor(Scripted((tool, args)), build_registry(), None, desk)
    async with db.session() as session:
        outcome = await processor.process(session, task, at)
    (reply,) = outcome.deliverables
    return reply


async def invite_and_approve(
    db: Database, seeded: Seeded, email: str, *, desk: CustomerDesk | None = None, **args: Any
) -> tuple[str, Deliverable]:
    """The proposal's code and the approval's reply."""
    asked = {"email": email, **args}
    proposal = await ask(db, seeded, ADAM, "invite_member", asked, at=NOW, desk=desk)
    assert proposal.kind == "proposal", proposal.text
    assert f"Once approved, {email} is emailed a link to join" in proposal.text
    code = proposal.data["proposal"]["code"]
    at = NOW + timedelta(seconds=5)
    return code, await ask(db, seeded, ADAM, "approve_proposal", {"code": code}, at=at, desk=desk)


async def emails_to(db: Database, address: str) -> list[dict[str, Any]]:
    async with db.session() as session:
        rows = await session.scalars(
            select(OutboxRow)
            .where(OutboxRow.address == address, OutboxRow.channel == "email")
            .order_by(OutboxRow.created_at, OutboxRow.id)
        )
        return [row.deliverable for row in rows]


def link_in(email: dict[str, Any]) -> tuple[str, str]:
    found = LINK.search(email["text"])
    assert found is not None, email["text"]
    return found.group(1), found.group(2)


async def opens(db: Database, token: str, at: datetime = NOW) -> bool:
    async with db.session() as session:
        return await open_invitation(session, token, now=at) is not None


async def test_an_approved_invitation_is_emailed_once_and_can_be_accepted(
    db: Database, seeded: Seeded
) -> None:
    assert await emails_to(db, "jo@acme.com") == []
    code, done = await invite_and_approve(db, seeded, "jo@acme.com", role="manager", name="Jo")
    assert done.text.startswith("Done: invite jo@acme.com as manager")
    (email,) = await emails_to(db, "jo@acme.com")
    assert email["title"] == "Join Demo Co on Switchboard"
    assert "Adam Admin invited you to join Demo Co on Switchboard as manager." in email["text"]
    # Without the gateway's settings (no mailer), links point at the default listening address.
    base, token = link_in(email)
    assert base == "http://127.0.0.1:8080"

    # A second approval of the same proposal sends nothing more.
    at = NOW + timedelta(seconds=9)
    again = await ask(db, seeded, ADAM, "approve_proposal", {"code": code}, at=at)
    assert "already approved" in again.text
    assert len(await emails_to(db, "jo@acme.com")) == 1
    async with db.session() as session:
        sent = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "invitation.send")
        )
        assert sent is not None and sent.target == "jo@acme.com"
        assert sent.actor == f"member:{seeded.member_ids[ADAM]}"

    assert await opens(db, token, NOW + timedelta(days=6))
    assert not await opens(db, token, NOW + timedelta(days=8))  # it expires
    async with db.session() as session:
        member = await accept_invitation(
            session, token, name="Jo Park", password="a long enough pass", now=NOW
        )
    assert (member.name, member.role, member.status) == ("Jo Park", "manager", "active")
    assert not await opens(db, token)  # single use


async def test_links_point_at_the_gateways_console(db: Database, seeded: Seeded) -> None:
    settings: Settings = make_settings(db.url, PUBLIC_BASE_URL="https://gw.example")
    await invite_and_approve(db, seeded, "jo@acme.com", desk=CustomerDesk.from_settings(settings))
    base, token = link_in((await emails_to(db, "jo@acme.com"))[0])
    assert base == "https://gw.example"
    assert await opens(db, token)


async def test_cancelling_makes_the_emailed_link_stop_working(db: Database, seeded: Seeded) -> None:
    await invite_and_approve(db, seeded, "jo@acme.com")
    _, token = link_in((await emails_to(db, "jo@acme.com"))[0])
    later = NOW + timedelta(minutes=5)
    cancel = {"email": "jo@acme.com"}
    proposal = await ask(db, seeded, OLIVIA, "cancel_invitation", cancel, at=later)
    assert await opens(db, token)  # nothing happens before approval
    code = proposal.data["proposal"]["code"]
    done = await ask(db, seeded, OLIVIA, "approve_proposal", {"code": code}, at=later)
    assert done.text.startswith("Done: cancel the invitation for jo@acme.com")
    assert not await opens(db, token)
    async with db.session() as session:
        with pytest.raises(ValueError, match="expired, was used, or was cancelled"):
            await accept_invitation(
                session, token, name="Jo", password="a long enough pass", now=later
            )
    assert len(await emails_to(db, "jo@acme.com")) == 1  # cancelling emails nobody

    # Undoing the cancellation re-opens the invitation with a fresh link (the old one stays dead).
    undone = await ask(db, seeded, OLIVIA, "undo_last", {}, at=later + timedelta(seconds=10))
    assert undone.text.startswith("Undone")
    emails = await emails_to(db, "jo@acme.com")
    assert len(emails) == 2
    _, fresh = link_in(emails[1])
    assert await opens(db, fresh, later) and not await opens(db, token, later)


async def test_a_renewed_invitation_gets_a_new_link_and_undo_withdraws_it(
    db: Database, seeded: Seeded
) -> None:
    async with db.session() as session:
        session.add(
            Invitation(
                workspace_id=seeded.workspace_id,
                email="jo@acme.com",
                role="support",
                status="cancelled",
                invited_by=seeded.member_ids[OLIVIA],
            )
        )
    _, done = await invite_and_approve(db, seeded, "jo@acme.com", role="admin")
    assert done.text.startswith("Done:")
    (email,) = await emails_to(db, "jo@acme.com")
    assert "as admin" in email["text"]
    _, token = link_in(email)
    assert await opens(db, token)
    undone = await ask(db, seeded, ADAM, "undo_last", {}, at=NOW + timedelta(seconds=15))
    assert undone.text.startswith("Undone")
    assert not await opens(db, token)
    assert len(await emails_to(db, "jo@acme.com")) == 1


async def test_undoing_an_invitation_withdraws_its_link(db: Database, seeded: Seeded) -> None:
    await invite_and_approve(db, seeded, "jo@acme.com")
    _, token = link_in((await emails_to(db, "jo@acme.com"))[0])
    undone = await ask(db, seeded, ADAM, "undo_last", {}, at=NOW + timedelta(seconds=15))
    assert undone.text.startswith("Undone")
    assert not await opens(db, token)
    async with db.session() as session:
        assert await session.scalar(select(Member).where(Member.email == "jo@acme.com")) is None
