"""Load generators (closed- and open-loop), a server-process runner and load-condition
records shared by the benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
_LISTENING = re.compile(rb"listening on http://([\d.]+):(\d+)")

RequestMaker = Callable[[int], tuple[bytes, dict[str, str]]]


@dataclass
class LoadResult:
    name: str
    requests: int
    errors: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    # CPU seconds used per second of the run: by the load generator, and by the server
    # (when measured); near 1.0 means that side was busy all along (one core).
    client_cpu: float = 0.0
    server_cpu: float = 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def closed_loop(
    name: str,
    url: str,
    make_request: RequestMaker,
    *,
    concurrency: int,
    total: int,
    expect: int,
) -> LoadResult:
    """CONCURRENCY clients each send their next request when the previous one is answered.
    A request counts as accepted only when answered with EXPECT. The requests are built (and
    signed) before the clock starts, so the generator spends the run sending."""
    prepared = [make_request(i) for i in range(total)]
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    counter = iter(prepared)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def client() -> None:
            for body, headers in counter:
                started = time.perf_counter()
                async with http.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    statuses[str(resp.status)] += 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        cpu = time.process_time()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        seconds = time.perf_counter() - began
        client_cpu = time.process_time() - cpu
    accepted = statuses[str(expect)]
    return LoadResult(
        name=name,
        requests=total,
        errors=total - accepted,
        seconds=round(seconds, 3),
        rate=round(accepted / seconds, 1),
        p50_ms=round(percentile(latencies, 0.50) * 1000, 2),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 2),
        statuses=dict(statuses),
        client_cpu=round(client_cpu / seconds, 2),
    )


@dataclass
class Sent:
    """One open-loop request: when it was due, sent and answered (monotonic seconds)."""

    due: float
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0


async def open_loop(
    url: str,
    make_request: RequestMaker,
    *,
    rate: float,
    total: int,
    max_connections: int = 256,
) -> list[Sent]:
    """TOTAL requests at a steady RATE per second on a fixed schedule, whatever the answers
    (open loop: a slow server does not slow the arrivals down; lateness is counted from each
    request's due time, so a generator that falls behind is charged to the result too)."""
    connector = aiohttp.TCPConnector(limit=max_connections)
    sent = [Sent(due=0.0) for _ in range(total)]
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(i: int) -> None:
            body, headers = make_request(i)
            record = sent[i]
            record.sent = time.monotonic()
            try:
                async with http.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    record.status = resp.status
            except aiohttp.ClientError:
                record.status = -1
            record.answered = time.monotonic()

        start = time.monotonic() + 0.05
        pending: set[asyncio.Task[None]] = set()
        for i in range(total):
            due = start + i / rate
            sent[i].due = due
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(i))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*pending)
    return sent


class Child:
    """A server in its own process, so the load generator does not share its event loop."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.argv, self.env, self.cwd = argv, env, cwd
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self.output = bytearray()
        self._drain: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Child:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=self.cwd,
            env={**os.environ, **self.env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        async with asyncio.timeout(60):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"server exited:\n{self.output.decode(errors='replace')}")
                self.output += line
                if match := _LISTENING.search(line):
                    self.url = f"http://{match[1].decode()}:{match[2].decode()}"
                    break
        self._drain = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            if len(self.output) < 1_000_000:
                self.output += line

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.terminate()
        await self.proc.wait()
        if self._drain:
            await self._drain

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_mb(self) -> float:
        """The server's resident memory, with its processes' (SWITCHBOARD_PROCESSES)."""
        return round(sum(rss_mb(pid) for pid in process_tree(self.pid)), 1)

    def cpu_seconds(self) -> float:
        """The server's CPU so far, with its processes' (SWITCHBOARD_PROCESSES)."""
        return tree_cpu_seconds(self.pid)


def rss_mb(pid: int) -> float:
    """Resident set size of PID in MB (VmRSS from /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
    return round(kb / 1024, 1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds PID has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """PID and its live descendants (from /proc/<pid>/task/<tid>/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
    return found


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds PID and its live descendants have used so far."""
    total = 0.0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(member)
    return total


class Conditions:
    """How busy the machine was around a measurement: the load average, and the CPU seconds
    spent by processes other than ours (this one and the PIDs given) while it ran."""

    def __init__(self) -> None:
        self._pids: list[int] = []
        self._start_busy = 0.0
        self._start_ours = 0.0
        self._start_wall = 0.0
        self.load_before = os.getloadavg()

    def track(self, *pids: int) -> None:
        self._pids.extend(pids)

    def _ours(self) -> float:
        total = cpu_seconds(os.getpid())
        for pid in self._pids:
            total += tree_cpu_seconds(pid)
        return total

    def start(self) -> None:
        self._start_busy = _busy_seconds()
        self._start_ours = self._ours()
        self._start_wall = time.monotonic()

    def stop(self) -> dict[str, object]:
        wall = time.monotonic() - self._start_wall
        busy = _busy_seconds() - self._start_busy
        ours = self._ours() - self._start_ours
        return {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in self.load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "wall_s": round(wall, 2),
            "cpu_s_ours": round(ours, 2),
            "cpu_s_others": round(max(0.0, busy - ours), 2),
            # Of the machine's capacity over the run: 1.0 would be every core busy elsewhere.
            "others_share": round(max(0.0, busy - ours) / (wall * (os.cpu_count() or 1)), 3)
            if wall > 0
            else None,
        }


def _busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all but idle and iowait), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@asynccontextmanager
async def fresh_database(url: str | None, tmp: str) -> AsyncIterator[str]:
    """A fresh database: a SQLite file in TMP, or a new database on URL's PostgreSQL server
    (named after URL's database, with a random suffix), dropped afterwards."""
    if url is None:
        yield f"sqlite+aiosqlite:///{tmp}/bench.db"
        return
    import asyncpg  # type: ignore[import-untyped]

    base, _, name = url.rpartition("/")
    fresh = f"{name or 'bench'}_{secrets.token_hex(4)}"
    admin_dsn = base.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{fresh}"')
    finally:
        await conn.close()
    try:
        yield f"{base}/{fresh}"
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
        finally:
            await conn.close()


def peak_rate(records: Iterable[Any], window: float = 1.0) -> int:
    """The most requests (anything with an `at` time, e.g. a simulator's `Recorded`) that
    arrived within any WINDOW seconds."""
    times = sorted(r.at for r in records)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def write_results(name: str, payload: dict[str, object]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **payload}
    path.write_text(json.dumps(payload, indent=2, default=lambda o: asdict(o)) + "\n")
    return path


def python() -> str:
    return sys.executable
