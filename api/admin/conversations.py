"""`/api/v1/conversations`: every customer conversation with its messages in order, on any
channel (core.live.conversations). Always available: it is the record of what customers were
told, whether or not Live Operator Mode is on."""

from __future__ import annotations

from aiohttp import web

from api.admin.auth import Caller
from api.admin.models import (
    ConversationDetail,
    ConversationOut,
    Page,
)
from api.admin.pagination import Key, Order, page_fetched
from api.admin.params import query_of
from api.http import json_ok
from api.state import Gateway
from core.live import conversations

ORDER = Order("conversations", ("datetime", "str"), descending=True)


async def list_conversations(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """The latest active first (then by id); `?status=`, `?channel=`, `?customer_id=`,
    `?before=` (ISO 8601: those last active before it), `?limit=` (at most 200), `?cursor=`."""
    q = query_of(request)

    async def fetch(after: Key | None, limit: int) -> list[conversations.Listed]:
        return await conversations.list_conversations(
            session,
            who.workspace_id,
            status=q.get("status"),
            channel=q.get("channel"),
            customer_id=q.get("customer_id"),
            before=q.get("before"),
            after=(after[0], after[1]) if after is not None else None,
            limit=limit,
        )

    async with gw.db.session() as session:
        found = await page_fetched(request, ORDER, fetch, _key, most=conversations.LIST_MAX)
        items = [
            ConversationOut.model_validate(conversations.conversation_json(c)) for c in found.items
        ]
    return json_ok(Page[ConversationOut](items=items, next_cursor=found.next_cursor))


def _key(listed: conversations.Listed) -> Key:
    c = listed.conversation
    return (c.updated_at or c.started_at, c.id)


async def get_conversation(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
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
