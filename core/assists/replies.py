"""A customer's reply added to their assist: from a chat channel while the assist is worked, or
an email threaded into it (kept flagged when its sender is not to be trusted)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from core.assists.csat import Links
from core.assists.email_identity import EmailIdentity
from core.assists.email_records import (
    MediaUrl,
    ReceivedEmail,
    record_inbound,
    record_task,
    task_attachment,
)
from core.assists.matching import AssistMatch, customer_addresses
from core.assists.notify import notify_team
from core.live import conversations
from models.deliverable import CardField
from storage.domain import Assist, AssistEvent
from storage.models import TaskRow
from storage.types import utcnow


def add_customer_reply(
    session: AsyncSession,
    assist: Assist,
    *,
    author: str,
    body: str,
    now: datetime,
    flagged: bool = False,
) -> bool:
    """Add the customer's BODY to ASSIST as a `customer_reply` event and mark the assist unread;
    a trusted reply (not FLAGGED) moves a pending or snoozed assist back to open (a snoozed one
    no longer waits for its time). Returns whether it did."""
    session.add(
        AssistEvent(
            workspace_id=assist.workspace_id,
            assist_id=assist.id,
            kind="customer_reply",
            author=author,
            body=body,
            flagged=flagged,
            created_at=now,
        )
    )
    assist.unread = True
    assist.updated_at = now
    if flagged or assist.status not in ("pending", "snoozed"):
        return False
    assist.status = "open"
    assist.snoozed_until = None
    return True


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    created: bool  # False: a redelivery, nothing changed
    flagged: bool
    notified: tuple[str, ...] = ()  # member emails told about it


async def thread_email_reply(
    session: AsyncSession,
    match: AssistMatch,
    mail: ReceivedEmail,
    task: dict[str, Any],
    identity: EmailIdentity,
    *,
    media_url: MediaUrl,
    links: Links | None = None,
    now: datetime | None = None,
    automatic: bool = False,
) -> ReplyOutcome:
    """Thread MAIL into the assist, in the caller's transaction, once per Message-ID.

    TASK is the journal row recording the email (kind `email_reply`, finished: no worker
    answers a customer's reply with the operator). The reply becomes a `customer_reply` event
    and the assist is marked unread. From the assist's customer, and authenticated, it also
    moves a pending assist back to open and the assignee (or the team) is emailed, pointed at
    the assist's console page by LINKS; otherwise it is kept flagged and nothing acts on it.

    Raises:
        LookupError: the matched assist is gone.
    """
    now = now or utcnow()
    assist = await session.get(Assist, match.assist_id)
    if assist is None:
        raise LookupError(f"assist {match.assist_id} is gone")
    reason = await flag_reason(session, assist, mail)
    if reason is None and automatic:
        reason = "an automatic reply (Auto-Submitted or Precedence: bulk/junk/auto_reply)"
    raw = {**task.get("raw", {}), "assist": assist.ref, "matched_by": match.method}
    if reason:
        raw["flagged"] = reason
    if not await record_task(session, {**task, "raw": raw}):
        return ReplyOutcome(created=False, flagged=reason is not None)
    record, _ = await record_inbound(
        session,
        assist.workspace_id,
        mail,
        now=now,
        assist_id=assist.id,
        task_id=task["id"],
        flag_reason=reason,
    )
    if record.attachments:
        await session.execute(
            update(TaskRow)
            .where(TaskRow.id == task["id"])
            .values(attachments=[task_attachment(a, media_url) for a in record.attachments])
        )
    body = mail.reply_text or mail.subject
    if record.attachments:
        body += "\n\nAttachments: " + ", ".join(a["name"] for a in record.attachments)
    was = assist.status
    reopened = add_customer_reply(
        session, assist, author=mail.from_address, body=body, now=now, flagged=reason is not None
    )
    if reason is not None:
        return ReplyOutcome(created=True, flagged=True)
    await conversations.record_for_assist(
        session, assist, author="customer", text=body, key=f"email:{task['id']}", at=now
    )
    who = f"{mail.from_name} <{mail.from_address}>" if mail.from_name else mail.from_address
    lines = [f"{who} replied to {assist.ref} ({assist.subject or mail.subject}):", "", body, ""]
    if reopened:
        lines.append(f"{assist.ref} was {was} and is open again.")
    elif assist.status == "closed":
        lines.append(f"{assist.ref} is closed; reopen it if the customer needs more help.")
    page = (links or Links()).console_or_path(f"assists/{assist.ref}")
    lines.append(
        f'Answer it in the console ({page}), or tell the operator "reply to {assist.ref} ...".'
    )
    notified = await notify_team(
        session,
        assist,
        title=f"[{assist.ref}] New reply from {mail.from_name or mail.from_address}",
        text="\n".join(lines),
        fields=(
            CardField(label="Assist", value=assist.ref),
            CardField(label="Customer", value=who),
            CardField(label="Status", value=assist.status),
            CardField(label="Priority", value=assist.priority),
        ),
        dedupe_key=f"assist-reply:{task['id']}",
        identity=identity,
        link=page,
    )
    return ReplyOutcome(created=True, flagged=False, notified=tuple(notified))


async def flag_reason(session: AsyncSession, assist: Assist, mail: ReceivedEmail) -> str | None:
    """Why a reply to ASSIST must not be trusted, or None."""
    expected = await customer_addresses(session, assist)
    if mail.from_address.lower() not in expected:
        shown = ", ".join(sorted(expected)) or "unknown"
        return f"sender {mail.from_address} is not the assist's customer ({shown})"[:300]
    if mail.authenticated is False:
        return f"sender {mail.from_address} failed SPF and DKIM for {mail.from_domain}"[:300]
    return None
