"""What a report reads: the session, who asks (workspace, time zone) and the time."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from core.team.identity import Principal


class Scope(Protocol):
    @property
    def session(self) -> AsyncSession: ...

    @property
    def principal(self) -> Principal: ...

    @property
    def now(self) -> datetime: ...
