"""Console links: one builder for every page, full URLs only under PUBLIC_BASE_URL."""

from __future__ import annotations

from datetime import UTC, datetime

from config import Settings
from config.links import console_path, console_url, public_url
from core.assists.csat import Links


def test_console_paths_are_built_in_one_shape() -> None:
    assert console_path() == "/console/"
    assert console_path("inbox") == "/console/inbox"
    assert console_path("/assists/A-1042/") == "/console/assists/A-1042"
    # A segment that is not URL-safe stays one segment of the path.
    assert console_path("login/a b?c#d") == "/console/login/a%20b%3Fc%23d"


def test_full_urls_need_a_base() -> None:
    assert console_url(None, "inbox") is None
    assert public_url(None, "/media/x") is None
    assert console_url("https://gw.example/", "inbox") == "https://gw.example/console/inbox"
    assert console_url("https://gw.example/sb", "team") == "https://gw.example/sb/console/team"


def test_links_point_the_team_at_console_pages() -> None:
    settings = Settings(_env_file=None, PUBLIC_BASE_URL="https://gw.example")  # type: ignore[call-arg]
    links = Links.from_settings(settings)

    assert links.assist("A-1042") == "https://gw.example/console/assists/A-1042"
    assert links.inbox() == "https://gw.example/console/inbox"
    assert links.console() == "https://gw.example/console/"
    assert links.assist_pointer("A-1042") == (
        "Open it in the console: https://gw.example/console/assists/A-1042"
    )


def test_without_public_base_url_the_page_is_named_not_invented() -> None:
    links = Links.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]

    assert links.assist("A-1042") is None and links.inbox() is None
    assert links.console_or_path("inbox") == "/console/inbox"
    assert links.assist_pointer("A-1042") == (
        "Open it in the team console (page /console/assists/A-1042), or ask the operator: "
        '"show A-1042".'
    )
    # CSAT links cannot be signed either: no address to send the customer to.
    assert links.csat("0" * 32, 5, datetime(2026, 1, 1, tzinfo=UTC)) is None
