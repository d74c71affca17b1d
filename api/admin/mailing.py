"""How the admin API emails customers: threaded when the email channel runs, with signed links."""

from __future__ import annotations

from api.state import Gateway
from channels.email.channel import EmailChannel
from core.assists.csat import Links, csat_key
from core.assists.email_identity import EmailIdentity
from core.assists.mail import AssistMailer


def email_identity(gw: Gateway) -> EmailIdentity | None:
    channel = gw.channels.get("email")
    return channel.identity if isinstance(channel, EmailChannel) else None


def assist_links(gw: Gateway) -> Links:
    settings = gw.settings
    secret = settings.switchboard_secret_key
    return Links(
        base_url=str(settings.public_base_url) if settings.public_base_url else None,
        csat_key=csat_key(secret.get_secret_value().encode()) if secret else None,
    )


def mailer(gw: Gateway) -> AssistMailer:
    """Threaded emails when the email channel runs (else plain, tagged [A-...]), signed links."""
    return AssistMailer(identity=email_identity(gw), links=assist_links(gw))


def wake_outbox(gw: Gateway) -> None:
    gw.wake_outbox()
