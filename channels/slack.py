"""Placeholder: being built."""

from __future__ import annotations

from aiohttp import web

from config import Settings

NAME = "slack"
REQUIRED: tuple[str, ...] = ("SWITCHBOARD_UNBUILT_SLACK",)
ROUTES: list[web.RouteDef] = []


def create(settings: Settings) -> object:
    raise NotImplementedError
