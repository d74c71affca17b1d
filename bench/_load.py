"""A closed-loop HTTP load generator and a process runner shared by the benchmarks."""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
_LISTENING = re.compile(rb"listening on http://([\d.]+):(\d+)")


@dataclass
class LoadResult:
    name: str
    requests: int
    errors: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def closed_loop(
    name: str,
    url: str,
    make_request: Callable[[int], tuple[bytes, dict[str, str]]],
    *,
    concurrency: int,
    total: int,
    expect: int,
) -> LoadResult:
    """CONCURRENCY clients each send their next request when the previous one is answered."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def client() -> None:
            nonlocal errors
            for i in counter:
                body, headers = make_request(i)
                started = time.perf_counter()
                async with http.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status != expect:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        seconds = time.perf_counter() - began
    return LoadResult(
        name=name,
        requests=total,
        errors=errors,
        seconds=round(seconds, 3),
        rate=round(total / seconds, 1),
        p50_ms=round(percentile(latencies, 0.50) * 1000, 2),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 2),
    )


class Child:
    """A server in its own process, so the load generator does not share its event loop."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.argv, self.env, self.cwd = argv, env, cwd
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
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
        seen = b""
        async with asyncio.timeout(60):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"server exited:\n{seen.decode(errors='replace')}")
                seen += line
                if match := _LISTENING.search(line):
                    self.url = f"http://{match[1].decode()}:{match[2].decode()}"
                    break
        self._drain = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while await self.proc.stdout.readline():
            pass

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        await self.proc.wait()
        if self._drain:
            await self._drain

    def rss_mb(self) -> float:
        assert self.proc is not None
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
        return round(kb / 1024, 1)


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
    path.write_text(json.dumps(payload, indent=2, default=lambda o: asdict(o)))
    return path


def python() -> str:
    return sys.executable


def median(values: list[float]) -> float:
    return statistics.median(values)
