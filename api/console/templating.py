"""Jinja2 for the console: templates shipped in the package, autoescape on everywhere."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from aiohttp import web

# Customer names, subjects and bodies are attacker-controlled: autoescape is on for every
# template (select_autoescape would leave unknown extensions raw), and `|safe` is never used
# on anything but text the code itself produced.
ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("api.console", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

SECURITY_HEADERS = {
    # No inline script or style anywhere: everything comes from /console/static.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(value: datetime | None, zone: str | None, fmt: str = "%d %b %Y, %H:%M") -> str:
    """VALUE in the member's time zone (the workspace's when they set none)."""
    if value is None:
        return ""
    return value.astimezone(_zone(zone)).strftime(fmt)


def short_time(value: datetime | None, zone: str | None, now: datetime) -> str:
    """Today's times as 14:05, this year's as 3 Dec, older as 3 Dec 2025."""
    if value is None:
        return ""
    here, today = value.astimezone(_zone(zone)), now.astimezone(_zone(zone))
    if here.date() == today.date():
        return here.strftime("%H:%M")
    if here.year == today.year:
        return f"{here.day} {here.strftime('%b')}"
    return f"{here.day} {here.strftime('%b %Y')}"


ENV.globals["local_time"] = local_time
ENV.globals["short_time"] = short_time


def render(
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = ENV.get_template(template).render(**context)
    response = web.Response(
        text=body, status=status, content_type="text/html", charset="utf-8", headers=headers
    )
    response.headers.update(SECURITY_HEADERS)
    return response
