"""Ingest benchmark: signed webhooks verified, committed and answered per second, next to a
bare aiohttp handler taking the same body, at 64 concurrent connections from wrk.

Channels: `slack` (Events API `app_mention` envelopes signed with `v0` HMAC-SHA256 over
`v0:{X-Slack-Request-Timestamp}:{body}`, distinct event ids), `twilio` (Messaging webhooks
signed with `X-Twilio-Signature` by the SDK's RequestValidator against PUBLIC_BASE_URL,
distinct MessageSids) and `web` (the REST web channel, with the workspace's API key). The
gateway is a real `main.py serve` process in ingest-only mode (no pipeline workers); the
reference is `bench/bare_server.py`. The load generator is wrk (one thread, pinned to the
second core, the servers to the first; see `bench/_wrk.py`), replaying requests signed
beforehand, each with a distinct id. Bare, floor and gateway runs alternate for `--rounds`
rounds and the medians are reported, with the server's CPU per request; an extra run under
py-spy splits that CPU by stage (`bench/_stages.py`; the profile is kept in `bench/results/`).
After the runs the journal is counted: every 2xx must be a committed row.

The durable floor (`bench/floor_server.py`, Slack and Twilio) is a second reference: a handler
that checks the signature, parses the body and answers after a group commit of one row, and
does nothing else. Its ratio to bare aiohttp is what a handler doing only that durable minimum
keeps of bare aiohttp's rate on this machine; the gateway's CPU per request over the floor's is
what the product adds (routing, middleware, validation, workspace, journal schema, metrics).

`--channels slack --bound no-models|task` runs `bench/ingest_bound.py` in place of
`main.py serve`: the gateway with its Slack handler replaced by one that builds less (no
validation; no `Task`, or only the `Task`), an experiment that bounds what the product's models
cost; its figures are written apart (`ingest-<backend>-bound-<name>.json`).

Run: `python bench/ingest.py` (SQLite) or
`python bench/ingest.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench`
(a fresh database named after it is created on that server and dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from bench import _stages as stages
from bench import _wrk as wrk
from bench import ingest_bound as bound
from bench._http import (
    RESULTS,
    Child,
    Conditions,
    LoadResult,
    RequestMaker,
    fresh_database,
    python,
    write_results,
)
from core.team import directory
from storage.db import Database
from storage.models import TaskRow, WorkspaceAddress
from tests.channels.slack_payloads import mention, sign
from tests.sims.twilio import message_webhook, twilio_signature

ROOT = Path(__file__).resolve().parents[1]

SLACK_SECRET = "bench-signing-secret-0123456789abcdef"
SLACK_TEAM, SLACK_USER, SLACK_CHANNEL = "T0BENCH01", "U0BENCH01", "C0BENCH01"
TWILIO_SID = "AC" + "b" * 32
TWILIO_TOKEN = "benchauthtoken" + "0" * 18
PUBLIC_BASE_URL = "https://gw.bench.example"
OUR_NUMBER, MEMBER_NUMBER = "+15550001000", "+15550002000"
TEXT = "how is our resolution rate this week?"

# Per channel: path, expected status, and a maker of request N's body and headers.
CHANNELS = ("slack", "twilio", "web")


def slack_request(run: str) -> RequestMaker:
    def make(i: int) -> tuple[bytes, dict[str, str]]:
        envelope = mention(
            f"{TEXT} #{i}",
            user=SLACK_USER,
            channel=SLACK_CHANNEL,
            ts=f"{int(time.time())}.{i:06d}",
            event_id=f"Ev{run}{i:08d}",
            team=SLACK_TEAM,
        )
        body = json.dumps(envelope).encode()
        return body, {"Content-Type": "application/json", **sign(body, secret=SLACK_SECRET)}

    return make


def twilio_request(run: str) -> RequestMaker:
    url = f"{PUBLIC_BASE_URL}/twilio/sms"

    def make(i: int) -> tuple[bytes, dict[str, str]]:
        params = message_webhook(
            account_sid=TWILIO_SID,
            from_=MEMBER_NUMBER,
            to=OUR_NUMBER,
            body=f"{TEXT} #{i}",
            sid=f"SM{run}{i:024x}",
        )
        return urlencode(params).encode(), {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, params),
        }

    return make


def web_request(run: str, api_key: str) -> RequestMaker:
    def make(i: int) -> tuple[bytes, dict[str, str]]:
        payload = {"member": "olivia@acme.test", "text": f"{TEXT} #{i}"}
        return json.dumps(payload).encode(), {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {api_key}",
            "Idempotency-Key": f"bench-{run}-{i}",
        }

    return make


MAKERS: dict[str, Callable[[str, str], RequestMaker]] = {
    "slack": lambda run, _key: slack_request(run),
    "twilio": lambda run, _key: twilio_request(run),
    "web": web_request,
}
PATHS = {"slack": "/slack/events", "twilio": "/twilio/sms", "web": "/api/v1/messages"}
EXPECT = {"slack": 200, "twilio": 200, "web": 202}
JOURNAL_CHANNEL = {"slack": "slack", "twilio": "sms", "web": "web"}


# The channels `bench/floor_server.py` takes.
FLOOR_CHANNELS = ("slack", "twilio")


def floor_env(url: str, work: Path) -> dict[str, str]:
    """The durable floor's settings: its own table in the run's PostgreSQL database, or a
    SQLite file of its own beside the gateway's."""
    database = (
        url.replace("postgresql+asyncpg://", "postgresql://")
        if url.startswith("postgresql")
        else str(work / "floor.db")
    )
    return {
        "FLOOR_DATABASE": database,
        "FLOOR_SLACK_SECRET": SLACK_SECRET,
        "FLOOR_TWILIO_TOKEN": TWILIO_TOKEN,
        "FLOOR_TWILIO_URL": f"{PUBLIC_BASE_URL}/twilio/sms",
    }


def gateway_env(url: str, workers: int) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "SWITCHBOARD_HOST": "127.0.0.1",
        "SWITCHBOARD_PORT": "0",
        "SWITCHBOARD_WORKERS": str(workers),
        "SWITCHBOARD_AUTO_MIGRATE": "true",
        "SWITCHBOARD_SCHEDULER": "false",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "json",
        "SLACK_BOT_TOKEN": "xoxb-bench-0000",
        "SLACK_SIGNING_SECRET": SLACK_SECRET,
        # Nothing is sent in ingest-only mode; a closed port makes any attempt fail loudly.
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_API_URL": "http://127.0.0.1:9",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
    }


async def seed(url: str) -> str:
    """The Bench workspace with Olivia and its addresses; returns an API key for the web channel."""
    db = Database(url)
    await db.migrate()
    async with db.session() as session:
        ws = await directory.create_workspace(session, "Bench")
        await directory.add_member(
            session,
            ws.id,
            name="Olivia",
            role="owner",
            email="olivia@acme.test",
            identities={"slack": SLACK_USER, "sms": MEMBER_NUMBER},
        )
        session.add(WorkspaceAddress(workspace_id=ws.id, channel="slack", address=SLACK_TEAM))
        session.add(WorkspaceAddress(workspace_id=ws.id, channel="sms", address=OUR_NUMBER))
        key = await directory.create_api_key(session, ws.id, name="bench")
    await db.dispose()
    return key.secret


async def floor_committed(database: str) -> dict[str, int]:
    """The durable floor's rows by channel (its file or table may not exist: no floor run)."""
    query = "SELECT channel, count(*) FROM floor_tasks GROUP BY channel"
    try:
        if database.startswith("postgresql://"):
            import asyncpg  # type: ignore[import-untyped]

            conn = await asyncpg.connect(database)
            try:
                return {channel: n for channel, n in await conn.fetch(query)}
            finally:
                await conn.close()
        with contextlib.closing(sqlite3.connect(database)) as conn:
            return {channel: n for channel, n in conn.execute(query)}
    except Exception as exc:  # reported, not fatal: the gateway's figures stand without it
        print(f"  note: the floor's rows could not be counted: {exc}")
        return {}


async def committed(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        async with db.session() as session:
            rows = await session.execute(
                select(TaskRow.channel, func.count()).group_by(TaskRow.channel)
            )
            return {channel: count for channel, count in rows}
    finally:
        await db.dispose()


def median_result(name: str, runs: list[LoadResult]) -> dict[str, object]:
    return {
        "name": name,
        "rounds": len(runs),
        "rate": round(statistics.median(r.rate for r in runs), 1),
        "p50_ms": round(statistics.median(r.p50_ms for r in runs), 2),
        "p99_ms": round(statistics.median(r.p99_ms for r in runs), 2),
        "errors": sum(r.errors for r in runs),
        "server_cpu": round(statistics.median(r.server_cpu for r in runs), 2),
        # Server CPU per accepted request: steadier than rates on a shared machine.
        "cpu_us_per_request": round(
            statistics.median(r.server_cpu / r.rate * 1e6 for r in runs if r.rate), 1
        ),
        "runs": [r.__dict__ for r in runs],
    }


async def measured(
    server: Child,
    label: str,
    url: str,
    requests: wrk.Prepared,
    args: argparse.Namespace,
    pin: list[str],
) -> wrk.WrkRun:
    """One wrk run against SERVER, with the share of a core the server used over it."""
    cpu = server.cpu_seconds()
    run = await wrk.run(
        label, url, requests, seconds=args.seconds, connections=args.concurrency, pin=pin
    )
    # How much of one core the server used: near 1.0 is CPU-bound.
    run.result.server_cpu = round((server.cpu_seconds() - cpu) / run.result.seconds, 3)
    return run


def distinct_count(rate: float, seconds: float) -> int:
    """Requests to prepare for a run expected at RATE: enough that none repeats."""
    return int(min(300_000, max(20_000, rate * seconds * 1.5)))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="per run")
    parser.add_argument("--concurrency", type=int, default=64, help="wrk connections")
    parser.add_argument("--rounds", type=int, default=3, help="bare/gateway runs per channel")
    parser.add_argument(
        "--channels", default="slack,twilio", help=f"comma-separated, of {', '.join(CHANNELS)}"
    )
    parser.add_argument("--database-url", help="a PostgreSQL server (default: a SQLite file)")
    parser.add_argument(
        "--workers", type=int, default=0, help="pipeline workers in the gateway (0: ingest only)"
    )
    parser.add_argument(
        "--no-profile", action="store_true", help="skip the py-spy run and the per-stage split"
    )
    parser.add_argument(
        "--bound",
        choices=bound.BOUNDS,
        help="an experiment: the gateway with its Slack handler replaced by one that builds "
        "less (bench/ingest_bound.py); Slack only",
    )
    args = parser.parse_args()
    channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    if args.bound and channels != ["slack"]:
        parser.error("--bound replaces the Slack handler only: give --channels slack")
    for channel in channels:
        if channel not in CHANNELS:
            parser.error(f"unknown channel {channel!r}")
    if reason := wrk.available():
        parser.error(reason)
    profiling = not args.no_profile and stages.available() is None
    if not args.no_profile and not profiling:
        print(stages.available())

    backend = "postgresql" if args.database_url else "sqlite"
    # A bound's figures are kept apart from the product's.
    results_name = f"ingest-{backend}" + (f"-bound-{args.bound}" if args.bound else "")
    server_pin, client_pin = wrk.cores()
    run_id = secrets.token_hex(4)
    summary: dict[str, dict[str, object]] = {}
    conditions = Conditions()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        async with fresh_database(args.database_url, tmp) as url:
            api_key = await seed(url)
            env = gateway_env(url, args.workers)
            gateway_script = [str(ROOT / "main.py")]
            if args.bound:
                env["INGEST_BOUND"] = args.bound
                gateway_script = [str(ROOT / "bench" / "ingest_bound.py")]
            bare_argv = [*server_pin, python(), str(ROOT / "bench" / "bare_server.py")]
            floor_argv = [*server_pin, python(), str(ROOT / "bench" / "floor_server.py")]
            gw_argv = [*server_pin, python(), *gateway_script, "serve"]
            async with (
                Child(bare_argv, {}, work) as ref,
                Child(floor_argv, floor_env(url, work), work) as floor,
                Child(gw_argv, env, work) as gw,
            ):
                conditions.track(ref.pid, floor.pid, gw.pid)
                rss_idle = gw.rss_mb()
                conditions.start()
                for channel in channels:
                    path = PATHS[channel]
                    host = gw.url.removeprefix("http://")
                    source = wrk.RequestFiles(
                        work, channel, host, path, MAKERS[channel](run_id, api_key)
                    )
                    # Bare aiohttp keeps no state: one set of requests serves all its runs.
                    bare_file = source.write("bare", 20_000)
                    floor_file = (
                        source.write("floor-warm", 5_000) if channel in FLOOR_CHANNELS else None
                    )
                    warm = [(ref, bare_file), (gw, source.write("warm", 5_000))]
                    if floor_file is not None:
                        warm.append((floor, floor_file))
                    for server, file in warm:
                        await wrk.run(
                            "warm-up",
                            server.url + path,
                            file,
                            seconds=1,
                            connections=args.concurrency,
                            pin=client_pin,
                        )
                    gateway_name = f"bound {args.bound}" if args.bound else f"switchboard {channel}"
                    bare_runs: list[LoadResult] = []
                    floor_runs: list[LoadResult] = []
                    gw_runs: list[LoadResult] = []
                    expected_rate, distinct_ok, cycled = 6_000.0, 0, 0
                    for n in range(args.rounds):
                        bare = await measured(
                            ref, "bare aiohttp", ref.url + path, bare_file, args, client_pin
                        )
                        bare_runs.append(bare.result)
                        if floor_file is not None:
                            # The floor keeps state too: distinct ids for each of its runs.
                            count = distinct_count(expected_rate * 2, args.seconds)
                            file = source.write(f"floor{n}", count)
                            low = await measured(
                                floor, "durable floor", floor.url + path, file, args, client_pin
                            )
                            floor_runs.append(low.result)
                        # Distinct ids for every gateway request, signed just before the run
                        # (Slack refuses timestamps older than five minutes).
                        count = distinct_count(expected_rate, args.seconds)
                        file = source.write(f"gw{n}", count)
                        run = await measured(
                            gw, gateway_name, gw.url + path, file, args, client_pin
                        )
                        gw_runs.append(run.result)
                        expected_rate = max(expected_rate, run.result.rate)
                        cycled += run.cycled
                        distinct_ok += min(run.result.statuses["ok"], count)
                    split: dict[str, float] = {}
                    if profiling:
                        # An extra run under py-spy (sampling costs the server some CPU, so it
                        # is not one of the measured rounds).
                        profile = RESULTS / f"{results_name}-{channel}.pyspy.txt"
                        file = source.write("profile", distinct_count(expected_rate, args.seconds))
                        spy = stages.record(gw.pid, args.seconds, profile)
                        await wrk.run(
                            "profiled",
                            gw.url + path,
                            file,
                            seconds=args.seconds,
                            connections=args.concurrency,
                            pin=client_pin,
                        )
                        await asyncio.to_thread(spy.wait)
                        split = stages.split_file(profile)
                    gateway = median_result(gateway_name, gw_runs)
                    per_request = float(gateway["cpu_us_per_request"])  # type: ignore[arg-type]
                    summary[channel] = {
                        "reference": median_result("bare aiohttp", bare_runs),
                        "floor": median_result("durable floor", floor_runs) if floor_runs else None,
                        "floor_answered_2xx": sum(r.statuses.get("ok", 0) for r in floor_runs),
                        "gateway": gateway,
                        "ratios": [
                            round(g.rate / b.rate, 3)
                            for b, g in zip(bare_runs, gw_runs, strict=True)
                        ],
                        "answered_2xx_distinct": distinct_ok,
                        "repeated_ids_sent": cycled,
                        "stages": split,
                        "stage_us_per_request": {
                            stage: round(share * per_request, 1) for stage, share in split.items()
                        },
                    }
                load = conditions.stop()
                rss_after = gw.rss_mb()
            # Counted after the gateway stopped: what each 2xx promised is in the journal.
            rows = await committed(url)
            floor_rows = await floor_committed(floor_env(url, work)["FLOOR_DATABASE"])

    print(f"ingest on {backend}: wrk, 1 thread, {args.concurrency} connections, {args.seconds} s")
    print(f"per run, median of {args.rounds} rounds (bare, floor and gateway alternating), server")
    print("on core 0 and wrk on core 1; cpu: server cores busy; us/req: server CPU per 2xx")
    print(
        f"{'':22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'cpu':>5} {'us/req':>7}"
    )
    for channel, result in summary.items():
        for side in ("reference", "floor", "gateway"):
            r = result[side]
            if r is None:
                continue
            assert isinstance(r, dict)
            print(
                f"{r['name']:22} {r['rate']:9.1f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
                f"{r['errors']:7d} {r['server_cpu']:5.2f} {r['cpu_us_per_request']:7.0f}"
            )
        ref_r, gw_r = result["reference"], result["gateway"]
        assert isinstance(ref_r, dict) and isinstance(gw_r, dict)
        ratio = gw_r["rate"] / ref_r["rate"]
        result["ratio"] = round(ratio, 3)
        journal = rows.get(JOURNAL_CHANNEL[channel], 0)
        result["committed_rows"] = journal
        goal = ratio >= 0.5 and gw_r["p99_ms"] <= 25
        answered = int(result["answered_2xx_distinct"])  # type: ignore[call-overload]
        print(
            f"  {channel}: {ratio:.1%} of bare (per round {result['ratios']}); "
            f"p99 {gw_r['p99_ms']} ms; goal >= 50 % and p99 <= 25 ms: "
            f"{'met' if goal else 'NOT met'}{' (by the bound, not the product)' * bool(args.bound)}"
            f"; journal rows {journal} (measured 2xx with "
            f"distinct ids: {answered}, plus the warm-up and profiled runs')"
        )
        if isinstance(floor_r := result["floor"], dict):
            floor_ratio = floor_r["rate"] / ref_r["rate"]
            result["floor_ratio"] = round(floor_ratio, 3)
            print(
                f"  {channel}: the durable floor is {floor_ratio:.1%} of bare; the gateway "
                f"spends {gw_r['cpu_us_per_request']:.0f} us a request where the floor spends "
                f"{floor_r['cpu_us_per_request']:.0f} (50 % of bare allows "
                f"{2 * ref_r['cpu_us_per_request']:.0f})"
            )
            floor_answered = int(result["floor_answered_2xx"])  # type: ignore[call-overload]
            if floor_rows.get(JOURNAL_CHANNEL[channel], 0) < floor_answered:
                print(f"  WARNING: {channel}: the floor answered more 2xx than it committed")
        if journal < answered:
            print(f"  WARNING: {channel}: fewer journal rows than 2xx answers")
        if result["repeated_ids_sent"]:
            print(f"  note: {result['repeated_ids_sent']} requests repeated an earlier id")
        if stage_us := result["stage_us_per_request"]:
            assert isinstance(stage_us, dict)
            print(
                "  CPU per request by stage (py-spy): "
                + ", ".join(f"{stage} {us:.0f} us" for stage, us in stage_us.items())
            )
    print(f"gateway RSS: {rss_idle} MB idle, {rss_after} MB after the runs")
    print(f"load: {load}")
    written = write_results(
        results_name,
        {
            "backend": backend,
            "bound": args.bound,
            "driver": "wrk -t1",
            "concurrency": args.concurrency,
            "seconds_per_run": args.seconds,
            "rounds": args.rounds,
            "workers": args.workers,
            "pinned": bool(server_pin),
            "channels": summary,
            "gateway_rss_mb": {"idle": rss_idle, "after": rss_after},
            "load": load,
        },
    )
    print(f"results written to {written}")


if __name__ == "__main__":
    asyncio.run(main())
