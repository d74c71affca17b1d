"""The import worker, run on every node: claims queued import runs, and running ones whose
lease lapsed (their node died), one at a time with SKIP LOCKED on PostgreSQL, and does them
(core/integrations/imports.py), renewing the lease while it works. Each ticket is its own
transaction fenced by the run's claim token, so a node that lost its claim writes nothing and
a run stopped anywhere goes on from its last committed ticket. On shutdown the run in hand
is handed back (queued) between two tickets for any node to continue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, and_, func, or_, select, update
from sqlalchemy.exc import DBAPIError

from core.integrations import imports
from core.integrations.accounts import credentials_of
from core.integrations.importers import ImportFailed
from core.integrations.imports import IMPORTERS, ImporterFactory, LostClaim
from core.integrations.providers import PROVIDERS
from core.integrations.vault import Vault, VaultError
from core.team.directory import DirectoryError
from storage.db import Database
from storage.integrations import ImportRun, IntegrationAccount
from storage.types import new_id, utcnow

log = logging.getLogger(__name__)

_runs = cast(Table, ImportRun.__table__)
UNEXPECTED = "the import stopped on an unexpected error; run it again to continue from here"


class ImportWorker:
    def __init__(
        self,
        db: Database,
        vault: Vault | None,
        *,
        node_id: str,
        lease_seconds: float = 120.0,
        poll_interval: float = 1.0,
        importers: Mapping[str, ImporterFactory] | None = None,
    ) -> None:
        self._db = db
        self._vault = vault
        self._node_id = node_id
        self._lease = timedelta(seconds=lease_seconds)
        self._poll_interval = poll_interval
        self._importers = dict(importers or IMPORTERS)
        self._stopping = asyncio.Event()
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self) -> None:
        """Stop claiming; the run in hand goes back to the queue after its current ticket."""
        self._stopping.set()
        self._wakeup.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()
            try:
                claimed = await self.claim()
            except DBAPIError as exc:  # the database away a moment: the next round retries
                log.warning("claiming an import failed: %s", exc)
                claimed = None
            if claimed is not None:
                try:
                    await self.work(*claimed)
                except Exception:  # the database gone while ending the run: its lease lapses
                    log.exception("import %s could not be ended", claimed[0])
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_interval)

    async def claim(self) -> tuple[str, str] | None:
        """(run id, claim token) of the oldest queued run, or running one with a lapsed lease."""
        now = utcnow()
        token = new_id()
        claimable = (
            select(_runs.c.id)
            .where(
                or_(
                    _runs.c.status == "queued",
                    and_(_runs.c.status == "running", _runs.c.lease_until < now),
                )
            )
            .order_by(_runs.c.created_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(_runs)
            .where(_runs.c.id.in_(claimable.scalar_subquery()))
            .values(
                status="running",
                claimed_by=self._node_id,
                claim_token=token,
                lease_until=now + self._lease,
                started_at=func.coalesce(_runs.c.started_at, now),
                updated_at=now,
            )
            .returning(_runs.c.id)
        )
        async with self._db.writing(), self._db.session() as session:
            run_id = (await session.execute(statement)).scalar_one_or_none()
        return (run_id, token) if run_id is not None else None

    async def work(self, run_id: str, token: str) -> None:
        beat = asyncio.create_task(self._heartbeat(run_id, token), name=f"import-lease-{run_id}")
        try:
            await self._import(run_id, token)
        except LostClaim:
            log.warning("import %s was claimed by another node; this node stopped", run_id)
        except (ImportFailed, DirectoryError, VaultError) as exc:
            await self._end(run_id, token, "failed", str(exc))
        except Exception:
            log.exception("import %s failed", run_id)
            await self._end(run_id, token, "failed", UNEXPECTED)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _import(self, run_id: str, token: str) -> None:
        async with self._db.session() as session:
            run = await imports.fenced(session, run_id, token)
            account = await session.get(IntegrationAccount, run.account_id)
            assert account is not None  # the run goes with its account (cascade)
            imports.importable(account)
            if self._vault is None:
                raise VaultError(
                    "SWITCHBOARD_SECRET_KEY is not set, so the stored credentials cannot be "
                    "opened: set it (as when the account was connected) and run the import again"
                )
            credentials = credentials_of(self._vault, account)
            cursor = imports.cursor_of(account)
            cap = PROVIDERS[account.provider].per_run
            imported = run.imported
            account_id = account.id
            factory = self._importers[account.provider]
        walked_to_end = True
        # A ticket met twice in one run (at the seam of two searches) is counted once.
        met: set[str] = set()
        async with factory(credentials) as importer:
            tickets = importer.tickets(cursor)
            try:
                async for ticket, after in tickets:
                    if self._stopping.is_set():
                        await self._release(run_id, token)
                        return
                    if imported >= cap:
                        walked_to_end = False
                        break
                    repeat = ticket.source_id in met
                    met.add(ticket.source_id)
                    async with self._db.session() as session:
                        seen = await imports.already_imported(session, account_id, ticket.source_id)
                    full = ticket if seen else await importer.conversation(ticket)
                    async with self._db.writing(), self._db.session() as session:
                        run = await imports.fenced(session, run_id, token)
                        account = await session.get(IntegrationAccount, account_id)
                        assert account is not None
                        now = utcnow()
                        if repeat:
                            pass
                        elif seen or await imports.already_imported(
                            session, account_id, ticket.source_id
                        ):
                            run.skipped += 1
                        else:
                            await imports.import_ticket(session, account, full, now)
                            run.imported += 1
                        imports.keep_cursor(account, run, after)
                        run.updated_at = now
                        run.lease_until = now + self._lease
                        imported = run.imported
            finally:
                await cast("Any", tickets).aclose()
        async with self._db.writing(), self._db.session() as session:
            run = await imports.fenced(session, run_id, token)
            if walked_to_end:
                # The list is done: the next run looks at every open ticket again (new ones
                # imported, the rest skipped).
                account = await session.get(IntegrationAccount, account_id)
                assert account is not None
                imports.keep_cursor(account, run, {})
            self._finish(run, "done", None)
        log.info("import %s done", run_id)

    def _finish(self, run: ImportRun, status: str, error: str | None) -> None:
        now = utcnow()
        run.status = status
        run.error = error
        run.finished_at = now
        run.updated_at = now
        run.lease_until = None
        run.claim_token = None

    async def _end(self, run_id: str, token: str, status: str, error: str) -> None:
        try:
            async with self._db.writing(), self._db.session() as session:
                run = await imports.fenced(session, run_id, token)
                self._finish(run, status, error)
        except LostClaim:
            return
        log.warning("import %s %s: %s", run_id, status, error)

    async def _release(self, run_id: str, token: str) -> None:
        async with self._db.writing(), self._db.session() as session:
            await session.execute(
                update(ImportRun)
                .where(ImportRun.id == run_id, ImportRun.claim_token == token)
                .values(status="queued", claim_token=None, lease_until=None, claimed_by=None)
            )

    async def _heartbeat(self, run_id: str, token: str) -> None:
        """Keep the lease while the run waits on the provider (a 429, a slow page)."""
        interval = self._lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with self._db.writing(), self._db.session() as session:
                    result = await session.execute(
                        update(ImportRun)
                        .where(
                            ImportRun.id == run_id,
                            ImportRun.claim_token == token,
                            ImportRun.status == "running",
                        )
                        .values(lease_until=utcnow() + self._lease)
                    )
                if cast("CursorResult[Any]", result).rowcount != 1:
                    return
            except DBAPIError as exc:
                log.warning("renewing import %s's lease failed: %s", run_id, exc)
