"""The AI agent's desk, where the pipeline brings a customer's message: the agent serving the
channel, who the customer is as the channel tells, their session row locked while handled."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.assists import csat
from core.assists.email_identity import EmailIdentity
from core.assists.mail import AssistMailer
from core.assists.phrases import parse_name
from core.assists.turn import CustomerTurn
from core.assists.turn_view import Caller
from core.team.identity import Principal
from models.deliverable import Deliverable
from models.task import Task
from storage.db import upsert_insert
from storage.domain import AiAgent
from storage.inbox import CustomerSession
from storage.types import new_id

if TYPE_CHECKING:
    from config import Settings
    from core.llm.gateway import LlmGateway

DEFAULT_CONFIDENCE = 0.5
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
    ) -> None:
        self.confidence = confidence
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
        )

    @property
    def mailer(self) -> AssistMailer:
        """How the team's replies and closings reach this desk's customers by email."""
        return AssistMailer(identity=self.identity, links=self.links)

    # ------------------------------------------------------------------ entry point

    async def reply(
        self, session: AsyncSession, task: Task, principal: Principal, now: datetime
    ) -> list[Deliverable] | None:
        """The AI agent's replies to the customer's TASK, in the caller's transaction; None
        when no AI agent serves the task's channel (the pipeline acknowledges instead)."""
        if task.kind not in ("message", "command") or not task.text.strip():
            return None
        agent = await agent_for(session, principal.workspace_id, task.channel)
        if agent is None:
            return None
        caller = caller_of(task)
        row = await self._session(session, principal.workspace_id, caller, now)
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


async def agent_for(session: AsyncSession, workspace_id: str, channel: str) -> AiAgent | None:
    """The workspace's AI agent connected to CHANNEL (an agent listing no channels serves all)."""
    agents = await session.scalars(
        select(AiAgent).where(AiAgent.workspace_id == workspace_id).order_by(AiAgent.created_at)
    )
    for agent in agents:
        connected = [str(c).lower() for c in agent.channels or ()]
        if not connected or channel in connected:
            return agent
    return None
