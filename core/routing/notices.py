"""Telling a member an assist is theirs: by email and on their default linked channel, with
the console link to it. Notices go through the outbox in the caller's transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.links import console_path, console_url
from delivery.outbox.queue import enqueue
from models.deliverable import CardField, Deliverable
from models.task import Route
from storage.domain import Assist
from storage.models import ChannelIdentity, Member


def assist_link(base_url: str | None, ref: str) -> str:
    """The assist's console page: its full URL under PUBLIC_BASE_URL, else its path."""
    page = f"assists/{ref}"
    return console_url(base_url, page) or console_path(page)


async def default_route(session: AsyncSession, member: Member) -> Route | None:
    """The member's default channel and their address on it, when linked (email aside: the
    email notice goes to `members.email`)."""
    if not member.default_channel or member.default_channel == "email":
        return None
    address = await session.scalar(
        select(ChannelIdentity.address)
        .where(
            ChannelIdentity.member_id == member.id,
            ChannelIdentity.channel == member.default_channel,
        )
        .limit(1)
    )
    if address is None:
        return None
    return Route(channel=member.default_channel, address=address)  # type: ignore[arg-type]


async def tell_member(
    session: AsyncSession,
    assist: Assist,
    member: Member,
    *,
    title: str,
    text: str,
    dedupe_key: str,
    fields: tuple[CardField, ...] = (),
    short: str | None = None,
) -> list[str]:
    """Email MEMBER (TITLE, TEXT) and send SHORT (default: TITLE) on their default linked
    channel; returns the addresses notified."""
    told = []
    if member.email:
        enqueue(
            session,
            workspace_id=assist.workspace_id,
            route=Route(channel="email", address=member.email),
            deliverables=[
                Deliverable(
                    kind="card" if fields else "text",
                    title=title,
                    text=text,
                    fields=fields,
                    data={"email": {"workspace_id": assist.workspace_id, "subject": title}},
                )
            ],
            dedupe_prefix=f"{dedupe_key}:{member.id}",
        )
        told.append(member.email)
    route = await default_route(session, member)
    if route is not None:
        enqueue(
            session,
            workspace_id=assist.workspace_id,
            route=route,
            deliverables=[Deliverable(kind="text", text=short or title)],
            dedupe_prefix=f"{dedupe_key}:{member.id}:{route.channel}",
        )
        told.append(route.address)
    return told


async def tell_assignee(
    session: AsyncSession, assist: Assist, member: Member, *, base_url: str | None
) -> list[str]:
    """The notice that ASSIST was assigned to MEMBER, with its link."""
    link = assist_link(base_url, assist.ref)
    when = assist.assigned_at or assist.updated_at
    subject = assist.subject or "an assist"
    text = (
        f"{assist.ref} is assigned to you ({assist.priority} priority, "
        f"{assist.category or 'other'}): {subject}\n\n{assist.summary}\n\nOpen it: {link}"
    )
    return await tell_member(
        session,
        assist,
        member,
        title=f"[{assist.ref}] Assigned to you: {subject}",
        text=text,
        dedupe_key=f"assigned:{assist.id}:{when.isoformat()}",
        short=f"{assist.ref} is assigned to you: {subject} {link}",
    )
