"""The operator panel: the same operator the chat channels reach, as the signed-in member.

What the member types becomes a `web` task journaled through the gateway (the pipeline answers
it as it answers any channel); Approve and Reject post an approval task the way a chat button
does. Plain forms first (Post/Redirect/Get); `static/operator.js` posts with fetch and shows
the replies when they arrive.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.console import exchanges
from api.console.exchanges import decided_notice
from api.console.scripted import (
    MAX_KEY,
    check_json_csrf,
    require_json,
    valid_key,
    wants_json,
)
from api.console.session import ConsoleError, check_csrf, page, require, safe_next
from api.http import Input, json_ok, problem, read_json
from api.state import GATEWAY, Gateway
from api.web import MAX_TEXT
from core.reports import analytics
from core.reports.knowledge_gaps import open_gaps
from core.reports.performance import metric_card
from core.reports.workload import open_assignments
from core.team.access import can
from core.team.identity import resolve
from core.team.signin import SignedIn
from core.tools.registry import ToolContext
from delivery.charts import draw_deliverable_chart
from models.task import Approval
from storage.domain import Proposal
from storage.types import new_id, utcnow

GAPS_COUNTED = 1000
# Something to try for each tool a member may use: the first few that apply are offered.
EXAMPLES = (
    ("get_metrics", "How is our resolution rate this week?"),
    ("list_assists", "Show open urgent assists"),
    ("get_agent_workload", "Who has the most open assists?"),
    ("get_knowledge_gaps", "What couldn't the AI answer?"),
    ("get_topic_breakdown", "Which topics come up most this month?"),
    ("run_report", "Performance report as PDF"),
    ("show_history", "Show history"),
)


class MessageIn(Input):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    # The same key twice is one message (a double submit); the page makes one per send.
    key: str | None = Field(None, max_length=MAX_KEY)


class DecisionIn(Input):
    decision: Literal["approve", "reject"]


class Tile(BaseModel):
    label: str
    value: str
    detail: str
    ask: str
    tone: Literal["better", "worse"] | None = None


class Capability(BaseModel):
    name: str
    description: str
    kind: str


class Snapshot(BaseModel):
    tiles: list[Tile]


async def member_context(gateway: Gateway, session: AsyncSession, who: SignedIn) -> ToolContext:
    """What the read tools get when this member asks: the principal the pipeline resolves
    for the member's web tasks (the workspace's time zone, the member's role and plan)."""
    task = exchanges.member_task(who, "", key="console-view")
    principal = await resolve(session, task)
    return ToolContext(session, principal, task, utcnow(), gateway.tools)


def _allowed(ctx: ToolContext, tool: str) -> bool:
    spec = ctx.registry.get(tool)
    return spec is not None and spec.allows(ctx.principal)


async def live_snapshot(ctx: ToolContext) -> list[Tile]:
    """The figures the panel opens with, each read through the function its read tool uses,
    and only where this member may use that tool."""
    tiles = []
    if _allowed(ctx, "get_metrics"):
        current_week, previous = analytics.windows("this_week", ctx.now, ctx.principal.timezone)
        card = await metric_card(ctx, "resolution_rate", current_week, previous, None)
        trend = analytics.trend("resolution_rate", card.value, card.previous)
        tiles.append(
            Tile(
                label=f"AI resolution rate, {current_week.label}",
                value=analytics.fmt("resolution_rate", card.value),
                detail=trend,
                ask="How is our resolution rate this week?",
                tone=exchanges.trend_tone(trend),
            )
        )
    if _allowed(ctx, "get_agent_workload"):
        unassigned = sum(1 for row in await open_assignments(ctx) if row.assignee_id is None)
        tiles.append(
            Tile(
                label="Unassigned assists",
                value=str(unassigned),
                detail="Open or pending, and nobody on them yet."
                if unassigned
                else "Every open assist has someone on it.",
                ask="Anything waiting unassigned?"
                if _allowed(ctx, "get_queue_health")
                else "Who has the most open assists?",
            )
        )
    if _allowed(ctx, "get_knowledge_gaps"):
        gaps = await open_gaps(ctx, None, GAPS_COUNTED)
        count = f"{len(gaps)}+" if len(gaps) == GAPS_COUNTED else str(len(gaps))
        tiles.append(
            Tile(
                label="Knowledge gaps",
                value=count,
                detail=f'Most asked: "{gaps[0].question}" ({gaps[0].occurrences} times).'
                if gaps
                else "The AI agent answered everything it was asked.",
                ask="What couldn't the AI answer?",
            )
        )
    return tiles


async def capabilities(ctx: ToolContext) -> tuple[str, list[Capability]]:
    """The `help` tool's answer for this member: its text and its list, each entry with the
    tool's kind (read, write, control)."""
    spec = ctx.registry.get("help")
    if spec is None or not spec.allows(ctx.principal):
        return "", []
    produced = await spec.handler(ctx, spec.args.model_validate({}))
    assert isinstance(produced, list), "help answers, it never proposes"
    found: list[Capability] = []
    text = produced[0].text if produced else ""
    for deliverable in produced:
        for item in deliverable.items:
            name, _, description = item.partition(": ")
            tool = ctx.registry.get(name)
            found.append(
                Capability(
                    name=name.replace("_", " ").capitalize(),
                    description=description,
                    kind=tool.kind if tool is not None else "read",
                )
            )
    return ("" if found else text), found


def examples(ctx: ToolContext) -> list[str]:
    return [text for tool, text in EXAMPLES if _allowed(ctx, tool)][:5]


async def operator_page(request: web.Request) -> web.Response:
    who = await require(request, "operator")
    gateway = request.app[GATEWAY]
    conversation = await exchanges.load_exchanges(gateway, who)
    async with gateway.db.session() as session:
        ctx = await member_context(gateway, session, who)
        tiles = await live_snapshot(ctx)
        help_text, helps = await capabilities(ctx)
        tries = examples(ctx)
    notice = await decided_notice(gateway, who, request.query.get("decided", ""))
    return page(
        request,
        "operator.html",
        who,
        title="Operator",
        exchanges=conversation,
        tiles=tiles,
        help_text=help_text,
        capabilities=helps,
        examples=tries,
        key=new_id(),
        can_history=can(who.role, who.plan, "history"),
        waiting=any(not e.finished for e in conversation),
        notice=notice,
        now=utcnow(),
    )


async def post_message(request: web.Request) -> web.Response:
    """A message to the operator: journaled as the member's web task (202 {task_id} for the
    script; a redirect back to the conversation for the form)."""
    gateway = request.app[GATEWAY]
    if wants_json(request):
        who = await require_json(request, "operator")
        check_json_csrf(request, who)
        body = await read_json(request, MessageIn)
        text, key = body.text, valid_key(body.key)
    else:
        who = await require(request, "operator")
        form = await request.post()
        check_csrf(request, who, form)
        text, key = str(form.get("text", "")).strip(), valid_key(form.get("key"))
        if not text:
            raise ConsoleError(400, "Nothing to send", "Type a message for the operator first.")
        if len(text) > MAX_TEXT:
            raise ConsoleError(
                400, "Message too long", f"Keep a message under {MAX_TEXT} characters."
            )
    accepted = await gateway.ingest(exchanges.member_task(who, text, key=f"ask:{key}"))
    if wants_json(request):
        return json_ok({"task_id": accepted.task_id, "duplicate": not accepted.created}, 202)
    raise web.HTTPSeeOther(f"/console/operator#task-{accepted.task_id}")


async def get_task(request: web.Request) -> web.Response:
    """One of the member's exchanges: its status and the replies so far."""
    who = await require_json(request, "operator")
    found = await exchanges.load_exchange(request.app[GATEWAY], who, request.match_info["task_id"])
    if found is None:
        raise problem(404, "no such task")
    return json_ok(found)


async def post_decision(request: web.Request) -> web.Response:
    """Approve or Reject: an approval task for this member, exactly as a chat button sends
    one, so the proposal engine applies its own rules (the requester or an owner/admin, once).
    The dedupe key `<member>:<decision>:<proposal>` makes a double click one decision."""
    gateway = request.app[GATEWAY]
    as_json = wants_json(request)
    target = "/console/operator"
    if as_json:
        who = await require_json(request, "operator")
        check_json_csrf(request, who)
        decision = (await read_json(request, DecisionIn)).decision
    else:
        who = await require(request, "operator")
        form = await request.post()
        check_csrf(request, who, form)
        chosen = str(form.get("decision", ""))
        if chosen not in ("approve", "reject"):
            raise ConsoleError(400, "Approve or Reject?", "Choose Approve or Reject.")
        decision = "approve" if chosen == "approve" else "reject"
        target = safe_next(str(form.get("next", "")) or target)
    proposal_id = request.match_info["proposal_id"]
    async with gateway.db.session() as session:
        proposal = (
            await session.scalar(
                select(Proposal).where(
                    Proposal.id == proposal_id, Proposal.workspace_id == who.workspace_id
                )
            )
            if len(proposal_id) <= 64
            else None
        )
    if proposal is None:
        if as_json:
            raise problem(404, "no such proposal")
        raise ConsoleError(404, "No such proposal", "That proposal does not exist.")
    task = exchanges.member_task(
        who,
        f"{decision} {proposal.code}",
        key=f"{decision}:{proposal.id}",
        kind="approval",
        approval=Approval(decision=decision, proposal_id=proposal.id),
    )
    accepted = await gateway.ingest(task)
    notice = None if accepted.created else await decided_notice(gateway, who, proposal.id)
    if as_json:
        return json_ok(
            {"task_id": accepted.task_id, "duplicate": not accepted.created, "notice": notice},
            202,
        )
    path = target.split("#", 1)[0].split("?", 1)[0]
    query = f"decided={proposal.id}" if notice else f"task={accepted.task_id}"
    raise web.HTTPSeeOther(f"{path}?{query}#task-{accepted.task_id}")


async def get_snapshot(request: web.Request) -> web.Response:
    who = await require_json(request, "operator")
    gateway = request.app[GATEWAY]
    async with gateway.db.session() as session:
        tiles = await live_snapshot(await member_context(gateway, session, who))
    return json_ok(Snapshot(tiles=tiles))


async def reply_chart(request: web.Request) -> web.Response:
    """The chart of a metric card or topic list the operator sent this member, drawn from the
    reply's own figures (the same drawing the email channel attaches)."""
    who = await require(request, "operator")
    deliverable = await exchanges.own_reply(
        request.app[GATEWAY], who, request.match_info["reply_id"]
    )
    png = await draw_deliverable_chart(deliverable) if deliverable is not None else None
    if png is None:
        raise web.HTTPNotFound()
    # A stored reply's figures never change: the browser may keep the picture.
    return web.Response(
        body=png, content_type="image/png", headers={"Cache-Control": "private, max-age=86400"}
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/console/operator", operator_page)
    app.router.add_post("/console/operator/messages", post_message)
    app.router.add_get("/console/operator/tasks/{task_id}", get_task)
    app.router.add_post("/console/operator/proposals/{proposal_id}/decision", post_decision)
    app.router.add_get("/console/operator/snapshot", get_snapshot)
    app.router.add_get("/console/operator/replies/{reply_id}/chart.png", reply_chart)
