"""The bounds of `bench/ingest_bound.py` (Slack handlers that build less than the product's, to
measure what its models cost) must still do the durable part the same way: answer 200 only
once the row is committed, refuse a forged signature, and write the row the product writes
for the same event, so that comparing their CPU with the product's compares like with like."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from api.app import build_app
from bench import ingest_bound
from bench.ingest import SLACK_CHANNEL, SLACK_SECRET, SLACK_TEAM, SLACK_USER, gateway_env, seed
from bench.ingest_cpu import Drive, raw_request
from channels.slack.channel import SlackChannel
from config import Settings
from storage.db import Database
from storage.models import TaskRow
from tests.channels.slack_payloads import mention, sign

# The row's columns that must not depend on the handler (ids and times do, and `raw` is the
# body, which differs by its event id).
SAME = (
    "channel",
    "kind",
    "sender_channel",
    "sender_address",
    "conversation",
    "text",
    "attachments",
    "reply_route",
    "approval",
    "status",
    "attempts",
    "workspace_id",
)


def _request(event_id: str, secret: str = SLACK_SECRET) -> bytes:
    envelope = mention(
        "how is our resolution rate &amp; backlog?",
        user=SLACK_USER,
        channel=SLACK_CHANNEL,
        ts="1700000000.000100",
        event_id=event_id,
        team=SLACK_TEAM,
    )
    body = json.dumps(envelope).encode()
    return raw_request(
        "/slack/events", body, {"Content-Type": "application/json", **sign(body, secret=secret)}
    )


async def _rows(url: str) -> dict[str, dict[str, Any]]:
    db = Database(url)
    try:
        async with db.session() as session:
            rows = (await session.execute(select(TaskRow))).scalars().all()
            return {r.external_id: {c: getattr(r, c) for c in SAME} for r in rows}
    finally:
        await db.dispose()


async def _drive(path: Path, requests: list[bytes]) -> tuple[dict[int, int], set[str]]:
    """The statuses of REQUESTS, and the external ids committed when the last was answered
    (read by another connection before the gateway stops)."""
    runner = web.AppRunner(build_app(Settings()), access_log=None)
    await runner.setup()
    try:
        drive = Drive(runner, connections=len(requests))
        await drive.batch(requests)
        with contextlib.closing(sqlite3.connect(path)) as conn:
            committed = {row[0] for row in conn.execute("SELECT external_id FROM tasks")}
        return drive.statuses, committed
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("bound", ingest_bound.BOUNDS)
async def test_a_bound_commits_the_products_row_before_answering(
    bound: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bound.db"
    url = f"sqlite+aiosqlite:///{path}"
    await seed(url)
    for name, value in gateway_env(url, 0).items():
        monkeypatch.setenv(name, value)
    # The product's handler first, then the bound's, on the same event (distinct ids).
    assert await _drive(path, [_request("EvPRODUCT01")]) == ({200: 1}, {"EvPRODUCT01"})
    monkeypatch.setattr(SlackChannel, "handle", ingest_bound.HANDLERS[bound])
    answered, committed = await _drive(
        path, [_request("EvBOUND01"), _request("EvFORGED01", secret="not-the-secret")]
    )
    assert answered == {200: 1, 401: 1}
    assert committed == {"EvPRODUCT01", "EvBOUND01"}  # committed by the time it was answered
    rows = await _rows(url)
    assert set(rows) == {"EvPRODUCT01", "EvBOUND01"}  # the forged one was not written
    assert rows["EvBOUND01"] == rows["EvPRODUCT01"]
    assert rows["EvBOUND01"]["text"] == "how is our resolution rate & backlog?"
