"""The classifier seen by the pipeline: one async call, whichever backend answers."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.team.identity import Principal
from models.classification import Classification


class Classifier(Protocol):
    async def classify(self, text: str, principal: Principal, now: datetime) -> Classification: ...


class OfflineBackend:
    """Runs the embedded offline classifier; no network, deterministic."""

    def __init__(self) -> None:
        from core.classify.offline import OfflineClassifier  # built once: it compiles patterns

        self._classifier = OfflineClassifier()

    async def classify(self, text: str, principal: Principal, now: datetime) -> Classification:
        return self._classifier.classify(text, now=now)
