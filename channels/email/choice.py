"""Which configured provider an email goes through: the one its workspace chose, else the
default."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from channels.email import store
from channels.email.providers import EmailProvider
from core.team.directory import TTLCache
from storage.db import Database

log = logging.getLogger("switchboard.email")


class ProviderChoice:
    """The providers configured here, and each workspace's choice, cached (it rarely changes)."""

    def __init__(
        self, providers: Mapping[str, EmailProvider], default: str | None, db: Database
    ) -> None:
        self.providers = providers
        self.default = default
        self._db = db
        # workspace id -> provider name it chose ("" for none).
        self._chosen = TTLCache(ttl=30.0)

    async def provider_for(self, workspace_id: str | None) -> EmailProvider:
        """The provider WORKSPACE_ID chose when it is configured, else the default."""
        chosen: str | None = None
        if workspace_id is not None:
            cached = self._chosen.get(workspace_id)
            if cached is None:
                async with self._db.session() as session:
                    cached = await store.workspace_provider(session, workspace_id) or ""
                self._chosen.put(workspace_id, cached)
            chosen = cached or None
        if chosen is not None and chosen in self.providers:
            return self.providers[chosen]
        if chosen is not None:
            log.warning(
                "workspace %s chose email provider %s, which is not configured here; "
                "sending through %s",
                workspace_id,
                chosen,
                self.default,
            )
        if self.default is not None and self.default in self.providers:
            return self.providers[self.default]
        return next(iter(self.providers.values()))

    def forget(self, workspace_id: str) -> None:
        """Drop the cached provider choice of a workspace (after it changed)."""
        self._chosen.put(workspace_id, None)
