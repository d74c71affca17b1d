"""Ingest CPU in-process: what a signed webhook costs the server, without sockets or a load
generator in the measurement.

The signed requests `bench/ingest.py` sends (Slack events, Twilio messages; each with an id
no earlier one had) are handed as raw HTTP bytes to aiohttp's own protocol, the
`RequestHandler` a server makes for each connection, over in-memory transports: 64
connections, each given one request, all 64 answered before the next 64. The process's CPU
time (its threads included) per answered request is reported for bare aiohttp
(`bench/bare_server.py`), the durable floor (`bench/floor_server.py`) and the gateway, built as
`main.py serve` builds it in ingest-only mode, its collector set as a serving process sets it.
Each runs in a process of its own, one after the other, for several rounds, and the medians
are compared.

What this leaves out is the kernel's share (the sockets, epoll) and wrk: bare aiohttp costs
about a third less here than under `bench/ingest.py`. What it gains is steadiness: the same
code's figure moves by up to a tenth from process to process where wrk's moves by a fifth
or more on a shared machine, so two commits can be compared (run each, alternating, several
times) and a change of some ten microseconds a request seen. The goal is still measured by
`bench/ingest.py`.

Run: `python bench/ingest_cpu.py [--channel slack|twilio] [--database-url postgresql+asyncpg://
postgres@127.0.0.1:5432/bench]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web

from bench import bare_server, floor_server
from bench._http import fresh_database, python
from bench.ingest import (
    MAKERS,
    PATHS,
    PUBLIC_BASE_URL,
    SLACK_SECRET,
    TWILIO_TOKEN,
    gateway_env,
    seed,
)
from cli.processes import GC_YOUNG_THRESHOLD, tune_collector

PYTHON_YOUNG_THRESHOLD = 700  # Python's own, for `--python-collector`
CONNECTIONS = 64
BATCHES = 20  # of CONNECTIONS requests in a round
SERVERS = ("bare", "floor", "gateway")


class MemoryTransport(asyncio.Transport):
    """A connection's transport that keeps nothing: it tells ANSWERED of each response's
    status line as aiohttp writes it."""

    def __init__(self, answered: Callable[[int], None]) -> None:
        super().__init__()
        self._answered = answered

    def write(self, data: bytes | bytearray | memoryview) -> None:
        head = bytes(data[:12])
        if head.startswith(b"HTTP/1.1 "):
            self._answered(int(head[9:12]))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def can_write_eof(self) -> bool:
        return False


def raw_request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """BODY as it comes over a keep-alive connection, POSTed to PATH at the public host."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    head = f"POST {path} HTTP/1.1\r\nHost: gw.bench.example\r\nContent-Length: {len(body)}\r\n"
    return (head + lines + "\r\n").encode() + body


class Drive:
    """APP's aiohttp protocol over CONNECTIONS memory transports."""

    def __init__(self, runner: web.AppRunner, connections: int = CONNECTIONS) -> None:
        assert runner.server is not None, "setup() first"
        self.statuses: dict[int, int] = {}
        self._left = 0
        self._done: asyncio.Future[None] | None = None
        self._protocols = []
        for _ in range(connections):
            protocol = runner.server()
            protocol.connection_made(MemoryTransport(self._answered))
            self._protocols.append(protocol)

    def _answered(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self._left -= 1
        if self._left == 0 and self._done is not None:
            self._done.set_result(None)

    async def batch(self, requests: list[bytes]) -> None:
        """One request on each connection (as many as there are), all answered."""
        self._left = len(requests)
        self._done = asyncio.get_running_loop().create_future()
        for protocol, request in zip(self._protocols, requests, strict=False):
            protocol.data_received(request)
        await asyncio.wait_for(self._done, 60)


async def _app(server: str, database_url: str, tmp: str) -> web.Application:
    """SERVER's application; DATABASE_URL: a fresh database (the floor on SQLite keeps a file
    of its own beside it)."""
    if server == "bare":
        return bare_server.build()
    if server == "floor":
        journal: floor_server.Journal
        if not database_url.startswith("postgresql"):
            journal = floor_server.InlineCommit(f"{tmp}/floor.db")
        else:
            dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
            journal = floor_server.GroupCommit(await floor_server.postgres_writer(dsn))
        return floor_server.build(
            journal,
            slack_secret=SLACK_SECRET,
            twilio_token=TWILIO_TOKEN,
            twilio_url=PUBLIC_BASE_URL + PATHS["twilio"],
        )
    await seed(database_url)
    os.environ.update(gateway_env(database_url, 0))
    from api.app import build_app
    from config import Settings

    return build_app(Settings())


async def measure(
    server: str, channel: str, rounds: int, database_url: str | None, *, tuned: bool = True
) -> dict:
    """SERVER's CPU per request over ROUNDS rounds after one to warm up, in this process;
    TUNED: its collector set as a serving process sets it (else Python's thresholds)."""
    maker = MAKERS[channel](secrets.token_hex(4), "")
    total = CONNECTIONS * BATCHES * (rounds + 1)
    requests = [raw_request(PATHS[channel], *maker(i)) for i in range(total)]
    with tempfile.TemporaryDirectory() as tmp:
        async with fresh_database(database_url if server != "bare" else None, tmp) as url:
            app = await _app(server, url, tmp)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            try:
                # As a serving process sets it, or with Python's young threshold.
                tune_collector(young=GC_YOUNG_THRESHOLD if tuned else PYTHON_YOUNG_THRESHOLD)
                collecting = [0.0, 0.0]

                def timed(phase: str, _info: dict[str, int]) -> None:
                    if phase == "start":
                        collecting[1] = time.process_time()
                    else:
                        collecting[0] += time.process_time() - collecting[1]

                gc.callbacks.append(timed)
                drive = Drive(runner)
                per_request = []
                at = 0
                for _ in range(rounds + 1):
                    started = time.process_time()
                    collected = collecting[0]
                    for _ in range(BATCHES):
                        await drive.batch(requests[at : at + CONNECTIONS])
                        at += CONNECTIONS
                    spent = time.process_time() - started
                    per_request.append((spent / (BATCHES * CONNECTIONS), collecting[0] - collected))
                gc.callbacks.remove(timed)
            finally:
                await runner.cleanup()
    measured = per_request[1:]
    return {
        "server": server,
        "us_per_request": round(statistics.median(us for us, _ in measured) * 1e6, 1),
        "rounds_us": [round(us * 1e6, 1) for us, _ in measured],
        "collector_us_per_request": round(
            sum(c for _, c in measured) / (len(measured) * BATCHES * CONNECTIONS) * 1e6, 2
        ),
        "statuses": drive.statuses,
    }


def run_one(server: str, args: argparse.Namespace) -> dict:
    """SERVER measured in a process of its own (its heap and collector untouched by others)."""
    argv = [python(), __file__, "--server", server, "--channel", args.channel]
    argv += ["--rounds", str(args.rounds)]
    if args.python_collector:
        argv.append("--python-collector")
    if args.database_url:
        argv += ["--database-url", args.database_url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{server} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--channel", choices=("slack", "twilio"), default="slack")
    parser.add_argument("--rounds", type=int, default=15, help="measured rounds per process")
    parser.add_argument("--repeat", type=int, default=3, help="processes per server, alternating")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: a SQLite file)")
    parser.add_argument(
        "--python-collector",
        action="store_true",
        help="leave the collector's thresholds at Python's defaults (700, 10, 10)",
    )
    parser.add_argument("--server", choices=SERVERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.server is not None:
        tuned = not args.python_collector
        result = measure(args.server, args.channel, args.rounds, args.database_url, tuned=tuned)
        print(json.dumps(asyncio.run(result)))
        return
    results: dict[str, list[dict]] = {server: [] for server in SERVERS}
    for _ in range(args.repeat):
        for server in SERVERS:
            results[server].append(run_one(server, args))
    backend = "postgresql" if args.database_url else "sqlite"
    print(
        f"ingest CPU in-process, {args.channel} on {backend}: {CONNECTIONS} connections, "
        f"{args.repeat} processes each, {args.rounds} rounds of {BATCHES * CONNECTIONS} requests"
    )
    bare = statistics.median(r["us_per_request"] for r in results["bare"])
    for server, runs in results.items():
        us = statistics.median(r["us_per_request"] for r in runs)
        collector = statistics.median(r["collector_us_per_request"] for r in runs)
        statuses: dict[str, int] = {}
        for r in runs:
            for status, n in r["statuses"].items():
                statuses[status] = statuses.get(status, 0) + n
        print(
            f"  {server:8} {us:7.1f} us a request ({us / bare:4.2f} x bare; the processes' "
            f"medians {[r['us_per_request'] for r in runs]}), collector {collector:.1f} us, "
            f"answers {statuses}"
        )


if __name__ == "__main__":
    main()
