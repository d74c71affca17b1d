"""Where people are sent: console pages under PUBLIC_BASE_URL, built in this one place (it sits
below every room, so the sign-in links of core/team and the assist links of core/assists agree).
"""

from __future__ import annotations

from urllib.parse import quote

CONSOLE = "/console"


def console_path(page: str = "") -> str:
    """The path of a console page: `console_path("assists/A-1042")` is `/console/assists/A-1042`
    and `console_path()` the console itself, `/console/`. Each segment is URL-quoted."""
    page = quote(page.strip("/"), safe="/")
    return f"{CONSOLE}/{page}" if page else f"{CONSOLE}/"


def public_url(base_url: str | None, path: str) -> str | None:
    """PATH (starting with `/`) under BASE_URL (PUBLIC_BASE_URL); None without one, since the
    gateway cannot know the address people reach it at."""
    return f"{base_url.rstrip('/')}{path}" if base_url else None


def console_url(base_url: str | None, page: str = "") -> str | None:
    """The full URL of a console page under BASE_URL, or None without one."""
    return public_url(base_url, console_path(page))
