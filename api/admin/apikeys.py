"""`/api/v1/apikeys`: list, create, reveal once and revoke API keys."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from api.admin.auth import Caller
from api.admin.models import ApiKeyCreated, ApiKeyIn, ApiKeyOut, Page
from api.http import json_ok, read_json
from api.state import Gateway
from core.team import directory
from core.tools.writes import api_keys
from storage.models import ApiKey


async def list_api_keys(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        keys = await session.scalars(
            select(ApiKey)
            .where(ApiKey.workspace_id == who.workspace_id)
            .order_by(ApiKey.created_at)
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
            for k in keys
        ]
    return json_ok(Page[ApiKeyOut](items=items))


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
