"""Emails to an assist's customer, in the assist's thread: the escalation's confirmation, the
team's replies, and the resolution with its CSAT survey on closing. One implementation for the
AI agent, the admin API and the operator's tools, so all send the same email."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.assists import csat
from core.assists.email_identity import EmailIdentity, identity_from
from core.assists.history import resolution_of
from delivery.outbox.queue import enqueue
from models.deliverable import CardField, Deliverable, DeliverableKind
from models.email_threads import (
    assist_subject,
    new_message_id,
    reply_subject,
    thread_references,
    token_hash,
)
from models.task import Route
from storage.domain import Assist, AssistEvent, Customer
from storage.email import EmailRecord
from storage.types import new_id, utcnow

if TYPE_CHECKING:
    from config import Settings


@dataclass(frozen=True)
class AssistMailer:
    """Our email identity (None when the email channel is off) and the links we may sign."""

    identity: EmailIdentity | None = None
    links: csat.Links = field(default_factory=csat.Links)

    @classmethod
    def from_settings(cls, settings: Settings) -> AssistMailer:
        """The identity of EMAIL_FROM (None without it, or when it is not an address), and
        CSAT links signed with SWITCHBOARD_SECRET_KEY under PUBLIC_BASE_URL."""
        identity = None
        if settings.email_from:
            try:
                identity = identity_from(settings)
            except ValueError:
                identity = None
        return cls(identity=identity, links=csat.Links.from_settings(settings))

    async def email_customer(
        self, session: AsyncSession, assist: Assist, to: str, text: str, subject: str | None
    ) -> tuple[str, str | None]:
        """Queue an email to TO about ASSIST in the caller's transaction: in the assist's thread
        (reply address, Message-ID, In-Reply-To/References) when we have an email identity,
        else a plain email tagged [A-...]. Returns (subject, Message-ID or None)."""
        if self.identity is not None:
            record = await send_assist_email(
                session, self.identity, assist, to=to, text=text, subject=subject
            )
            return record.subject, record.message_id
        tagged = f"{subject or 'Re: ' + (assist.subject or 'your request')} [{assist.ref}]"
        enqueue(
            session,
            workspace_id=assist.workspace_id,
            route=Route(channel="email", address=to),
            deliverables=[Deliverable(text=text, title=tagged)],
            dedupe_prefix=f"assist-email:{new_id()}",
        )
        return tagged, None

    async def after_closing(
        self, session: AsyncSession, assist: Assist, *, survey: bool, now: datetime
    ) -> dict[str, Any]:
        """ASSIST was just closed: keep its resolution (given, else the team's last reply), email
        the customer the resolution with a one-click CSAT survey, and say how to offer it to
        training. Returns what happened: `survey_sent_to`, `training_offer`."""
        resolution = await resolution_of(session, assist)
        if resolution and not assist.resolution:
            assist.resolution = resolution[:4000]
        extra: dict[str, Any] = {}
        replied = await session.scalar(
            select(AssistEvent.id)
            .where(AssistEvent.assist_id == assist.id, AssistEvent.kind == "reply")
            .limit(1)
        )
        if replied is not None:
            extra["training_offer"] = (
                f"Add this resolution to the AI agent's training: ask the operator "
                f'"promote {assist.ref} to training" (personal data is removed first).'
            )
        to = await customer_email(session, assist)
        questions = csat.csat_survey_text(assist, self.links, now)
        if survey and to and questions:
            text = (
                f"Your request {assist.ref} ({assist.subject or 'your request'}) is now resolved."
                + (f"\n\n{resolution}" if resolution and resolution == assist.resolution else "")
                + f"\n\n{questions}\n\nIf anything is still wrong, just reply to this email."
            )
            await self.email_customer(
                session, assist, to, text, f"Resolved: {assist.subject or 'your request'}"
            )
            extra["survey_sent_to"] = to
        return extra


async def customer_email(session: AsyncSession, assist: Assist) -> str | None:
    """The address of ASSIST's customer: their record in the same workspace, else the one the
    escalation collected."""
    customer = await session.get(Customer, assist.customer_id) if assist.customer_id else None
    if customer is not None and customer.workspace_id == assist.workspace_id and customer.email:
        return customer.email
    detail = (assist.customer_details or {}).get("email")
    return detail if isinstance(detail, str) and "@" in detail else None


async def follow_up_line(session: AsyncSession, assist: Assist) -> str:
    """How the team answers ASSIST's customer, said only when we have an address: the team's
    replies to an assist go by email, so without one nothing is promised."""
    email = await customer_email(session, assist)
    return f" Our team will get back to you by email at {email}." if email else ""


async def send_assist_email(
    session: AsyncSession,
    identity: EmailIdentity,
    assist: Assist,
    *,
    to: str,
    text: str,
    subject: str | None = None,
    kind: DeliverableKind = "text",
    fields: tuple[CardField, ...] = (),
    now: datetime | None = None,
) -> EmailRecord:
    """Queue an email to the customer about ASSIST, in the caller's transaction.

    It continues the assist's thread (In-Reply-To the latest email of it, References the chain),
    carries a new Message-ID, the `[A-1042]` tag in its subject, and a Reply-To
    `reply+TOKEN@EMAIL_INBOUND_DOMAIN` whose token (stored only as a hash) routes the answer
    back to this assist. Returns the record; the outbox sends it.
    """
    now = now or utcnow()
    parent = await session.scalar(
        select(EmailRecord)
        .where(EmailRecord.assist_id == assist.id)
        .order_by(EmailRecord.created_at.desc())
        .limit(1)
    )
    if subject is None:
        subject = (
            reply_subject(parent.subject)
            if parent is not None and parent.subject
            else assist.subject or "Your request"
        )
    subject = assist_subject(assist.number, subject)
    in_reply_to = parent.message_id if parent is not None else None
    references = thread_references(parent.references if parent else [], in_reply_to)
    record_id = new_id()
    token = identity.reply_token(record_id)
    record = EmailRecord(
        id=record_id,
        workspace_id=assist.workspace_id,
        direction="out",
        message_id=new_message_id(identity.domain),
        assist_id=assist.id,
        in_reply_to=in_reply_to,
        references=references,
        subject=subject,
        from_address=identity.sender,
        to_addresses=[to.lower()],
        reply_token_hash=token_hash(token) if token else None,
        text=text,
        created_at=now,
    )
    session.add(record)
    headers = {
        "workspace_id": assist.workspace_id,
        "message_id": record.message_id,
        "in_reply_to": in_reply_to,
        "references": references,
        # The token itself never enters the outbox: the sender derives it again.
        "reply_record": record_id if token else None,
        "subject": subject,
    }
    enqueue(
        session,
        workspace_id=assist.workspace_id,
        route=Route(channel="email", address=to, thread=in_reply_to),
        deliverables=[
            Deliverable(kind=kind, title=subject, text=text, fields=fields, data={"email": headers})
        ],
        dedupe_prefix=f"assist-email:{record.id}",
    )
    await session.flush()
    return record
