"""The live desk (`/console/live`, every role; what each may do follows the `operator:read` and
`operator:write` scopes and the workspace's `operator` and `presence` flags, core.live.access):
going live on one's groups' workflows, the offers waiting for the member with their countdown,
the sessions they hold, the live dashboard, and a session's own page where the operator talks
to the customer. Every rule is core.live's; these handlers only read forms and render."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.console.actions import read_form, text_field
from api.console.session import ConsoleError, check_csrf, page, require
from api.console.templating import short_time
from api.state import GATEWAY
from core.assists import knowledge
from core.live import access, conversations, groups, presence, sessions
from core.team.directory import Conflict, DirectoryError, NotFound
from core.team.members import active_member_names
from core.team.signin import SignedIn
from storage.domain import AiAgent, Assist, Conversation, Customer
from storage.live import LiveSession
from storage.models import Member, Workspace
from storage.types import new_id, utcnow

AUTHOR_LABELS = {"customer": "Customer", "agent": "AI agent", "member": "Team", "system": "Notice"}
OFFER_PREVIEW = 6  # the customer's latest messages shown on an offer card
ACTIVE = ("offered", "active")


@dataclass(frozen=True)
class Desk:
    """The signed-in member as core.live knows them, with what they may do."""

    who: SignedIn
    workspace: Workspace
    member: Member

    @property
    def flags(self) -> dict[str, bool]:
        return access.features_of(self.workspace)

    def may(self, scope: access.Scope, feature: access.Feature = "operator") -> bool:
        return access.allowed(self.workspace, self.member, scope, feature)

    def check(self, scope: access.Scope, feature: access.Feature = "operator") -> None:
        try:
            access.check(self.workspace, self.member, scope, feature)
        except access.Forbidden as exc:
            raise ConsoleError(403, "Not allowed", str(exc)) from exc

    @property
    def is_admin(self) -> bool:
        return self.member.role in access.ADMINS


async def desk_of(session: AsyncSession, who: SignedIn) -> Desk:
    workspace = await session.get(Workspace, who.workspace_id)
    member = await session.get(Member, who.member_id)
    if workspace is None or member is None or member.workspace_id != workspace.id:
        raise ConsoleError(403, "Not allowed", "Your account is no longer in this workspace.")
    return Desk(who, workspace, member)


def refused(exc: DirectoryError) -> ConsoleError:
    """A core refusal as a console page: forbidden 403, missing 404, raced 409, else 400."""
    if isinstance(exc, access.Forbidden):
        return ConsoleError(403, "Not allowed", str(exc))
    if isinstance(exc, NotFound):
        return ConsoleError(404, "Not found", "No such live session, group or member here.")
    if isinstance(exc, Conflict):
        return ConsoleError(409, "Already changed", str(exc))
    return ConsoleError(400, "Bad request", f"{exc} Nothing was changed.")


def wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def json_error(error: ConsoleError) -> web.Response:
    return web.json_response({"error": error.message}, status=error.status)


# ------------------------------------------------------------------------------ the views


def _label(conversation: Conversation | None, customer: Customer | None) -> str:
    if conversation is None:
        return "A customer"
    name = customer.name if customer is not None and customer.name else None
    address = conversation.address or "unknown address"
    return f"{name} ({address})" if name else address


async def _conversations(
    session: AsyncSession, workspace_id: str, lives: Iterable[LiveSession]
) -> dict[str, tuple[Conversation, Customer | None]]:
    ids = {live.conversation_id for live in lives}
    if not ids:
        return {}
    rows = await session.execute(
        select(Conversation, Customer)
        .outerjoin(Customer, Customer.id == Conversation.customer_id)
        .where(Conversation.workspace_id == workspace_id, Conversation.id.in_(ids))
    )
    return {c.id: (c, customer) for c, customer in rows.all()}


def message_view(message: Any, names: dict[str, str], zone: str, now: datetime) -> dict[str, Any]:
    who = AUTHOR_LABELS.get(message.author, message.author)
    if message.author == "member":
        who = names.get(message.member_id or "", "Team")
    return {
        "seq": message.seq,
        "author": message.author,
        "label": AUTHOR_LABELS.get(message.author, message.author),
        "who": who,
        "text": message.text,
        "at": message.at.isoformat(),
        "time": short_time(message.at, zone, now),
    }


def _session_card(
    live: LiveSession,
    found: dict[str, tuple[Conversation, Customer | None]],
    agents: dict[str, str],
    now: datetime,
) -> dict[str, Any]:
    conversation, customer = found.get(live.conversation_id, (None, None))
    left = (
        max(0, int((live.offer_expires_at - now).total_seconds()))
        if live.offer_expires_at is not None
        else 0
    )
    return {
        "id": live.id,
        "href": f"/console/live/sessions/{live.id}",
        "customer": _label(conversation, customer),
        "channel": conversation.channel if conversation is not None else "",
        "workflow": agents.get(live.agent_id or "", ""),
        "status": live.status,
        "operator_id": live.operator_id,
        "expires_at": live.offer_expires_at.isoformat() if live.offer_expires_at else None,
        "seconds_left": left,
        "messages": [],
    }


async def desk_state(
    session: AsyncSession, desk: Desk, policy: sessions.LivePolicy
) -> dict[str, Any]:
    """Everything the live desk shows, as JSON (the page renders it, and its script asks
    for it again whenever a live event says something changed)."""
    now = utcnow()
    ws, me = desk.workspace.id, desk.member.id
    state: dict[str, Any] = {
        "now": now.isoformat(),
        "flags": desk.flags,
        "may_write": desk.may(access.WRITE),
        "may_read": desk.may(access.READ),
        "may_see_presence": desk.may(access.READ, "presence"),
        "live": None,
        "offers": [],
        "mine": [],
        "operators": [],
        "counts": {"offered": 0, "active": 0},
    }
    if not desk.flags["operator"]:
        return state
    agents = dict(
        (
            await session.execute(
                select(AiAgent.id, AiAgent.name).where(AiAgent.workspace_id == ws)
            )
        ).all()
    )
    held = await presence.presence_of(session, me, now=now, stale_after=policy.presence_timeout)
    if held is not None:
        state["live"] = {
            "since": held.since.isoformat(),
            "via": held.via,
            "workflows": [
                {"id": f, "name": agents[f]} for f in held.workflows or [] if f in agents
            ],
        }
    offers = await sessions.list_sessions(session, ws, status="offered", offered_to=me)
    mine = await sessions.list_sessions(session, ws, status="active", operator_id=me)
    everyone_active = (
        await sessions.list_sessions(session, ws, status="active", limit=200)
        if state["may_see_presence"]
        else []
    )
    found = await _conversations(session, ws, [*offers, *mine, *everyone_active])
    names = await active_member_names(session, ws)
    for live in offers:
        card = _session_card(live, found, agents, now)
        said = await conversations.messages(session, ws, live.conversation_id)
        card["messages"] = [
            message_view(m, names, desk.who.timezone, now) for m in said if m.author == "customer"
        ][-OFFER_PREVIEW:]
        state["offers"].append(card)
    state["mine"] = [_session_card(live, found, agents, now) for live in mine]
    if state["may_read"]:
        counted = await session.execute(
            select(LiveSession.status, func.count())
            .where(LiveSession.workspace_id == ws, LiveSession.status.in_(ACTIVE))
            .group_by(LiveSession.status)
        )
        state["counts"].update({str(s): int(n) for s, n in counted.all()})
    if state["may_see_presence"]:
        by_operator: dict[str, list[dict[str, Any]]] = {}
        for live in everyone_active:
            by_operator.setdefault(live.operator_id or "", []).append(
                _session_card(live, found, agents, now)
            )
        for operator in await presence.live_operators(
            session, ws, now=now, stale_after=policy.presence_timeout
        ):
            row = operator.to_json()
            row["since_text"] = _since(operator.since, now)
            row["sessions"] = by_operator.get(operator.member_id, [])
            row["you"] = operator.member_id == me
            state["operators"].append(row)
    return state


def _since(moment: datetime, now: datetime) -> str:
    minutes = int((now - moment).total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


# ------------------------------------------------------------------------------ the desk


async def live_page(request: web.Request) -> web.Response:
    who = await require(request, "live")
    gw = request.app[GATEWAY]
    async with gw.db.session() as session:
        desk = await desk_of(session, who)
        state = await desk_state(session, desk, gw.live)
        workflows = (
            await groups.workflows_of(session, who.workspace_id, who.member_id)
            if state["may_write"]
            else []
        )
        admins = [
            m.name
            for m in await session.scalars(
                select(Member)
                .where(
                    Member.workspace_id == who.workspace_id,
                    Member.status == "active",
                    Member.role.in_(sorted(access.ADMINS)),
                )
                .order_by(Member.name)
            )
        ]
        notice = _notice(request.query, state)
        members = (
            list(
                await session.scalars(
                    select(Member)
                    .where(Member.workspace_id == who.workspace_id, Member.status == "active")
                    .order_by(Member.name)
                )
            )
            if desk.is_admin
            else []
        )
    return page(
        request,
        "live.html",
        who,
        title="Live",
        desk=desk,
        state=state,
        workflows=workflows,
        chosen={w["id"] for w in (state["live"] or {}).get("workflows", [])},
        admins=admins,
        members=members,
        role_scopes=access.role_scopes(desk.workspace),
        roles=access.ROLES,
        scopes=access.SCOPES,
        notice=notice,
        heartbeat=presence.HEARTBEAT,
    )


_NOTICES = {
    "live": "You went live.",
    "offline": "You are offline. New conversations go to other operators or the AI.",
    "declined": "Offer declined: it went to the next operator (or the AI).",
    "settings": "Live settings saved.",
    "completed": "Session completed: the AI has the conversation again and the customer was told.",
    "transferred": "Session transferred: it is offered to the operator you chose.",
}


def _notice(query: Any, state: dict[str, Any]) -> str | None:
    """The line shown after a change (Post/Redirect/Get): fixed sentences, never URL text."""
    key = query.get("done", "")
    return _NOTICES.get(key)


async def state_json(request: web.Request) -> web.Response:
    who = await require(request, "live")
    gw = request.app[GATEWAY]
    async with gw.db.session() as session:
        desk = await desk_of(session, who)
        state = await desk_state(session, desk, gw.live)
    return web.json_response(state)


def _back(done: str) -> web.HTTPFound:
    return web.HTTPFound("/console/live?" + urlencode({"done": done}))


async def go_live(request: web.Request) -> web.Response:
    who = await require(request, "live")
    form = await read_form(request)
    check_csrf(request, who, form)
    chosen = [str(v) for v in form.getall("workflow", []) if isinstance(v, str)]
    if not chosen:
        raise ConsoleError(400, "Bad request", "Pick at least one workflow to go live on.")
    gw = request.app[GATEWAY]
    async with gw.db.writing(), gw.db.session() as session:
        desk = await desk_of(session, who)
        desk.check(access.WRITE)
        try:
            await presence.go_live(
                session,
                desk.workspace,
                desk.member,
                workflows=chosen,
                via="console",
                now=utcnow(),
                node=gw.node_id,
            )
        except DirectoryError as exc:
            raise refused(exc) from exc
    raise _back("live")


async def go_offline(request: web.Request) -> web.Response:
    who = await require(request, "live")
    form = await read_form(request)
    check_csrf(request, who, form)
    gw = request.app[GATEWAY]
    async with gw.db.writing(), gw.db.session() as session:
        await sessions.mark_offline(
            session,
            who.workspace_id,
            who.member_id,
            now=utcnow(),
            policy=gw.live,
            reason="went offline",
        )
    raise _back("offline")


async def answer_offer(request: web.Request) -> web.Response:
    """Accept (the session's page opens) or decline an offer."""
    who = await require(request, "live")
    form = await read_form(request)
    check_csrf(request, who, form)
    session_id = request.match_info["session_id"]
    choice = request.match_info["choice"]
    gw = request.app[GATEWAY]
    async with gw.db.writing(), gw.db.session() as session:
        desk = await desk_of(session, who)
        desk.check(access.WRITE)
        try:
            if choice == "accept":
                await sessions.accept(
                    session, desk.workspace, desk.member, session_id, now=utcnow()
                )
            else:
                await sessions.decline(
                    session, desk.workspace, desk.member, session_id, now=utcnow(), policy=gw.live
                )
        except DirectoryError as exc:
            raise refused(exc) from exc
    if choice == "accept":
        raise web.HTTPFound(f"/console/live/sessions/{session_id}")
    raise _back("declined")


# --------------------------------------------------------------------------- a session


async def _session_for(session: AsyncSession, desk: Desk, session_id: str) -> LiveSession:
    """The session, for those who may see live sessions: its operator always; others with
    `operator:read`."""
    try:
        live = await sessions.get_session(session, desk.workspace.id, session_id)
    except NotFound as exc:
        raise refused(exc) from exc
    if live.operator_id != desk.member.id and live.offered_to != desk.member.id:
        desk.check(access.READ)
    else:
        desk.check(access.READ if live.status not in ACTIVE else access.WRITE)
    return live


async def suggestion(session: AsyncSession, workspace_id: str, question: str) -> dict[str, Any]:
    """What the AI agent's knowledge says to QUESTION: the best passage and where it is from."""
    found = knowledge.rank(question, await knowledge.passages(session, workspace_id), limit=1)
    if not found:
        return {"text": "", "source": None}
    best = found[0].passage
    kind, _, ident = best.source.partition(":")
    source = {
        "qa": "Q&A pair",
        "source": "Training source",
    }.get(kind, "Knowledge")
    label = f"{source} {ident}: “{best.question}”" if best.question else f"{source} {ident}"
    return {"text": best.answer, "source": label, "score": found[0].score}


async def session_page(request: web.Request) -> web.Response:
    who = await require(request, "live")
    gw = request.app[GATEWAY]
    now = utcnow()
    async with gw.db.session() as session:
        desk = await desk_of(session, who)
        live = await _session_for(session, desk, request.match_info["session_id"])
        conversation = await session.get(Conversation, live.conversation_id)
        customer = (
            await session.get(Customer, conversation.customer_id)
            if conversation is not None and conversation.customer_id
            else None
        )
        names = await active_member_names(session, who.workspace_id)
        said = await conversations.messages(session, who.workspace_id, live.conversation_id)
        history = [message_view(m, names, who.timezone, now) for m in said]
        previous: list[Assist] = []
        if conversation is not None and conversation.customer_id:
            previous = list(
                await session.scalars(
                    select(Assist)
                    .where(
                        Assist.workspace_id == who.workspace_id,
                        Assist.customer_id == conversation.customer_id,
                    )
                    .order_by(Assist.created_at.desc())
                    .limit(5)
                )
            )
        agent = await session.get(AiAgent, live.agent_id) if live.agent_id else None
        holds = live.status == "active" and live.operator_id == who.member_id
        suggest = None
        if holds and request.query.get("suggest"):
            last = next((m.text for m in reversed(said) if m.author == "customer"), "")
            suggest = await suggestion(session, who.workspace_id, last)
        operators = []
        team_groups = []
        if holds:
            operators = [
                o
                for o in await presence.live_operators(
                    session, who.workspace_id, now=now, stale_after=gw.live.presence_timeout
                )
                if o.member_id != who.member_id
            ]
            team_groups = await groups.list_groups(session, who.workspace_id)
    return page(
        request,
        "live_session.html",
        who,
        title=f"Live · {_label(conversation, customer)}",
        live=live,
        conversation=conversation,
        customer=customer,
        customer_label=_label(conversation, customer),
        agent=agent,
        history=history,
        after=said[-1].seq if said else 0,
        previous=previous,
        holds=holds,
        operator=names.get(live.operator_id or "", None),
        suggest=suggest,
        operators=operators,
        groups=team_groups,
        key=new_id(),
        heartbeat=presence.HEARTBEAT,
        notice=_NOTICES.get(request.query.get("done", "")),
    )


async def session_messages(request: web.Request) -> web.Response:
    """The conversation's messages after `after` (the page's script asks on `live_message`)."""
    who = await require(request, "live")
    raw = request.query.get("after", "0")
    if not raw.isdigit() or len(raw) > 9:
        return json_error(ConsoleError(400, "Bad request", "after is a message position"))
    gw = request.app[GATEWAY]
    now = utcnow()
    async with gw.db.session() as session:
        desk = await desk_of(session, who)
        try:
            live = await _session_for(session, desk, request.match_info["session_id"])
        except ConsoleError as exc:
            return json_error(exc)
        names = await active_member_names(session, who.workspace_id)
        said = await conversations.messages(
            session, who.workspace_id, live.conversation_id, after=int(raw)
        )
    return web.json_response(
        {
            "status": live.status,
            "holds": live.status == "active" and live.operator_id == who.member_id,
            "messages": [message_view(m, names, who.timezone, now) for m in said],
        }
    )


async def _posted(request: web.Request, who: SignedIn) -> dict[str, str]:
    """A form post, or the page script's JSON (both need the CSRF token)."""
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise ConsoleError(400, "Bad request", "The body is not JSON.") from None
        check_csrf(request, who, None)
        if not isinstance(body, dict):
            raise ConsoleError(400, "Bad request", "The body is a JSON object.")
        return {k: v for k, v in body.items() if isinstance(k, str) and isinstance(v, str)}
    form = await read_form(request)
    check_csrf(request, who, form)
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def send_message(request: web.Request) -> web.Response:
    who = await require(request, "live")
    session_id = request.match_info["session_id"]
    try:
        posted = await _posted(request, who)
        text, key = posted.get("text", ""), posted.get("key", "").strip()
        gw = request.app[GATEWAY]
        async with gw.db.writing(), gw.db.session() as session:
            desk = await desk_of(session, who)
            try:
                sent = await sessions.send(
                    session, desk.workspace, desk.member, session_id, text, key=key, now=utcnow()
                )
            except DirectoryError as exc:
                raise refused(exc) from exc
    except ConsoleError as exc:
        if wants_json(request):
            return json_error(exc)
        raise
    if wants_json(request):
        return web.json_response({"sent": sent})
    raise web.HTTPFound(f"/console/live/sessions/{session_id}")


async def session_action(request: web.Request) -> web.Response:
    """Complete the session, or transfer it to a live operator or a group."""
    who = await require(request, "live")
    form = await read_form(request)
    check_csrf(request, who, form)
    session_id = request.match_info["session_id"]
    action = request.match_info["action"]
    gw = request.app[GATEWAY]
    async with gw.db.writing(), gw.db.session() as session:
        desk = await desk_of(session, who)
        try:
            if action == "complete":
                await sessions.complete(
                    session, desk.workspace, desk.member, session_id, now=utcnow()
                )
            else:
                kind, _, target = text_field(form, "to", 80).partition(":")
                if kind not in ("member", "group") or not target:
                    raise ConsoleError(
                        400, "Bad request", "Choose a live operator or a group to transfer to."
                    )
                await sessions.transfer(
                    session,
                    desk.workspace,
                    desk.member,
                    session_id,
                    to_member=target if kind == "member" else None,
                    to_group=target if kind == "group" else None,
                    now=utcnow(),
                    policy=gw.live,
                )
        except DirectoryError as exc:
            raise refused(exc) from exc
    if action == "complete":
        raise web.HTTPFound(f"/console/live/sessions/{session_id}?done=completed")
    raise _back("transferred")


def setup(app: web.Application) -> None:
    app.router.add_get("/console/live", live_page)
    app.router.add_get("/console/live/state", state_json)
    app.router.add_post("/console/live/go-live", go_live)
    app.router.add_post("/console/live/go-offline", go_offline)
    app.router.add_post("/console/live/sessions/{session_id}/{choice:accept|decline}", answer_offer)
    app.router.add_get("/console/live/sessions/{session_id}", session_page)
    app.router.add_get("/console/live/sessions/{session_id}/messages", session_messages)
    app.router.add_post("/console/live/sessions/{session_id}/send", send_message)
    app.router.add_post(
        "/console/live/sessions/{session_id}/{action:complete|transfer}", session_action
    )
