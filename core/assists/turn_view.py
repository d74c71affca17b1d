"""What a customer turn's steps (answering, escalation) see of the turn and of the desk: typed
views, so that the steps need not import the turn that calls them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.assists.csat import Links
    from core.assists.email_identity import EmailIdentity
    from core.live.sessions import LivePolicy
    from core.llm.gateway import LlmGateway
    from core.team.identity import Principal
    from models.deliverable import Deliverable
    from models.task import Task
    from storage.domain import AiAgent, Conversation
    from storage.inbox import CustomerSession


@dataclass(frozen=True)
class Caller:
    """Who the customer is, as far as the channel tells."""

    channel: str
    address: str
    email: str | None
    phone: str | None
    name: str | None


class DeskView(Protocol):
    """The desk's settings a turn works with."""

    @property
    def confidence(self) -> float: ...

    @property
    def identity(self) -> EmailIdentity | None: ...

    @property
    def links(self) -> Links: ...

    @property
    def llm(self) -> LlmGateway | None: ...

    @property
    def live(self) -> LivePolicy: ...


class TurnView(Protocol):
    """One customer message being handled, as its steps see it."""

    welcome_back: str | None

    @property
    def desk(self) -> DeskView: ...

    @property
    def session(self) -> AsyncSession: ...

    @property
    def task(self) -> Task: ...

    @property
    def principal(self) -> Principal: ...

    @property
    def agent(self) -> AiAgent: ...

    @property
    def caller(self) -> Caller: ...

    @property
    def row(self) -> CustomerSession: ...

    @property
    def now(self) -> datetime: ...

    @property
    def text(self) -> str: ...

    async def conversation(self) -> Conversation | None: ...

    def record(self, speaker: str, text: str, *, step: str | None = None) -> None: ...

    def say(self, *texts: str, step: str | None = None) -> list[Deliverable]: ...
