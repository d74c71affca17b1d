"""SIGKILL under load: a gateway killed again and again while Slack and Twilio post signed
webhooks to it, restarted each time on the same database. Every acknowledged request is
answered once; a request that never reached the gateway is answered only once the provider's
redelivery of it is accepted, and one cut off before its answer at most once either way.
A node killed between the provider accepting a reply and recording it leaves that reply in
doubt: the node taking it over finds it at the provider and does not send it again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from pathlib import Path

import aiohttp

from tests.faults.harness import (
    Copy,
    Provider,
    Providers,
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
from tests.process import GatewayProcess

# 2,000 per database take 75 s or more on these two shared cores, most of the fault tests'
# budget, so CI posts 600 (SWITCHBOARD_FAULT_REQUESTS=2000 posts more).
REQUESTS = int(os.environ.get("SWITCHBOARD_FAULT_REQUESTS", "600"))
KILLS = 4
CONCURRENCY = 24


class Crashes:
    """The gateway under test, killed (SIGKILL) once the provider has made the given numbers
    of deliveries, and restarted at once on the same database (a new port each time). Every
    node sends its replies to the same Slack and Twilio simulators, as to the real providers.
    """

    def __init__(
        self,
        database_url: str,
        cwd: Path,
        kill_at: list[int],
        stack: contextlib.AsyncExitStack,
    ) -> None:
        self.database_url = database_url
        self.cwd = cwd
        self.kill_at = kill_at
        self.stack = stack
        self.nodes: list[GatewayProcess] = []
        self.providers: Providers | None = None
        self.up = asyncio.Event()
        self.delivered = 0
        self._progress = asyncio.Event()

    async def start(self) -> None:
        if self.providers is None:
            self.providers = await Providers.start(self.stack)
        providers = self.providers
        env = gateway_env(
            self.database_url,
            providers.slack,
            providers.twilio,
            SWITCHBOARD_AUTO_MIGRATE="true",
            # A dead node's claims (tasks and replies) are taken over after this.
            SWITCHBOARD_TASK_LEASE_SECONDS="3",
            LOG_LEVEL="WARNING",
        )
        [node] = await start_nodes([env], self.cwd, self.stack)
        self.nodes.append(node)
        self.up.set()

    @property
    def node(self) -> GatewayProcess:
        return self.nodes[-1]

    @property
    def killed(self) -> set[int]:
        return set(range(len(self.nodes) - 1))

    def copies(self) -> list[Copy]:
        """Every reply the providers accepted, from every node."""
        assert self.providers is not None
        return copies(self.providers)

    def count(self) -> None:
        self.delivered += 1
        self._progress.set()

    @property
    def logs(self) -> str:
        """What the nodes logged (warnings and errors), for failure messages."""
        return "\n".join(node.text for node in self.nodes)[-20_000:]

    async def run(self) -> None:
        for threshold in self.kill_at:
            async with asyncio.timeout(60):
                while self.delivered < threshold:
                    self._progress.clear()
                    await self._progress.wait()
            self.up.clear()
            await self.node.kill()
            await self.start()


async def _load(provider: Provider, crashes: Crashes, hooks: list[Webhook]) -> None:
    """Post every webhook once, CONCURRENCY at a time. A delivery that fails (in flight at the
    kill, or posted to the dead node) holds that sender back until the gateway is up again."""
    queue = list(reversed(hooks))

    async def worker() -> None:
        while queue:
            hook = queue.pop()
            outcome = await provider.deliver(hook, crashes.node.url)
            crashes.count()
            if outcome != "ok":
                await crashes.up.wait()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def test_sigkill_under_load_loses_no_acknowledged_request_and_answers_each_once(
    database_url: str, tmp_path: Path
) -> None:
    # Random kill points; SWITCHBOARD_FAULT_SEED replays a run (failures name their seed).
    seed = int(os.environ.get("SWITCHBOARD_FAULT_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    team = await seed_team(database_url, phones=REQUESTS // 2)
    kill_at = sorted(rng.sample(range(REQUESTS // 10, REQUESTS * 8 // 10), KILLS))
    async with contextlib.AsyncExitStack() as stack:
        crashes = Crashes(database_url, tmp_path, kill_at, stack)
        await crashes.start()
        assert crashes.providers is not None
        hooks = mixed_webhooks(REQUESTS, crashes.providers.twilio, team)
        http = await stack.enter_async_context(
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY))
        )
        provider = Provider(http, crashes.providers.twilio)
        await asyncio.gather(_load(provider, crashes, hooks), crashes.run())
        refusals = [h for h in hooks if "error" in h.outcomes]
        assert not refusals, f"the gateway refused signed webhooks: {refusals[:3]}"
        await settled(database_url)

        # Before any redelivery: every acknowledged request is done and its one reply sent;
        # a request that never reached the gateway left nothing behind.
        books = await stored(database_url, hooks)
        for hook in hooks:
            book = books[hook.external_id]
            if hook.acknowledged:
                assert (book.tasks, book.status) == (1, "done"), (hook, book, seed)
                assert [status for status, _ in book.replies] == ["sent"], (hook, book, seed)
            elif "refused" in hook.outcomes and "reset" not in hook.outcomes:
                assert book.tasks == 0, (hook, book, seed)
            else:  # cut off mid-request: committed or not, answered at most once
                assert book.tasks == len(book.replies) <= 1, (hook, book, seed)
                assert all(status == "sent" for status, _ in book.replies), (hook, book, seed)
        failed = [h for h in hooks if not h.acknowledged]

        # The providers redeliver what was not acknowledged.
        await provider.redeliver(failed, crashes.node.url)
        await settled(database_url)

    books = await stored(database_url, hooks)
    received = copies_by_token(crashes.copies())
    assert set(received) == {h.token for h in hooks}, f"replies to unknown requests (seed {seed})"
    repeated = {}
    for hook in hooks:
        book = books[hook.external_id]
        assert (book.tasks, book.status) == (1, "done"), (hook, book, seed)
        [(status, provider_id)] = book.replies
        assert status == "sent", (hook, book, seed)
        got = received[hook.token]
        # Each copy went where the request came from and quotes what it asked about.
        assert {(c.address, c.thread) for c in got} == {(hook.address, hook.thread)}, got
        assert all(f"There is no assist {hook.token}" in c.text for c in got), got
        # The reply the gateway recorded is the one the provider received.
        assert got[-1].provider_id == provider_id, (hook, got, provider_id)
        if len(got) > 1:
            repeated[hook.token] = got
    assert not repeated, f"replies sent twice (seed {seed}): {repeated}\n{crashes.logs}"
    assert len(crashes.killed) == KILLS
    assert failed, f"no kill caught a request in flight (seed {seed})"
