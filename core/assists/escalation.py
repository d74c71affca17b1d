"""Escalating a customer's conversation to the team: the AI agent collects the name and email
the channel did not give, has the customer confirm them, then opens an assist with the
inbox's analysis and emails the team (summary and link) and the customer (the reference)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select, update

from core.assists.analysis import Analysis, Escalation, Turn, analyze
from core.assists.details import EMAIL
from core.assists.email_identity import EmailIdentity
from core.assists.mail import send_assist_email
from core.assists.notify import notify_team
from core.assists.phrases import CANCEL, NAME_PREFIX, NO, YES, first_name_of, parse_name
from core.assists.records import create_assist, customer_for
from core.team import agents
from models.deliverable import CardField, Deliverable
from storage.domain import Assist, Customer
from storage.email import EmailRecord

if TYPE_CHECKING:
    from core.assists.turn_view import TurnView

log = logging.getLogger(__name__)

REQUESTED = "The customer asked to talk to a person"


async def escalate(
    turn: TurnView, reason: str, kind: Literal["requested", "low_confidence"]
) -> list[Deliverable]:
    row = turn.row
    row.reason = reason
    if turn.caller.email and not row.email:
        row.email = turn.caller.email
    customer = await turn.session.get(Customer, row.customer_id) if row.customer_id else None
    if not row.name:
        row.name = turn.caller.name or (customer.name if customer else None)
    if not row.email and customer is not None and customer.email:
        row.email = customer.email
    if kind == "requested":
        opener = "Of course, I'll connect you with a person on our team."
    else:
        opener = agents.text_setting(turn.agent, agents.HANDOFF_MESSAGE) or (
            "I'm not sure I can answer that well, so I'll pass it to a person on our team."
        )
    return _next_question(turn, opener)


def _next_question(turn: TurnView, opener: str = "") -> list[Deliverable]:
    row = turn.row
    if not row.name:
        row.stage = "ask_name"
        return turn.say(opener, "What's your name?", step="details")
    if not row.email:
        row.stage = "ask_email"
        thanks = f"Thanks, {first_name_of(row.name)}. " if not opener else ""
        return turn.say(
            opener, f"{thanks}What email address should the team reply to?", step="details"
        )
    row.stage = "confirm"
    return turn.say(
        opener,
        "Please check your details:\n"
        f"Name: {row.name}\nEmail: {row.email}\n"
        "Reply CONFIRM to send your request to the team, or send the correct details.",
        step="details",
    )


async def collect(turn: TurnView) -> list[Deliverable]:
    row = turn.row
    text = turn.text
    if CANCEL.match(text):
        row.stage, row.reason = "chat", None
        return turn.say("No problem, I won't pass this on. Is there anything else I can help with?")
    email = EMAIL.search(text)
    name = parse_name(text)
    if email:
        row.email = email.group().lower()
    if row.stage == "confirm" and not email:
        if YES.match(text):
            return await _open_escalation(turn)
        if NO.match(text):
            row.name = row.email = None
            row.stage = "ask_name"
            return turn.say("No problem. What's your name?", step="details")
    if name and (row.stage == "ask_name" or NAME_PREFIX.match(text) or not email):
        row.name = name
    elif row.stage == "ask_name" and not email:
        return turn.say("Sorry, I didn't catch that. What's your name?", step="details")
    if row.stage == "ask_email" and not email:
        return turn.say(
            "That doesn't look like an email address. What email should the team reply to?",
            step="details",
        )
    return _next_question(turn)


async def _open_escalation(turn: TurnView) -> list[Deliverable]:
    """The customer confirmed: the assist, the team's email and the customer's."""
    row = turn.row
    desk = turn.desk
    ws = turn.principal.workspace_id
    reason = row.reason or REQUESTED
    team = (
        desk.identity.sender_name
        if desk.identity and desk.identity.sender_name
        else f"The {turn.principal.workspace_name} team"
    )
    escalation = Escalation(
        transcript=tuple(Turn.from_entry(e) for e in row.transcript),
        reason=reason,
        reason_kind="requested" if reason == REQUESTED else "low_confidence",
        channel=turn.task.channel,
        name=row.name,
        email=row.email,
        phone=turn.caller.phone,
        team=team,
    )
    analysis = await analyze(escalation, desk.llm)
    customer = await _customer_of(turn, row.name, row.email)
    assist = await create_assist(
        turn.session,
        workspace_id=ws,
        subject=analysis.subject,
        summary=analysis.summary,
        transcript=[{k: v for k, v in e.items() if k != "email_record"} for e in row.transcript],
        customer=customer,
        category=analysis.category,
        priority=analysis.priority,
        tags=analysis.tags,
        escalation_reason=analysis.reason,
        now=turn.now,
    )
    assist.customer_details = {**assist.customer_details, **analysis.details}
    assist.suggested_reply = analysis.suggested_reply
    assist.conversation_id = row.conversation_id
    conversation = await turn.conversation()
    if conversation is not None:
        conversation.escalated = True
        conversation.resolved_by_ai = False
        conversation.assist_id = assist.id
        conversation.customer_id = customer.id
        conversation.topic = analysis.category
        conversation.ended_at = turn.now
    row.customer_id = customer.id
    row.assist_id = assist.id
    row.stage, row.reason = "chat", None
    await _link_emails(turn, assist)
    emailed = False
    if desk.identity is not None:
        await _notify_escalation(turn, assist, analysis, desk.identity)
        if row.email:
            await send_assist_email(
                turn.session,
                desk.identity,
                assist,
                to=row.email,
                text=_confirmation(turn, assist, analysis, team),
                subject=None if turn.task.channel == "email" else "We received your request",
                now=turn.now,
            )
            emailed = True
    log.info("escalation opened %s (%s)", assist.ref, escalation.reason_kind)
    if turn.task.channel == "email" and emailed:
        # The confirmation email, in the customer's own thread, is the answer.
        turn.record("agent", f"Confirmation emailed: {assist.ref}", step="details")
        return []
    where = f" at {row.email}" if row.email else ""
    sent = " We've emailed you a confirmation." if emailed else ""
    return turn.say(
        f"Thanks, {first_name_of(row.name)}! Your request is {assist.ref}: our team will get back "
        f"to you by email{where}.{sent}",
        step="details",
    )


async def _customer_of(turn: TurnView, name: str | None, email: str | None) -> Customer:
    ws = turn.principal.workspace_id
    found = None
    if turn.caller.phone:
        found = await turn.session.scalar(
            select(Customer)
            .where(Customer.workspace_id == ws, Customer.phone == turn.caller.phone)
            .limit(1)
        )
    if found is None and turn.row.customer_id:
        found = await turn.session.get(Customer, turn.row.customer_id)
    if found is None:
        found = await customer_for(turn.session, ws, email=email, name=name)
    if name and not found.name:
        found.name = name[:200]
    if email and not found.email:
        found.email = email.lower()
    if turn.caller.phone and not found.phone:
        found.phone = turn.caller.phone
    return found


async def _link_emails(turn: TurnView, assist: Assist) -> None:
    """The customer's emails of this conversation belong to the assist: their replies to
    our confirmation (and to earlier answers) thread into it."""
    ids = [str(e["email_record"]) for e in turn.row.transcript if e.get("email_record")]
    if ids:
        await turn.session.execute(
            update(EmailRecord)
            .where(
                EmailRecord.workspace_id == assist.workspace_id,
                EmailRecord.id.in_(ids),
                EmailRecord.assist_id.is_(None),
            )
            .values(assist_id=assist.id)
        )


async def _notify_escalation(
    turn: TurnView, assist: Assist, analysis: Analysis, identity: EmailIdentity
) -> None:
    link = turn.desk.links.assist(assist.ref)
    who = " ".join(
        part for part in (turn.row.name, f"<{turn.row.email}>" if turn.row.email else None) if part
    )
    details = ", ".join(
        f"{k.replace('_', ' ')}: {v}"
        for k, v in analysis.details.items()
        if k not in ("name", "email")
    )
    lines = [
        f"New escalation {assist.ref} ({assist.priority} priority, {assist.category}), "
        f"by {turn.task.channel}.",
        "",
        analysis.summary,
        "",
        f"Customer: {who or 'unknown'}",
    ]
    if details:
        lines.append(f"Details: {details}")
    lines += [
        f"Tags: {', '.join(assist.tags) or '—'}",
        f"Reason: {analysis.reason}",
        "",
        "Suggested reply:",
        analysis.suggested_reply,
        "",
    ]
    lines.append(turn.desk.links.assist_pointer(assist.ref))
    fields = [
        CardField(label="Assist", value=assist.ref),
        CardField(label="Priority", value=assist.priority),
        CardField(label="Category", value=assist.category or "other"),
        CardField(label="Customer", value=who or "unknown"),
    ]
    if link:
        fields.append(CardField(label="Link", value=link))
    await notify_team(
        turn.session,
        assist,
        title=f"[{assist.ref}] New escalation: {analysis.subject}",
        text="\n".join(lines),
        fields=tuple(fields),
        dedupe_key=f"escalation:{assist.id}",
        identity=identity,
        link=turn.desk.links.console_or_path(f"assists/{assist.ref}"),
    )


def _confirmation(turn: TurnView, assist: Assist, analysis: Analysis, team: str) -> str:
    first = first_name_of(turn.row.name)
    return (
        f"Hi{' ' + first if first else ''},\n\n"
        f"Thanks for contacting us. Your request has reached our team; its reference number "
        f"is {assist.ref}.\n\n"
        f"Your request: {analysis.subject}\n\n"
        "We'll reply to this email. To add anything, just reply to it.\n\n"
        f"Best regards,\n{team}"
    )
