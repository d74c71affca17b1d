"""`/api/v1/conversations`: every customer conversation with its messages in order, on any
channel (core.live.conversations). Always available: it is the record of what customers were
told, whether or not Live Operator Mode is on."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from api.admin.auth import Caller
from api.admin.listing import known_params
from api.admin.models import (
    ConversationDetail,
    ConversationOut,
    Page,
)
from api.http import json_ok, problem, query_int
from api.state import Gateway
from core.live import conversations

CHANNELS = ("slack", "telegram", "sms", "whatsapp", "email", "voice", "web")
ID_MAX = 64


def _iso(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError as exc:
        raise problem(400, f"query parameter {name!r} must be an ISO 8601 time") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _one_of(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in allowed:
        raise problem(400, f"{name} must be one of {', '.join(allowed)}")
    return value


async def list_conversations(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """The latest active first; `?status=`, `?channel=`, `?customer_id=`, `?before=` (ISO
    8601: those last active before it, to page on), `?limit=` (at most 200)."""
    known_params(request, ("status", "channel", "customer_id", "before", "limit"))
    status = _one_of(request, "status", conversations.STATUSES)
    channel = _one_of(request, "channel", CHANNELS)
    customer_id = request.query.get("customer_id")
    if customer_id is not None and not 0 < len(customer_id) <= ID_MAX:
        raise problem(400, "customer_id must be a customer's id")
    before = _iso(request, "before")
    limit = query_int(request, "limit", 50, lo=1, hi=conversations.LIST_MAX)
    async with gw.db.session() as session:
        found = await conversations.list_conversations(
            session,
            who.workspace_id,
            status=status,
            channel=channel,
            customer_id=customer_id,
            before=before,
            limit=limit,
        )
        items = [ConversationOut.model_validate(conversations.conversation_json(c)) for c in found]
    return json_ok(Page[ConversationOut](items=items))


async def get_conversation(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    known_params(request, ())
    conversation_id = request.match_info["conversation_id"]
    async with gw.db.session() as session:
        listed = await conversations.get(session, who.workspace_id, conversation_id)
        said = await conversations.messages(session, who.workspace_id, conversation_id)
        body = conversations.conversation_json(listed)
        out = ConversationDetail.model_validate(
            {
                **body,
                "message_count": body["messages"],
                "messages": [conversations.message_json(m) for m in said],
            }
        )
    return json_ok(out)
