"""Imports from help desks: `start_import` queues a run for an account (one at a time per
account); the import worker (scheduler/imports.py) claims it and does it with the steps here
(`fenced`, `already_imported`, `import_ticket`, `keep_cursor`).

A run walks the provider's open and pending tickets from where the account's last run
stopped (the importer's cursor, kept on the account's `state`) and commits each ticket on its
own: the assist with the whole conversation, the `ImportedRecord` that keeps it from being
imported twice, the counts and the cursor after it. A run that fails midway keeps what it
imported; a run whose node died is claimed again once its lease lapses and goes on from the
last ticket committed. Every write is fenced by the run's `claim_token`, so a node that lost
its claim changes nothing. At most the provider's `per_run` tickets are imported a run; when
the provider's list is walked to its end the cursor starts over, so the next run looks at
every open ticket again and skips those it has (counted as `skipped`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.assists.phrases import cut
from core.assists.records import create_assist, customer_for
from core.integrations.importers import Importer, ImportFailed, Ticket
from core.integrations.importers.freshdesk import FreshdeskImporter
from core.integrations.importers.happyfox import HappyFoxImporter
from core.integrations.importers.helpscout import HelpScoutImporter
from core.integrations.importers.intercom import IntercomImporter
from core.integrations.importers.zendesk import ZendeskImporter
from core.integrations.labels import inbox_label
from core.integrations.providers import PROVIDERS
from core.team.directory import Conflict, DirectoryError, NotFound
from storage.domain import Assist
from storage.integrations import ImportedRecord, ImportRun, IntegrationAccount

log = logging.getLogger(__name__)

ImporterFactory = Callable[[Mapping[str, str]], Importer]

IMPORTERS: dict[str, ImporterFactory] = {
    "zendesk": ZendeskImporter,
    "freshdesk": FreshdeskImporter,
    "intercom": IntercomImporter,
    "helpscout": HelpScoutImporter,
    "happyfox": HappyFoxImporter,
}
GOING = ("queued", "running")
IMPORTED_TAG = "imported"


class LostClaim(Exception):
    """Another node holds the run now (this node's lease lapsed): stop, change nothing."""


def import_json(run: ImportRun) -> dict[str, Any]:
    """A run as the API shows it (DESIGN's fields)."""
    return {
        "id": run.id,
        "status": run.status,
        "imported": run.imported,
        "skipped": run.skipped,
        "error": run.error,
    }


async def running_import(session: AsyncSession, account_id: str) -> ImportRun | None:
    return await session.scalar(
        select(ImportRun)
        .where(ImportRun.account_id == account_id, ImportRun.status.in_(GOING))
        .order_by(ImportRun.created_at)
        .limit(1)
    )


def importable(account: IntegrationAccount) -> None:
    """Raise DirectoryError (400) unless ACCOUNT is a help desk that can be imported now."""
    provider = PROVIDERS.get(account.provider)
    if provider is None or provider.kind != "helpdesk":
        raise DirectoryError(
            f"{account.label} is a telephony line: there are no tickets to import from it"
        )
    if account.provider not in IMPORTERS:
        raise DirectoryError(f"importing from {provider.title} is not available yet")
    if not account.enabled:
        raise DirectoryError(f"{account.label} is turned off: turn it on to import from it")


async def start_import(
    session: AsyncSession, account: IntegrationAccount, requested_by: str, now: datetime
) -> ImportRun:
    """Queue a run for ACCOUNT; Conflict (409) naming the run when one is queued or running.
    A worker on any node picks it up."""
    importable(account)
    # The account's row locked (PostgreSQL): two requests at once make one run.
    await session.execute(
        select(IntegrationAccount.id).where(IntegrationAccount.id == account.id).with_for_update()
    )
    going = await running_import(session, account.id)
    if going is not None:
        raise Conflict(
            f"an import from {account.label} is already {going.status} "
            f"({going.imported} imported, {going.skipped} skipped so far)"
        )
    run = ImportRun(
        workspace_id=account.workspace_id,
        account_id=account.id,
        status="queued",
        cursor={},
        requested_by=requested_by,
        created_at=now,
        updated_at=now,
    )
    session.add(run)
    await session.flush()
    return run


async def get_import(session: AsyncSession, workspace_id: str, run_id: str) -> ImportRun:
    run = await session.get(ImportRun, run_id)
    if run is None or run.workspace_id != workspace_id:
        raise NotFound(f"import {run_id} not found")
    return run


async def last_imports(
    session: AsyncSession, workspace_id: str, *, provider: str | None = None
) -> list[tuple[ImportRun, IntegrationAccount]]:
    """Each account's latest run (of PROVIDER's accounts), newest first."""
    query = (
        select(ImportRun, IntegrationAccount)
        .join(IntegrationAccount, IntegrationAccount.id == ImportRun.account_id)
        .where(ImportRun.workspace_id == workspace_id)
        .order_by(ImportRun.created_at.desc())
    )
    if provider is not None:
        query = query.where(IntegrationAccount.provider == provider)
    latest: dict[str, tuple[ImportRun, IntegrationAccount]] = {}
    for run, account in (await session.execute(query)).all():
        latest.setdefault(account.id, (run, account))
    return list(latest.values())


async def fenced(session: AsyncSession, run_id: str, token: str) -> ImportRun:
    """The run, locked, if this claim still holds it; LostClaim otherwise."""
    run = await session.scalar(select(ImportRun).where(ImportRun.id == run_id).with_for_update())
    if run is None or run.claim_token != token or run.status != "running":
        raise LostClaim(run_id)
    return run


def cursor_of(account: IntegrationAccount) -> dict[str, Any]:
    value = (account.state or {}).get("import_cursor")
    return dict(value) if isinstance(value, dict) else {}


def keep_cursor(account: IntegrationAccount, run: ImportRun, cursor: dict[str, Any]) -> None:
    account.state = {**(account.state or {}), "import_cursor": cursor}
    run.cursor = cursor


async def already_imported(session: AsyncSession, account_id: str, source_id: str) -> bool:
    found = await session.scalar(
        select(ImportedRecord.id).where(
            ImportedRecord.account_id == account_id, ImportedRecord.source_id == source_id
        )
    )
    return found is not None


async def import_ticket(
    session: AsyncSession, account: IntegrationAccount, ticket: Ticket, now: datetime
) -> Assist:
    """TICKET as an assist of ACCOUNT's workspace, with the account's label, recorded."""
    provider = PROVIDERS[account.provider]
    customer = None
    if ticket.customer_email:
        customer = await customer_for(
            session,
            account.workspace_id,
            email=ticket.customer_email,
            name=ticket.customer_name,
        )
    transcript = [
        {
            "from": m.author,
            "text": m.text,
            "at": m.at,
            **({"name": m.name} if m.name else {}),
            **({"email": m.email} if m.email else {}),
            "channel": provider.name,
        }
        for m in ticket.messages
    ]
    who = ticket.customer_name or ticket.customer_email or "a customer"
    last = ticket.messages[-1].text if ticket.messages else ""
    subject = ticket.subject
    if subject == "(no subject)" and ticket.messages:  # a chat has none: its first words
        subject = cut(ticket.messages[0].text, 120) or subject
    assist = await create_assist(
        session,
        workspace_id=account.workspace_id,
        subject=subject,
        summary=(
            f"Imported from {provider.title} ({account.label}), ticket {ticket.source_id} "
            f"from {who}, {ticket.status} there, {len(ticket.messages)} message(s). "
            f'Last: "{cut(last, 300)}"'
        ),
        transcript=transcript,
        customer=customer,
        labels=[await inbox_label(session, account.workspace_id, account.label)],
        tags=[IMPORTED_TAG, provider.name],
        now=now,
    )
    if ticket.status == "pending":
        assist.status = "pending"
    if customer is None and (ticket.customer_name or ticket.customer_email):
        assist.customer_details = {
            k: v for k, v in (("name", ticket.customer_name), ("email", ticket.customer_email)) if v
        }
    session.add(
        ImportedRecord(
            workspace_id=account.workspace_id,
            account_id=account.id,
            source_id=ticket.source_id,
            assist_id=assist.id,
            created_at=now,
        )
    )
    await session.flush()
    return assist


__all__ = [
    "GOING",
    "IMPORTERS",
    "ImportFailed",
    "LostClaim",
    "already_imported",
    "cursor_of",
    "fenced",
    "get_import",
    "import_json",
    "import_lines",
    "import_ticket",
    "importable",
    "keep_cursor",
    "last_imports",
    "running_import",
    "start_import",
]


async def import_lines(
    session: AsyncSession, workspace_id: str, *, provider: str | None = None
) -> list[str]:
    """Each account's last import in a sentence, for chat ("how did the Zendesk import go?")."""
    lines = []
    for run, account in await last_imports(session, workspace_id, provider=provider):
        title = PROVIDERS[account.provider].title if account.provider in PROVIDERS else ""
        state = {
            "queued": "waiting to start",
            "running": "running",
            "done": "done",
            "failed": f"failed: {run.error}",
        }.get(run.status, run.status)
        lines.append(
            f"{title} ({account.label}) import {run.id}: {state}; {run.imported} imported, "
            f"{run.skipped} skipped (already here)"
        )
    return lines
