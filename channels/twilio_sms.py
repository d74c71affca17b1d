"""Placeholder: being built."""

from __future__ import annotations

from aiohttp import web

from config import Settings

NAME = "twilio_sms"
REQUIRED: tuple[str, ...] = ("SWITCHBOARD_UNBUILT_TWILIO_SMS",)
ROUTES: list[web.RouteDef] = []


def create(settings: Settings) -> object:
    raise NotImplementedError
