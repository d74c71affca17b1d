"""SWITCHBOARD_PROCESSES: N real `main.py serve` processes on one port under a supervisor. One
listening line, the migrations run once, connections and tasks spread over both processes, a
killed process replaced, SIGTERM stopping them all; SQLite, a start-up error, a taken port and a
process that cannot be restarted each refused in one line with exit status 2."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from core.team import directory
from storage.db import Database
from storage.models import TaskRow
from tests.databases import drop_pg_database
from tests.helpers import wait_until
from tests.process import ROOT, GatewayProcess

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="finds the processes in /proc (Linux)"
)

LISTENING = "Switchboard listening on http://"
_STARTED = re.compile(r"gateway process #\d started: pid (\d+)")


def children_of(pid: int) -> set[int]:
    """The live (not zombie) processes whose parent is PID, from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def start(url: str, tmp_path: Path, **env: str) -> tuple[GatewayProcess, set[int]]:
    """The supervisor with two processes on port 0, once both listen; and their pids."""
    gateway = await GatewayProcess(
        {
            "DATABASE_URL": url,
            "SWITCHBOARD_AUTO_MIGRATE": "true",
            "SWITCHBOARD_PROCESSES": "2",
            "SWITCHBOARD_SHUTDOWN_GRACE": "5",
            **env,
        },
        tmp_path,
    ).start()
    assert gateway.proc is not None
    await wait_until(lambda: "Team console: " in gateway.text, timeout=10)
    children = children_of(gateway.proc.pid)
    assert len(children) == 2, gateway.text
    # The pids the supervisor logged are its children's.
    assert {int(pid) for pid in _STARTED.findall(gateway.text)} == children
    return gateway, children


async def seed(url: str) -> str:
    """Acme with Olivia (the gateway has migrated the database); an API key of Acme."""
    db = Database(url)
    try:
        async with db.session() as session:
            ws = await directory.create_workspace(session, "Acme")
            await directory.add_member(
                session, ws.id, name="Olivia", role="owner", email="olivia@acme.test"
            )
            key = await directory.create_api_key(session, ws.id)
    finally:
        await db.dispose()
    return key.secret


async def tasks(url: str) -> list[tuple[str, str | None]]:
    db = Database(url)
    try:
        async with db.session() as session:
            rows = (await session.execute(select(TaskRow.status, TaskRow.claimed_by))).all()
            return [(status, node) for status, node in rows]
    finally:
        await db.dispose()


def node_pid(node: str | None) -> int:
    """The pid in a gateway node id (`host:pid:random`)."""
    assert node is not None
    return int(node.rsplit(":", 2)[1])


async def answering_pids(base: str, connections: int = 30) -> set[int]:
    """Which processes answer `/readyz` over CONNECTIONS new connections (the kernel hands
    each new connection to one listening process, spread by a hash of its addresses)."""
    pids = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        for _ in range(connections):
            async with http.get(f"{base}/readyz") as resp:
                assert resp.status == 200, await resp.text()
                pids.add(node_pid((await resp.json())["node"]))
    return pids


_START_TIME = re.compile(r"^process_start_time_seconds (\S+)$", re.M)
_INGESTED = re.compile(r'^switchboard_tasks_ingested_total\{channel="web"\} (\S+)$', re.M)


async def ingested_by_process(base: str, scrapes: int = 30) -> dict[float, float]:
    """`/metrics` scraped over SCRAPES new connections: each answer is one process's own
    counters, told apart by `process_start_time_seconds`; web tasks ingested by each."""
    seen: dict[float, float] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        for _ in range(scrapes):
            async with http.get(f"{base}/metrics") as resp:
                body = await resp.text()
            started = _START_TIME.search(body)
            ingested = _INGESTED.search(body)
            assert started is not None, body
            seen[float(started.group(1))] = float(ingested.group(1)) if ingested else 0.0
    return seen


async def post(http: aiohttp.ClientSession, base: str, api_key: str, i: int) -> str:
    async with http.post(
        f"{base}/api/v1/messages",
        json={"member": "olivia@acme.test", "text": f"help {i}"},
        headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": f"m{i}"},
    ) as resp:
        assert resp.status == 202, await resp.text()
        return str((await resp.json())["task_id"])


async def test_two_processes_share_one_port_and_the_work(postgres_url: str, tmp_path: Path) -> None:
    gateway, children = await start(postgres_url, tmp_path)
    try:
        # Said once, by the supervisor, with the port both processes listen on.
        assert gateway.text.count(LISTENING) == 1
        assert f"{LISTENING}{gateway.url.removeprefix('http://')} (2 processes)" in gateway.text
        assert gateway.text.count("Team console: ") == 1
        # The first process migrated the empty database before the second started.
        assert gateway.text.count("Running upgrade  -> 0001") == 1

        api_key = await seed(postgres_url)
        connector = aiohttp.TCPConnector(force_close=True)  # a new connection per request
        async with aiohttp.ClientSession(connector=connector) as http:
            async with http.get(f"{gateway.url}/healthz") as resp:
                assert resp.status == 200
            task_ids = [await post(http, gateway.url, api_key, i) for i in range(40)]

        async def all_done() -> bool:
            rows = await tasks(postgres_url)
            return len(rows) == 40 and all(status == "done" for status, _ in rows)

        await wait_until(all_done, timeout=60)
        assert len(set(task_ids)) == 40
        # Both processes worked on tasks (the node id that claimed each names its pid).
        assert {node_pid(node) for _, node in await tasks(postgres_url)} == children
        # Both accepted connections: `/readyz` names the node (pid) that answered.
        assert await answering_pids(gateway.url) == children
        # `/metrics` is per process: two sets of counters, together the 40 posts.
        ingested = await ingested_by_process(gateway.url)
        assert len(ingested) == 2, ingested
        assert sum(ingested.values()) == 40 and all(ingested.values()), ingested

        # SIGTERM: forwarded to both, which finish and exit; the supervisor then exits 0,
        # well within the grace (nothing is in flight).
        stopping = time.monotonic()
        assert await gateway.stop(timeout=20) == 0, gateway.text
        assert time.monotonic() - stopping < 5, gateway.text
        assert not any(alive(pid) for pid in children)
        assert gateway.text.count("shutting down: finishing claimed work") == 2
        assert "all gateway processes stopped" in gateway.text
    finally:
        if gateway.proc is not None and gateway.proc.returncode is None:
            await gateway.kill()


async def test_a_killed_process_is_replaced(postgres_url: str, tmp_path: Path) -> None:
    gateway, children = await start(postgres_url, tmp_path)
    try:
        assert gateway.proc is not None
        parent = gateway.proc.pid
        killed, survivor = sorted(children)
        os.kill(killed, signal.SIGKILL)
        await wait_until(
            lambda: len(children_of(parent) - {survivor, killed}) == 1,
            timeout=30,
            message="a replacement process",
        )
        replacement = (children_of(parent) - {survivor, killed}).pop()
        assert not alive(killed) and alive(survivor)
        assert f"(pid {killed}) was killed by SIGKILL; starting another" in gateway.text
        await wait_until(lambda: f"(pid {replacement}) is ready" in gateway.text, timeout=30)
        # Still one port, answered by the survivor and the replacement.
        assert await answering_pids(gateway.url) == {survivor, replacement}
        assert gateway.text.count(LISTENING) == 1
        assert await gateway.stop(timeout=20) == 0, gateway.text
        assert not alive(survivor) and not alive(replacement)
    finally:
        if gateway.proc is not None and gateway.proc.returncode is None:
            await gateway.kill()


async def test_a_process_that_cannot_be_restarted_stops_the_supervisor(
    postgres_url: str, tmp_path: Path
) -> None:
    """The database gone, a replacement fails to start again and again: after GIVE_UP_AFTER
    failures (about 15 s of growing pauses) the supervisor stops the survivor and exits 2."""
    gateway, children = await start(postgres_url, tmp_path)
    try:
        assert gateway.proc is not None
        admin = os.environ["TEST_DATABASE_URL"]
        await drop_pg_database(admin, postgres_url)
        os.kill(min(children), signal.SIGKILL)
        async with asyncio.timeout(60):
            code = await gateway.proc.wait()
        await gateway.stop()
        assert code == 2, gateway.text
        last = gateway.text.strip().splitlines()[-1]
        assert last.startswith("switchboard: gateway process #"), gateway.text
        assert "5 failures in a row, giving up" in last
        assert said_lines(gateway.text) == [last]
        assert not any(alive(pid) for pid in children)
    finally:
        if gateway.proc is not None and gateway.proc.returncode is None:
            await gateway.kill()


def said_lines(output: str) -> list[str]:
    """The lines addressed to the user (`switchboard: ...`), not the log lines."""
    return [line for line in output.splitlines() if line.startswith("switchboard: ")]


def run_serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "serve"],
        cwd=tmp_path,
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path / "home"),
            "LOG_FORMAT": "text",
            "SWITCHBOARD_PORT": "0",
            "SWITCHBOARD_PROCESSES": "2",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sqlite_refuses_several_processes(tmp_path: Path) -> None:
    refused = run_serve(tmp_path)  # the default database: SQLite
    assert refused.returncode == 2, refused.stderr
    assert "SWITCHBOARD_PROCESSES: " in refused.stderr
    assert "need PostgreSQL" in refused.stderr
    assert "Traceback" not in refused.stderr and LISTENING not in refused.stdout


def test_a_start_up_error_is_said_once_and_exits_2(tmp_path: Path) -> None:
    """The first process cannot reach the database: its reason, once, and no second try."""
    failed = run_serve(tmp_path, DATABASE_URL="postgresql://sb:hunter2pw@127.0.0.1:9/sb")
    assert failed.returncode == 2, failed.stderr
    said = said_lines(failed.stderr)
    assert len(said) == 1 and said[0] == failed.stderr.strip().splitlines()[-1]
    assert said[0].startswith("switchboard: cannot reach the database postgresql+asyncpg://sb:***@")
    assert "Connect call failed" in said[0]
    assert failed.stderr.count("gateway process #") == 1  # the second was never started
    assert "Traceback" not in failed.stderr and LISTENING not in failed.stdout
    assert "hunter2pw" not in failed.stderr + failed.stdout


async def test_a_taken_port_is_said_once_and_exits_2(postgres_url: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        failed = await asyncio.to_thread(
            run_serve,
            tmp_path,
            DATABASE_URL=postgres_url,
            SWITCHBOARD_AUTO_MIGRATE="true",
            SWITCHBOARD_PORT=str(port),
        )
    assert failed.returncode == 2, failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    # As with one process: asyncio's account of the refused bind.
    assert last.startswith(f"switchboard: cannot listen on 127.0.0.1:{port}: "), last
    assert last.endswith("address already in use"), last
    assert said_lines(failed.stderr) == [last]
    assert LISTENING not in failed.stdout
