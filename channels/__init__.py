"""Channel adapters. Each provider module exposes:

- `ROUTES`: its webhook routes, registered whether or not the channel is configured (a call to
  a channel that is off gets a 404 naming the missing setting);
- `REQUIRED`: the settings it needs (environment names); without all of them it is off;
- `create(settings)`: the adapter (`channels.base.Channel`) when configured.
"""

from __future__ import annotations

import logging
from types import ModuleType

from aiohttp.web import Application

from config import Settings

log = logging.getLogger(__name__)


def provider_modules() -> list[ModuleType]:
    from channels import email, slack, telegram, twilio_sms, voice

    return [slack, telegram, twilio_sms, email, voice]


def setup_routes(app: Application) -> None:
    for module in provider_modules():
        app.router.add_routes(module.ROUTES)


def missing_settings(settings: Settings, required: tuple[str, ...]) -> list[str]:
    return [name for name in required if getattr(settings, name.lower(), None) in (None, "")]


def create_channels(settings: Settings) -> list[object]:
    """The adapters whose settings are complete; logs which channels are off and why."""
    created = []
    for module in provider_modules():
        missing = missing_settings(settings, module.REQUIRED)
        if missing:
            log.info(
                "%s channel is off: %s not set; its replies are printed to the console",
                module.NAME,
                " and ".join(missing) + (" is" if len(missing) == 1 else " are"),
            )
            continue
        created.append(module.create(settings))
    return created
