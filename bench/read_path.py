"""Read-path benchmark: the CPU one question costs in the pipeline's processing alone
(`TaskProcessor.process`: the sender's identity, the offline classifier, the read tools and
their statements), in-process, without HTTP, the journal or the outbox. The questions are the
end-to-end benchmark's (`bench/e2e.py`), asked by the seeded demo workspace's owner over Slack.
Each question is answered ROUNDS x N times in its own session, as the pipeline does; the
median of each question's CPU time (the process's, so the connections' threads count too) is
reported, and the mean of those medians. Deterministic enough to compare two commits run one
after the other (alternate them); the end-to-end benchmark's CPU per request varies by a fifth
run to run on a shared machine. Run: `python bench/read_path.py` (SQLite) or `python
bench/read_path.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres` (a fresh
database is created on that server and dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.e2e import MEMBER, QUESTIONS
from cli.seed import seed_workspace
from core.classify.backend import OfflineBackend
from core.processing.pipeline import TaskProcessor
from core.tools.catalogue import default_registry
from models.task import Route, Sender, Task
from storage.db import Database
from storage.types import new_id, utcnow
from tests.databases import create_pg_database, drop_pg_database

RESULTS = Path(__file__).resolve().parent / "results"


def _task(workspace_id: str, n: int) -> Task:
    return Task(
        id=new_id(),
        workspace_id=workspace_id,
        channel="slack",
        external_id=f"Ev{n}",
        sender=Sender(channel="slack", address=MEMBER),
        conversation=f"C0BENCH:{n}",
        text=QUESTIONS[n % len(QUESTIONS)],
        received_at=utcnow(),
        reply_route=Route(channel="slack", address="C0BENCH", thread=str(n)),
    )


async def measure(url: str, per_question: int, rounds: int) -> dict[str, float]:
    """Median CPU microseconds per question, by question."""
    db = Database(url)
    try:
        await db.migrate()
        async with db.session() as session:
            workspace_id = (await seed_workspace(session, name="Bench", now=utcnow())).workspace_id
        processor = TaskProcessor(OfflineBackend(), default_registry())
        for n in range(5 * len(QUESTIONS)):  # warm: statements compiled, charts' code loaded
            async with db.sessions() as session:
                await processor.process(session, _task(workspace_id, n), utcnow())
        spent: dict[str, list[float]] = {question: [] for question in QUESTIONS}
        for _ in range(rounds):
            for n in range(per_question * len(QUESTIONS)):
                task = _task(workspace_id, n)
                started = time.process_time()
                async with db.sessions() as session:
                    outcome = await processor.process(session, task, utcnow())
                spent[task.text].append(time.process_time() - started)
                assert outcome.deliverables, f"no answer to {task.text!r}"
        return {q: round(statistics.median(times) * 1e6) for q, times in spent.items()}
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server (default: a SQLite file)")
    parser.add_argument("--per-question", type=int, default=30, help="answers per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        if args.database_url:
            backend, url = "postgresql", await create_pg_database(args.database_url)
        else:
            backend, url = "sqlite", f"sqlite+aiosqlite:///{Path(scratch) / 'read_path.db'}"
        try:
            medians = await measure(url, args.per_question, args.rounds)
        finally:
            if args.database_url:
                await drop_pg_database(args.database_url, url)
    for question, micros in medians.items():
        print(f"{micros:7d} us  {question}")
    mean = round(statistics.fmean(medians.values()))
    print(f"{mean:7d} us  mean of the medians ({backend}, CPU per question, process only)")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"read_path-{backend}.json"
    out.write_text(
        json.dumps({"backend": backend, "median_us": medians, "mean_us": mean}, indent=2)
    )
    print(f"results written to {out}")


if __name__ == "__main__":
    asyncio.run(main())
