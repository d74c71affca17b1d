"""One customer message handled by the AI agent: the customer's session row (where their
conversation stands), the agent serving the channel, and what is said back. Customer text is
data: nothing here runs an operator tool."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.assists import answering, escalation
from core.assists.escalation import REQUESTED
from core.assists.history import last_resolution
from core.assists.knowledge import terms
from core.assists.mail import follow_up_line
from core.assists.phrases import GREETING, THANKS, asks_for_person, cut, first_name_of
from core.assists.replies import add_customer_reply
from core.assists.triage import category_of
from core.live import conversations, sessions
from core.team import agents
from core.team.identity import Principal
from models.deliverable import Deliverable
from models.task import Task
from storage.domain import AiAgent, Assist, Conversation, Customer
from storage.inbox import CustomerSession

if TYPE_CHECKING:
    from core.assists.turn_view import Caller, DeskView

# A conversation idle this long starts afresh (a new conversation in the metrics).
IDLE = timedelta(hours=12)
# Collecting details waits this long for the customer, then the escalation is dropped.
COLLECTING = timedelta(hours=24)
TRANSCRIPT_TURNS = 60


class CustomerTurn:
    """One customer message being handled: the session row, the agent, what is said back."""

    def __init__(
        self,
        desk: DeskView,
        session: AsyncSession,
        task: Task,
        principal: Principal,
        agent: AiAgent,
        caller: Caller,
        row: CustomerSession,
        now: datetime,
    ) -> None:
        self.desk = desk
        self.session = session
        self.task = task
        self.principal = principal
        self.agent = agent
        self.caller = caller
        self.row = row
        self.now = now
        self.text = task.text.strip()
        self.welcome_back: str | None = None
        self.confidence = agents.escalation_confidence(agent, desk.confidence)
        self._conversation: Conversation | None = None
        self._said = 0
        # A message the live operators held and gave back (nobody took the offer): recorded
        # when it arrived, and it is the AI's now, whoever is live.
        self.replayed = bool(task.raw.get(sessions.FALLBACK))

    async def run(self) -> list[Deliverable]:
        row = self.row
        afresh = False
        if not self.replayed:
            afresh = await self._starts_afresh()
            if afresh:
                await self._start_conversation()
        self._conversation = await self.conversation()
        if self._conversation is not None and not self.replayed:
            # Replies to the customer go where their latest message came from.
            self._conversation.reply_route = self.task.reply_route.model_dump(mode="json")
        if not self.replayed:
            step = "details" if row.stage in ("ask_name", "ask_email", "confirm") else None
            self.record("customer", self.text, step=step)
            if await self._live(new_interaction=afresh and row.stage == "chat"):
                return []  # a live operator has it, or is being offered it: the AI is silent
        if row.stage != "chat":
            return await escalation.collect(self)
        assist = await self._open_assist()
        if assist is not None:
            return await self._add_to_assist(assist)
        if asks_for_person(self.text):
            if not self.replayed and await self._live(new_interaction=True):
                return []
            return await escalation.escalate(self, REQUESTED, "requested")
        if GREETING.match(self.text):
            return self.say(self._welcome())
        if THANKS.match(self.text):
            return self.say("You're welcome! Is there anything else I can help with?")
        answer = await answering.answer(self)
        if answer.wants_person:
            return await escalation.escalate(self, REQUESTED, "requested")
        if answer.text and answer.confidence >= self.confidence:
            conversation = await self.conversation()
            if conversation is not None:
                conversation.resolved_by_ai = True
                conversation.topic = conversation.topic or category_of(self.text)
            return self.say(answer.text)
        if len(terms(self.text)) < 2 and not answer.text:
            return self.say(
                "Could you tell me a little more about what you need? I can answer questions, "
                "or pass your request to a person on our team."
            )
        await answering.record_knowledge_gap(self)
        reason = (
            "The AI agent could not answer with enough confidence "
            f"({answer.confidence:.2f}, below {self.confidence:.2f})"
        )
        return await escalation.escalate(self, reason, "low_confidence")

    async def _live(self, *, new_interaction: bool) -> bool:
        """Whether the live operators take this message (see core.live.sessions)."""
        if self._conversation is None or self.task.channel not in sessions.LIVE_CHANNELS:
            # A call is answered by voice, in the call (no one types into it), and an email
            # is not a conversation in real time: its assist threads the team's replies.
            return False
        return await sessions.customer_message(
            self.session,
            conversation=self._conversation,
            agent=self.agent,
            task_id=self.task.id,
            text=self.text,
            new_interaction=new_interaction,
            now=self.now,
            policy=self.desk.live,
        )

    async def _starts_afresh(self) -> bool:
        row = self.row
        if not row.transcript:
            return True
        idle = self.now - row.updated_at
        if row.stage != "chat":
            if idle > COLLECTING:
                row.stage, row.reason = "chat", None
                return True
            return False
        if idle > IDLE:
            return True
        if row.assist_id:
            # The team closed the escalation since the customer last wrote: a new conversation.
            assist = await self.session.get(Assist, row.assist_id)
            return assist is not None and assist.status == "closed"
        return False

    async def _start_conversation(self) -> None:
        row = self.row
        row.transcript = []
        row.assist_id = None
        if row.customer_id is None:
            row.customer_id = await self._known_customer()
        conversation = Conversation(
            workspace_id=self.principal.workspace_id,
            agent_id=self.agent.id,
            customer_id=row.customer_id,
            channel=self.task.channel,
            first_response_seconds=max(0.0, (self.now - self.task.received_at).total_seconds()),
            started_at=self.now,
            ended_at=self.now,
            status="open",
            address=self.caller.address,
            reply_route=self.task.reply_route.model_dump(mode="json"),
            updated_at=self.now,
        )
        self.session.add(conversation)
        await self.session.flush()
        row.conversation_id = conversation.id
        await conversations.close_earlier(
            self.session,
            self.principal.workspace_id,
            conversation.channel,
            self.caller.address,
            keep=conversation.id,
        )
        if row.customer_id:
            found = await last_resolution(
                self.session, self.principal.workspace_id, row.customer_id
            )
            if found is not None:
                assist, resolution = found
                customer = await self.session.get(Customer, row.customer_id)
                first = first_name_of(customer.name if customer else None)
                self.welcome_back = (
                    f"Welcome back{', ' + first if first else ''}! Last time ({assist.ref}) our "
                    f'team resolved your request: "{cut(resolution, 200)}"'
                )

    async def _known_customer(self) -> str | None:
        query = select(Customer.id).where(Customer.workspace_id == self.principal.workspace_id)
        if self.caller.phone:
            return await self.session.scalar(
                query.where(Customer.phone == self.caller.phone).limit(1)
            )
        if self.caller.email:
            return await self.session.scalar(
                query.where(Customer.email == self.caller.email).limit(1)
            )
        return None

    async def conversation(self) -> Conversation | None:
        if self.row.conversation_id is None:
            return None
        return await self.session.get(Conversation, self.row.conversation_id)

    def record(self, speaker: str, text: str, *, step: str | None = None) -> None:
        entry: dict[str, Any] = {"from": speaker, "text": text, "at": self.now.isoformat()}
        if step:
            entry["step"] = step
        if speaker == "customer" and self.task.email_record:
            entry["email_record"] = self.task.email_record
        self.row.transcript = [*self.row.transcript, entry][-TRANSCRIPT_TURNS:]
        self.row.updated_at = self.now
        if self._conversation is not None:
            self._said += 1
            conversations.add(
                self.session,
                self._conversation,
                author="customer" if speaker == "customer" else "agent",
                text=text,
                key=f"task:{self.task.id}:{self._said}",
                at=self.now,
            )

    def say(self, *texts: str, step: str | None = None) -> list[Deliverable]:
        said = [t for t in texts if t]
        if self.welcome_back:
            said.insert(0, self.welcome_back)
            self.welcome_back = None
        text = "\n\n".join(said)
        self.record("agent", text, step=step)
        return [Deliverable(text=text)]

    def _welcome(self) -> str:
        return agents.welcome_of(self.agent)

    async def _open_assist(self) -> Assist | None:
        """The assist this conversation opened, while it is still being worked (chat channels:
        an email conversation threads its replies into the assist by itself)."""
        if self.row.assist_id is None or self.task.channel == "email":
            return None
        assist = await self.session.get(Assist, self.row.assist_id)
        if assist is None or assist.status == "closed":
            return None
        return assist

    async def _add_to_assist(self, assist: Assist) -> list[Deliverable]:
        add_customer_reply(
            self.session,
            assist,
            author=self.row.name or self.caller.address,
            body=self.text,
            now=self.now,
        )
        follow_up = await follow_up_line(self.session, assist)
        return self.say(f"Thanks, I've added that to your request {assist.ref}.{follow_up}")
