"""Three gateway processes on one PostgreSQL, the scheduler's leader killed (SIGKILL) while
webhooks arrive at all three: no task is lost or answered twice, another node takes the
scheduler over within 30 seconds, and briefings due around the kill go out once each."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import select, text

from storage.db import Database
from storage.domain import Schedule
from storage.models import OutboxRow, TaskRow
from storage.types import utcnow
from tests.faults.harness import (
    Copy,
    Provider,
    Providers,
    Team,
    Webhook,
    copies,
    copies_by_token,
    gateway_env,
    mixed_webhooks,
    seed_team,
    settled,
    start_nodes,
    stored,
)
from tests.helpers import wait_until
from tests.process import GatewayProcess

REQUESTS = 200
CONCURRENCY = 12
LEADS = "this node runs the scheduler"
# Where the two briefings go (SMS: one message for the card, one with the chart's link).
BRIEFED = ("+15559990001", "+15559990002")


def leads(node: GatewayProcess) -> bool:
    """Whether NODE has logged that it runs the scheduler (JSON log lines)."""
    return any(
        json.loads(line).get("message") == LEADS
        for line in node.text.splitlines()
        if LEADS in line and line.startswith("{")
    )


async def advisory_locks(db: Database) -> int:
    """Advisory locks held in this database: the scheduler leader's, and only that one."""
    async with db.session() as session:
        return int(
            await session.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                )
            )
            or 0
        )


async def schedule_now(db: Database, team: Team, phone: str) -> int:
    """A one-off daily inbox summary to PHONE by SMS, due at once."""
    async with db.session() as session:
        row = Schedule(
            workspace_id=team.workspace_id,
            member_id=team.owner_id,
            briefing_type="daily_inbox_summary",
            frequency="once",
            one_off_at=utcnow(),
            channel="sms",
            address=phone,
            created_at=utcnow() - timedelta(minutes=1),
        )
        session.add(row)
        await session.flush()
        return row.id


async def briefings(db: Database, schedule_id: int) -> list[TaskRow]:
    async with db.session() as session:
        return list(
            await session.scalars(
                select(TaskRow).where(TaskRow.external_id.startswith(f"schedule:{schedule_id}:"))
            )
        )


class Cluster:
    """Three nodes behind a load balancer: each delivery goes to the next live node."""

    def __init__(self, nodes: list[GatewayProcess]) -> None:
        self.nodes = nodes
        self.dead: set[int] = set()
        self.turn = 0
        self.acknowledged = 0

    def next_url(self) -> str:
        live = [n for i, n in enumerate(self.nodes) if i not in self.dead]
        self.turn += 1
        return live[self.turn % len(live)].url

    async def load(self, provider: Provider, hooks: list[Webhook]) -> None:
        queue = list(reversed(hooks))

        async def worker() -> None:
            while queue:
                hook = queue.pop()
                if await provider.deliver(hook, self.next_url()) == "ok":
                    self.acknowledged += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


@dataclass(frozen=True)
class Run:
    hooks: list[Webhook]
    killed: set[int]
    received: list[Copy]  # every reply any provider accepted, from any node
    briefing_replies: list[OutboxRow]
    processed_by: set[str | None]  # the nodes that finished tasks


async def _run(postgres_url: str, tmp_path: Path, team: Team) -> Run:
    """Three nodes under load, the leader killed; returns once everything has settled and
    the nodes and simulators are stopped."""
    async with contextlib.AsyncExitStack() as stack:
        db = Database(postgres_url)
        stack.push_async_callback(db.dispose)
        # The nodes send to the same providers, as they would to the real ones.
        providers = await Providers.start(stack)
        hooks = mixed_webhooks(REQUESTS, providers.twilio, team)
        envs = [
            gateway_env(
                postgres_url,
                providers.slack,
                providers.twilio,
                SWITCHBOARD_SCHEDULER="true",
                # A follower tries for the lock twice a second; a dead node's claims expire
                # after 3 s.
                SWITCHBOARD_SCHEDULER_POLL_INTERVAL="0.5",
                SWITCHBOARD_TASK_LEASE_SECONDS="3",
                LOG_LEVEL="INFO",
            )
            for _ in range(3)
        ]
        nodes = await start_nodes(envs, tmp_path, stack)
        cluster = Cluster(nodes)
        await wait_until(lambda: sum(map(leads, nodes)) == 1, timeout=30, message="one leader")
        [leader] = [i for i, node in enumerate(nodes) if leads(node)]
        assert await advisory_locks(db) == 1

        async def kill_the_leader() -> tuple[int, int]:
            await wait_until(lambda: cluster.acknowledged >= REQUESTS // 4, timeout=60)
            # Due now: the leader fires it, and dies right after it did.
            first = await schedule_now(db, team, BRIEFED[0])
            await wait_until(lambda: briefings(db, first), timeout=30, interval=0.005)
            cluster.dead.add(leader)
            await nodes[leader].kill()
            # Due while nobody leads: the next leader fires it.
            second = await schedule_now(db, team, BRIEFED[1])
            await wait_until(
                lambda: any(leads(n) for i, n in enumerate(nodes) if i != leader),
                timeout=30,
                message="another node runs the scheduler within 30 s of the leader's death",
            )
            return first, second

        http = await stack.enter_async_context(aiohttp.ClientSession())
        provider = Provider(http, providers.twilio)
        (first, second), _ = await asyncio.gather(kill_the_leader(), cluster.load(provider, hooks))
        # One survivor took the lock over; the other still follows.
        assert sum(leads(n) for i, n in enumerate(nodes) if i != leader) == 1
        assert await advisory_locks(db) == 1
        # The providers redeliver what the dead node never acknowledged, to a live one.
        await provider.redeliver(hooks, cluster.next_url())
        await settled(postgres_url)
        for schedule_id in (first, second):
            [task] = await briefings(db, schedule_id)
            assert task.status == "done"
        async with db.session() as session:
            briefing_replies = list(
                await session.scalars(select(OutboxRow).where(OutboxRow.address.in_(BRIEFED)))
            )
            processed_by = set(
                await session.scalars(select(TaskRow.claimed_by).where(TaskRow.status == "done"))
            )
    received = copies(providers)
    return Run(hooks, cluster.dead, received, briefing_replies, processed_by)


async def test_three_nodes_survive_the_scheduler_leader_s_sigkill(
    postgres_url: str, tmp_path: Path
) -> None:
    team = await seed_team(postgres_url, phones=REQUESTS // 2)
    run = await _run(postgres_url, tmp_path, team)

    # Every webhook: one task, one reply recorded as sent and received once (a reply the
    # killed node had sent but not recorded is found at the provider, not sent again).
    books = await stored(postgres_url, run.hooks)
    by_token = copies_by_token(run.received)
    for hook in run.hooks:
        book = books[hook.external_id]
        assert (book.tasks, book.status) == (1, "done"), (hook, book)
        [(status, provider_id)] = book.replies
        assert status == "sent", (hook, book)
        got = by_token[hook.token]
        assert {(c.address, c.thread) for c in got} == {(hook.address, hook.thread)}, got
        assert [c.provider_id for c in got] == [provider_id], (hook, got)

    # Each briefing once: its card and its chart, each message received once.
    assert sorted({r.address for r in run.briefing_replies}) == sorted(BRIEFED)
    assert all(r.status == "sent" for r in run.briefing_replies)
    for phone in BRIEFED:
        messages: dict[str, list[Copy]] = {}
        for copy in sorted(run.received, key=lambda c: c.at):
            if copy.address == phone:
                messages.setdefault(copy.text, []).append(copy)
        sent = [r for r in run.briefing_replies if r.address == phone]
        assert len(messages) == len(sent) == 2, messages
        assert all(len(same) == 1 for same in messages.values()), messages
    assert len(run.processed_by) >= 2, "the surviving nodes shared the work"
