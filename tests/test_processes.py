"""SWITCHBOARD_PROCESSES: N real `main.py serve` processes on one port under a supervisor. One
listening line, the migrations run once, connections and tasks spread over both processes, a
killed process replaced, SIGTERM stopping them all; `/metrics` all the processes' together,
whichever answers, one scheduler leader among the live ones; SQLite, a start-up error, a taken port
and a process that cannot be restarted each refused in one line with exit status 2."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from storage.db import Database
from storage.models import TaskRow
from tests.databases import drop_pg_database
from tests.factories import Tenant, make_tenant
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


@asynccontextmanager
async def running(
    url: str, tmp_path: Path, **env: str
) -> AsyncIterator[tuple[GatewayProcess, set[int]]]:
    """The supervisor with two processes on port 0, once both listen, and their pids; killed
    on the way out if the test left it running."""
    gateway = GatewayProcess(
        {
            "DATABASE_URL": url,
            "SWITCHBOARD_AUTO_MIGRATE": "true",
            "SWITCHBOARD_PROCESSES": "2",
            "SWITCHBOARD_SHUTDOWN_GRACE": "5",
            **env,
        },
        tmp_path,
    )
    try:
        await gateway.start()
        assert gateway.proc is not None
        await wait_until(lambda: "Team console: " in gateway.text, timeout=10)
        children = children_of(gateway.proc.pid)
        assert len(children) == 2, gateway.text
        # The pids the supervisor logged are its children's.
        assert {int(pid) for pid in _STARTED.findall(gateway.text)} == children
        yield gateway, children
    finally:
        if gateway.proc is not None and gateway.proc.returncode is None:
            await gateway.kill()


async def seed(url: str) -> Tenant:
    """A workspace with its owner and an API key (the gateway has migrated the database)."""
    db = Database(url)
    try:
        return await make_tenant(db)
    finally:
        await db.dispose()


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


QUEUE_GAUGES = (
    "switchboard_tasks_queued",
    "switchboard_tasks_running",
    "switchboard_outbox_backlog",
    "switchboard_outbox_dead",
    "switchboard_outbox_in_doubt",
)
LEADER = "switchboard_scheduler_leader"


async def scrape(base: str) -> list[Metric]:
    """One `/metrics` answer over a new connection, parsed; no metric family and no sample said
    twice (Prometheus would reject the whole scrape)."""
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http,
        http.get(f"{base}/metrics") as resp,
    ):
        assert resp.status == 200
        body = await resp.text()
    families = list(text_string_to_metric_families(body))
    names = [family.name for family in families]
    assert len(names) == len(set(names)), body
    series = [(s.name, frozenset(s.labels.items())) for f in families for s in f.samples]
    assert len(series) == len(set(series)), body
    return families


def total(families: list[Metric], name: str, **labels: str) -> float | None:
    """The sum of the samples called NAME that carry LABELS; None when there is none."""
    values = [
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]
    return sum(values) if values else None


def metrics_dir_of(pid: int) -> Path:
    """The PROMETHEUS_MULTIPROC_DIR the supervisor gave its child PID (from /proc)."""
    for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        name, _, value = entry.partition(b"=")
        if name == b"PROMETHEUS_MULTIPROC_DIR":
            return Path(value.decode())
    raise AssertionError(f"process {pid} has no PROMETHEUS_MULTIPROC_DIR")


def leadership_in_files(directory: Path) -> dict[int, float]:
    """Each process's `switchboard_scheduler_leader` as written to its live gauges' file."""
    found = {}
    for path in directory.glob("gauge_livesum_*.db"):
        for metric in MultiProcessCollector.merge([str(path)]):
            if metric.name == LEADER:
                found[int(path.stem.rsplit("_", 1)[1])] = metric.samples[0].value
    return found


async def post(http: aiohttp.ClientSession, base: str, tenant: Tenant, i: int) -> str:
    async with http.post(
        f"{base}/api/v1/messages",
        json={"member": tenant.member_email, "text": f"help {i}"},
        headers={**tenant.auth, "Idempotency-Key": f"m{i}"},
    ) as resp:
        assert resp.status == 202, await resp.text()
        return str((await resp.json())["task_id"])


async def test_two_processes_share_one_port_and_the_work(postgres_url: str, tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"  # a PROMETHEUS_MULTIPROC_DIR of the user's: not used
    theirs.mkdir()
    async with running(
        postgres_url,
        tmp_path,
        PROMETHEUS_MULTIPROC_DIR=str(theirs),
        SWITCHBOARD_WORKRES="2",  # misspelt: warned about once, by the supervisor
    ) as (gateway, children):
        assert gateway.text.count("SWITCHBOARD_WORKRES in the environment is not a") == 1
        # Both processes were given the supervisor's own directory: fresh and private.
        directory = metrics_dir_of(min(children))
        assert metrics_dir_of(max(children)) == directory != theirs
        assert directory.stat().st_mode & 0o777 == 0o700
        assert f"PROMETHEUS_MULTIPROC_DIR={theirs} is ignored" in gateway.text
        # Said once, by the supervisor, with the port both processes listen on.
        assert gateway.text.count(LISTENING) == 1
        assert f"{LISTENING}{gateway.url.removeprefix('http://')} (2 processes)" in gateway.text
        assert gateway.text.count("Team console: ") == 1
        # The first process migrated the empty database before the second started.
        assert gateway.text.count("Running upgrade  -> 0001") == 1

        tenant = await seed(postgres_url)
        connector = aiohttp.TCPConnector(force_close=True)  # a new connection per request
        async with aiohttp.ClientSession(connector=connector) as http:
            async with http.get(f"{gateway.url}/healthz") as resp:
                assert resp.status == 200
            task_ids = [await post(http, gateway.url, tenant, i) for i in range(40)]

        async def all_done() -> bool:
            rows = await tasks(postgres_url)
            return len(rows) == 40 and all(status == "done" for status, _ in rows)

        await wait_until(all_done, timeout=60)
        assert len(set(task_ids)) == 40
        # Both processes worked on tasks (the node id that claimed each names its pid).
        assert {node_pid(node) for _, node in await tasks(postgres_url)} == children
        # Both accepted connections: `/readyz` names the node (pid) that answered.
        assert await answering_pids(gateway.url) == children

        # One scrape says both processes': their counters (each ingested and processed
        # some of the 40), one scheduler leader among them, the queue gauges said once. The
        # last tasks' counters follow their rows, and the leader writes its state every
        # second: hence the polling.
        async def settled_metrics() -> list[Metric] | None:
            families = await scrape(gateway.url)
            settled = (
                total(families, "switchboard_tasks_processed_total", outcome="done") == 40
                and total(families, "switchboard_task_seconds_count") == 40
                and total(families, "switchboard_workers_busy") == 0
                and total(families, LEADER) == 1
            )
            return families if settled else None

        families = await wait_until(settled_metrics, timeout=15, interval=0.2)
        assert total(families, "switchboard_tasks_ingested_total", channel="web") == 40
        posted = {"route": "/api/v1/messages", "status": "202"}
        assert total(families, "switchboard_http_requests_total", **posted) == 40
        leader = [s for f in families for s in f.samples if s.name == LEADER]
        assert [(s.labels, s.value) for s in leader] == [({}, 1.0)]
        # Counted in the database once (at the answering process's first scrape, after the
        # 40 were done), not once per process.
        for name in QUEUE_GAUGES:
            assert len([s for f in families for s in f.samples if s.name == name]) == 1, name
        assert total(families, "switchboard_tasks_queued") == 0
        assert total(families, "switchboard_tasks_running") == 0
        # The process and Python collectors describe one process: none for several.
        assert not [f.name for f in families if f.name.startswith(("process_", "python_"))]
        # Whichever process answers, the same figures.
        for _ in range(10):
            again = await scrape(gateway.url)
            assert total(again, "switchboard_tasks_ingested_total", channel="web") == 40
        assert not any(theirs.iterdir())

        # SIGTERM: forwarded to both, which finish and exit; the supervisor then exits 0,
        # well within the grace (nothing is in flight).
        stopping = time.monotonic()
        assert await gateway.stop(timeout=20) == 0, gateway.text
        assert time.monotonic() - stopping < 5, gateway.text
        assert not any(alive(pid) for pid in children)
        assert gateway.text.count("shutting down: finishing claimed work") == 2
        assert "all gateway processes stopped" in gateway.text
        assert not directory.exists()  # the supervisor removed the metric files


async def test_a_media_link_made_by_one_process_is_served_by_every_one(
    postgres_url: str, tmp_path: Path
) -> None:
    """Without SWITCHBOARD_SECRET_KEY, the processes of one run sign media links with one key
    the supervisor made: a report's download link works whichever process a connection
    reaches (each process with a key of its own refused about half of the fetches)."""
    async with running(postgres_url, tmp_path) as (gateway, _):
        tenant = await seed(postgres_url)
        auth = tenant.auth
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{gateway.url}/api/v1/messages",
                json={"member": tenant.member_email, "text": "export the topics report as csv"},
                headers=auth,
            ) as resp:
                assert resp.status == 202, await resp.text()
                task_id = (await resp.json())["task_id"]

            async def linked() -> str | None:
                async with http.get(f"{gateway.url}/api/v1/tasks/{task_id}", headers=auth) as r:
                    body = await r.json()
                files = [f for reply in body.get("replies", []) for f in reply["files"]]
                return str(files[0]["download_url"]) if files else None

            url = await wait_until(linked, timeout=30)
        path = url.split("/media/", 1)[1]
        connector = aiohttp.TCPConnector(force_close=True)  # a new connection per request
        async with aiohttp.ClientSession(connector=connector) as http:
            for _ in range(20):
                async with http.get(f"{gateway.url}/media/{path}") as got:
                    assert (got.status, got.content_type) == (200, "text/csv"), gateway.text
        assert await gateway.stop(timeout=20) == 0, gateway.text


async def test_a_killed_process_is_replaced(postgres_url: str, tmp_path: Path) -> None:
    # A follower tries to take the scheduler over every half second.
    async with running(postgres_url, tmp_path, SWITCHBOARD_SCHEDULER_POLL_INTERVAL="0.5") as (
        gateway,
        children,
    ):
        assert gateway.proc is not None
        parent = gateway.proc.pid
        directory = metrics_dir_of(min(children))

        def one_leader() -> int | None:
            leading = [pid for pid, value in leadership_in_files(directory).items() if value]
            return leading[0] if len(leading) == 1 else None

        # The leader is the one killed: the processes must elect another.
        killed = await wait_until(one_leader, timeout=15, interval=0.1)
        assert killed in children
        (survivor,) = children - {killed}
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

        # One leader again among the live processes, within the election time; the dead
        # one's live gauges are gone, its counters stay (the sums never go backwards).
        async def led_again() -> list[Metric] | None:
            families = await scrape(gateway.url)
            return families if total(families, LEADER) == 1 else None

        await wait_until(led_again, timeout=15, interval=0.2)
        assert not list(directory.glob(f"gauge_live*_{killed}.db"))
        assert (directory / f"counter_{killed}.db").exists()
        assert set(leadership_in_files(directory)) == {survivor, replacement}
        assert one_leader() in {survivor, replacement}
        assert await gateway.stop(timeout=20) == 0, gateway.text
        assert not alive(survivor) and not alive(replacement)


@pytest.mark.timeout(200)
async def test_a_process_that_cannot_be_restarted_stops_the_supervisor(
    postgres_url: str, tmp_path: Path
) -> None:
    """The database gone, a replacement fails to start again and again: after GIVE_UP_AFTER
    failures (about 15 s of growing pauses) the supervisor stops the survivor and exits 2."""
    async with running(postgres_url, tmp_path) as (gateway, children):
        assert gateway.proc is not None
        admin = os.environ["TEST_DATABASE_URL"]
        await drop_pg_database(admin, postgres_url)
        os.kill(min(children), signal.SIGKILL)
        # About 15 s of pauses and five start-ups that fail: 53 s on a slow machine.
        async with asyncio.timeout(150):
            code = await gateway.proc.wait()
        await gateway.stop()
        assert code == 2, gateway.text
        last = gateway.text.strip().splitlines()[-1]
        assert last.startswith("switchboard: gateway process #"), gateway.text
        assert "5 failures in a row, giving up" in last
        assert said_lines(gateway.text) == [last]
        assert not any(alive(pid) for pid in children)


# A serving process's collector once it listens: its thresholds and how many objects it froze.
_SERVING_COLLECTOR = """
import asyncio, gc, json
from cli.processes import start_serving
from config import Settings

async def main():
    serving = await start_serving(Settings(_env_file=None))
    try:
        print(json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
    finally:
        await serving.runner.cleanup()

asyncio.run(main())
"""


def test_a_serving_process_collects_young_garbage_rarely(tmp_path: Path) -> None:
    """Once listening, what start-up built is frozen out of the collector's way and the
    youngest generation waits for 10,000 allocations (Python's 700 made a young collection
    every 14 webhooks under load); the older generations keep Python's thresholds."""
    done = subprocess.run(
        [sys.executable, "-c", _SERVING_COLLECTOR],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gc.db'}",
            "SWITCHBOARD_HOST": "127.0.0.1",
            "SWITCHBOARD_PORT": "0",
            "SWITCHBOARD_AUTO_MIGRATE": "true",
            "SWITCHBOARD_SCHEDULER": "false",
            "LOG_LEVEL": "WARNING",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout.strip().splitlines()[-1])
    assert state["threshold"] == [10_000, 10, 10]
    assert state["frozen"] > 10_000  # modules, SDK clients, compiled statements


# One gateway process's metrics in multiprocess mode: an LLM endpoint whose breaker is in the
# state argv[1] says; prints its pid, then its `/metrics`.
_BREAKER = """
import os, sys
from config.metrics import Metrics
metrics = Metrics()
metrics.llm_breaker_state.labels("primary").set_function(lambda: float(sys.argv[1]))
print(os.getpid())
print(metrics.render().decode())
"""


def test_metrics_show_the_most_open_breaker_of_the_live_processes(tmp_path: Path) -> None:
    """Each process has its own breakers (a `set_function` gauge, which prometheus_client's
    multiprocess mode would never write): `/metrics` shows the most open of the live ones."""

    def process(state: int) -> tuple[int, list[Metric]]:
        done = subprocess.run(
            [sys.executable, "-c", _BREAKER, str(state)],
            cwd=ROOT,
            env={"PATH": os.environ.get("PATH", ""), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        pid, exposition = done.stdout.split("\n", 1)
        return int(pid), list(text_string_to_metric_families(exposition))

    def breaker(families: list[Metric]) -> list[tuple[dict[str, str], float]]:
        name = "switchboard_llm_breaker_state"
        return [(s.labels, s.value) for f in families for s in f.samples if s.name == name]

    opened, _ = process(2)
    assert breaker(process(0)[1]) == [({"endpoint": "primary"}, 2.0)]
    mark_process_dead(opened, str(tmp_path))  # as the supervisor does when it dies
    assert breaker(process(1)[1]) == [({"endpoint": "primary"}, 1.0)]


async def test_one_process_ignores_a_prometheus_multiproc_dir(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Alone, a process serves its own registry as ever (process collectors included),
    no metric files in the user's directory, and a warning saying so."""
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    env = {"DATABASE_URL": sqlite_url, "PROMETHEUS_MULTIPROC_DIR": str(theirs)}
    node = await GatewayProcess(env, tmp_path).start()
    try:
        families = await scrape(node.url)
        assert (total(families, "process_resident_memory_bytes") or 0) > 0
        assert total(families, LEADER) == 1
        assert total(families, "switchboard_tasks_queued") == 0
    finally:
        assert await node.stop() == 0
    assert f"PROMETHEUS_MULTIPROC_DIR={theirs} is ignored" in node.text
    assert not any(theirs.iterdir())


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
