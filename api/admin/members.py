"""`/api/v1/members`: members and their channel identities."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.admin.auth import Caller
from api.admin.models import IdentityIn, IdentityOut, MemberIn, MemberOut, MemberPatch, Page
from api.admin.pagination import Order, page_rows
from api.admin.params import query_of
from api.http import json_ok, problem, read_json
from api.state import Gateway
from core.live import access
from core.routing.availability import AvailabilityError, set_availability, set_work_schedule
from core.routing.effective import effective_availability
from core.routing.schedule import ScheduleError
from core.team import directory
from storage.models import ChannelIdentity, Member, Workspace
from storage.types import utcnow


async def _member_out(session: AsyncSession, member: Member) -> MemberOut:
    identities = await directory.member_identities(session, member.id)
    workspace = await session.get(Workspace, member.workspace_id)
    return MemberOut(
        availability=effective_availability(
            member, utcnow(), workspace.timezone if workspace else "UTC"
        ),
        work_schedule=member.work_schedule,
        scopes=[s for s in access.SCOPES if workspace and s in access.scopes_of(workspace, member)],
        id=member.id,
        workspace_id=member.workspace_id,
        name=member.name,
        email=member.email,
        role=member.role,
        status=member.status,
        default_channel=member.default_channel,
        identities=[IdentityOut(id=i.id, channel=i.channel, address=i.address) for i in identities],
    )


async def find_member(session: AsyncSession, who: Caller, member_id: str) -> Member:
    member = await session.scalar(
        select(Member).where(Member.id == member_id, Member.workspace_id == who.workspace_id)
    )
    if member is None:
        raise problem(404, f"no member {member_id!r}")
    return member


ORDER = Order("members", ("str", "str"))
STATUSES = ("active", "removed")


async def list_members(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """By name (then id); `?role=`, `?status=` (active, removed)."""
    q = query_of(request)
    query = select(Member).where(Member.workspace_id == who.workspace_id)
    if "role" in q:
        query = query.where(Member.role == q["role"])
    if "status" in q:
        query = query.where(Member.status == q["status"])
    async with gw.db.session() as session:
        found = await page_rows(
            request, session, query, ORDER, (Member.name, Member.id), lambda m: (m.name, m.id)
        )
        items = [await _member_out(session, m) for m in found.items]
    return json_ok(Page[MemberOut](items=items, next_cursor=found.next_cursor))


async def create_member(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    body = await read_json(request, MemberIn)
    channels = [i.channel for i in body.identities]
    if len(set(channels)) != len(channels):
        raise problem(400, "invalid request: identities: one address per channel")
    async with gw.db.session() as session:
        member = await directory.add_member(
            session,
            who.workspace_id,
            name=body.name,
            role=body.role,
            email=body.email,
            identities={i.channel: i.address for i in body.identities},
            actor=who.actor,
        )
        out = await _member_out(session, member)
    return json_ok(out, status=201)


async def get_member(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        member = await find_member(session, who, request.match_info["member_id"])
        return json_ok(await _member_out(session, member))


async def patch_member(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    body = await read_json(request, MemberPatch)
    async with gw.db.session() as session:
        member = await find_member(session, who, request.match_info["member_id"])
        changes = body.model_dump(exclude_unset=True)
        availability = changes.pop("availability", None)
        given = "work_schedule" in changes
        schedule = changes.pop("work_schedule", None)
        scopes = changes.pop("scopes", None)
        if scopes is not None:
            workspace = await session.get(Workspace, who.workspace_id)
            assert workspace is not None  # the API key's own workspace
            await access.set_member_scopes(session, workspace, member.id, scopes, actor=who.actor)
        base = gw.settings.public_base_url
        if given:
            try:
                await set_work_schedule(
                    session,
                    who.workspace_id,
                    member.id,
                    schedule,
                    actor=who.actor,
                    now=utcnow(),
                    base_url=str(base) if base else None,
                )
            except ScheduleError as exc:
                raise problem(400, f"invalid request: work_schedule: {exc}") from exc
        for name, value in changes.items():
            setattr(member, name, value)
        if changes:
            await directory.audit(
                session, who.workspace_id, who.actor, "member.update", member.id, changes
            )
        if availability is not None:
            try:
                await set_availability(
                    session,
                    who.workspace_id,
                    member.id,
                    availability,
                    actor=who.actor,
                    now=utcnow(),
                    base_url=str(base) if base else None,
                )
            except AvailabilityError as exc:
                raise problem(400, f"invalid request: availability: {exc}") from exc
        return json_ok(await _member_out(session, member))


async def delete_member(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        member = await find_member(session, who, request.match_info["member_id"])
        member.status = "removed"
        member.email = None  # frees the address: the same person can be added again later
        identities = await directory.member_identities(session, member.id)
        for identity in identities:
            await session.delete(identity)
        await directory.audit(session, who.workspace_id, who.actor, "member.remove", member.id)
    gw.members.clear()  # the web channel's lookup cache must not keep a removed member
    return web.Response(status=204)


async def add_identity(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    body = await read_json(request, IdentityIn)
    async with gw.db.session() as session:
        member = await find_member(session, who, request.match_info["member_id"])
        identity = await directory.link_identity(session, member, body.channel, body.address)
        await directory.audit(
            session,
            who.workspace_id,
            who.actor,
            "identity.link",
            member.id,
            {"channel": body.channel},
        )
        out = IdentityOut(id=identity.id, channel=identity.channel, address=identity.address)
    return json_ok(out, status=201)


async def delete_identity(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        member = await find_member(session, who, request.match_info["member_id"])
        identity = await session.scalar(
            select(ChannelIdentity).where(
                ChannelIdentity.id == request.match_info["identity_id"],
                ChannelIdentity.member_id == member.id,
            )
        )
        if identity is None:
            raise problem(404, "no such identity")
        await session.delete(identity)
        await directory.audit(
            session,
            who.workspace_id,
            who.actor,
            "identity.unlink",
            member.id,
            {"channel": identity.channel},
        )
    return web.Response(status=204)
