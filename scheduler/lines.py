"""The telephony lines' upkeep the leader runs with the daily housekeeping: RingCentral
webhook subscriptions are renewed before they expire (`RENEW_BEFORE`, two days, so a day's
interval leaves room for a failure to be retried and seen). A failed renewal is kept as the
line's warning in its state; `core.integrations.lines.renew_line` renews one by hand."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from config import Settings
from core.integrations.lines import renew_line
from core.integrations.lines.ringcentral import renewal_due
from core.integrations.vault import VaultError, vault_of
from storage.db import Database
from storage.integrations import IntegrationAccount

log = logging.getLogger(__name__)


class LineRenewal:
    """Called with the scheduler's clock; renews each due subscription in its own
    transaction, the provider's answer awaited before the row is written."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self.renewed = 0
        self.failed = 0

    async def __call__(self, now: datetime) -> None:
        async with self._db.session() as session:
            due = [
                account.id
                for account in await session.scalars(
                    select(IntegrationAccount).where(IntegrationAccount.provider == "ringcentral")
                )
                if account.enabled and renewal_due(dict(account.state or {}), now)
            ]
        if not due:
            return
        try:
            vault = vault_of(self._settings)
        except VaultError as exc:
            log.error("%d RingCentral subscriptions are due for renewal: %s", len(due), exc)
            return
        for account_id in due:
            async with self._db.session() as session:
                account = await session.get(IntegrationAccount, account_id)
                if account is None:
                    continue
                warning = await renew_line(vault, account, now=now)
            if warning is None:
                self.renewed += 1
            else:
                self.failed += 1
                log.warning("RingCentral line %s: %s", account_id, warning)
