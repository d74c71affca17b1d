"""What a briefing or a follow-up runs with: a report's scope and the task it answers."""

from __future__ import annotations

from typing import Protocol

from core.reports.scope import Scope
from models.task import Task


class TaskScope(Scope, Protocol):
    @property
    def task(self) -> Task: ...
