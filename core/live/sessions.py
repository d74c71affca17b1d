"""Live sessions: a customer's conversation routed to a live operator, and back to the AI.

**Routing.** A new conversation on a workflow (AI agent) set for live routing, or a customer
asking for a person there, is offered to one live operator of the groups handling that
workflow: the one holding the fewest sessions, under the cap (the longest live first on a
tie). The customer's messages are held (the AI stays silent) while the offer waits. The
operator accepts, or after the offer time it passes to the next operator, and when nobody is
left the AI answers the held messages exactly as it would have: they are put back in the
journal as tasks of their own, in the transaction that ends the offer, so none is lost and
none is answered twice.

**Sessions.** The operator's messages reach the customer through the outbox, on the
conversation's own channel and route (rate limits, WhatsApp's window and retries are the
outbox's), each exactly once whatever the double clicks; the customer's messages come to the
operator as events. A transfer offers the session to another operator or group; completing it
hands the conversation back to the AI, and the customer is told. Sessions stay readable.

Every change is a conditional update of the session's row, so two nodes, two clicks or a click
racing the offer's timeout settle on one outcome."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from config.links import console_path, console_url
from core.live import access, conversations, groups, presence
from core.live.presence import DEFAULT_TIMEOUT
from core.team.directory import Conflict, DirectoryError, NotFound, audit
from delivery.live import notify
from delivery.outbox.queue import enqueue
from models.deliverable import Deliverable
from models.task import Route
from storage.db import upsert_insert
from storage.domain import AiAgent, Conversation
from storage.inbox import CustomerSession
from storage.live import LiveSession
from storage.models import ChannelIdentity, Member, TaskRow, Workspace
from storage.types import new_id

if TYPE_CHECKING:
    from config import Settings

log = logging.getLogger(__name__)

MESSAGE_MAX = 4000
TRANSCRIPT_TURNS = 60  # as the AI agent's desk keeps
# The task raw field that marks a customer message put back for the AI after an offer lapsed.
FALLBACK = "live_fallback"
ENDED = ("completed", "ai")
# The channels a customer talks on in real time, where an operator may take the conversation.
LIVE_CHANNELS = ("sms", "whatsapp", "telegram", "web")


@dataclass(frozen=True)
class LivePolicy:
    offer_seconds: float = 30.0
    presence_timeout: float = DEFAULT_TIMEOUT
    cap: int = 3
    base_url: str | None = None  # PUBLIC_BASE_URL, for the console's links in chat offers

    @classmethod
    def from_settings(cls, settings: Settings) -> LivePolicy:
        return cls(
            settings.live_offer_seconds,
            settings.live_presence_timeout,
            settings.live_session_cap,
            str(settings.public_base_url) if settings.public_base_url else None,
        )


def route_of(conversation: Conversation) -> Route | None:
    raw = conversation.reply_route
    if not raw:
        return None
    return Route(channel=raw["channel"], address=raw["address"], thread=raw.get("thread"))


async def _locked(session: AsyncSession, session_id: str) -> LiveSession | None:
    return await session.scalar(
        select(LiveSession)
        .where(LiveSession.id == session_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def _event(session: AsyncSession, live: LiveSession, kind: str, member: str | None) -> None:
    await notify(
        session,
        live.workspace_id,
        member,
        kind,
        {"session_id": live.id, "conversation_id": live.conversation_id, "status": live.status},
    )


async def _changed(session: AsyncSession, live: LiveSession) -> None:
    """Every console of the workspace hears that LIVE changed (the live dashboard)."""
    await _event(session, live, "live_session", None)


# ---------------------------------------------------------------------------------- routing


async def customer_message(
    session: AsyncSession,
    *,
    conversation: Conversation,
    agent: AiAgent,
    task_id: str,
    text: str,
    new_interaction: bool,
    now: datetime,
    policy: LivePolicy,
) -> bool:
    """A customer's message, recorded in CONVERSATION already: whether the live side takes it
    (an operator holds the conversation, or an offer for it waits), so the AI stays silent.
    A NEW_INTERACTION on a workflow set for live routing is offered to a live operator."""
    if conversation.live_session_id is not None:
        live = await _locked(session, conversation.live_session_id)
        if live is not None and live.status == "active":
            await _event(session, live, "live_message", live.operator_id)
            if live.slack:
                _to_slack(session, live, f"Customer: {text}", f"live-in:{task_id}")
            live.updated_at = now
            return True
        if live is not None and live.status == "offered":
            live.held = [*live.held, task_id]
            live.updated_at = now
            await _event(session, live, "live_offer", live.offered_to)
            return True
        conversation.live_session_id = None  # an ended session left behind
    if not new_interaction or not agent.live_routing:
        return False
    workspace = await session.get(Workspace, conversation.workspace_id)
    if workspace is None or not access.enabled(workspace):
        return False
    live = LiveSession(
        id=new_id(),
        workspace_id=conversation.workspace_id,
        conversation_id=conversation.id,
        agent_id=agent.id,
        status="offered",
        tried=[],
        held=[task_id],
        created_at=now,
        updated_at=now,
    )
    candidate = await _candidate(session, live, now, policy)
    if candidate is None:
        return False  # nobody live or free: the AI answers, as always
    session.add(live)
    await session.flush()
    conversation.live_session_id = live.id
    await _offer(session, live, candidate, now, policy)
    return True


async def _candidate(
    session: AsyncSession, live: LiveSession, now: datetime, policy: LivePolicy
) -> str | None:
    """The live operator to offer LIVE to next: of its group (a transfer to a group) or of
    the groups handling its workflow, not tried yet, under the cap, the least busy first."""
    if live.group_id is not None:
        eligible = await groups.group_members(session, live.workspace_id, live.group_id)
        agent_id = None
    else:
        if live.agent_id is None:
            return None
        eligible = await groups.members_for(session, live.workspace_id, live.agent_id)
        agent_id = live.agent_id
    operators = await presence.live_operators(
        session,
        live.workspace_id,
        now=now,
        stale_after=policy.presence_timeout,
        agent_id=agent_id,
    )
    free = [
        o
        for o in operators
        if o.member_id in eligible
        and o.member_id not in (live.tried or [])
        and o.active_sessions < policy.cap
    ]
    if not free:
        return None
    free.sort(key=lambda o: (o.active_sessions, o.since))
    return free[0].member_id


async def _offer(
    session: AsyncSession, live: LiveSession, member_id: str, now: datetime, policy: LivePolicy
) -> None:
    live.status = "offered"
    live.offered_to = member_id
    live.offer_expires_at = now + timedelta(seconds=policy.offer_seconds)
    live.tried = [*(live.tried or []), member_id]
    live.updated_at = now
    await _event(session, live, "live_offer", member_id)
    await _changed(session, live)
    held = await session.get(presence.OperatorPresence, member_id)
    if held is not None and held.via == "chat" and held.route:
        await _offer_by_chat(session, live, held.route, now, policy)


async def _offer_by_chat(
    session: AsyncSession,
    live: LiveSession,
    route: dict[str, Any],
    now: datetime,
    policy: LivePolicy,
) -> None:
    """An operator live by chat gets the offer there: on Slack with an Accept button, on
    other channels with the console's link (they take it there)."""
    conversation = await session.get(Conversation, live.conversation_id)
    if conversation is None:
        return
    first = await conversations.messages(session, live.workspace_id, conversation.id)
    said = next((m.text for m in reversed(first) if m.author == "customer"), "")
    who = conversation.address or "a customer"
    wait = int((live.offer_expires_at - now).total_seconds()) if live.offer_expires_at else 30
    text = f'Live conversation offered: {who} on {conversation.channel} wrote: "{said[:300]}"\n' + (
        f"Accept within {wait} seconds."
        if route["channel"] == "slack"
        else f"Accept it in the console within {wait} seconds: "
        + (console_url(policy.base_url, "live") or console_path("live"))
    )
    enqueue(
        session,
        workspace_id=live.workspace_id,
        route=Route(channel=route["channel"], address=await _offer_address(session, live, route)),
        deliverables=[
            Deliverable(
                text=text,
                title="Live conversation",
                data={"live_offer": {"session_id": live.id, "channel": conversation.channel}},
            )
        ],
        dedupe_prefix=f"live-offer:{live.id}:{len(live.tried)}",
    )


async def _offer_address(session: AsyncSession, live: LiveSession, route: dict[str, Any]) -> str:
    """Where the offer goes on ROUTE's channel. On Slack always the operator's DM, whichever
    channel they went live from: the customer's words stay out of shared channels, and the
    bot hears the replies in the offer's thread there without being mentioned."""
    address = str(route["address"])
    if route["channel"] != "slack" or address.startswith(("D", "U", "W")):
        return address
    user = await session.scalar(
        select(ChannelIdentity.address)
        .where(
            ChannelIdentity.workspace_id == live.workspace_id,
            ChannelIdentity.member_id == live.offered_to,
            ChannelIdentity.channel == "slack",
        )
        .limit(1)
    )
    return user or address  # a user id: Slack posts it in the DM with them


async def expire_offer(
    session: AsyncSession, session_id: str, *, now: datetime, policy: LivePolicy
) -> str | None:
    """Pass SESSION_ID on if its offer lapsed; the new status, None when nothing changed."""
    live = await _locked(session, session_id)
    if (
        live is None
        or live.status != "offered"
        or live.offer_expires_at is None
        or live.offer_expires_at > now
    ):
        return None
    await pass_on(session, live, now=now, policy=policy, reason="offer not accepted in time")
    return live.status


async def pass_on(
    session: AsyncSession, live: LiveSession, *, now: datetime, policy: LivePolicy, reason: str
) -> None:
    """Offer LIVE to the next operator, or, with nobody left, give it back to the AI."""
    candidate = await _candidate(session, live, now, policy)
    if candidate is not None:
        await _offer(session, live, candidate, now, policy)
        return
    await back_to_ai(session, live, now=now, reason=reason)


async def back_to_ai(
    session: AsyncSession, live: LiveSession, *, now: datetime, reason: str
) -> None:
    """The AI takes the conversation (back): the held messages go to it as tasks of their
    own; a customer who was talking to an operator is told."""
    conversation = await session.get(Conversation, live.conversation_id)
    was_held = live.accepted_at is not None
    held = list(live.held or [])
    live.status = "ai"
    live.offered_to = None
    live.offer_expires_at = None
    live.held = []
    live.outcome = reason
    live.ended_at = now
    live.updated_at = now
    if conversation is not None and conversation.live_session_id == live.id:
        conversation.live_session_id = None
        if was_held:
            await _tell_customer(
                session, live, conversation, _handback_text(conversation), now, "back"
            )
    await _replay(session, live, held)
    await _changed(session, live)
    log.info("live session %s went to the AI: %s", live.id, reason)


async def _replay(session: AsyncSession, live: LiveSession, task_ids: list[str]) -> None:
    """Put the customer's held messages back in the journal for the AI: as one task (the
    messages of a burst, in order, one per line), so the AI answers them together, once,
    rather than racing its own answers to each."""
    rows = {r.id: r for r in await session.scalars(select(TaskRow).where(TaskRow.id.in_(task_ids)))}
    held = [rows[t] for t in task_ids if t in rows]
    if not held:
        return
    first, last = held[0], held[-1]
    await session.execute(
        upsert_insert(session)(TaskRow)
        .values(
            id=new_id(),
            workspace_id=first.workspace_id,
            channel=last.channel,
            external_id=f"live:{live.id}",
            kind=first.kind,
            sender_channel=last.sender_channel,
            sender_address=last.sender_address,
            conversation=last.conversation,
            text="\n".join(r.text for r in held if r.text),
            attachments=[],
            reply_route=last.reply_route,
            raw={FALLBACK: live.id, "tasks": [r.id for r in held]},
            sender_name=last.sender_name,
            email_record=last.email_record,
            received_at=first.received_at,
            status="queued",
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["workspace_id", "channel", "external_id"])
    )


# --------------------------------------------------------------------- the operator's side


async def _member(session: AsyncSession, workspace: Workspace, member_id: str) -> Member:
    member = await session.get(Member, member_id)
    if member is None or member.workspace_id != workspace.id or member.status != "active":
        raise NotFound(f"member {member_id} not found")
    return member


async def _session_of(session: AsyncSession, workspace_id: str, session_id: str) -> LiveSession:
    live = await _locked(session, session_id)
    if live is None or live.workspace_id != workspace_id:
        raise NotFound(f"live session {session_id} not found")
    return live


async def accept(
    session: AsyncSession,
    workspace: Workspace,
    member: Member,
    session_id: str,
    *,
    now: datetime,
    slack: dict[str, Any] | None = None,
) -> LiveSession:
    """MEMBER takes the offered session; from now on the AI is silent in its conversation.
    SLACK ({"channel", "ts"}) is the thread the session is held in, when accepted there."""
    access.check(workspace, member, access.WRITE)
    live = await _session_of(session, workspace.id, session_id)
    if live.status == "active" and live.operator_id == member.id:
        return live  # a second click
    if live.status != "offered" or live.offered_to != member.id:
        raise Conflict("This conversation is no longer offered to you.")
    live.status = "active"
    live.operator_id = member.id
    live.offered_to = None
    live.offer_expires_at = None
    live.held = []
    live.group_id = None
    live.accepted_at = now
    live.updated_at = now
    live.slack = slack
    await _note(
        session, live, f"{member.name} joined the conversation.", f"joined:{member.id}", now
    )
    await audit(session, workspace.id, f"member:{member.id}", "live.accept", live.id)
    await _changed(session, live)
    return live


async def _note(
    session: AsyncSession, live: LiveSession, text: str, key: str, now: datetime
) -> None:
    """A notice in LIVE's conversation (who joined, who transferred it): for the team's eyes,
    never sent to the customer."""
    conversation = await session.get(Conversation, live.conversation_id)
    if conversation is not None:
        await conversations.record(
            session,
            conversation,
            author="system",
            text=text,
            key=f"live:{live.id}:{key}:{now.timestamp()}",
            at=now,
            live_session_id=live.id,
        )


async def decline(
    session: AsyncSession,
    workspace: Workspace,
    member: Member,
    session_id: str,
    *,
    now: datetime,
    policy: LivePolicy,
) -> LiveSession:
    live = await _session_of(session, workspace.id, session_id)
    if live.status != "offered" or live.offered_to != member.id:
        raise Conflict("This conversation is no longer offered to you.")
    await pass_on(session, live, now=now, policy=policy, reason="declined")
    return live


async def _held_by(
    session: AsyncSession, workspace: Workspace, member: Member, session_id: str
) -> LiveSession:
    access.check(workspace, member, access.WRITE)
    live = await _session_of(session, workspace.id, session_id)
    if live.status != "active" or live.operator_id != member.id:
        raise Conflict("You are not holding this conversation.")
    return live


async def send(
    session: AsyncSession,
    workspace: Workspace,
    member: Member,
    session_id: str,
    text: str,
    *,
    key: str,
    now: datetime,
    echo: bool = True,
) -> bool:
    """MEMBER's message to the customer, through the outbox on the conversation's route.
    KEY (from the console: one per message typed) makes a resent request a no-op; whether
    it was sent now. A session held in a Slack thread gets a copy there (ECHO), unless the
    message was written in that thread."""
    body = text.strip()
    if not body:
        raise DirectoryError("Write a message first.")
    if len(body) > MESSAGE_MAX:
        raise DirectoryError(f"A message is at most {MESSAGE_MAX} characters.")
    if not key or len(key) > 80:
        raise DirectoryError("Each message needs a key of at most 80 characters.")
    live = await _held_by(session, workspace, member, session_id)
    conversation = await session.get(Conversation, live.conversation_id)
    if conversation is None:
        raise NotFound("the conversation is gone")
    if not await _tell_customer(
        session, live, conversation, body, now, f"msg:{key}", author="member", member=member
    ):
        return False
    if live.slack and echo:
        _to_slack(session, live, f"{member.name}: {body}", f"live-echo:{live.id}:{key}")
    await _remember(session, conversation, body, now)
    live.updated_at = now
    await _event(session, live, "live_message", member.id)
    return True


async def _remember(
    session: AsyncSession, conversation: Conversation, text: str, now: datetime
) -> None:
    """The AI agent's memory of the conversation (the customer's session row) keeps what the
    operator said, so that when it takes the conversation back it knows what was promised."""
    if not conversation.address:
        return
    row = await session.scalar(
        select(CustomerSession).where(
            CustomerSession.workspace_id == conversation.workspace_id,
            CustomerSession.channel == conversation.channel,
            CustomerSession.address == conversation.address,
        )
    )
    if row is not None and row.conversation_id == conversation.id:
        entry = {"from": "member", "text": text, "at": now.isoformat()}
        row.transcript = [*row.transcript, entry][-TRANSCRIPT_TURNS:]


async def _tell_customer(
    session: AsyncSession,
    live: LiveSession,
    conversation: Conversation,
    text: str,
    now: datetime,
    key: str,
    *,
    author: str = "agent",
    member: Member | None = None,
) -> bool:
    route = route_of(conversation)
    if route is None:
        raise DirectoryError("This conversation has no way back to the customer.")
    added = await conversations.record(
        session,
        conversation,
        author=author,
        text=text,
        key=f"live:{live.id}:{key}",
        at=now,
        member_id=member.id if member else None,
        live_session_id=live.id,
    )
    if added:
        enqueue(
            session,
            workspace_id=live.workspace_id,
            route=route,
            deliverables=[Deliverable(text=text)],
            dedupe_prefix=f"live:{live.id}:{key}",
        )
    return added


def _to_slack(session: AsyncSession, live: LiveSession, text: str, key: str) -> None:
    """Copy a line into the Slack thread the session is held in."""
    where = live.slack or {}
    if not where.get("channel") or not where.get("ts"):
        return
    enqueue(
        session,
        workspace_id=live.workspace_id,
        route=Route(channel="slack", address=where["channel"], thread=where["ts"]),
        deliverables=[Deliverable(text=text)],
        dedupe_prefix=key,
    )


def _handback_text(conversation: Conversation) -> str:
    return (
        "Thanks for talking with our team. Our AI assistant will take it from here: just "
        "reply if there is anything else."
    )


async def complete(
    session: AsyncSession,
    workspace: Workspace,
    member: Member,
    session_id: str,
    *,
    now: datetime,
) -> LiveSession:
    """MEMBER ends the session: the AI takes the conversation back and the customer is told."""
    live = await _session_of(session, workspace.id, session_id)
    if live.status == "completed" and live.operator_id == member.id:
        return live  # a second click
    live = await _held_by(session, workspace, member, session_id)
    conversation = await session.get(Conversation, live.conversation_id)
    live.status = "completed"
    live.outcome = "completed"
    live.ended_at = now
    live.updated_at = now
    if conversation is not None:
        if conversation.live_session_id == live.id:
            conversation.live_session_id = None
        await _tell_customer(session, live, conversation, _handback_text(conversation), now, "back")
    if live.slack:
        _to_slack(
            session,
            live,
            "Session completed: the AI assistant has the conversation again.",
            f"live-done:{live.id}",
        )
    await audit(session, workspace.id, f"member:{member.id}", "live.complete", live.id)
    await _changed(session, live)
    return live


async def transfer(
    session: AsyncSession,
    workspace: Workspace,
    member: Member,
    session_id: str,
    *,
    to_member: str | None = None,
    to_group: str | None = None,
    now: datetime,
    policy: LivePolicy,
) -> LiveSession:
    """Offer MEMBER's session to another live operator, or to a group's (the least busy
    first). The customer's messages wait for them; if nobody takes it, the AI does."""
    if (to_member is None) == (to_group is None):
        raise DirectoryError("Transfer to one operator or to one group.")
    live = await _held_by(session, workspace, member, session_id)
    if to_member is not None:
        target = await _member(session, workspace, to_member)
        if target.id == member.id:
            raise DirectoryError("You hold this conversation already.")
        if not access.allowed(workspace, target, access.WRITE):
            raise DirectoryError(f"{target.name} cannot take live conversations.")
        if (
            await presence.presence_of(
                session, target.id, now=now, stale_after=policy.presence_timeout
            )
            is None
        ):
            raise DirectoryError(f"{target.name} is not live.")
        live.group_id = None
        live.tried = [member.id]
        live.transferred_by = member.id
        live.operator_id = None
        await _offer(session, live, target.id, now, policy)
    else:
        assert to_group is not None
        await groups.group_members(session, workspace.id, to_group)  # NotFound when absent
        live.group_id = to_group
        live.tried = [member.id]
        live.transferred_by = member.id
        candidate = await _candidate(session, live, now, policy)
        if candidate is None:
            live.group_id = None
            raise DirectoryError("Nobody in that group is live and free right now.")
        live.operator_id = None
        await _offer(session, live, candidate, now, policy)
    await _note(
        session,
        live,
        f"{member.name} transferred the conversation.",
        f"transfer:{len(live.tried)}",
        now,
    )
    await audit(
        session,
        workspace.id,
        f"member:{member.id}",
        "live.transfer",
        live.id,
        {"to_member": to_member, "to_group": to_group},
    )
    return live


async def release(
    session: AsyncSession, workspace_id: str, member_id: str, *, now: datetime, policy: LivePolicy
) -> None:
    """MEMBER_ID is no longer live: their offers pass on, and the sessions they held go to
    another live operator of the workflow or back to the AI (the customer is told)."""
    ids = list(
        await session.scalars(
            select(LiveSession.id).where(
                LiveSession.workspace_id == workspace_id,
                ((LiveSession.status == "offered") & (LiveSession.offered_to == member_id))
                | ((LiveSession.status == "active") & (LiveSession.operator_id == member_id)),
            )
        )
    )
    for session_id in ids:
        live = await _locked(session, session_id)
        if live is None:
            continue
        if live.status == "offered" and live.offered_to == member_id:
            await pass_on(session, live, now=now, policy=policy, reason="operator went offline")
        elif live.status == "active" and live.operator_id == member_id:
            _to_slack(
                session,
                live,
                "You are no longer live, so this conversation was handed on: to another live "
                "operator, or back to the AI assistant.",
                f"live-released:{live.id}:{now.timestamp()}",
            )
            live.operator_id = None
            live.group_id = None
            live.tried = [member_id]
            await pass_on(session, live, now=now, policy=policy, reason="operator went offline")


async def stop_all(
    session: AsyncSession, workspace_id: str, *, now: datetime, policy: LivePolicy
) -> None:
    """Live Operator Mode turned off: everyone goes offline, every session to the AI."""
    live_ones = list(
        await session.scalars(
            select(presence.OperatorPresence.member_id).where(
                presence.OperatorPresence.workspace_id == workspace_id
            )
        )
    )
    for member_id in live_ones:
        await presence.take_off(session, workspace_id, member_id, reason="feature turned off")
    ids = list(
        await session.scalars(
            select(LiveSession.id).where(
                LiveSession.workspace_id == workspace_id,
                LiveSession.status.in_(("offered", "active")),
            )
        )
    )
    for session_id in ids:
        live = await _locked(session, session_id)
        if live is not None and live.status in ("offered", "active"):
            if live.status == "active":
                _to_slack(
                    session,
                    live,
                    "Live Operator Mode was turned off: the AI assistant has this conversation "
                    "again.",
                    f"live-stopped:{live.id}",
                )
            await back_to_ai(session, live, now=now, reason="Live Operator Mode turned off")


async def lapsed_offers(session: AsyncSession, *, now: datetime, limit: int = 50) -> list[str]:
    """Offers whose time is up, oldest first (other nodes' claims skipped)."""
    return list(
        await session.scalars(
            select(LiveSession.id)
            .where(LiveSession.status == "offered", LiveSession.offer_expires_at <= now)
            .order_by(LiveSession.offer_expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


async def list_sessions(
    session: AsyncSession,
    workspace_id: str,
    *,
    status: str | None = None,
    operator_id: str | None = None,
    offered_to: str | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[LiveSession]:
    """The latest changed first (then by id); AFTER, the (updated_at, id) of a session listed
    before, continues the list after it."""
    query = select(LiveSession).where(LiveSession.workspace_id == workspace_id)
    if status is not None:
        query = query.where(LiveSession.status == status)
    if operator_id is not None:
        query = query.where(LiveSession.operator_id == operator_id)
    if offered_to is not None:
        query = query.where(LiveSession.offered_to == offered_to)
    if after is not None:
        at, last_id = after
        query = query.where(
            or_(
                LiveSession.updated_at < at,
                and_(LiveSession.updated_at == at, LiveSession.id < last_id),
            )
        )
    order = (LiveSession.updated_at.desc(), LiveSession.id.desc())
    return list(await session.scalars(query.order_by(*order).limit(limit)))


async def get_session(session: AsyncSession, workspace_id: str, session_id: str) -> LiveSession:
    live = await session.get(LiveSession, session_id)
    if live is None or live.workspace_id != workspace_id:
        raise NotFound(f"live session {session_id} not found")
    return live


def session_json(live: LiveSession) -> dict[str, Any]:
    return {
        "id": live.id,
        "conversation_id": live.conversation_id,
        "agent_id": live.agent_id,
        "status": live.status,
        "operator_id": live.operator_id,
        "offered_to": live.offered_to,
        "offer_expires_at": live.offer_expires_at.isoformat() if live.offer_expires_at else None,
        "outcome": live.outcome,
        "created_at": live.created_at.isoformat(),
        "accepted_at": live.accepted_at.isoformat() if live.accepted_at else None,
        "ended_at": live.ended_at.isoformat() if live.ended_at else None,
    }


async def mark_offline(
    session: AsyncSession,
    workspace_id: str,
    member_id: str,
    *,
    now: datetime,
    policy: LivePolicy,
    reason: str,
) -> bool:
    """Take MEMBER_ID off at once and hand on what they held; whether they were live."""
    gone = await presence.take_off(session, workspace_id, member_id, reason=reason)
    await release(session, workspace_id, member_id, now=now, policy=policy)
    return gone
