"""The operator conversation of a console member: web tasks they sent and the replies to them,
shaped once for the page (Jinja) and for its script (JSON)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.state import Gateway
from api.web import web_task
from core.approvals.proposals import CREATE, proposal_payload
from core.team.signin import SignedIn
from delivery.charts import deliverable_chart
from delivery.render import media_of
from models.deliverable import Deliverable
from models.task import Approval, Task, TaskKind
from storage.domain import Proposal
from storage.models import OutboxRow, TaskRow
from storage.types import utcnow

# Shown at most: older exchanges stay in the journal (and in the admin API).
RECENT_EXCHANGES = 25
MAX_CHANGES_SHOWN = 50
PROPOSAL_STATUS = {
    "pending": "Waiting for approval",
    "executed": "Approved and carried out",
    "rejected": "Rejected: nothing was changed",
    "expired": "Expired: nothing was changed",
    "stale": "Stopped: the data changed since it was proposed, so nothing was changed",
}


def member_task(
    who: SignedIn,
    text: str,
    *,
    key: str,
    kind: TaskKind = "message",
    approval: Approval | None = None,
) -> Task:
    """A web-channel task from the signed-in member, as `POST /api/v1/messages` builds one:
    the sender is the member id, the conversation and reply route the member's web thread.
    KEY makes the dedupe key (`<member id>:<key>`): the same KEY twice is one task."""
    return web_task(
        who.workspace_id,
        who.member_id,
        text,
        key=key,
        kind=kind,
        approval=approval,
        raw={"source": "console", "text": text},
    )


class FieldView(BaseModel):
    label: str
    value: str
    # "up 5.5 points on the period before (better)" beside a figure, shown smaller.
    detail: str | None = None
    tone: Literal["better", "worse"] | None = None


_TRENDS = ("up ", "down ", "unchanged", "no earlier")


def trend_tone(trend: str) -> Literal["better", "worse"] | None:
    """Whether a trend the reports wrote ("down 3 points on the period before (worse)") is
    good news."""
    if trend.endswith("(better)"):
        return "better"
    return "worse" if trend.endswith("(worse)") else None


def field_view(label: str, value: str) -> FieldView:
    """A card field, its figure apart from the trend the reports write after it."""
    main, comma, rest = value.partition(", ")
    detail = rest if comma and rest.startswith(_TRENDS) else None
    trend = detail or (value if value.startswith(_TRENDS) else "")
    return FieldView(
        label=label, value=main if detail else value, detail=detail, tone=trend_tone(trend)
    )


class FileView(BaseModel):
    filename: str
    url: str | None  # None once the link has expired
    content_type: str
    size: str
    image: bool


class ChangeView(BaseModel):
    label: str
    before: str
    after: str


class ProposalView(BaseModel):
    id: str
    code: str
    summary: str
    status: str
    status_label: str
    changes: list[ChangeView]
    more_changes: int
    estimated_count: int | None
    notices: list[str]
    expires_at: datetime
    # Still waiting for a decision (pending and not past its expiry): the buttons show.
    open: bool


class ReplyView(BaseModel):
    id: str
    kind: str
    title: str | None
    text: str
    lead: list[str]
    fields: list[FieldView]
    items: list[str]
    notes: list[str]
    next_step: str | None
    chart_url: str | None
    file: FileView | None
    proposal: ProposalView | None


class ExchangeView(BaseModel):
    id: str
    kind: str
    text: str
    status: str
    received_at: datetime
    finished: bool
    replies: list[ReplyView]


def shown_value(value: Any, *, field: str, side: str) -> str:
    """A change's value as a person reads it ("—" for nothing)."""
    if field == CREATE:
        if side == "before":
            return "—" if value is None else value if isinstance(value, str) else "exists"
        return "removed" if value is None else value if isinstance(value, str) else "created"
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def proposal_view(row: Proposal, notices: Sequence[str], now: datetime) -> ProposalView:
    """PROPOSAL as it stands now (its live status, not the one it had when proposed)."""
    payload = proposal_payload(row)
    status = row.status
    if status == "pending" and row.expires_at <= now:
        status = "expired"
    label = PROPOSAL_STATUS.get(status, status)
    if status == "stale" and row.outcome:
        label = f"Stopped, nothing was changed: {row.outcome}"
    changes = [
        ChangeView(
            label=str(c["label"]),
            before=shown_value(c["before"], field=c["field"], side="before"),
            after=shown_value(c["after"], field=c["field"], side="after"),
        )
        for c in payload["changes"]
    ]
    return ProposalView(
        id=row.id,
        code=row.code,
        summary=row.summary,
        status=status,
        status_label=label,
        changes=changes[:MAX_CHANGES_SHOWN],
        more_changes=max(0, len(changes) - MAX_CHANGES_SHOWN),
        estimated_count=row.estimated_count,
        notices=[str(n) for n in notices],
        expires_at=row.expires_at,
        open=status == "pending",
    )


def _size(size: Any) -> str:
    if not isinstance(size, int):
        return ""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def file_view(gateway: Gateway, media: dict[str, Any], now: datetime) -> FileView:
    """A file of a reply and its signed /media/ link (relative: the console and the media
    route are served by the same gateway, whatever PUBLIC_BASE_URL says)."""
    filename = str(media.get("filename") or "file")
    content_type = str(media.get("content_type") or "application/octet-stream")
    url = None
    try:
        expires = datetime.fromisoformat(str(media.get("expires_at")))
    except ValueError:
        expires = None
    if expires is not None and expires > now:
        url = f"/media/{gateway.media.token(str(media['id']), expires)}"
    return FileView(
        filename=filename,
        url=url,
        content_type=content_type,
        size=_size(media.get("size")),
        image=content_type.startswith("image/"),
    )


def _layout(
    deliverable: Deliverable, *, charted: bool
) -> tuple[list[str], list[str], list[str], str | None]:
    """(lead lines, items, notes after the items, next step) of a card or list: its text
    without what the fields, items and chart already show."""
    fields = {(f.label, f.value) for f in deliverable.fields}
    items = list(deliverable.items)
    listed = set(items)
    suggestion = deliverable.data.get("suggestion")
    next_step = suggestion if isinstance(suggestion, str) else None
    lead: list[str] = []
    notes: list[str] = []
    bullets: list[str] = []
    past_list = False  # lines after the first bullet are notes, before it the lead
    for raw in deliverable.text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("Next step: "):
            next_step = next_step or line.removeprefix("Next step: ")
            continue
        if charted and line.startswith("Daily: "):
            continue  # the sparkline: the chart shows the same
        bullet = line.startswith("- ")
        past_list = past_list or bullet
        body = line.removeprefix("- ")
        label, _, value = body.partition(": ")
        if (label, value) in fields:
            continue
        if bullet:
            if body not in listed:
                bullets.append(body)
            continue
        (notes if past_list else lead).append(line)
    if fields and lead and lead[-1].endswith(":"):
        lead.pop()  # "AI Inbox this week for the team:" introduced the fields
    return lead, items or bullets, notes, next_step


def reply_view(
    gateway: Gateway,
    row: OutboxRow,
    proposals: dict[str, Proposal],
    now: datetime,
) -> ReplyView:
    deliverable = Deliverable.model_validate(row.deliverable)
    data = deliverable.data
    proposal = None
    payload = data.get("proposal")
    if isinstance(payload, dict) and str(payload.get("id")) in proposals:
        notices = data.get("notices")
        proposal = proposal_view(
            proposals[str(payload["id"])], notices if isinstance(notices, list) else [], now
        )
    media = media_of(deliverable)
    charted = deliverable_chart(deliverable) is not None
    lead: list[str] = []
    items: list[str] = []
    notes: list[str] = []
    next_step = None
    if deliverable.kind in ("card", "list"):
        lead, items, notes, next_step = _layout(deliverable, charted=charted)
    return ReplyView(
        id=row.id,
        kind=deliverable.kind,
        title=deliverable.title,
        text=deliverable.text,
        lead=lead,
        fields=[field_view(f.label, f.value) for f in deliverable.fields],
        items=items,
        notes=notes,
        next_step=next_step,
        chart_url=f"/console/operator/replies/{row.id}/chart.png" if charted else None,
        file=file_view(gateway, media, now) if media is not None else None,
        proposal=proposal,
    )


async def load_proposals(
    session: AsyncSession, workspace_id: str, ids: Iterable[str]
) -> dict[str, Proposal]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.scalars(
        select(Proposal).where(Proposal.workspace_id == workspace_id, Proposal.id.in_(wanted))
    )
    return {row.id: row for row in rows}


def _proposal_ids(replies: Iterable[OutboxRow]) -> set[str]:
    ids = set()
    for row in replies:
        payload = (row.deliverable.get("data") or {}).get("proposal")
        if isinstance(payload, dict) and payload.get("id"):
            ids.add(str(payload["id"]))
    return ids


def _mine(who: SignedIn) -> tuple[Any, ...]:
    """The member's own web tasks in their workspace: nobody reads another's conversation."""
    return (
        TaskRow.workspace_id == who.workspace_id,
        TaskRow.channel == "web",
        TaskRow.sender_address == who.member_id,
    )


async def load_exchanges(
    gateway: Gateway,
    who: SignedIn,
    *,
    task_ids: Sequence[str] | None = None,
    limit: int = RECENT_EXCHANGES,
) -> list[ExchangeView]:
    """The member's latest exchanges with the operator, oldest first (or the ones in TASK_IDS
    that are theirs)."""
    now = utcnow()
    async with gateway.db.session() as session:
        query = select(TaskRow).where(*_mine(who))
        if task_ids is not None:
            query = query.where(TaskRow.id.in_(list(task_ids)))
        tasks = list(
            await session.scalars(
                query.order_by(TaskRow.received_at.desc(), TaskRow.id.desc()).limit(limit)
            )
        )
        tasks.reverse()
        replies = (
            list(
                await session.scalars(
                    select(OutboxRow)
                    .where(
                        OutboxRow.workspace_id == who.workspace_id,
                        OutboxRow.task_id.in_([t.id for t in tasks]),
                    )
                    .order_by(OutboxRow.seq)
                )
            )
            if tasks
            else []
        )
        proposals = await load_proposals(session, who.workspace_id, _proposal_ids(replies))
    by_task: dict[str, list[OutboxRow]] = {}
    for row in replies:
        by_task.setdefault(row.task_id or "", []).append(row)
    return [
        ExchangeView(
            id=task.id,
            kind=task.kind,
            text=task.text,
            status=task.status,
            received_at=task.received_at,
            finished=task.status in ("done", "failed"),
            replies=[reply_view(gateway, r, proposals, now) for r in by_task.get(task.id, [])],
        )
        for task in tasks
    ]


async def load_exchange(gateway: Gateway, who: SignedIn, task_id: str) -> ExchangeView | None:
    """One of the member's exchanges, or None: another member's or workspace's task, or no
    task at all, look the same."""
    if not task_id or len(task_id) > 64:
        return None
    found = await load_exchanges(gateway, who, task_ids=[task_id], limit=1)
    return found[0] if found else None


async def own_reply(gateway: Gateway, who: SignedIn, reply_id: str) -> Deliverable | None:
    """A reply the operator sent to this member on the web, or None."""
    if not reply_id or len(reply_id) > 64:
        return None
    async with gateway.db.session() as session:
        row = await session.scalar(
            select(OutboxRow).where(
                OutboxRow.id == reply_id,
                OutboxRow.workspace_id == who.workspace_id,
                OutboxRow.channel == "web",
                OutboxRow.address == who.member_id,
            )
        )
        return Deliverable.model_validate(row.deliverable) if row is not None else None


async def decided_notice(gateway: Gateway, who: SignedIn, proposal_id: str) -> str | None:
    """Why a repeated Approve or Reject changed nothing: the proposal's state now."""
    if not proposal_id or len(proposal_id) > 64:
        return None
    async with gateway.db.session() as session:
        proposal = await session.scalar(
            select(Proposal).where(
                Proposal.id == proposal_id, Proposal.workspace_id == who.workspace_id
            )
        )
        if proposal is None:
            return None
        view = proposal_view(proposal, [], utcnow())
    if view.open:
        return f"Your decision on proposal {view.code} was already sent; it is being carried out."
    return f"Proposal {view.code} was already decided: {view.status_label}."
