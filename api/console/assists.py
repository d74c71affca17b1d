"""An assist's page, `/console/assists/<ref>`: the inbox list, the conversation (transcript,
notes, replies, the customer's replies) with the reply box, and the assist's details; and the
team's actions on it, each through its one core function (core.assists.team_actions), the
member's own click being the approval. Every action checks the session, its CSRF token and
the member's role (core.team.access) on the server."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.admin.mailing import email_identity, mailer
from api.console.actions import principal_of
from api.console.inbox import InboxView, inbox_list, list_context
from api.console.session import ConsoleError, check_csrf, page, require
from api.console.templating import local_time
from api.state import GATEWAY, Gateway
from core.approvals.proposals import Draft, propose
from core.assists import snooze, team_actions
from core.assists.drafting import REFINE_MODES
from core.assists.history import customer_assists, resolution_of
from core.assists.inbox import customer_name, find_assist
from core.assists.mail import customer_email
from core.assists.triage import CATEGORIES, PRIORITIES
from core.schedules import moments
from core.team.access import InboxAction, may, why_not_action
from core.team.members import active_member_names
from core.team.signin import SignedIn
from core.tools import control
from core.tools.registry import ToolContext
from models.task import Route, Sender, Task
from storage.domain import Assist, AssistEvent
from storage.types import new_id, utcnow

FLASH = "sb_flash"
MAX_TEXT = 20000
TRAINING_TOOL = "promote_assist_to_training"
REFINE_LABELS = {
    "regenerate": "Regenerate",
    "shorter": "Shorter",
    "formal": "More formal",
    "casual": "More casual",
}
EVENT_LABELS = {
    "note": "Internal note",
    "reply": "Team reply (emailed)",
    "customer_reply": "Customer reply",
    "csat": "Satisfaction rating",
}


@dataclass(frozen=True, slots=True)
class Item:
    """One entry of an assist's conversation, in time order."""

    id: str
    kind: str  # customer | ai | note | reply | customer_reply | csat
    label: str
    who: str
    text: str
    at: datetime
    flagged: bool = False

    def as_json(self, timezone: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "who": self.who,
            "text": self.text,
            "time": local_time(self.at, timezone),
            "datetime": self.at.isoformat(),
            "flagged": self.flagged,
        }


def _when(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return fallback
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=fallback.tzinfo)
    return fallback


def timeline(assist: Assist, events: list[AssistEvent]) -> list[Item]:
    """The escalated conversation, then notes, replies and the customer's replies, by time."""
    customer = customer_name(assist.customer_details)
    ordered: list[tuple[datetime, int, Item]] = []
    for order, entry in enumerate(assist.transcript or ()):
        if not isinstance(entry, dict) or not str(entry.get("text") or "").strip():
            continue
        at = _when(entry.get("at"), assist.created_at)
        from_customer = entry.get("from") == "customer"
        item = Item(
            id=f"t{order}",
            kind="customer" if from_customer else "ai",
            label="Customer" if from_customer else "AI agent",
            who=customer if from_customer else "AI agent",
            text=str(entry["text"]),
            at=at,
        )
        ordered.append((at, order, item))
    base = len(ordered)
    for order, event in enumerate(events, start=base):
        item = Item(
            id=event.id,
            kind=event.kind if event.kind in EVENT_LABELS else "note",
            label=EVENT_LABELS.get(event.kind, event.kind),
            who=event.author or ("Customer" if event.kind == "customer_reply" else "Team"),
            text=event.body,
            at=event.created_at,
            flagged=event.flagged,
        )
        ordered.append((event.created_at, order, item))
    ordered.sort(key=lambda entry: (entry[0], entry[1]))
    return [item for _, _, item in ordered]


async def _events(session: AsyncSession, assist: Assist) -> list[AssistEvent]:
    return list(
        await session.scalars(
            select(AssistEvent)
            .where(
                AssistEvent.assist_id == assist.id, AssistEvent.workspace_id == assist.workspace_id
            )
            .order_by(AssistEvent.created_at, AssistEvent.id)
        )
    )


async def _load(session: AsyncSession, who: SignedIn, ref: str) -> Assist:
    """WHO's workspace's assist REF; a 404 page for any other (another workspace's included)."""
    assist = await find_assist(session, who.workspace_id, ref)
    if assist is None:
        raise ConsoleError(404, "No such assist", f"There is no assist {ref[:20]} in this inbox.")
    return assist


def _may_train(gw: Gateway, who: SignedIn) -> bool:
    spec = gw.tools.get(TRAINING_TOOL)
    return spec is not None and spec.allows(principal_of(who))


def _permissions(gw: Gateway, who: SignedIn) -> dict[str, bool]:
    actions: tuple[InboxAction, ...] = (
        "reply",
        "note",
        "status",
        "priority",
        "triage",
        "assign",
    )
    allowed: dict[str, bool] = {action: may(who.role, who.plan, action) for action in actions}
    allowed["train"] = _may_train(gw, who)
    return allowed


# --- flash messages (Post/Redirect/Get) ----------------------------------------------------


def _flash(response: web.StreamResponse, kind: str, text: str) -> None:
    response.set_cookie(
        FLASH, quote(f"{kind}:{text[:400]}"), path="/console", httponly=True, samesite="Lax"
    )


def _read_flash(request: web.Request) -> tuple[str, str] | None:
    """(`error`|`notice`|`draft`, text): `draft` is a notice after the draft was rewritten."""
    raw = request.cookies.get(FLASH)
    if not raw:
        return None
    kind, _, text = unquote(raw).partition(":")
    return (kind if kind in ("error", "draft") else "notice", text)


def reply_draft(assist: Assist, events: list[AssistEvent], *, rewritten: bool) -> str:
    """What the Reply box opens with: the AI's suggested reply while the customer waits for
    an answer (no team reply yet, or the customer wrote since the last one), or when the
    member just had it rewritten; empty once the team has answered, so the same draft is
    not offered (and sent) twice."""
    suggestion = (assist.suggested_reply or "").strip()
    said = [e.kind for e in events if e.kind in ("reply", "customer_reply") and not e.flagged]
    if rewritten or not said or said[-1] == "customer_reply":
        return suggestion
    return ""


def _back(assist_ref: str, form: Mapping[str, Any] | None) -> str:
    """The assist's page, with the list panel's view as it was (re-read, never echoed)."""
    raw = str(form.get("list", "")) if form else ""
    view = InboxView.of_query(MultiDict(parse_qsl(raw.removeprefix("?")[:1000])))
    return f"/console/assists/{assist_ref}{view.query()}"


def _done(assist_ref: str, form: Mapping[str, Any] | None, kind: str, text: str) -> web.Response:
    response = web.Response(status=303, headers={"Location": _back(assist_ref, form)})
    _flash(response, kind, text)
    return response


# --- the page ------------------------------------------------------------------------------


async def assist_page(request: web.Request) -> web.Response:
    """Opening an assist marks its customer replies read."""
    who = await require(request, "inbox")
    gw = request.app[GATEWAY]
    view = InboxView.of(request)
    now = utcnow()
    async with gw.db.session() as session:
        assist = await _load(session, who, request.match_info["ref"])
        team_actions.mark_read(assist, now)
        events = await _events(session, assist)
        previous = [
            (p, await resolution_of(session, p) if p.status == "closed" else None)
            for p in await customer_assists(session, assist)
        ]
        to = await customer_email(session, assist)
        members = await active_member_names(session, who.workspace_id)
        listing = await inbox_list(session, who, view)
    flash = _read_flash(request)
    rewritten = flash is not None and flash[0] == "draft"
    response = page(
        request,
        "assist.html",
        who,
        title=f"{assist.ref} · {customer_name(assist.customer_details)}",
        assist=assist,
        customer=customer_name(assist.customer_details),
        details=_customer_details(assist),
        items=timeline(assist, events),
        previous=previous,
        to=to,
        members=members,
        assignee=(
            members.get(assist.assignee_id, "a former member") if assist.assignee_id else None
        ),
        allowed=_permissions(gw, who),
        has_reply=any(e.kind == "reply" for e in events),
        draft=reply_draft(assist, events, rewritten=rewritten),
        flash=flash,
        refine_modes=[(mode, REFINE_LABELS[mode]) for mode in REFINE_MODES],
        categories=sorted({*CATEGORIES, *(listing.categories)}),
        all_priorities=PRIORITIES[::-1],
        back=view.query(),
        **list_context(listing, current=assist.ref),
    )
    if flash is not None:
        response.del_cookie(FLASH, path="/console")
    return response


def _customer_details(assist: Assist) -> list[tuple[str, str]]:
    """What the escalation collected about the customer, as (label, value) pairs."""
    shown = []
    for key, value in (assist.customer_details or {}).items():
        if value in (None, "", [], {}):
            continue
        label = str(key).replace("_", " ").capitalize()
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        shown.append((label, text))
    return shown


async def assist_state(request: web.Request) -> web.Response:
    """The assist's conversation and state as JSON, for the live script (reads only)."""
    who = await require(request, "inbox")
    gw = request.app[GATEWAY]
    async with gw.db.session() as session:
        assist = await _load(session, who, request.match_info["ref"])
        events = await _events(session, assist)
        members = await active_member_names(session, who.workspace_id)
    return web.json_response(
        {
            "ref": assist.ref,
            "status": assist.status,
            "priority": assist.priority,
            "assignee": (
                members.get(assist.assignee_id, "a former member")
                if assist.assignee_id
                else "Unassigned"
            ),
            "unread": assist.unread,
            "items": [item.as_json(who.timezone) for item in timeline(assist, events)],
        },
        headers={"Cache-Control": "no-store"},
    )


# --- actions -------------------------------------------------------------------------------


async def _acting(
    request: web.Request, *actions: InboxAction
) -> tuple[SignedIn, MultiDictProxy[Any] | None]:
    """The signed-in member, having sent this session's CSRF token and being allowed ACTIONS;
    and the form they posted (None for a JSON request). Raises a 403 page otherwise."""
    who = await require(request, "inbox")
    form = None if request.content_type == "application/json" else await request.post()
    check_csrf(request, who, form)
    for action in actions:
        if not may(who.role, who.plan, action):
            raise ConsoleError(403, "Not available to you", why_not_action(who.role, action))
    return who, form


def _text(form: Mapping[str, Any] | None, name: str = "text") -> str:
    value = str(form.get(name, "")) if form else ""
    return value.replace("\r\n", "\n").strip()


async def send_reply(request: web.Request) -> web.Response:
    """Send: the reply is emailed to the customer in the assist's thread, as the admin API
    sends it; the member's click is the approval."""
    who, form = await _acting(request, "reply")
    gw = request.app[GATEWAY]
    text = _text(form)
    ref = request.match_info["ref"]
    async with gw.db.session() as session:
        assist = await _load(session, who, ref)
        if not text:
            return _done(assist.ref, form, "error", "Write a reply first; nothing was sent.")
        if len(text) > MAX_TEXT:
            return _done(assist.ref, form, "error", "That reply is too long; nothing was sent.")
        to = await customer_email(session, assist)
        if to is None:
            return _done(
                assist.ref,
                form,
                "error",
                f"{assist.ref} has no customer email address, so nothing was sent.",
            )
        await team_actions.send_reply(
            session, assist, text=text, to=to, author=who.name, mailer=mailer(gw), now=utcnow()
        )
        ref = assist.ref
    gw.wake_outbox()
    return _done(ref, form, "notice", f"Reply sent to {to}.")


async def add_note(request: web.Request) -> web.Response:
    """An internal note: kept with the assist, never sent to the customer."""
    who, form = await _acting(request, "note")
    gw = request.app[GATEWAY]
    text = _text(form)
    async with gw.db.session() as session:
        assist = await _load(session, who, request.match_info["ref"])
        if not text or len(text) > MAX_TEXT:
            return _done(assist.ref, form, "error", "Write a note (at most 20,000 characters).")
        await team_actions.add_note(session, assist, text=text, author=who.name, now=utcnow())
        ref = assist.ref
    return _done(ref, form, "notice", "Note added (the customer does not see it).")


async def refine_reply(request: web.Request) -> web.Response:
    """Regenerate / Shorter / More formal / More casual: the suggested reply rewritten and
    kept. JSON for the page's script, a redirect for a plain form."""
    who, form = await _acting(request, "reply")
    gw = request.app[GATEWAY]
    if form is None:
        try:
            body = await request.json()
        except ValueError as exc:
            raise ConsoleError(400, "Bad request", "The request was not JSON.") from exc
        mode = str(body.get("mode", "")) if isinstance(body, dict) else ""
    else:
        mode = str(form.get("mode", ""))
    if mode not in REFINE_MODES:
        raise ConsoleError(
            400, "Bad request", "Choose Regenerate, Shorter, More formal or More casual."
        )
    async with gw.db.session() as session:
        assist = await _load(session, who, request.match_info["ref"])
        team = team_actions.team_name(email_identity(gw), who.workspace_name)
        text, backend = await team_actions.refine_suggestion(
            assist,
            mode,
            team=team,
            llm=gw.llm,
            now=utcnow(),
        )
        ref = assist.ref
    if form is None:
        return web.json_response({"text": text, "mode": mode, "backend": backend})
    return _done(ref, form, "draft", f"The AI draft was rewritten ({REFINE_LABELS[mode]}).")


async def set_status(request: web.Request) -> web.Response:
    """Open or pending (closing has its own form: it may email a survey)."""
    who, form = await _acting(request, "status")
    gw = request.app[GATEWAY]
    status = str(form.get("status", "")) if form else ""
    if status not in ("open", "pending"):
        raise ConsoleError(400, "Bad request", "Choose Open or Pending.")
    async with gw.db.session() as session:
        assist = await _load(session, who, request.match_info["ref"])
        await team_actions.update(
            session,
            assist,
            now=utcnow(),
            mailer=mailer(gw),
            status=status,
            actor=f"member:{who.member_id}",
        )
        ref = assist.ref
    return _done(ref, form, "notice", f"{ref} is {status}.")


SNOOZE_CHOICES = {"tomorrow": "tomorrow 09:00", "monday": "monday 09:00"}


async def snooze_assist(request: web.Request) -> web.Response:
    """Snooze until the time picked (`until`, a datetime-local value in the member's time
    zone) or a quick choice (`choice`: tomorrow or Monday, 9:00 theirs)."""
    who, form = await _acting(request, "status")
    gw = request.app[GATEWAY]
    ref = request.match_info["ref"]
    choice = str(form.get("choice", "")) if form else ""
    said = SNOOZE_CHOICES.get(choice) or _text(form, "until")
    if not said:
        return _done(ref, form, "error", "Pick a time to snooze until.")
    now = utcnow()
    try:
        until = moments.resolve(said, now, who.timezone)
    except ValueError:
        return _done(ref, form, "error", "Pick a date and time to snooze until.")
    async with gw.db.session() as session:
        assist = await _load(session, who, ref)
        try:
            await snooze.snooze(session, assist, until, actor=f"member:{who.member_id}", now=now)
        except snooze.SnoozeError as exc:
            return _done(assist.ref, form, "error", f"Not snoozed: {exc}.")
        ref = assist.ref
    shown = local_time(until, who.timezone)
    return _done(
        ref,
        form,
        "notice",
        f"{ref} is snoozed until {shown}; it reopens then, or when the customer replies.",
    )


async def save_details(request: web.Request) -> web.Response:
    """Priority, category, tags and labels."""
    who, form = await _acting(request, "priority", "triage")
    gw = request.app[GATEWAY]
    priority = str(form.get("priority", "")) if form else ""
    if priority not in PRIORITIES:
        raise ConsoleError(400, "Bad request", "Choose a priority: low, normal, high or urgent.")
    async with gw.db.session() as session:
        assist = await _load(session, who, request.match_info["ref"])
        now = utcnow()
        await team_actions.update(session, assist, now=now, mailer=mailer(gw), priority=priority)
        team_actions.set_details(
            assist,
            category=_text(form, "category"),
            tags=_text(form, "tags").split(","),
            labels=_text(form, "labels").split(","),
            now=now,
        )
        ref = assist.ref
    return _done(ref, form, "notice", "Details saved.")


async def assign(request: web.Request) -> web.Response:
    """To a member of the workspace, to me, or to nobody."""
    who, form = await _acting(request, "assign")
    gw = request.app[GATEWAY]
    wanted = str(form.get("assignee", "")) if form else ""
    async with gw.db.session() as session:
        assist = await _load(session, who, request.match_info["ref"])
        members = await active_member_names(session, who.workspace_id)
        member_id = who.member_id if wanted == "me" else (wanted or None)
        if member_id is not None and member_id not in members:
            raise ConsoleError(400, "Bad request", "Choose an active member of this workspace.")
        await team_actions.update(
            session, assist, now=utcnow(), mailer=mailer(gw), assignee_id=member_id
        )
        ref = assist.ref
    name = members[member_id] if member_id else None
    return _done(ref, form, "notice", f"Assigned to {name}." if name else "Unassigned.")


async def close(request: web.Request) -> web.Response:
    """Close: the resolution is kept (the last reply when none is written), the customer gets
    the CSAT survey when the box is ticked, and the resolution goes to the AI agent's training
    when that box is ticked (by those the training tool allows: a proposal approved by this
    click, so History can undo it)."""
    who, form = await _acting(request, "status")
    gw = request.app[GATEWAY]
    survey = bool(form and form.get("survey"))
    train = bool(form and form.get("train"))
    if train and not _may_train(gw, who):
        raise ConsoleError(
            403,
            "Not available to you",
            "Adding to the AI agent's training is for owners and admins.",
        )
    resolution = _text(form, "resolution")[: team_actions.RESOLUTION_LIMIT] or None
    now = utcnow()
    async with gw.db.session() as session:
        assist = await _load(session, who, request.match_info["ref"])
        if assist.status == "closed":
            return _done(assist.ref, form, "notice", f"{assist.ref} was already closed.")
        done = await team_actions.update(
            session,
            assist,
            now=now,
            mailer=mailer(gw),
            status="closed",
            resolution=resolution,
            survey=survey,
            actor=f"member:{who.member_id}",
        )
        await session.flush()
        lines = [f"{assist.ref} is closed."]
        if done.get("survey_sent_to"):
            lines.append(f"A satisfaction survey was emailed to {done['survey_sent_to']}.")
        elif survey:
            lines.append("No survey was sent (no customer email, or survey links are off).")
        if train:
            lines.append(await _promote(gw, session, who, assist, now))
        ref = assist.ref
    gw.wake_outbox()
    return _done(ref, form, "notice", " ".join(lines))


async def _promote(
    gw: Gateway, session: AsyncSession, who: SignedIn, assist: Assist, now: datetime
) -> str:
    """`promote_assist_to_training` for WHO, planned and approved at once (their click)."""
    spec = gw.tools.get(TRAINING_TOOL)
    assert spec is not None
    principal = principal_of(who)
    task = Task(
        id=new_id(),
        workspace_id=who.workspace_id,
        channel="web",
        external_id=f"console:{new_id()}",
        sender=Sender(channel="web", address=who.member_id),
        conversation=f"console:{who.member_id}",
        text=f"promote {assist.ref} to training",
        received_at=now,
        reply_route=Route(channel="web", address=who.member_id),
    )
    ctx = ToolContext(
        session=session,
        principal=principal,
        task=task,
        now=now,
        registry=gw.tools,
        mailer=mailer(gw),
        llm=gw.llm,
    )
    planned = await spec.handler(ctx, spec.args(assist=assist.ref))
    if not isinstance(planned, Draft):
        said = planned[0].text if planned else "nothing to learn from"
        return f"Not added to training: {said}"
    proposal = await propose(session, principal, [planned], now=now)
    replies = await control.decide_by_id(ctx, proposal.id, approve=True)
    if replies and replies[0].kind == "error":
        return f"Not added to training: {replies[0].text}"
    return "Its resolution was added to the AI agent's training (undo it from History)."


async def mark_read(request: web.Request) -> web.Response:
    """The page's script, when a customer reply arrives while the member is looking at it."""
    who, _ = await _acting(request, "view")
    gw = request.app[GATEWAY]
    async with gw.db.session() as session:
        assist = await _load(session, who, request.match_info["ref"])
        changed = team_actions.mark_read(assist, utcnow())
    return web.json_response({"read": True, "changed": changed})


def setup(app: web.Application) -> None:
    app.router.add_get("/console/assists/{ref}", assist_page)
    app.router.add_get("/console/assists/{ref}/state", assist_state)
    app.router.add_post("/console/assists/{ref}/reply", send_reply)
    app.router.add_post("/console/assists/{ref}/note", add_note)
    app.router.add_post("/console/assists/{ref}/refine", refine_reply)
    app.router.add_post("/console/assists/{ref}/status", set_status)
    app.router.add_post("/console/assists/{ref}/snooze", snooze_assist)
    app.router.add_post("/console/assists/{ref}/details", save_details)
    app.router.add_post("/console/assists/{ref}/assign", assign)
    app.router.add_post("/console/assists/{ref}/close", close)
    app.router.add_post("/console/assists/{ref}/read", mark_read)
