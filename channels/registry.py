"""The channels this gateway knows, in order, and the adapters whose settings are complete."""

from __future__ import annotations

import logging

from channels.base import Channel, ChannelSpec, missing_settings
from channels.email.spec import EMAIL
from channels.slack.spec import SLACK
from channels.telegram.spec import TELEGRAM
from channels.telephony.spec import TELEPHONY
from channels.twilio_sms.spec import TWILIO
from channels.voice.spec import VOICE
from config import Settings

# The logger the gateway has always logged channel states under.
log = logging.getLogger("channels")

SPECS: tuple[ChannelSpec, ...] = (SLACK, TELEGRAM, TWILIO, EMAIL, VOICE, TELEPHONY)


def create_channels(settings: Settings) -> list[Channel]:
    """The adapters whose settings are complete; logs which channels are off and why."""
    created = []
    for spec in SPECS:
        missing = missing_settings(settings, spec.required)
        if missing:
            log.info(
                "%s channel is off: %s not set; its replies are printed to the console",
                spec.name,
                " and ".join(missing) + (" is" if len(missing) == 1 else " are"),
            )
            continue
        created.append(spec.create(settings))
    return created
