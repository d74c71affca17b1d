"""How the admin API emails customers: threaded when the email channel runs, with signed links."""

from __future__ import annotations

from api.state import Gateway
from channels.email.channel import EmailChannel
from core.assists.csat import Links
from core.assists.email_identity import EmailIdentity
from core.assists.mail import AssistMailer


def email_identity(gw: Gateway) -> EmailIdentity | None:
    channel = gw.channels.get("email")
    return channel.identity if isinstance(channel, EmailChannel) else None


def assist_links(gw: Gateway) -> Links:
    return Links.from_settings(gw.settings)


def mailer(gw: Gateway) -> AssistMailer:
    """Threaded emails when the email channel runs (else plain, tagged [A-...]), signed links."""
    return AssistMailer(identity=email_identity(gw), links=assist_links(gw))
