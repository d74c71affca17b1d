"""Linking chat accounts from the console: which chat channels a link code (shown on the
profile page) can be sent from, and the workspace's "link Slack users by their verified email"
setting on the Team page."""

from __future__ import annotations

from aiohttp import web

from api.console.actions import read_form
from api.console.session import check_csrf, require
from api.state import GATEWAY, Gateway
from core.team.directory import audit
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


async def save_slack_email_linking(request: web.Request) -> web.Response:
    """Owners and admins: whether unknown Slack users are linked by their verified email."""
    who = await require(request, "team")
    form = await read_form(request)
    check_csrf(request, who, form)
    enabled = form.get("slack_email_linking") == "1"
    gateway = request.app[GATEWAY]
    async with gateway.db.session() as session:
        workspace = await session.get(Workspace, who.workspace_id)
        assert workspace is not None
        if workspace.slack_email_linking != enabled:
            workspace.slack_email_linking = enabled
            await audit(
                session,
                who.workspace_id,
                f"member:{who.member_id}",
                "workspace.slack_email_linking",
                details={"enabled": enabled},
            )
    raise web.HTTPFound("/console/team?linking=saved#linking-title")


def setup(app: web.Application) -> None:
    app.router.add_post("/console/team/linking", save_slack_email_linking)
