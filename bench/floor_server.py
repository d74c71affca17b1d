"""The durable floor: the least any webhook receiver that keeps its promise must do, for the
same signed bodies the gateway takes. Each request's signature is checked (Slack's `v0`
HMAC-SHA256, Twilio's HMAC-SHA1 over the public URL and the sorted form), its body parsed, one
row written with its provider id unique, and the answer given only after the row's commit. The
rows are group-committed, one `executemany` and one commit per batch: on SQLite on the event
loop's thread (WAL, `synchronous=NORMAL`, the gateway's settings), on PostgreSQL over one
asyncpg connection, the next batch gathering while one commits.

Nothing else: no middleware, no request id, access log or metrics, no validation beyond what
the row needs, no workspace, no answer to a retry beyond "received". Its process's garbage
collector is set as the gateway's (start-up frozen, the youngest generation at 10,000
allocations), so that setting is not counted as the product's. `bench/ingest.py` runs it
beside bare aiohttp in the same run, so its ratio says how much of bare aiohttp's rate a handler
doing only this keeps on this machine, and the gateway's CPU over the floor's says what the
product adds to it.

Run by `bench/ingest.py` with FLOOR_DATABASE (a SQLite file's path or a `postgresql://` DSN),
FLOOR_SLACK_SECRET, FLOOR_TWILIO_TOKEN and FLOOR_TWILIO_URL in its environment.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import sqlite3
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl

from aiohttp import web

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
TABLE = """CREATE TABLE IF NOT EXISTS floor_tasks (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    text TEXT,
    payload TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    UNIQUE (channel, external_id)
)"""
COLUMNS = "(id, channel, external_id, text, payload, received_at)"
Row = tuple[str, str, str, str | None, str, float]


class Journal(Protocol):
    async def append(self, row: Row) -> None: ...


class GroupCommit:
    """PostgreSQL: rows handed in while a batch commits (a round trip, awaited) go together in
    the next batch."""

    def __init__(self, write: Callable[[list[Row]], Awaitable[None]]) -> None:
        self._write = write
        self._waiting: list[tuple[Row, asyncio.Future[None]]] = []
        self._running = False

    async def append(self, row: Row) -> None:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((row, done))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        await done

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    await self._write([row for row, _ in batch])
                except Exception as exc:  # every waiter gets a 500: nothing was committed
                    for _, done in batch:
                        done.set_exception(exc)
                else:
                    for _, done in batch:
                        done.set_result(None)
        finally:
            self._running = False


class InlineCommit:
    """SQLite: the rows of one turn of the event loop (every request whose bytes arrived
    together) are written and committed on the loop's thread right after it, with no thread
    hop: in WAL mode with `synchronous=NORMAL` a commit waits for no disk, so this is the
    cheapest way there is (the gateway's journal does the same for small batches)."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(TABLE)
        self._insert = (
            f"INSERT INTO floor_tasks {COLUMNS} VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
        )
        self._waiting: list[tuple[Row, asyncio.Future[None]]] = []

    async def append(self, row: Row) -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)
        self._waiting.append((row, done))
        await done

    def _flush(self) -> None:
        batch, self._waiting = self._waiting, []
        try:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany(self._insert, [row for row, _ in batch])
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except Exception as exc:
            for _, done in batch:
                done.set_exception(exc)
        else:
            for _, done in batch:
                done.set_result(None)


async def postgres_writer(dsn: str) -> Callable[[list[Row]], Awaitable[None]]:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(dsn)
    await conn.execute(TABLE)
    insert = (
        f"INSERT INTO floor_tasks {COLUMNS} VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
    )

    async def run(rows: list[Row]) -> None:
        async with conn.transaction():
            await conn.executemany(insert, rows)

    return run


def slack_handler(secret: bytes, journal: Journal) -> Callable[..., Awaitable[web.Response]]:
    async def slack_events(request: web.Request) -> web.Response:
        raw = await request.read()
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return web.Response(status=401)
        expected = (
            "v0="
            + hmac.new(secret, b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected, request.headers.get("X-Slack-Signature", "")):
            return web.Response(status=401)
        body: Any = json.loads(raw)
        if not isinstance(body, dict) or body.get("type") != "event_callback":
            return web.Response(status=400)
        event = body.get("event") or {}
        row = (uuid.uuid4().hex, "slack", str(body["event_id"]), event.get("text"), raw.decode())
        await journal.append((*row, time.time()))
        return web.Response(status=200)

    return slack_events


def twilio_handler(
    token: bytes, url: str, journal: Journal
) -> Callable[..., Awaitable[web.Response]]:
    async def twilio_sms(request: web.Request) -> web.Response:
        raw = (await request.read()).decode()
        form = dict(parse_qsl(raw, keep_blank_values=True))
        signed = url + "".join(key + form[key] for key in sorted(form))
        expected = base64.b64encode(hmac.new(token, signed.encode(), hashlib.sha1).digest())
        given = request.headers.get("X-Twilio-Signature", "").encode()
        if not hmac.compare_digest(expected, given):
            return web.Response(status=401)
        if "MessageSid" not in form:
            return web.Response(status=400)
        row = (uuid.uuid4().hex, "sms", form["MessageSid"], form.get("Body"), json.dumps(form))
        await journal.append((*row, time.time()))
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    return twilio_sms


def build(
    journal: Journal, *, slack_secret: str, twilio_token: str, twilio_url: str
) -> web.Application:
    app = web.Application()
    app.router.add_post("/slack/events", slack_handler(slack_secret.encode(), journal))
    app.router.add_post("/twilio/sms", twilio_handler(twilio_token.encode(), twilio_url, journal))
    return app


async def run() -> None:
    database = os.environ["FLOOR_DATABASE"]
    journal: Journal = (
        GroupCommit(await postgres_writer(database))
        if database.startswith("postgresql://")
        else InlineCommit(database)
    )
    app = build(
        journal,
        slack_secret=os.environ["FLOOR_SLACK_SECRET"],
        twilio_token=os.environ["FLOOR_TWILIO_TOKEN"],
        twilio_url=os.environ["FLOOR_TWILIO_URL"],
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    # The collector as the gateway's serving process has it.
    from cli.processes import tune_collector

    tune_collector()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"floor listening on http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    # Run as a script (by `bench/ingest.py`): the project's root, for `cli.processes`.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    asyncio.run(run())
