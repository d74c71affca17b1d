"""Linking chat accounts from the console: which chat channels a link code (shown on the
profile page) can be sent from, and the workspace's "link Slack users by their verified email"
setting on the Team page."""

from __future__ import annotations

from aiohttp import web

from api.console.actions import read_form
from api.console.session import SignedIn, check_csrf, require
from api.state import GATEWAY, Gateway
from core.team.directory import DirectoryError, audit, country_code
from storage.models import Workspace

# Running adapters by name → the chat channels a code can be sent from.
_CHAT_CHANNELS = (
    ("slack", ("Slack",)),
    ("telegram", ("Telegram",)),
    ("twilio", ("SMS", "WhatsApp")),
)


def chat_channels(gateway: Gateway) -> list[str]:
    return [
        label for name, labels in _CHAT_CHANNELS if name in gateway.channels for label in labels
    ]


async def _save_setting(
    request: web.Request, who: SignedIn, field: str, value: object, note: str
) -> web.Response:
    """Set the workspace's FIELD to VALUE (audited when it changes), then back to the Team
    page with NOTE saying so."""
    gateway = request.app[GATEWAY]
    async with gateway.db.session() as session:
        workspace = await session.get(Workspace, who.workspace_id)
        assert workspace is not None
        if getattr(workspace, field) != value:
            setattr(workspace, field, value)
            await audit(
                session,
                who.workspace_id,
                f"member:{who.member_id}",
                f"workspace.{field}",
                details={field: value},
            )
    raise web.HTTPFound(f"/console/team?{note}")


async def save_slack_email_linking(request: web.Request) -> web.Response:
    """Owners and admins: whether unknown Slack users are linked by their verified email."""
    who = await require(request, "team")
    form = await read_form(request)
    check_csrf(request, who, form)
    enabled = form.get("slack_email_linking") == "1"
    return await _save_setting(
        request, who, "slack_email_linking", enabled, "linking=saved#linking-title"
    )


async def save_country(request: web.Request) -> web.Response:
    """Owners and admins: the workspace's country, so that phone numbers written the national
    way ("020 7946 0958") are read as its numbers."""
    who = await require(request, "team")
    form = await read_form(request)
    check_csrf(request, who, form)
    given = form.get("country")
    try:
        country = country_code(given if isinstance(given, str) else None)
    except DirectoryError:
        raise web.HTTPFound("/console/team?country=invalid#phones-title") from None
    return await _save_setting(request, who, "country", country, "country=saved#phones-title")


def setup(app: web.Application) -> None:
    app.router.add_post("/console/team/linking", save_slack_email_linking)
    app.router.add_post("/console/team/country", save_country)
