"""The in-process ingest measurement (`bench/ingest_cpu.py`) counts a request only when the
application has answered it: raw requests handed to aiohttp's protocol over memory transports
are parsed, handled and answered as over sockets, on connections kept alive between batches,
and every status is counted as written."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from aiohttp import web

from bench.floor_server import InlineCommit, build
from bench.ingest_cpu import Drive, raw_request
from tests.channels.slack_payloads import mention, sign

SECRET = "cpu-signing-secret"


def _request(n: int, secret: str = SECRET) -> bytes:
    body = json.dumps(mention(f"hello {n}", user="U0CPU", event_id=f"EvCPU{n:04d}")).encode()
    headers = {"Content-Type": "application/json", **sign(body, secret=secret)}
    return raw_request("/slack/events", body, headers)


async def test_each_answer_is_counted_once_written_on_kept_connections(tmp_path: Path) -> None:
    path = tmp_path / "floor.db"
    app = build(
        InlineCommit(str(path)),
        slack_secret=SECRET,
        twilio_token="unused-token",
        twilio_url="https://floor.example/twilio/sms",
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        drive = Drive(runner, connections=8)
        first = [_request(n) for n in range(8)]
        first[3] = _request(3, secret="another-secret")  # forged: refused, not committed
        await drive.batch(first)
        assert drive.statuses == {200: 7, 401: 1}
        await drive.batch([_request(n) for n in range(8, 16)])  # the same connections again
        assert drive.statuses == {200: 15, 401: 1}
        with sqlite3.connect(path) as conn:
            (rows,) = conn.execute("SELECT count(*) FROM floor_tasks").fetchone()
        assert rows == 15  # each 200 answered after its row's commit
    finally:
        await runner.cleanup()
