"""The AI agent's desk, where the pipeline brings a customer's message: the agent serving the
channel (none: the message goes straight to the team), who the customer is as the channel
tells, their session row locked while handled."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.assists import csat, unserved
from core.assists.email_identity import EmailIdentity
from core.assists.mail import AssistMailer
from core.assists.phrases import parse_name
from core.assists.turn import CustomerTurn
from core.assists.turn_view import Caller
from core.live.sessions import LivePolicy
from core.team.agents import agent_for
from core.team.identity import Principal
from models.deliverable import Deliverable
from models.task import Task
from storage.db import upsert_insert
from storage.inbox import CustomerSession
from storage.types import new_id

if TYPE_CHECKING:
    from config import Settings
    from core.llm.gateway import LlmGateway

DEFAULT_CONFIDENCE = 0.5
TEXT_ONLY = "Sorry, I can only read text. Please write your message in words."
PHONE_CHANNELS = ("sms", "whatsapp", "voice")


def caller_of(task: Task) -> Caller:
    address = task.sender.address
    channel = task.sender.channel
    email = address.lower() if channel == "email" and "@" in address else None
    phone = address.removeprefix("whatsapp:") if channel in PHONE_CHANNELS else None
    name = parse_name(task.sender_name) if task.sender_name else None
    return Caller(channel, address, email, phone, name)


class CustomerDesk:
    """What the pipeline asks for a customer's message: the AI agent's replies, an answer from
    the workspace's knowledge or an escalation to the team. Built once by the composition root
    from the settings; holds no per-customer state itself."""

    def __init__(
        self,
        *,
        confidence: float = DEFAULT_CONFIDENCE,
        identity: EmailIdentity | None = None,
        links: csat.Links | None = None,
        llm: LlmGateway | None = None,
        live: LivePolicy | None = None,
    ) -> None:
        self.confidence = confidence
        self.live = live or LivePolicy()
        self.identity = identity
        self.links = links or csat.Links()
        self.llm = llm

    @classmethod
    def from_settings(cls, settings: Settings, *, llm: LlmGateway | None = None) -> CustomerDesk:
        """The desk for SETTINGS: the threshold, our email identity (None without EMAIL_FROM:
        no emails then), the base URL and key of links."""
        mail = AssistMailer.from_settings(settings)
        return cls(
            confidence=settings.escalation_confidence,
            identity=mail.identity,
            links=mail.links,
            llm=llm,
            live=LivePolicy.from_settings(settings),
        )

    @property
    def mailer(self) -> AssistMailer:
        """How the team's replies and closings reach this desk's customers by email."""
        return AssistMailer(identity=self.identity, links=self.links)

    # ------------------------------------------------------------------ entry point

    async def reply(
        self, session: AsyncSession, task: Task, principal: Principal, now: datetime
    ) -> list[Deliverable]:
        """The replies to the customer's TASK, in the caller's transaction: the AI agent's
        serving the channel, or, where none does, the team's assist it was recorded as."""
        if not task.text.strip():
            # A photo or a sticker alone: nothing is recorded, so nothing is claimed.
            return [Deliverable(text=TEXT_ONLY)]
        agent = await agent_for(session, principal.workspace_id, task.channel)
        caller = caller_of(task)
        row = await self._session(session, principal.workspace_id, caller, now)
        if agent is None:
            return await unserved.record_for_team(self, session, task, principal, caller, row, now)
        turn = CustomerTurn(self, session, task, principal, agent, caller, row, now)
        return await turn.run()

    async def _session(
        self, session: AsyncSession, workspace_id: str, caller: Caller, now: datetime
    ) -> CustomerSession:
        """The customer's session row, locked until the caller's transaction ends."""
        await session.execute(
            upsert_insert(session)(CustomerSession)
            .values(
                id=new_id(),
                workspace_id=workspace_id,
                channel=caller.channel,
                address=caller.address,
                stage="chat",
                transcript=[],
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["workspace_id", "channel", "address"])
        )
        row = await session.scalar(
            select(CustomerSession)
            .where(
                CustomerSession.workspace_id == workspace_id,
                CustomerSession.channel == caller.channel,
                CustomerSession.address == caller.address,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return row
