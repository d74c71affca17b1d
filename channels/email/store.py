"""What the email channel reads and writes: inbound emails, assist threads, customer replies,
team notifications and the workspace's provider. Functions take the caller's session.

For the AI Inbox (escalations, replies to customers, closing): `send_assist_email` queues an
email about an assist with its thread headers and a fresh `reply+TOKEN@` Reply-To;
`append_customer_reply` threads a customer's answer into the assist; `notify_team` emails the
assignee, or the team when nobody is assigned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from channels.email.inbound import InboundEmail
from delivery.media import MediaStore
from delivery.outbox.queue import enqueue
from models.deliverable import CardField, Deliverable, DeliverableKind
from models.email_threads import (
    assist_subject,
    new_message_id,
    reply_address,
    reply_subject,
    reply_token,
    thread_references,
    token_hash,
)
from models.task import Attachment, Route
from storage.domain import Assist, AssistEvent, Customer, Integration
from storage.email import EmailRecord
from storage.models import ChannelIdentity, Member, TaskRow, Workspace
from storage.types import new_id, utcnow

MatchMethod = Literal["token", "references", "subject"]
MediaUrl = Callable[[str, datetime], str]  # (media id, expiry) -> signed /media link
PROVIDER_SETTING = "email"  # the Integration row holding a workspace's provider choice
TEAM_ROLES = ("owner", "admin", "manager")
# Inbound attachments live with the assist; a year is longer than any assist stays open.
ATTACHMENT_TTL = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class EmailIdentity:
    """Who our emails come from, the domain of our Message-IDs and reply addresses, and the
    key reply tokens are derived with (none without SWITCHBOARD_SECRET_KEY)."""

    sender: str
    sender_name: str
    domain: str  # Message-IDs: <...@domain>
    inbound_domain: str | None  # reply+TOKEN@inbound_domain
    token_key: bytes | None = field(default=None, repr=False)

    def reply_token(self, record_id: str) -> str | None:
        """The token of email RECORD_ID's reply address, when reply addresses are on."""
        if self.inbound_domain is None or self.token_key is None:
            return None
        return reply_token(self.token_key, record_id)

    def reply_address(self, record_id: str) -> str | None:
        """The reply+TOKEN@ address of email RECORD_ID, when reply addresses are on."""
        token = self.reply_token(record_id)
        if token is None or self.inbound_domain is None:
            return None
        return reply_address(token, self.inbound_domain)


@dataclass(frozen=True, slots=True)
class AssistMatch:
    """The assist an inbound reply belongs to, and how it was found."""

    workspace_id: str
    assist_id: str
    number: int
    method: MatchMethod


def _insert(session: AsyncSession) -> Any:
    return sqlite_insert if session.bind.dialect.name == "sqlite" else pg_insert


# ---------------------------------------------------------------------------- matching


async def match_by_token(session: AsyncSession, tokens: Sequence[str]) -> AssistMatch | None:
    """The assist whose reply address carried one of TOKENS (the token names its workspace)."""
    if not tokens:
        return None
    row = await session.scalar(
        select(EmailRecord).where(
            EmailRecord.reply_token_hash.in_([token_hash(t) for t in tokens]),
            EmailRecord.assist_id.is_not(None),
        )
    )
    return await _match(session, row, "token") if row is not None else None


async def match_by_references(
    session: AsyncSession, workspace_id: str, ids: Sequence[str]
) -> AssistMatch | None:
    """The assist of the nearest email of IDS (In-Reply-To, then References newest first)."""
    if not ids:
        return None
    rows = list(
        await session.scalars(
            select(EmailRecord).where(
                EmailRecord.workspace_id == workspace_id,
                EmailRecord.message_id.in_(list(ids)[:50]),
                EmailRecord.assist_id.is_not(None),
            )
        )
    )
    by_id = {row.message_id: row for row in rows}
    for wanted in ids:
        if wanted in by_id:
            return await _match(session, by_id[wanted], "references")
    return None


async def match_by_subject(
    session: AsyncSession, workspace_id: str, number: int | None, sender: str
) -> AssistMatch | None:
    """Assist A-NUMBER, when SENDER is its customer: a subject tag is easy to type, so it is
    trusted only from the one person the assist is about."""
    if number is None:
        return None
    assist = await session.scalar(
        select(Assist).where(Assist.workspace_id == workspace_id, Assist.number == number)
    )
    if assist is None or sender.lower() not in await customer_addresses(session, assist):
        return None
    return AssistMatch(workspace_id, assist.id, assist.number, "subject")


async def _match(
    session: AsyncSession, row: EmailRecord, method: MatchMethod
) -> AssistMatch | None:
    assist = await session.get(Assist, row.assist_id)
    if assist is None or assist.workspace_id != row.workspace_id:
        return None
    return AssistMatch(row.workspace_id, assist.id, assist.number, method)


async def customer_addresses(session: AsyncSession, assist: Assist) -> set[str]:
    """Every address that counts as the assist's customer: the customer record's, the one in
    the extracted details, and those our emails about the assist went to."""
    found: set[str] = set()
    if assist.customer_id:
        customer = await session.get(Customer, assist.customer_id)
        if customer is not None and customer.email and customer.workspace_id == assist.workspace_id:
            found.add(customer.email.lower())
    detail = (assist.customer_details or {}).get("email")
    if isinstance(detail, str) and "@" in detail:
        found.add(detail.strip().lower())
    sent_to = await session.scalars(
        select(EmailRecord.to_addresses).where(
            EmailRecord.assist_id == assist.id, EmailRecord.direction == "out"
        )
    )
    for addresses in sent_to:
        found.update(str(a).lower() for a in addresses or ())
    return found


async def is_member(session: AsyncSession, workspace_id: str, address: str) -> bool:
    """Whether ADDRESS is a linked email identity of an active member of the workspace."""
    found = await session.scalar(
        select(Member.id)
        .join(ChannelIdentity, ChannelIdentity.member_id == Member.id)
        .where(
            ChannelIdentity.workspace_id == workspace_id,
            ChannelIdentity.channel == "email",
            ChannelIdentity.address == address.lower(),
            Member.status == "active",
        )
        .limit(1)
    )
    return found is not None


# ---------------------------------------------------------------------------- inbound


async def record_task(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert a task row unless its dedupe key exists; True when this is the first delivery."""
    stmt = (
        _insert(session)(TaskRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["workspace_id", "channel", "external_id"])
        .returning(TaskRow.id)
    )
    return (await session.execute(stmt)).scalar() is not None


def store_attachments(
    session: AsyncSession, workspace_id: str, mail: InboundEmail, now: datetime
) -> list[dict[str, Any]]:
    """The email's attachments in the media store (within the limits the parser applied)."""
    stored = []
    for item in mail.attachments:
        row = MediaStore.add(
            session,
            workspace_id=workspace_id,
            filename=item.filename,
            content_type=item.content_type,
            data=item.data,
            ttl=ATTACHMENT_TTL,
            now=now,
        )
        stored.append(
            {
                "media_id": row.id,
                "name": row.filename,
                "content_type": row.content_type,
                "size": row.size,
                "content_id": item.content_id,
                "expires_at": row.expires_at.isoformat(),
            }
        )
    return stored


async def record_inbound(
    session: AsyncSession,
    workspace_id: str,
    mail: InboundEmail,
    *,
    now: datetime,
    assist_id: str | None = None,
    task_id: str | None = None,
    flag_reason: str | None = None,
) -> tuple[EmailRecord, bool]:
    """Keep an inbound email (text, HTML, authentication results, attachments in the media
    store); a redelivery of the same Message-ID, even a concurrent one, returns the record
    kept the first time. Returns (record, whether it is new)."""
    message_id = mail.message_id or f"<{mail.external_id}>"
    record_id = new_id()
    stmt = (
        _insert(session)(EmailRecord)
        .values(
            id=record_id,
            workspace_id=workspace_id,
            direction="in",
            message_id=message_id,
            assist_id=assist_id,
            task_id=task_id,
            in_reply_to=mail.in_reply_to,
            references=list(mail.references),
            subject=mail.subject,
            from_address=mail.from_address,
            to_addresses=list(mail.recipients),
            text=mail.text,
            html=mail.html,
            spf=mail.spf,
            dkim=", ".join(f"{d or '?'}:{r}" for d, r in mail.dkim)[:200] or None,
            attachments=[],
            flagged=flag_reason is not None,
            flag_reason=flag_reason,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["workspace_id", "direction", "message_id"])
        .returning(EmailRecord.id)
    )
    created = (await session.execute(stmt)).scalar() is not None
    if created:
        await session.execute(
            update(EmailRecord)
            .where(EmailRecord.id == record_id)
            .values(attachments=store_attachments(session, workspace_id, mail, now))
        )
    record = await session.scalar(
        select(EmailRecord)
        .where(
            EmailRecord.workspace_id == workspace_id,
            EmailRecord.direction == "in",
            EmailRecord.message_id == message_id,
        )
        .execution_options(populate_existing=True)
    )
    assert record is not None
    return record, created


def task_attachment(stored: dict[str, Any], media_url: MediaUrl) -> dict[str, Any]:
    """A stored attachment as the task records it (`models.task.Attachment`), linked."""
    expires = datetime.fromisoformat(str(stored["expires_at"]))
    return Attachment(
        name=str(stored["name"]),
        content_type=str(stored["content_type"]),
        url=media_url(str(stored["media_id"]), expires),
        size=int(stored["size"]),
    ).model_dump(mode="json")


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    created: bool  # False: a redelivery, nothing changed
    flagged: bool
    notified: tuple[str, ...] = ()  # member emails told about it


async def append_customer_reply(
    session: AsyncSession,
    match: AssistMatch,
    mail: InboundEmail,
    task: dict[str, Any],
    identity: EmailIdentity,
    *,
    media_url: MediaUrl,
    now: datetime | None = None,
    automatic: bool = False,
) -> ReplyOutcome:
    """Thread MAIL into the assist, in the caller's transaction, once per Message-ID.

    TASK is the journal row recording the email (kind `email_reply`, finished: no worker
    answers a customer's reply with the operator). The reply becomes a `customer_reply` event
    and the assist is marked unread. From the assist's customer, and authenticated, it also
    moves a pending assist back to open and the assignee (or the team) is emailed; otherwise it
    is kept flagged and nothing acts on it.
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
    session.add(
        AssistEvent(
            workspace_id=assist.workspace_id,
            assist_id=assist.id,
            kind="customer_reply",
            author=mail.from_address,
            body=body,
            flagged=reason is not None,
            created_at=now,
        )
    )
    assist.unread = True
    assist.updated_at = now
    if reason is not None:
        return ReplyOutcome(created=True, flagged=True)
    reopened = assist.status == "pending"
    if reopened:
        assist.status = "open"
    who = f"{mail.from_name} <{mail.from_address}>" if mail.from_name else mail.from_address
    lines = [f"{who} replied to {assist.ref} ({assist.subject or mail.subject}):", "", body, ""]
    if reopened:
        lines.append(f"{assist.ref} was pending and is open again.")
    elif assist.status == "closed":
        lines.append(f"{assist.ref} is closed; reopen it if the customer needs more help.")
    lines.append(f'Answer from the AI Inbox, or tell the operator "reply to {assist.ref} ...".')
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
    )
    return ReplyOutcome(created=True, flagged=False, notified=tuple(notified))


async def flag_reason(session: AsyncSession, assist: Assist, mail: InboundEmail) -> str | None:
    """Why a reply to ASSIST must not be trusted, or None."""
    expected = await customer_addresses(session, assist)
    if mail.from_address.lower() not in expected:
        shown = ", ".join(sorted(expected)) or "unknown"
        return f"sender {mail.from_address} is not the assist's customer ({shown})"[:300]
    if mail.authenticated is False:
        return f"sender {mail.from_address} failed SPF and DKIM for {mail.from_domain}"[:300]
    return None


# ---------------------------------------------------------------------------- outbound


async def team_recipients(session: AsyncSession, assist: Assist) -> list[Member]:
    """The assignee when there is one with an email, else the owners, admins and managers."""
    if assist.assignee_id:
        assignee = await session.get(Member, assist.assignee_id)
        if (
            assignee is not None
            and assignee.workspace_id == assist.workspace_id
            and assignee.status == "active"
            and assignee.email
        ):
            return [assignee]
    rows = await session.scalars(
        select(Member)
        .where(
            Member.workspace_id == assist.workspace_id,
            Member.status == "active",
            Member.role.in_(TEAM_ROLES),
            Member.email.is_not(None),
        )
        .order_by(Member.name)
    )
    return list(rows)


async def notify_team(
    session: AsyncSession,
    assist: Assist,
    *,
    title: str,
    text: str,
    dedupe_key: str,
    identity: EmailIdentity,
    fields: tuple[CardField, ...] = (),
) -> list[str]:
    """Email the assignee (or the team) through the outbox; returns the addresses."""
    addresses = []
    for member in await team_recipients(session, assist):
        assert member.email is not None
        deliverable = Deliverable(
            kind="card" if fields else "text",
            title=title,
            text=text,
            fields=fields,
            data={"email": {"workspace_id": assist.workspace_id, "subject": title}},
        )
        enqueue(
            session,
            workspace_id=assist.workspace_id,
            route=Route(channel="email", address=member.email),
            deliverables=[deliverable],
            dedupe_prefix=f"{dedupe_key}:{member.id}",
        )
        addresses.append(member.email)
    return addresses


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


async def thread_of(session: AsyncSession, message_id: str, address: str) -> EmailRecord | None:
    """The inbound email a reply on ROUTE.thread answers (the sender's own, preferably)."""
    rows = list(
        await session.scalars(
            select(EmailRecord)
            .where(EmailRecord.message_id == message_id, EmailRecord.direction == "in")
            .limit(5)
        )
    )
    for row in rows:
        if row.from_address == address.lower():
            return row
    return rows[0] if rows else None


async def workspace_of_address(session: AsyncSession, address: str) -> str | None:
    """The one workspace whose member holds ADDRESS, or the only workspace; else None."""
    ids = set(
        await session.scalars(
            select(ChannelIdentity.workspace_id).where(
                ChannelIdentity.channel == "email", ChannelIdentity.address == address.lower()
            )
        )
    )
    if len(ids) == 1:
        return ids.pop()
    if ids:
        return None
    workspaces = list(await session.scalars(select(Workspace.id).limit(2)))
    return workspaces[0] if len(workspaces) == 1 else None


async def workspace_provider(session: AsyncSession, workspace_id: str) -> str | None:
    """The provider the workspace chose (its `email` integration's settings), if any."""
    settings = await session.scalar(
        select(Integration.settings).where(
            Integration.workspace_id == workspace_id, Integration.name == PROVIDER_SETTING
        )
    )
    chosen = (settings or {}).get("provider") if isinstance(settings, dict) else None
    return chosen if isinstance(chosen, str) else None


async def set_workspace_provider(
    session: AsyncSession, workspace_id: str, provider: str | None
) -> None:
    """Choose the workspace's email provider (None: the gateway's default)."""
    row = await session.scalar(
        select(Integration).where(
            Integration.workspace_id == workspace_id, Integration.name == PROVIDER_SETTING
        )
    )
    if row is None:
        row = Integration(workspace_id=workspace_id, name=PROVIDER_SETTING, enabled=True)
        session.add(row)
    settings = dict(row.settings or {})
    if provider is None:
        settings.pop("provider", None)
    else:
        settings["provider"] = provider
    row.settings = settings
    row.updated_at = utcnow()
    await session.flush()
