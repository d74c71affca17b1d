"""Live operators over the admin API: operator groups, who is live, live sessions, and the
workspace's live settings (the `operator` and `presence` feature flags and each role's
scopes), through core.live.

An API key acts as the workspace's administrator, so no scope limits it; the feature flags
hold for it as for anyone: with Live Operator Mode off its routes answer 403 saying how to turn
it on, and who is live needs `presence` as well. The settings route itself always answers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from api.admin.auth import Caller
from api.admin.models import (
    LiveOperatorOut,
    LiveSessionDetail,
    LiveSessionOut,
    LiveSettingsOut,
    LiveSettingsPatch,
    OperatorGroupIn,
    OperatorGroupOut,
    OperatorGroupPatch,
    Page,
)
from api.admin.pagination import Key, Order, page_fetched, page_items
from api.admin.params import query_of
from api.http import json_ok, problem, read_json
from api.state import Gateway
from core.live import access, conversations, groups, presence, sessions
from core.live.access import Forbidden
from core.team.directory import DirectoryError, NotFound
from storage.models import Workspace
from storage.types import utcnow

SESSION_STATUSES = ("offered", "active", "completed", "ai")
SESSIONS_MAX = 200
GROUPS = Order("operator_groups", ("str", "str"))
PRESENCE = Order("presence", ("str", "str"))
SESSIONS = Order("live_sessions", ("datetime", "str"), descending=True)
TURN_ON = (
    "an owner or admin turns it on under Live in the console, or with PATCH "
    '/api/v1/live/settings {"features": {FLAGS}}'
)


async def _workspace(session: AsyncSession, who: Caller) -> Workspace:
    workspace = await session.get(Workspace, who.workspace_id)
    if workspace is None:
        raise problem(404, "no such workspace")
    return workspace


async def _feature(session: AsyncSession, who: Caller, feature: access.Feature) -> Workspace:
    """The caller's workspace, once FEATURE (and `operator`, which it needs) is on."""
    workspace = await _workspace(session, who)
    if not access.enabled(workspace, "operator"):
        raise Forbidden(
            "Live Operator Mode is off for this workspace; "
            + TURN_ON.replace("FLAGS", '"operator": true')
        )
    if feature == "presence" and not access.enabled(workspace, "presence"):
        raise Forbidden(
            "Live presence is off for this workspace, so who is live is not shown; "
            + TURN_ON.replace("FLAGS", '"presence": true')
        )
    return workspace


# ------------------------------------------------------------------ operator groups


@contextmanager
def _named_in_body() -> Iterator[None]:
    """An agent or member the body names that the workspace lacks is bad input (400): the
    route itself was found."""
    try:
        yield
    except NotFound as exc:
        raise DirectoryError(str(exc)) from exc


async def list_groups(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        await _feature(session, who, "operator")
        views = await groups.list_groups(session, who.workspace_id)
        found = page_items(request, views, GROUPS, lambda v: (v.group.name, v.group.id))
        items = [OperatorGroupOut.model_validate(v.to_json()) for v in found.items]
    return json_ok(Page[OperatorGroupOut](items=items, next_cursor=found.next_cursor))


async def create_group(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    body = await read_json(request, OperatorGroupIn)
    async with gw.db.session() as session:
        await _feature(session, who, "operator")
        with _named_in_body():
            view = await groups.create_group(
                session,
                who.workspace_id,
                name=body.name,
                description=body.description,
                workflows=body.workflows,
                members=body.members,
                actor=who.actor,
                now=utcnow(),
            )
        out = OperatorGroupOut.model_validate(view.to_json())
    return json_ok(out, status=201)


async def get_group(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        await _feature(session, who, "operator")
        view = await groups.get_group(session, who.workspace_id, request.match_info["group_id"])
        return json_ok(OperatorGroupOut.model_validate(view.to_json()))


async def patch_group(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    body = await read_json(request, OperatorGroupPatch)
    changes = body.model_dump(exclude_unset=True)
    description = changes.get("description")
    if "description" in changes and description is None:
        description = ""  # null clears it; omitted keeps it
    async with gw.db.session() as session:
        await _feature(session, who, "operator")
        group_id = request.match_info["group_id"]
        await groups.get_group(session, who.workspace_id, group_id)  # 404 for no such group
        with _named_in_body():
            view = await groups.update_group(
                session,
                who.workspace_id,
                group_id,
                name=changes.get("name"),
                description=description,
                workflows=changes.get("workflows"),
                members=changes.get("members"),
                actor=who.actor,
                now=utcnow(),
            )
        out = OperatorGroupOut.model_validate(view.to_json())
    return json_ok(out)


async def delete_group(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        await _feature(session, who, "operator")
        await groups.delete_group(
            session, who.workspace_id, request.match_info["group_id"], actor=who.actor
        )
    return web.Response(status=204)


# ------------------------------------------------------------------ presence and sessions


async def get_presence(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        await _feature(session, who, "presence")
        live = await presence.live_operators(
            session, who.workspace_id, now=utcnow(), stale_after=gw.live.presence_timeout
        )
        found = page_items(request, live, PRESENCE, lambda op: (op.name, op.member_id))
        items = [LiveOperatorOut.model_validate(op.to_json()) for op in found.items]
    return json_ok(Page[LiveOperatorOut](items=items, next_cursor=found.next_cursor))


async def list_live_sessions(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """The latest changed first (then by id); `?status=` (offered, active, completed, ai),
    `?operator_id=`, `?limit=`, `?cursor=`."""
    q = query_of(request)
    async with gw.db.session() as session:
        await _feature(session, who, "operator")

        async def fetch(after: Key | None, limit: int) -> list[Any]:
            return await sessions.list_sessions(
                session,
                who.workspace_id,
                status=q.get("status"),
                operator_id=q.get("operator_id"),
                after=(after[0], after[1]) if after is not None else None,
                limit=limit,
            )

        found = await page_fetched(
            request, SESSIONS, fetch, lambda s: (s.updated_at, s.id), most=SESSIONS_MAX + 1
        )
        items = [LiveSessionOut.model_validate(sessions.session_json(s)) for s in found.items]
    return json_ok(Page[LiveSessionOut](items=items, next_cursor=found.next_cursor))


async def get_live_session(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        await _feature(session, who, "operator")
        live = await sessions.get_session(
            session, who.workspace_id, request.match_info["session_id"]
        )
        said = await conversations.messages(session, who.workspace_id, live.conversation_id)
        out = LiveSessionDetail.model_validate(
            {
                **sessions.session_json(live),
                "messages": [conversations.message_json(m) for m in said],
            }
        )
    return json_ok(out)


# ------------------------------------------------------------------ settings


def _settings_out(workspace: Workspace) -> LiveSettingsOut:
    return LiveSettingsOut.model_validate(
        {"features": access.features_of(workspace), "role_scopes": access.role_scopes(workspace)}
    )


async def get_settings(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        return json_ok(_settings_out(await _workspace(session, who)))


async def patch_settings(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """Flags and role scopes in one change: all of it holds or (bad input) none of it. Turning
    `operator` off takes every live operator off and hands every live session to the AI."""
    body = await read_json(request, LiveSettingsPatch)
    async with gw.db.session() as session:
        workspace = await _workspace(session, who)
        was_on = access.enabled(workspace, "operator")
        if body.features is not None:
            flags: dict[str, Any] = body.features.model_dump(exclude_none=True)
            await access.set_features(session, workspace, actor=who.actor, **flags)
        for role, scopes in (body.role_scopes or {}).items():
            await access.set_role_scopes(session, workspace, role, scopes, actor=who.actor)
        if was_on and not access.enabled(workspace, "operator"):
            await sessions.stop_all(session, workspace.id, now=utcnow(), policy=gw.live)
        out = _settings_out(workspace)
    return json_ok(out)
