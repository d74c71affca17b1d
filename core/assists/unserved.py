"""A customer's message on a channel no AI agent serves: it goes straight to the team as an
assist (or joins the customer's open one), so the customer is told it reached the team only
when it is recorded where the team works, in the same transaction as that answer."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from core.assists.analysis import CHANNEL_WORDS
from core.assists.mail import follow_up_line
from core.assists.notify import notify_team
from core.assists.phrases import cut
from core.assists.records import create_assist, customer_for
from core.assists.replies import add_customer_reply
from core.assists.turn import TRANSCRIPT_TURNS
from core.live import conversations
from core.team.identity import Principal
from models.deliverable import CardField, Deliverable
from models.task import Task
from storage.domain import Assist, Conversation, Customer
from storage.email import EmailRecord
from storage.inbox import CustomerSession

if TYPE_CHECKING:
    from core.assists.turn_view import Caller, DeskView

log = logging.getLogger(__name__)

NO_AGENT_TAG = "no-ai-agent"


async def record_for_team(
    desk: DeskView,
    session: AsyncSession,
    task: Task,
    principal: Principal,
    caller: Caller,
    row: CustomerSession,
    now: datetime,
) -> list[Deliverable]:
    """Add the customer's TASK to their open assist, or open one, and say so with its
    reference; in the caller's transaction."""
    text = task.text.strip()
    entry = {"from": "customer", "channel": task.channel, "text": text, "at": now.isoformat()}
    assist = await session.get(Assist, row.assist_id) if row.assist_id else None
    if assist is not None and assist.status != "closed":
        add_customer_reply(
            session, assist, author=row.name or caller.name or caller.address, body=text, now=now
        )
        answer = f"Thanks, I've added that to your request {assist.ref}."
    else:
        assist = await _open(desk, session, task, principal, caller, text, entry, now)
        row.assist_id = assist.id
        row.customer_id = assist.customer_id or row.customer_id
        answer = (
            f"Thanks for your message. It has reached our support team as request {assist.ref}."
        )
    await _link_email(session, task, assist)
    answer += await follow_up_line(session, assist)
    await _converse(session, task, caller, row, assist, text, answer, now)
    reply = {"from": "agent", "text": answer, "at": now.isoformat()}
    row.stage, row.reason = "chat", None  # an agent taken off mid-escalation leaves no step
    row.transcript = [*row.transcript, entry, reply][-TRANSCRIPT_TURNS:]
    row.updated_at = now
    return [Deliverable(text=answer)]


async def _converse(
    session: AsyncSession,
    task: Task,
    caller: Caller,
    row: CustomerSession,
    assist: Assist,
    text: str,
    answer: str,
    now: datetime,
) -> None:
    """The conversation record of the customer's messages to the team (one per assist), with
    this message and what they were told."""
    conversation = (
        await session.get(Conversation, row.conversation_id) if row.conversation_id else None
    )
    if conversation is None or conversation.assist_id != assist.id:
        conversation = Conversation(
            workspace_id=assist.workspace_id,
            agent_id=None,
            customer_id=assist.customer_id,
            channel=task.channel,
            escalated=True,
            started_at=now,
            ended_at=now,
            status="open",
            address=caller.address,
            assist_id=assist.id,
            updated_at=now,
        )
        session.add(conversation)
        await session.flush()
        row.conversation_id = conversation.id
        assist.conversation_id = assist.conversation_id or conversation.id
    conversation.reply_route = task.reply_route.model_dump(mode="json")
    conversations.add(
        session, conversation, author="customer", text=text, key=f"task:{task.id}:1", at=now
    )
    conversations.add(
        session, conversation, author="agent", text=answer, key=f"task:{task.id}:2", at=now
    )


async def _open(
    desk: DeskView,
    session: AsyncSession,
    task: Task,
    principal: Principal,
    caller: Caller,
    text: str,
    entry: dict[str, str],
    now: datetime,
) -> Assist:
    workspace_id = principal.workspace_id
    customer: Customer | None = None
    if caller.phone or caller.email:
        customer = await customer_for(
            session, workspace_id, phone=caller.phone, email=caller.email, name=caller.name
        )
    by = CHANNEL_WORDS.get(task.channel, task.channel)
    who = caller.name or caller.email or caller.phone or f"A {by} customer ({caller.address})"
    assist = await create_assist(
        session,
        workspace_id=workspace_id,
        subject=cut(text, 120),
        summary=f'{who} wrote by {by}: "{cut(text, 400)}" No AI agent serves {by}, so it came '
        "straight to the team.",
        transcript=[entry],
        customer=customer,
        tags=[NO_AGENT_TAG],
        escalation_reason=f"No AI agent serves the {task.channel} channel",
        now=now,
    )
    if customer is None:
        # Who wrote, as the channel tells: the team needs it to answer.
        assist.customer_details = {"channel": task.channel, "address": caller.address}
    log.info("a %s message no AI agent serves became assist %s", task.channel, assist.ref)
    if desk.identity is not None:
        link = desk.links.assist(assist.ref)
        lines = [
            f"New message {assist.ref} by {by}, which no AI agent serves.",
            "",
            assist.summary,
            "",
            f"Open it: {link}" if link else f'Ask the operator: "show {assist.ref}".',
        ]
        fields = [
            CardField(label="Assist", value=assist.ref),
            CardField(label="Customer", value=who),
        ]
        if link:
            fields.append(CardField(label="Link", value=link))
        await notify_team(
            session,
            assist,
            title=f"[{assist.ref}] New message: {assist.subject}",
            text="\n".join(lines),
            fields=tuple(fields),
            dedupe_key=f"unserved:{assist.id}",
            identity=desk.identity,
            link=link,
        )
    return assist


async def _link_email(session: AsyncSession, task: Task, assist: Assist) -> None:
    """An emailed message belongs to the assist: the team's reply threads with it."""
    if task.email_record:
        await session.execute(
            update(EmailRecord)
            .where(
                EmailRecord.workspace_id == assist.workspace_id,
                EmailRecord.id == task.email_record,
                EmailRecord.assist_id.is_(None),
            )
            .values(assist_id=assist.id)
        )
