"""Live sessions held from Slack: an operator live by chat gets each offer as a DM with Accept
and Decline (core.live.sessions posts it), answers with a button, and then holds the session
in that message's thread: what they write there goes to the customer, the customer's messages
come into it (sessions.customer_message), and "done" hands the conversation back to the AI.

The pipeline asks `relay` first about every Slack task; it answers None for anything that is
not the live side's (the classifier goes on), so a member's thread reply never reaches the AI
and a customer's text never reaches this code as an operator's."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.live import conversations, sessions
from core.live.sessions import LivePolicy
from core.team.directory import Conflict, DirectoryError, NotFound
from core.team.identity import Principal
from models.deliverable import Deliverable
from models.task import Task
from storage.domain import Conversation
from storage.live import LiveSession
from storage.models import Member, Workspace

# What an operator types in the thread to hand the conversation back to the AI.
DONE_WORDS = frozenset({"done", "complete", "completed"})
# How much of the conversation the thread shows once accepted.
HISTORY = 10
HISTORY_CHARS = 500
TITLE = "Live conversation"
# Slack's markup in message text: links (`<url>`, `<url|label>`), channels, special mentions.
_LINK = re.compile(r"<((?:https?://|mailto:|tel:)[^|>\s]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#[A-Z0-9]+\|([^>]*)>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
AUTHORS = {"customer": "Customer", "agent": "AI assistant", "system": "Note"}


async def relay(
    session: AsyncSession, task: Task, principal: Principal, now: datetime, policy: LivePolicy
) -> list[Deliverable] | None:
    """TASK's replies when it is the live side's (an Accept / Decline press, or a member's
    reply in the thread of a session they hold); None when it is not."""
    if task.channel != "slack":
        return None
    action = task.raw.get("live")
    if task.kind == "command" and isinstance(action, Mapping):
        return await _answer_offer(session, principal, action, now, policy)
    if principal.member_id is None or not _thread_reply(task):
        return None
    return await _in_thread(session, task, principal, now)


def _thread_reply(task: Task) -> bool:
    """Whether TASK is a Slack message written in a thread (not the thread's first message)."""
    event = task.raw.get("event")
    if not isinstance(event, Mapping):
        return False
    thread = event.get("thread_ts")
    return (
        isinstance(thread, str) and thread != event.get("ts") and task.reply_route.thread == thread
    )


async def _people(session: AsyncSession, principal: Principal) -> tuple[Workspace, Member] | None:
    if principal.member_id is None:
        return None
    workspace = await session.get(Workspace, principal.workspace_id)
    member = await session.get(Member, principal.member_id)
    if workspace is None or member is None or member.workspace_id != workspace.id:
        return None
    return workspace, member


# ------------------------------------------------------------------------------ the offer


async def _answer_offer(
    session: AsyncSession,
    principal: Principal,
    action: Mapping[str, Any],
    now: datetime,
    policy: LivePolicy,
) -> list[Deliverable]:
    verb, session_id = action.get("action"), action.get("session_id")
    channel, ts = action.get("channel"), action.get("ts")
    if verb not in ("accept", "decline") or not all(
        isinstance(v, str) and v for v in (session_id, channel, ts)
    ):
        return [Deliverable(kind="error", text="That button carries no live conversation.")]
    assert isinstance(session_id, str) and isinstance(channel, str) and isinstance(ts, str)
    people = await _people(session, principal)
    if people is None:
        return [
            Deliverable(
                kind="error",
                text="This Slack account is not linked to a member of the team, so it cannot "
                "take live conversations.",
            )
        ]
    workspace, member = people
    edit = {"channel": channel, "ts": ts}
    try:
        if verb == "accept":
            live = await sessions.accept(
                session, workspace, member, session_id, now=now, slack=edit
            )
        else:
            live = await sessions.decline(
                session, workspace, member, session_id, now=now, policy=policy
            )
    except (Conflict, NotFound) as exc:
        # The offer lapsed, passed on or went to someone else: its buttons go, and why.
        return [
            _answered(edit, session_id, "gone", "Nothing was taken on."),
            Deliverable(kind="error", text=str(exc)),
        ]
    except DirectoryError as exc:  # Forbidden: the feature is off, or a scope is missing
        return [Deliverable(kind="error", text=str(exc))]
    if verb == "accept" and live.slack != edit:
        # Held already from a later offer of the same session: that thread is the one.
        return [
            _answered(edit, session_id, "gone", "You hold it from a later offer."),
            Deliverable(
                text="You hold this conversation already: write in the thread of its latest "
                "offer, or in the console."
            ),
        ]
    conversation = await session.get(Conversation, live.conversation_id)
    who = _who(conversation)
    if verb == "decline":
        return [_answered(edit, session_id, "declined", f"You passed on {who}.")]
    return [
        _answered(
            edit, session_id, "accepted", f"You hold the conversation with {who}: see the thread."
        ),
        Deliverable(text=await _briefing(session, live, conversation, who)),
    ]


def _answered(edit: dict[str, str], session_id: str, outcome: str, text: str) -> Deliverable:
    """The offer again, updated in place (the channel's `edit` handle), its buttons replaced
    by OUTCOME."""
    return Deliverable(
        title=TITLE,
        text=text,
        data={"live_offer": {"session_id": session_id, "outcome": outcome}, "edit": edit},
    )


def _who(conversation: Conversation | None) -> str:
    if conversation is None:
        return "the customer"
    return f"{conversation.address or 'a customer'} on {conversation.channel}"


async def _briefing(
    session: AsyncSession,
    live: LiveSession,
    conversation: Conversation | None,
    who: str,
) -> str:
    """The thread's first message: the conversation so far, and how to answer and finish."""
    lines = [f"You are talking with {who} now."]
    if conversation is not None:
        said = await conversations.messages(session, live.workspace_id, conversation.id)
        shown = said[-HISTORY:]
        if shown:
            lines.append(
                "The conversation so far"
                + (f" (the last {len(shown)} messages)" if len(said) > len(shown) else "")
                + ":"
            )
            names = await _names(session, {m.member_id for m in shown if m.member_id})
            for message in shown:
                author = AUTHORS.get(message.author) or names.get(message.member_id or "", "Team")
                text = " ".join(message.text.split())
                if len(text) > HISTORY_CHARS:
                    text = text[: HISTORY_CHARS - 1] + "…"
                lines.append(f"{author}: {text}")
    lines.append(
        "Reply in this thread to write to them: each reply is sent as you write it. "
        'Say "done" here to hand the conversation back to the AI assistant.'
    )
    return "\n".join(lines)


async def _names(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Member.id, Member.name).where(Member.id.in_(ids)))
    return {str(i): str(n) for i, n in rows.all()}


# ----------------------------------------------------------------------------- the thread


async def _in_thread(
    session: AsyncSession, task: Task, principal: Principal, now: datetime
) -> list[Deliverable] | None:
    """A member's reply in a Slack thread: for the customer when it is the thread of a
    session they hold; None when the thread is no session's."""
    assert principal.member_id is not None
    live = await _held_in(
        session, principal.workspace_id, task.reply_route.address, str(task.reply_route.thread)
    )
    if live is None:
        return None
    people = await _people(session, principal)
    if people is None:
        return None
    workspace, member = people
    if live.status != "active" or live.operator_id != member.id:
        return [Deliverable(text=_over(live, member))]
    text = task.text.strip()
    try:
        if text.lower().strip(" .!") in DONE_WORDS:
            # The core tells the customer and says so in this thread.
            await sessions.complete(session, workspace, member, live.id, now=now)
            return []
        if not text and task.attachments:
            return [
                Deliverable(
                    kind="error",
                    text="Files are not passed on to the customer: write your message as text.",
                )
            ]
        await sessions.send(
            session, workspace, member, live.id, plain(text), key=_key(task), now=now, echo=False
        )
    except DirectoryError as exc:
        return [Deliverable(kind="error", text=str(exc))]
    if task.attachments:
        return [Deliverable(text="Sent, without the files: only text reaches the customer.")]
    return []  # the customer has it; nothing to add in the thread


def plain(text: str) -> str:
    """TEXT as the customer should read it (by SMS, say), without Slack's markup: a link is
    its address (or its label and address, where those differ)."""

    def link(match: re.Match[str]) -> str:
        url, label = match.group(1), match.group(2)
        target = url.removeprefix("mailto:").removeprefix("tel:")
        if not label or label in (target, url.split("://", 1)[-1]):
            return label or target
        return f"{label} ({target})"

    text = _LINK.sub(link, text)
    text = _CHANNEL.sub(r"#\1", text)
    return _SPECIAL.sub(r"@\1", text)


def _key(task: Task) -> str:
    """The message's own ts: the same message however Slack delivers it (a retry, a second
    event) is sent once."""
    event = task.raw.get("event")
    ts = event.get("ts") if isinstance(event, Mapping) else None
    return f"slack:{ts}" if isinstance(ts, str) and ts else f"slack-event:{task.external_id}"[:80]


async def _held_in(
    session: AsyncSession, workspace_id: str, channel: str, thread: str
) -> LiveSession | None:
    """The session held (now, or once) in the Slack thread CHANNEL / THREAD. The channel is
    the DM of the one member who can write there, so the thread alone says whose it is."""
    return await session.scalar(
        select(LiveSession)
        .where(
            LiveSession.workspace_id == workspace_id,
            LiveSession.slack["channel"].as_string() == channel,
            LiveSession.slack["ts"].as_string() == thread,
        )
        .order_by(LiveSession.updated_at.desc())
        .limit(1)
    )


def _over(live: LiveSession, member: Member) -> str:
    """Why a reply in LIVE's thread was not sent."""
    if live.status == "completed":
        return (
            "This live session is over: the AI assistant has the conversation again, so "
            "nothing was sent."
        )
    if live.status == "ai":
        return (
            f"This live session ended ({live.outcome or 'handed back'}): the AI assistant has "
            "the conversation, so nothing was sent."
        )
    if live.transferred_by == member.id:
        return "You transferred this conversation, so nothing was sent to the customer."
    return "This conversation was handed on, so nothing was sent to the customer."
