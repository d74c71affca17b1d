"""What a team member does to an assist: reply to the customer, add an internal note, refine the
suggested reply, change status, priority, assignee or details, close it, read it.

One function per action, called by the admin API and the console (where the member's own
request is the approval). The operator's write tools plan the same changes as a proposal from
`reply_changes`, `closing_changes`, `close_changes` and `event_row`, with `NOW` standing for the
moment the proposal is carried out. Every action stamps `updated_at`: open consoles follow it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.assists.drafting import RefineMode, refine, regenerated_reply
from core.assists.email_identity import EmailIdentity
from core.assists.history import resolution_of
from core.assists.mail import AssistMailer
from core.assists.snooze import wake
from core.live import conversations
from core.routing.notices import tell_assignee
from storage.domain import Assist, AssistEvent
from storage.models import Member
from storage.types import new_id

if TYPE_CHECKING:
    from core.llm.gateway import LlmGateway

NOW = "__now__"  # a planned value that becomes the moment the action is carried out
RESOLUTION_LIMIT = 4000
EVENT_KINDS = ("note", "reply", "customer_reply", "csat")


@dataclass(frozen=True, slots=True)
class SentReply:
    event: AssistEvent
    to: str
    subject: str
    message_id: str | None  # None: sent as a plain email (the email channel is off)


def _apply(assist: Assist, changes: dict[str, Any], now: datetime) -> None:
    for name, value in changes.items():
        setattr(assist, name, now if value == NOW else value)
    assist.updated_at = now


def event_row(
    assist: Assist, kind: str, *, author: str | None, body: str, created_at: Any
) -> dict[str, Any]:
    """The columns of a new event of ASSIST (a proposal passes NOW-like markers as CREATED_AT)."""
    return {
        "id": new_id(),
        "workspace_id": assist.workspace_id,
        "assist_id": assist.id,
        "kind": kind,
        "author": author,
        "body": body,
        "flagged": False,
        "created_at": created_at,
    }


def _record(
    session: AsyncSession,
    assist: Assist,
    kind: str,
    *,
    author: str | None,
    body: str,
    now: datetime,
) -> AssistEvent:
    event = AssistEvent(**event_row(assist, kind, author=author, body=body, created_at=now))
    session.add(event)
    assist.updated_at = now
    return event


def reply_changes(assist: Assist) -> dict[str, Any]:
    """What a team reply changes on ASSIST besides adding it: its first response (NOW) when
    there is none yet, and an open assist becomes pending (the customer's turn)."""
    changes: dict[str, Any] = {}
    if assist.first_response_at is None:
        changes["first_response_at"] = NOW
    if assist.status == "open":
        changes["status"] = "pending"
    return changes


async def send_reply(
    session: AsyncSession,
    assist: Assist,
    *,
    text: str,
    to: str,
    author: str | None,
    mailer: AssistMailer,
    now: datetime,
) -> SentReply:
    """Email TEXT to TO in ASSIST's thread (queued in the caller's transaction: wake the
    outbox after the commit), keep it as a `reply` event, apply `reply_changes`, and mark the
    assist read (whoever answers has read it)."""
    subject, message_id = await mailer.email_customer(session, assist, to, text, None)
    event = _record(session, assist, "reply", author=author, body=text, now=now)
    await conversations.record_for_assist(
        session, assist, author="member", text=text, key=f"assist-reply:{event.id}", at=now
    )
    _apply(assist, reply_changes(assist), now)
    assist.unread = False
    await session.flush()
    return SentReply(event=event, to=to, subject=subject, message_id=message_id)


async def add_note(
    session: AsyncSession, assist: Assist, *, text: str, author: str | None, now: datetime
) -> AssistEvent:
    """An internal note on ASSIST: kept with it, never sent to the customer."""
    event = _record(session, assist, "note", author=author, body=text, now=now)
    await session.flush()
    return event


def team_name(identity: EmailIdentity | None, workspace_name: str | None) -> str:
    """Who the team's replies are signed by: the email sender's name, else the workspace."""
    if identity is not None and identity.sender_name:
        return identity.sender_name
    return f"The {workspace_name} team" if workspace_name else "The team"


def conversation_text(assist: Assist) -> str:
    """ASSIST's escalated conversation as lines, for the model (quoted there as data)."""
    return "\n".join(
        f"{e.get('from')}: {e.get('text')}" for e in assist.transcript or () if isinstance(e, dict)
    )


async def refine_suggestion(
    assist: Assist,
    mode: RefineMode,
    *,
    team: str,
    llm: LlmGateway | None,
    now: datetime,
) -> tuple[str, str]:
    """Rewrite ASSIST's suggested reply as MODE asks and keep it; (text, "llm"|"offline")."""
    current = (assist.suggested_reply or "").strip()
    fresh = regenerated_reply(assist, team, current=current)
    text, backend = await refine(
        current or fresh, mode, context=conversation_text(assist), regenerated=fresh, llm=llm
    )
    assist.suggested_reply = text
    assist.updated_at = now
    return text, backend


def closing_changes() -> dict[str, Any]:
    """What closing sets, whatever else it records."""
    return {"status": "closed", "closed_at": NOW}


async def close_changes(
    session: AsyncSession, assist: Assist, resolution: str | None
) -> dict[str, Any]:
    """Closing ASSIST: `closing_changes` and its resolution (RESOLUTION, else the team's last
    reply when none is recorded): it stays with the customer, and the AI agent recalls it the
    next time they write."""
    changes = closing_changes()
    if resolution and resolution.strip():
        changes["resolution"] = resolution.strip()[:RESOLUTION_LIMIT]
    elif not assist.resolution:
        last = await resolution_of(session, assist)
        if last:
            changes["resolution"] = last[:RESOLUTION_LIMIT]
    return changes


_UNSET: Any = object()


async def update(
    session: AsyncSession,
    assist: Assist,
    *,
    now: datetime,
    mailer: AssistMailer,
    status: str | None = None,
    priority: str | None = None,
    assignee_id: str | None = _UNSET,
    resolution: str | None = None,
    survey: bool = True,
    actor: str = "team",
) -> dict[str, Any]:
    """Change ASSIST's status, priority, assignee (None unassigns; the caller checked the
    member, who is told by email and on their default channel) and resolution (snoozing is
    `core.assists.snooze.snooze`: it needs a time; any other status ends a snooze). Closing
    records the resolution, emails the customer a CSAT survey when SURVEY, and says how to
    offer it to training; reopening clears `closed_at`. Returns what closing did
    (`survey_sent_to`, `training_offer`); empty otherwise."""
    closing = status == "closed" and assist.status != "closed"
    if status not in (None, "snoozed"):  # ACTOR ends the snooze (audited) before the change
        await wake(session, assist, actor=actor, now=now, reason="member")
    if closing:
        _apply(assist, await close_changes(session, assist, resolution), now)
    elif status is not None:
        assist.status = status
        if status != "closed":
            assist.closed_at = None
    if resolution is not None and not closing:
        assist.resolution = resolution[:RESOLUTION_LIMIT]
    if priority is not None:
        assist.priority = priority
    if assignee_id is not _UNSET and assignee_id != assist.assignee_id:
        assist.assignee_id = assignee_id
        assist.assigned_at = now if assignee_id else None
        assignee = await session.get(Member, assignee_id) if assignee_id else None
        if assignee is not None:  # the new assignee hears of it, with the link
            await tell_assignee(session, assist, assignee, base_url=mailer.links.base_url)
    if assist.status != "snoozed":
        assist.snoozed_until = None  # any other status ends a snooze
    assist.updated_at = now
    if closing:
        return await mailer.after_closing(session, assist, survey=survey, now=now)
    return {}


def set_details(
    assist: Assist,
    *,
    category: str | None,
    tags: Sequence[str],
    labels: Sequence[str],
    now: datetime,
) -> None:
    """The team's triage of ASSIST: its category, tags and labels (duplicates dropped)."""
    assist.category = category.strip().lower()[:60] if category and category.strip() else None
    assist.tags = _words(tags)
    assist.labels = _words(labels)
    assist.updated_at = now


def _words(values: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        word = " ".join(value.split())[:60]
        if word and word.lower() not in {w.lower() for w in seen}:
            seen[word] = None
    return list(seen)[:30]


def mark_read(assist: Assist, now: datetime) -> bool:
    """A member opened ASSIST: its customer replies are read. Returns whether that changed."""
    if not assist.unread:
        return False
    assist.unread = False
    assist.updated_at = now
    return True
