"""Operator groups (`/console/live/groups`, `operator:write`): each group's name, description,
workflows (AI agents) and members, through core.live.groups; and the live settings an owner or
admin changes on the live desk (the `operator` and `presence` flags, each role's scopes)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.console.actions import read_form, text_field
from api.console.live_desk import desk_of, refused
from api.console.session import ConsoleError, check_csrf, page, require
from api.state import GATEWAY
from core.live import access, groups, sessions
from core.team.directory import DirectoryError, NotFound
from storage.domain import AiAgent
from storage.models import Member
from storage.types import utcnow


async def _choices(session: AsyncSession, workspace_id: str) -> tuple[list[AiAgent], list[Member]]:
    agents = list(
        await session.scalars(
            select(AiAgent).where(AiAgent.workspace_id == workspace_id).order_by(AiAgent.name)
        )
    )
    members = list(
        await session.scalars(
            select(Member)
            .where(Member.workspace_id == workspace_id, Member.status == "active")
            .order_by(Member.name)
        )
    )
    return agents, members


async def groups_page(request: web.Request) -> web.Response:
    who = await require(request, "live")
    gw = request.app[GATEWAY]
    async with gw.db.session() as session:
        desk = await desk_of(session, who)
        desk.check(access.WRITE)
        found = await groups.list_groups(session, who.workspace_id)
        agents, members = await _choices(session, who.workspace_id)
    editing = None
    wanted = request.match_info.get("group_id")
    if wanted is not None:
        editing = next((g for g in found if g.group.id == wanted), None)
        if editing is None:
            raise ConsoleError(404, "Not found", "No such operator group here.")
    return page(
        request,
        "live_groups.html",
        who,
        title="Operator groups" if editing is None else f"Edit {editing.group.name}",
        groups=found,
        editing=editing,
        agents=agents,
        members=members,
        saved=request.query.get("done", "") in ("saved", "deleted"),
        deleted=request.query.get("done") == "deleted",
    )


async def save_group(request: web.Request) -> web.Response:
    """Create (no id) or edit a group; every field replaces what was there."""
    who = await require(request, "live")
    form = await read_form(request)
    check_csrf(request, who, form)
    group_id = request.match_info.get("group_id")
    workflows = [v for v in form.getall("workflow", []) if isinstance(v, str)]
    people = [v for v in form.getall("member", []) if isinstance(v, str)]
    gw = request.app[GATEWAY]
    async with gw.db.writing(), gw.db.session() as session:
        desk = await desk_of(session, who)
        desk.check(access.WRITE)
        try:
            if group_id is None:
                await groups.create_group(
                    session,
                    who.workspace_id,
                    name=text_field(form, "name", 200),
                    description=text_field(form, "description", 2000),
                    workflows=workflows,
                    members=people,
                    actor=f"member:{who.member_id}",
                    now=utcnow(),
                )
            else:
                await groups.get_group(session, who.workspace_id, group_id)  # 404 when absent
                await groups.update_group(
                    session,
                    who.workspace_id,
                    group_id,
                    name=text_field(form, "name", 200),
                    description=text_field(form, "description", 2000),
                    workflows=workflows,
                    members=people,
                    actor=f"member:{who.member_id}",
                    now=utcnow(),
                )
        except NotFound as exc:
            if group_id is not None and "operator group" in str(exc):
                raise refused(exc) from exc
            # A workflow or member not in this workspace: a bad form, not a missing page.
            raise ConsoleError(400, "Bad request", f"{exc}. Nothing was changed.") from exc
        except DirectoryError as exc:
            raise refused(exc) from exc
    raise web.HTTPFound("/console/live/groups?done=saved")


async def remove_group(request: web.Request) -> web.Response:
    who = await require(request, "live")
    form = await read_form(request)
    check_csrf(request, who, form)
    gw = request.app[GATEWAY]
    async with gw.db.writing(), gw.db.session() as session:
        desk = await desk_of(session, who)
        desk.check(access.WRITE)
        try:
            await groups.delete_group(
                session,
                who.workspace_id,
                request.match_info["group_id"],
                actor=f"member:{who.member_id}",
            )
        except DirectoryError as exc:
            raise refused(exc) from exc
    raise web.HTTPFound("/console/live/groups?done=deleted")


async def save_settings(request: web.Request) -> web.Response:
    """The flags and the roles' scopes (owner, admin). Turning `operator` off ends every
    presence and hands every session back to the AI (core.live.sessions.stop_all)."""
    who = await require(request, "live")
    form = await read_form(request)
    check_csrf(request, who, form)
    choice: dict[str, bool] = {}
    for flag in access.FEATURES:
        value = text_field(form, flag, 5)
        if value not in ("on", "off"):
            raise ConsoleError(400, "Bad request", f"Set {flag} on or off. Nothing was changed.")
        choice[flag] = value == "on"
    scopes = {role: [v for v in form.getall(f"scope_{role}", [])] for role in access.ROLES}
    gw = request.app[GATEWAY]
    now = utcnow()
    async with gw.db.writing(), gw.db.session() as session:
        desk = await desk_of(session, who)
        actor = f"member:{who.member_id}"
        try:
            access.require_admin(desk.member)
            was = access.features_of(desk.workspace)
            if choice["presence"] and not choice["operator"]:
                raise DirectoryError("Live presence needs Live Operator Mode on.")
            held = access.role_scopes(desk.workspace)
            for role in access.ROLES if "roles" in form else ():
                if sorted(scopes[role]) != sorted(held[role]):
                    await access.set_role_scopes(
                        session, desk.workspace, role, scopes[role], actor=actor
                    )
            if "members" in form:
                for member in await session.scalars(
                    select(Member).where(
                        Member.workspace_id == who.workspace_id, Member.status == "active"
                    )
                ):
                    granted = list(form.getall(f"grant_{member.id}", []))
                    if sorted(granted) != sorted(member.scopes or []):
                        await access.set_member_scopes(
                            session, desk.workspace, member.id, granted, actor=actor
                        )
            await access.set_features(
                session,
                desk.workspace,
                operator=choice["operator"],
                presence=choice["presence"],
                actor=actor,
            )
            if was["operator"] and not choice["operator"]:
                await sessions.stop_all(session, who.workspace_id, now=now, policy=gw.live)
        except DirectoryError as exc:
            raise refused(exc) from exc
    raise web.HTTPFound("/console/live?done=settings")


def setup(app: web.Application) -> None:
    app.router.add_post("/console/live/settings", save_settings)
    app.router.add_get("/console/live/groups", groups_page)
    app.router.add_post("/console/live/groups", save_group)
    app.router.add_get("/console/live/groups/{group_id}", groups_page)
    app.router.add_post("/console/live/groups/{group_id}", save_group)
    app.router.add_post("/console/live/groups/{group_id}/delete", remove_group)
