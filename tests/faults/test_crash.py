"""SIGKILL under load: a gateway killed again and again while Slack and Twilio post signed
webhooks to it, restarted each time on the same database. Every acknowledged request is
answered once; a request the gateway never acknowledged is answered only after the provider's
redelivery of it was accepted."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import aiohttp

from tests.faults.harness import (
    Provider,
    Webhook,
    copies_by_token,
    explained,
    gateway_env,
    mixed_webhooks,
    seed_team,
    settled,
    slack_copies,
    sms_copies,
    stored,
)
from tests.helpers import wait_until
from tests.process import GatewayProcess
from tests.sims.slack import SlackSim
from tests.sims.twilio import TwilioSim

REQUESTS = 800
KILLS = 4
CONCURRENCY = 24


class Crashes:
    """The gateway under test, killed (SIGKILL) at the given acknowledgement counts and
    restarted at once on the same database (a new port each time)."""

    def __init__(self, env: dict[str, str], cwd: Path, kill_at: list[int]) -> None:
        self.env = env
        self.cwd = cwd
        self.kill_at = kill_at
        self.kill_times: list[float] = []  # time.monotonic() just before each SIGKILL
        self.node: GatewayProcess | None = None
        self.up = asyncio.Event()
        self.acknowledged = 0

    async def start(self) -> None:
        self.node = await GatewayProcess(self.env, self.cwd).start()
        self.up.set()

    @property
    def url(self) -> str:
        assert self.node is not None
        return self.node.url

    async def run(self) -> None:
        for threshold in self.kill_at:
            await wait_until(lambda t=threshold: self.acknowledged >= t, timeout=60, interval=0.005)  # type: ignore[misc]
            assert self.node is not None
            self.up.clear()
            self.kill_times.append(time.monotonic())
            await self.node.kill()
            await self.start()


async def _load(provider: Provider, crashes: Crashes, hooks: list[Webhook]) -> None:
    """Post every webhook once, CONCURRENCY at a time. A delivery that fails (in flight at the
    kill, or posted to the dead node) holds that sender back until the gateway is up again."""
    queue = list(reversed(hooks))

    async def worker() -> None:
        while queue:
            hook = queue.pop()
            if await provider.deliver(hook, crashes.url) == "ok":
                crashes.acknowledged += 1
            else:
                await crashes.up.wait()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def test_sigkill_under_load_loses_no_acknowledged_request_and_answers_each_once(
    database_url: str, tmp_path: Path, slack_sim: SlackSim, twilio_sim: TwilioSim
) -> None:
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    team = await seed_team(database_url, phones=REQUESTS // 2)
    hooks = mixed_webhooks(REQUESTS, twilio_sim, team)
    kill_at = sorted(rng.sample(range(REQUESTS // 10, REQUESTS * 9 // 10), KILLS))
    env = gateway_env(
        database_url,
        slack_sim,
        twilio_sim,
        SWITCHBOARD_AUTO_MIGRATE="true",
        # A dead node's claims (tasks and replies) are taken over after this.
        SWITCHBOARD_TASK_LEASE_SECONDS="3",
        LOG_LEVEL="WARNING",
    )
    crashes = Crashes(env, tmp_path, kill_at)
    await crashes.start()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:
            provider = Provider(http, twilio_sim)
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
                else:  # reset mid-request: committed or not, never more than once
                    assert book.tasks <= 1, (hook, book, seed)
            failed = [h for h in hooks if not h.acknowledged]

            # The providers redeliver what was not acknowledged.
            await provider.redeliver(failed, crashes.url)
            await settled(database_url)
    finally:
        assert crashes.node is not None
        await crashes.node.stop()

    books = await stored(database_url, hooks)
    copies = copies_by_token(slack_copies(slack_sim) + sms_copies(twilio_sim))
    assert set(copies) == {h.token for h in hooks}, f"replies to unknown requests (seed {seed})"
    repeated = {}
    for hook in hooks:
        book = books[hook.external_id]
        assert (book.tasks, book.status) == (1, "done"), (hook, book, seed)
        [(status, provider_id)] = book.replies
        assert status == "sent", (hook, book, seed)
        received = copies[hook.token]
        assert {c.address for c in received} == {hook.address}, (hook, received)
        assert all(f"There is no assist {hook.token}" in c.text for c in received), received
        # The reply the gateway recorded is the last copy the provider received.
        assert received[-1].provider_id == provider_id, (hook, received, provider_id)
        if len(received) > 1:
            repeated[hook.token] = received
    unexplained = {
        token: got for token, got in repeated.items() if not explained(got, crashes.kill_times)
    }
    assert not unexplained, f"replies sent twice without a kill between them: {unexplained}"
    assert len(crashes.kill_times) == KILLS
    assert sum(h.outcomes[0] != "ok" for h in hooks) > 0, "no kill caught a request in flight"
    print(
        f"seed {seed}: kills at {kill_at} acknowledgements; {len(failed)} deliveries failed "
        f"({sum('reset' in h.outcomes for h in hooks)} reset, "
        f"{sum('refused' in h.outcomes for h in hooks)} refused); "
        f"{len(repeated)} replies repeated after a kill"
    )
