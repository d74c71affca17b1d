"""Snoozing from the console: the "Snooze until" time in the member's time zone, the quick
choices, the Snoozed tab, and a refused time changing nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from storage.db import Database
from storage.types import utcnow
from tests.console.inbox_helpers import MARIA, Console, assist_row, flash, listed, seeded

NEW_YORK = ZoneInfo("America/New_York")


def _labelled(page: str, label: str) -> str:
    """The input the label LABEL names (tests find fields by label)."""
    found = re.search(rf'<label for="([^"]+)">{re.escape(label)}</label>', page)
    assert found is not None, f"no label {label!r}"
    field = re.search(rf'<input[^>]*id="{found.group(1)}"[^>]*>', page)
    assert field is not None
    return field.group(0)


async def test_snoozing_from_the_assist_page_in_the_members_time_zone(
    db: Database, make_client: Any
) -> None:
    seed = await seeded(db, timezone="America/New_York")
    console = await Console.open(await make_client(), db, seed.member_ids[MARIA])
    page = await console.page("/console/assists/A-1042")
    assert 'type="datetime-local"' in _labelled(page, "Snooze until")
    assert "Tomorrow 9:00" in page and "Monday 9:00" in page

    local = (datetime.now(NEW_YORK) + timedelta(days=2)).replace(
        hour=10, minute=30, second=0, microsecond=0
    )
    await console.post("/console/assists/A-1042/snooze", {"until": f"{local:%Y-%m-%dT%H:%M}"})
    x = await assist_row(db, seed.workspace_id, 1042)
    assert (x.status, x.snoozed_until) == ("snoozed", local.astimezone(UTC))
    page = await console.page("/console/assists/A-1042")
    assert f"snoozed until {local:%d %b %Y, %H:%M}" in flash(page)
    assert f'Snoozed until <time datetime="{local.astimezone(UTC).isoformat()}">' in page
    assert "A-1042" not in listed(await console.page("/console/inbox"))
    snoozed = await console.page("/console/inbox?status=snoozed")
    assert listed(snoozed) == ["A-1042"]
    assert re.search(r'data-status="snoozed"[^>]*>Snoozed <span class="count"', snoozed)

    # A quick choice: tomorrow 9:00 in New York.
    await console.post("/console/assists/A-1044/snooze", {"choice": "tomorrow"})
    tomorrow = (datetime.now(NEW_YORK) + timedelta(days=1)).date()
    nine = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, tzinfo=NEW_YORK)
    assert (await assist_row(db, seed.workspace_id, 1044)).snoozed_until == nine.astimezone(UTC)
    await console.post("/console/assists/A-1040/snooze", {"choice": "monday"})
    monday = (await assist_row(db, seed.workspace_id, 1040)).snoozed_until
    assert monday is not None
    here = monday.astimezone(NEW_YORK)
    assert here.strftime("%A %H:%M") == "Monday 09:00"
    assert 0 < (here.date() - datetime.now(NEW_YORK).date()).days <= 7

    # Reopened from the page: the snooze ends.
    await console.post("/console/assists/A-1044/status", {"status": "open"})
    x = await assist_row(db, seed.workspace_id, 1044)
    assert (x.status, x.snoozed_until) == ("open", None)


async def test_a_past_time_is_refused_and_nothing_changes(db: Database, make_client: Any) -> None:
    seed = await seeded(db)
    console = await Console.open(await make_client(), db, seed.member_ids[MARIA])
    past = utcnow() - timedelta(hours=1)
    await console.post("/console/assists/A-1042/snooze", {"until": f"{past:%Y-%m-%dT%H:%M}"})
    assert "must be in the future" in flash(await console.page("/console/assists/A-1042"))
    await console.post("/console/assists/A-1042/snooze", {"until": ""})
    assert "Pick a time" in flash(await console.page("/console/assists/A-1042"))
    x = await assist_row(db, seed.workspace_id, 1042)
    assert (x.status, x.snoozed_until) == ("open", None)
