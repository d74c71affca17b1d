"""`/api/v1/apikeys`: list, create, reveal once and revoke API keys."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from api.admin.auth import Caller
from api.admin.models import ApiKeyCreated, ApiKeyIn, ApiKeyOut, Page
from api.admin.pagination import Order, page_rows
from api.admin.params import query_of
from api.http import json_ok, read_json
from api.state import Gateway
from core.team import directory
from core.tools.writes import api_keys
from storage.models import ApiKey

ORDER = Order("apikeys", ("datetime", "str"))
STATUSES = ("active", "revoked")


async def list_api_keys(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """Oldest first; `?status=active|revoked`."""
    status = query_of(request).get("status")
    query = select(ApiKey).where(ApiKey.workspace_id == who.workspace_id)
    if status == "active":
        query = query.where(ApiKey.revoked_at.is_(None))
    elif status == "revoked":
        query = query.where(ApiKey.revoked_at.is_not(None))
    async with gw.db.session() as session:
        found = await page_rows(
            request,
            session,
            query,
            ORDER,
            (ApiKey.created_at, ApiKey.id),
            lambda k: (k.created_at, k.id),
        )
        items = [
            ApiKeyOut(
                id=k.id,
                name=k.name,
                prefix=k.prefix,
                created_at=k.created_at,
                last_used_at=k.last_used_at,
                revoked_at=k.revoked_at,
            )
            for k in found.items
        ]
    return json_ok(Page[ApiKeyOut](items=items, next_cursor=found.next_cursor))


async def create_api_key(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    body = await read_json(request, ApiKeyIn)
    async with gw.db.session() as session:
        new = await directory.create_api_key(
            session, who.workspace_id, name=body.name, actor=who.actor
        )
    return json_ok(ApiKeyCreated(id=new.id, prefix=new.prefix, key=new.secret), status=201)


async def reveal_api_key(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """The value of a key created through the operator, shown exactly once."""
    async with gw.db.session() as session:
        new = await api_keys.reveal_api_key(
            session, who.workspace_id, request.match_info["key_id"], actor=who.actor
        )
    return json_ok(ApiKeyCreated(id=new.id, prefix=new.prefix, key=new.secret), status=201)


async def revoke_api_key(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        await directory.revoke_api_key(
            session, who.workspace_id, request.match_info["key_id"], actor=who.actor
        )
    return web.Response(status=204)
