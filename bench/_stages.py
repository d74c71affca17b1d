"""Where a server's CPU goes, by stage of the request's path, from a py-spy profile.

`py-spy record --format raw` writes one line per distinct stack, root first, frames separated by
`;`, then the number of samples. Each stack is given to the first stage whose rule matches any
of its frames, most specific first: a SQLAlchemy frame under the journal's writer is the
journal commit, under the pipeline's claim it is the claim.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# (stage, pattern over a frame "function (path:line)"), checked in this order over the stack:
# signature checks first (they run inside the providers' SDKs), then our own rooms (a
# SQLAlchemy frame under the journal is the journal's), then the libraries. SQLAlchemy's async
# layer runs each statement in a greenlet, and py-spy shows a greenlet's frames from its own
# root: those samples count as "database" whichever stage issued the statement (in ingest-only
# mode nearly all of them are the journal's).
RULES: list[tuple[str, re.Pattern[str]]] = [
    (stage, re.compile(pattern))
    for stage, pattern in [
        (
            "verification",
            r"SignatureVerifier|RequestValidator|hmac\.py|\bverify \(channels/",
        ),
        ("receipt", r"delivery/outbox/receipts\.py"),
        ("provider call", r"delivery/senders\.py|channels/\w+/sender\.py|slack_sdk/|twilio/"),
        ("outbox claim", r"delivery/outbox/(claims|queue|worker|lanes)\.py"),
        ("render", r"delivery/render\.py|channels/slack/blocks\.py|delivery/charts\.py"),
        ("tools", r"core/tools/|core/reports/|core/approvals/"),
        ("classify", r"core/classify/|core/llm/"),
        # A frame reads "function (path:line)": the claim's functions, in the pipeline's file.
        ("claim", r"(claim|_claim_statement) \(core/processing/pipeline\.py"),
        ("pipeline (task transaction)", r"core/processing/pipeline\.py"),
        ("journal commit", r"storage/journal"),
        ("identity lookup", r"core/team/|api/state\.py"),
        ("database (SQLAlchemy)", r"sqlalchemy/|greenlet"),
        # The statements run by the driver (storage/statements.py) and the SQLite adapter.
        (
            "database (driver)",
            r"aiosqlite/|asyncpg/|sqlite3|storage/(sqlite_driver|statements)\.py",
        ),
        ("validation (pydantic)", r"pydantic|models/"),
        ("HTTP and parsing", r"aiohttp/|json/|urllib/parse|multidict|yarl|api/|channels/"),
        ("event loop", r"asyncio/|selectors\.py"),
    ]
]
OTHER = "other"


def stage_of(stack: str) -> str:
    frames = stack.split(";")
    for stage, pattern in RULES:
        if any(pattern.search(frame) for frame in frames):
            return stage
    return OTHER


def split(raw: str) -> dict[str, float]:
    """Share of the samples per stage, from py-spy's raw output."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        counts[stage_of(stack)] += int(samples)
    total = sum(counts.values())
    return {stage: round(n / total, 3) for stage, n in counts.most_common()} if total else {}


def _binary() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")  # installed into this virtualenv
    return str(beside) if beside.exists() else shutil.which("py-spy")


def split_file(path: Path) -> dict[str, float]:
    """As `split`, from a profile py-spy wrote to PATH (empty if it wrote none)."""
    return split(path.read_text()) if path.exists() else {}


def available() -> str | None:
    if _binary() is None:
        return "py-spy is not installed (pip install -e '.[bench]'): no per-stage split"
    return None


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Start sampling PID (and its subprocesses: SWITCHBOARD_PROCESSES) for SECONDS into OUT
    (raw format); wait on the returned process."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            _binary() or "py-spy",
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            "200",
            "--nonblocking",
            # BENCH_GIL=1: only the thread holding the GIL (what runs Python, not what waits).
            *(["--gil"] if os.environ.get("BENCH_GIL") else []),
            "--subprocesses",
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
