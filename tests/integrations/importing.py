"""What the importer tests share: an account connected to a simulator, one run done by a
worker's claim (no polling loop), and what was imported read back from the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.integrations import accounts
from core.integrations.imports import import_json, start_import
from core.integrations.vault import Vault
from scheduler.imports import ImportWorker
from storage.db import Database
from storage.domain import Assist
from storage.integrations import ImportedRecord, ImportRun
from storage.types import utcnow
from tests.factories import Tenant, make_tenant

# The secret the admin API tests' gateway runs with too, so it opens these accounts.
SECRET = "a long random secret for the import tests"
VAULT = Vault(SECRET)
LABEL = "Acme EU"


@dataclass
class Desk:
    db: Database
    tenant: Tenant
    account_id: str

    def worker(self, **kwargs: Any) -> ImportWorker:
        return ImportWorker(self.db, VAULT, node_id="test-node", **kwargs)

    async def start(self) -> str:
        async with self.db.writing(), self.db.session() as session:
            account = await accounts.get_account(session, self.tenant.workspace_id, self.account_id)
            run = await start_import(session, account, "test", utcnow())
            return run.id

    async def run(self, worker: ImportWorker | None = None) -> dict[str, Any]:
        """Start a run and have a worker do it to the end; the run as the API shows it."""
        run_id = await self.start()
        worker = worker or self.worker()
        claimed = await worker.claim()
        assert claimed is not None and claimed[0] == run_id
        await worker.work(*claimed)
        return await self.state(run_id)

    async def state(self, run_id: str) -> dict[str, Any]:
        from core.integrations.imports import get_import

        async with self.db.session() as session:
            return import_json(await get_import(session, self.tenant.workspace_id, run_id))

    async def imported_ids(self) -> list[str]:
        async with self.db.session() as session:
            return list(
                await session.scalars(
                    select(ImportedRecord.source_id).where(
                        ImportedRecord.account_id == self.account_id
                    )
                )
            )

    async def assists(self) -> list[Assist]:
        async with self.db.session() as session:
            return list(
                await session.scalars(
                    select(Assist)
                    .where(Assist.workspace_id == self.tenant.workspace_id)
                    .order_by(Assist.number)
                )
            )

    async def assist_count(self) -> int:
        async with self.db.session() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(Assist)
                    .where(Assist.workspace_id == self.tenant.workspace_id)
                )
                or 0
            )


async def connect_desk(db: Database, provider: str, credentials: dict[str, str]) -> Desk:
    tenant = await make_tenant(db)
    async with db.session() as session:
        account = await accounts.connect(
            session,
            VAULT,
            tenant.workspace_id,
            provider=provider,
            label=LABEL,
            credentials=credentials,
            actor="test",
            now=utcnow(),
        )
        return Desk(db, tenant, account.id)


async def make_import_world(session: AsyncSession, workspace_id: str) -> dict[str, str]:
    """Path ids for the imports API: a help-desk account to start an import on, and a run
    (of another account) to read. Their API URL answers nothing (a closed port), so a worker
    that takes the run fails it at once instead of calling out."""
    now = utcnow()
    credentials = {
        "subdomain": "acme",
        "email": "ops@acme.example",
        "api_token": "zd-token",
        "api_url": "http://127.0.0.1:9",
    }
    ready = await accounts.connect(
        session,
        VAULT,
        workspace_id,
        provider="zendesk",
        label="Acme",
        credentials=credentials,
        actor="test",
        now=now,
    )
    busy = await accounts.connect(
        session,
        VAULT,
        workspace_id,
        provider="zendesk",
        label="Acme US",
        credentials=credentials,
        actor="test",
        now=now,
    )
    run = ImportRun(
        workspace_id=workspace_id,
        account_id=busy.id,
        status="done",
        imported=12,
        skipped=3,
        cursor={},
        created_at=now,
        updated_at=now,
    )
    session.add(run)
    await session.flush()
    return {"integration_id": ready.id, "import_id": run.id}
