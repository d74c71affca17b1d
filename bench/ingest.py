"""Ingest benchmark: web-channel messages committed and answered per second, next to a bare
aiohttp handler taking the same body, at 64 concurrent clients. Run: `python bench/ingest.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._load import Child, closed_loop, python, write_results
from core import directory
from storage.db import Database

ROOT = Path(__file__).resolve().parents[1]


def body(i: int) -> tuple[bytes, dict[str, str]]:
    payload = {"member": "olivia@acme.test", "text": f"how is our resolution rate this week? #{i}"}
    return json.dumps(payload).encode(), {
        "Content-Type": "application/json",
        "Idempotency-Key": f"bench-{i}",
    }


async def seed(url: str) -> None:
    db = Database(url)
    await db.migrate()
    async with db.session() as session:
        ws = await directory.create_workspace(session, "Bench")
        await directory.add_member(
            session, ws.id, name="Olivia", role="owner", email="olivia@acme.test"
        )
    await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument(
        "--workers", type=int, default=0, help="pipeline workers in the gateway (0: ingest only)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        await seed(url)
        warmup = min(500, args.requests // 10)

        async with Child([python(), str(ROOT / "bench" / "bare_server.py")], {}, Path(tmp)) as ref:
            target = f"{ref.url}/api/v1/messages"
            await closed_loop(
                "warmup", target, body, concurrency=args.concurrency, total=warmup, expect=202
            )
            reference = await closed_loop(
                "bare aiohttp",
                target,
                body,
                concurrency=args.concurrency,
                total=args.requests,
                expect=202,
            )

        env = {
            "DATABASE_URL": url,
            "SWITCHBOARD_PORT": "0",
            "SWITCHBOARD_WORKERS": str(args.workers),
            "SWITCHBOARD_AUTO_MIGRATE": "true",
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
        }
        async with Child([python(), str(ROOT / "main.py"), "serve"], env, Path(tmp)) as gw:
            target = f"{gw.url}/api/v1/messages"

            def unique(i: int) -> tuple[bytes, dict[str, str]]:
                return body(i + 10_000_000)

            await closed_loop(
                "warmup", target, unique, concurrency=args.concurrency, total=warmup, expect=202
            )
            gateway = await closed_loop(
                "switchboard web channel",
                target,
                body,
                concurrency=args.concurrency,
                total=args.requests,
                expect=202,
            )
            rss = gw.rss_mb()

    ratio = gateway.rate / reference.rate
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"{'':26} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for r in (reference, gateway):
        print(f"{r.name:26} {r.rate:9.1f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7d}")
    print(f"ratio (gateway / bare) on {backend}: {ratio:.1%}; gateway RSS after run {rss} MB")
    path = write_results(
        f"ingest-{backend}",
        {
            "backend": backend,
            "concurrency": args.concurrency,
            "workers": args.workers,
            "reference": reference.__dict__,
            "gateway": gateway.__dict__,
            "ratio": round(ratio, 3),
            "gateway_rss_mb": rss,
        },
    )
    print(f"results written to {path}")


if __name__ == "__main__":
    asyncio.run(main())
