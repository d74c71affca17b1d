"""wrk as the load generator: a C client whose own ceiling is far above the servers measured,
pinned to a core of its own, replaying requests built (and signed) beforehand.

The requests go to wrk as a file of complete HTTP/1.1 requests, each prefixed with its length;
a Lua script reads them once and hands them out in turn, so the run spends no Lua time
formatting. Each request carries a distinct id; a run that sends more requests than were
prepared starts again from the first (those are duplicates to the gateway, answered without
a second row, and the result says how many were).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from bench._http import LoadResult, RequestMaker

_SCRIPT = r"""
local path = "%(path)s"
local requests, count = {}, 0

init = function(args)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while pos <= #data do
    local len = tonumber(data:sub(pos, pos + 9))
    requests[#requests + 1] = data:sub(pos + 10, pos + 9 + len)
    pos = pos + 10 + len
  end
end

request = function()
  count = count + 1
  return requests[(count - 1) %% #requests + 1]
end

-- done() runs in wrk's main Lua state, not the thread's: only wrk's own figures are known here.
done = function(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "non2xx": %%d, "connect": %%d, ' ..
    '"read": %%d, "write": %%d, "timeout": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"max_us": %%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def available() -> str | None:
    """Why wrk cannot be used here, or None when it can."""
    if shutil.which("wrk") is None:
        return "wrk is not installed (Debian: apt-get install wrk)"
    return None


def cores() -> tuple[list[str], list[str]]:
    """`taskset` prefixes pinning the server and the load generator to different cores (none
    on a one-core machine or without taskset)."""
    count = os.cpu_count() or 1
    if count < 2 or shutil.which("taskset") is None:
        return [], []
    return ["taskset", "-c", "0"], ["taskset", "-c", "1"]


@dataclass(frozen=True)
class Prepared:
    """A file of COUNT requests ready for wrk."""

    file: Path
    count: int


def write_requests(
    directory: Path, name: str, host: str, path: str, make: RequestMaker, start: int, total: int
) -> Prepared:
    """TOTAL requests (numbered from START) as raw HTTP/1.1, length-prefixed, in one file."""
    out = bytearray()
    for i in range(start, start + total):
        body, headers = make(i)
        head = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        out += f"{len(raw):010d}".encode() + raw
    file = directory / f"{name}.requests"
    file.write_bytes(bytes(out))
    return Prepared(file, total)


class RequestFiles:
    """Files of requests for one path, numbered on from one file to the next (so every request
    made for a run carries an id no earlier request had)."""

    def __init__(self, directory: Path, prefix: str, host: str, path: str, make: RequestMaker):
        self.directory = directory
        self.prefix = prefix
        self.host = host
        self.path = path
        self.make = make
        self.offset = 0

    def write(self, name: str, count: int) -> Prepared:
        prepared = write_requests(
            self.directory,
            f"{self.prefix}-{name}",
            self.host,
            self.path,
            self.make,
            self.offset,
            count,
        )
        self.offset += count
        return prepared


@dataclass
class WrkRun:
    result: LoadResult
    cycled: int  # requests sent beyond the prepared ones (repeats of earlier ids)


async def run(
    label: str,
    url: str,
    requests: Prepared,
    *,
    seconds: float,
    connections: int,
    pin: list[str],
    expect_ok: bool = True,
) -> WrkRun:
    """wrk with one thread and CONNECTIONS connections for SECONDS against URL, replaying
    REQUESTS."""
    script = requests.file.with_suffix(".lua")
    script.write_text(_SCRIPT % {"path": str(requests.file)})
    argv = [
        *pin,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    began = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    elapsed = time.perf_counter() - began
    text = out.decode(errors="replace")
    line = next((x for x in text.splitlines() if x.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{text}")
    data = json.loads(line.removeprefix("WRKJSON "))
    duration = data["duration_us"] / 1e6
    errors = data["non2xx"] + data["connect"] + data["read"] + data["write"] + data["timeout"]
    accepted = data["requests"] - errors
    result = LoadResult(
        name=label,
        requests=data["requests"],
        errors=errors,
        seconds=round(duration or elapsed, 3),
        rate=round(accepted / duration, 1) if duration else 0.0,
        p50_ms=round(data["p50_us"] / 1000, 2),
        p99_ms=round(data["p99_us"] / 1000, 2),
        statuses={"ok": accepted, "non2xx": data["non2xx"], "socket": errors - data["non2xx"]},
    )
    if expect_ok and data["non2xx"]:
        print(f"  {label}: {data['non2xx']} answers were not 2xx")
    return WrkRun(result, max(0, data["requests"] - requests.count))
