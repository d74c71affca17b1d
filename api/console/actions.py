"""Console forms that change something: read the form, and carry out a member's own click."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.ext.asyncio import AsyncSession

from api.admin.mailing import mailer
from api.console.session import ConsoleError
from api.state import Gateway
from core.approvals.proposals import Decision, Draft, decide, propose
from core.team.identity import Principal
from core.team.signin import SignedIn

MAX_FIELD = 4000

Form = MultiDictProxy[str | bytes | bytearray | web.FileField]


async def read_form(request: web.Request) -> Form:
    """The posted form; a 400 page when a field is absurdly long (nothing is changed)."""
    form = await request.post()
    for value in form.values():
        if isinstance(value, str) and len(value) > MAX_FIELD:
            raise ConsoleError(400, "Too long", "A field is too long; nothing was changed.")
    return form


def text_field(form: Form, name: str, limit: int = 320) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def principal_of(who: SignedIn) -> Principal:
    """The signed-in member as the core's tools and proposals know them."""
    return Principal(
        workspace_id=who.workspace_id,
        workspace_name=who.workspace_name,
        plan=who.plan,
        timezone=who.timezone,
        member_id=who.member_id,
        name=who.name,
        role=who.role,
    )


async def execute_own_click(
    session: AsyncSession, gateway: Gateway, who: SignedIn, draft: Draft, *, now: datetime
) -> Decision:
    """A member's own click on a form showing the change is itself the approval: DRAFT is
    proposed and approved by WHO at once, through the same engine as an approval in chat (the
    same execution-time checks, before-state snapshot, audit, undo and emails)."""
    principal = principal_of(who)
    proposal = await propose(session, principal, [draft], now=now)
    return await decide(session, principal, proposal, approve=True, now=now, mailer=mailer(gateway))
