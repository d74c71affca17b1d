"""Emails kept for threading: an inbound email as received (its attachments in the media
store) beside the journal row recording it. The email channel parses; this keeps."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from delivery.media import MediaStore
from models.task import Attachment
from storage.db import upsert_insert
from storage.email import EmailRecord
from storage.models import TaskRow
from storage.types import new_id

MediaUrl = Callable[[str, datetime], str]  # (media id, expiry) -> signed /media link
# Inbound attachments live with the assist; a year is longer than any assist stays open.
ATTACHMENT_TTL = timedelta(days=365)


class ReceivedAttachment(Protocol):
    """A file of an inbound email, as the email channel parsed it."""

    @property
    def filename(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def data(self) -> bytes: ...
    @property
    def content_id(self) -> str | None: ...


class ReceivedEmail(Protocol):
    """An inbound email as the email channel parsed it (its `InboundEmail`): what keeping it
    and threading it into an assist read. Addresses lower-cased, Message-IDs bracketed."""

    @property
    def from_address(self) -> str: ...
    @property
    def from_name(self) -> str: ...
    @property
    def from_domain(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def html(self) -> str: ...
    @property
    def reply_text(self) -> str: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def external_id(self) -> str: ...
    @property
    def in_reply_to(self) -> str | None: ...
    @property
    def references(self) -> Sequence[str]: ...
    @property
    def recipients(self) -> Sequence[str]: ...
    @property
    def spf(self) -> str | None: ...
    @property
    def dkim(self) -> Sequence[tuple[str, str]]: ...
    @property
    def authenticated(self) -> bool | None: ...
    @property
    def attachments(self) -> Sequence[ReceivedAttachment]: ...


async def record_task(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert a task row unless its dedupe key exists; True when this is the first delivery."""
    stmt = (
        upsert_insert(session)(TaskRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["workspace_id", "channel", "external_id"])
        .returning(TaskRow.id)
    )
    return (await session.execute(stmt)).scalar() is not None


def store_attachments(
    session: AsyncSession, workspace_id: str, mail: ReceivedEmail, now: datetime
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
    mail: ReceivedEmail,
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
        upsert_insert(session)(EmailRecord)
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
