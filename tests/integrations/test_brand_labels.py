"""A line's or a help desk's brand label joins the inbox's labels case-insensitively: the
voicemails of the line "Billing Line" carry the workspace's existing "billing line", and so do
the tickets imported from an account labelled "BILLING LINE"; another workspace's spelling is
never borrowed, and a label the inbox does not have yet is used as the account spells it."""

from __future__ import annotations

from sqlalchemy import select

from core.assists.records import create_assist
from core.integrations.importers import Message, Ticket
from core.integrations.imports import import_ticket
from core.integrations.labels import inbox_label
from core.integrations.voicemail import LineVoicemail, record_voicemail
from storage.db import Database
from storage.domain import Assist
from storage.integrations import IntegrationAccount
from storage.types import utcnow
from tests.factories import make_workspace


async def _workspace_with_label(db: Database, label: str | None) -> str:
    async with db.session() as session:
        workspace = await make_workspace(session)
        if label is not None:
            await create_assist(
                session,
                workspace_id=workspace.id,
                subject="An invoice question",
                summary="Asked about an invoice",
                labels=["vip", label],
            )
        return workspace.id


async def _account(db: Database, workspace_id: str, provider: str, label: str) -> str:
    async with db.session() as session:
        account = IntegrationAccount(
            workspace_id=workspace_id,
            provider=provider,
            label=label,
            enabled=True,
            credentials="not opened by these tests",
            masked={},
            state={},
        )
        session.add(account)
        await session.flush()
        return account.id


async def _voicemail(db: Database, account_id: str, key: str) -> list[str]:
    async with db.session() as session:
        account = await session.get(IntegrationAccount, account_id)
        assert account is not None
        assist, opened = await record_voicemail(
            session,
            account,
            LineVoicemail(key=key, part="recording", caller="+15550001111", recording_url="x"),
            now=utcnow(),
        )
        assert assist is not None and opened
        return list(assist.labels)


async def _labels(db: Database, workspace_id: str) -> list[list[str]]:
    async with db.session() as session:
        rows = await session.scalars(
            select(Assist.labels).where(Assist.workspace_id == workspace_id).order_by(Assist.number)
        )
        return [list(r) for r in rows]


async def test_a_line_reuses_the_inbox_label_in_other_case(db: Database) -> None:
    workspace_id = await _workspace_with_label(db, "billing line")
    line = await _account(db, workspace_id, "twilio", "Billing Line")
    assert await _voicemail(db, line, "CA1") == ["billing line"]
    assert await _voicemail(db, line, "CA2") == ["billing line"]
    # The inbox has one spelling of the label, on all three assists.
    assert [labels[-1] for labels in await _labels(db, workspace_id)] == ["billing line"] * 3


async def test_an_import_reuses_the_inbox_label_in_other_case(db: Database) -> None:
    workspace_id = await _workspace_with_label(db, "billing line")
    desk = await _account(db, workspace_id, "zendesk", "BILLING  LINE")
    ticket = Ticket(
        source_id="101",
        subject="Refund",
        status="open",
        created_at="2026-01-02T03:04:05Z",
        customer_email="ana@example.com",
        messages=[Message(author="customer", text="Refund please", at="2026-01-02T03:04:05Z")],
    )
    async with db.session() as session:
        account = await session.get(IntegrationAccount, desk)
        assert account is not None
        assist = await import_ticket(session, account, ticket, utcnow())
        assert assist.labels == ["billing line"]


async def test_a_new_label_is_kept_as_spelt_and_workspaces_stay_apart(db: Database) -> None:
    elsewhere = await _workspace_with_label(db, "billing line")
    workspace_id = await _workspace_with_label(db, None)
    line = await _account(db, workspace_id, "twilio", "Billing Line")
    assert await _voicemail(db, line, "CA1") == ["Billing Line"]
    # A second line of another case then joins this workspace's first spelling.
    other = await _account(db, workspace_id, "twilio", "BILLING LINE")
    assert await _voicemail(db, other, "CA9") == ["Billing Line"]
    assert await _labels(db, elsewhere) == [["vip", "billing line"]]


async def test_labels_beyond_ascii_and_lookalikes(db: Database) -> None:
    workspace_id = await _workspace_with_label(db, "soporte técnico")
    async with db.session() as session:
        assert await inbox_label(session, workspace_id, "Soporte Técnico") == "soporte técnico"
        # A label that merely contains another, or is contained in one, is a different label.
        assert await inbox_label(session, workspace_id, "Soporte") == "Soporte"
        assert await inbox_label(session, workspace_id, "soporte técnico 2") == (
            "soporte técnico 2"
        )
        # LIKE's wildcards in a label are plain characters.
        assert await inbox_label(session, workspace_id, "soporte_t%cnico") == "soporte_t%cnico"
