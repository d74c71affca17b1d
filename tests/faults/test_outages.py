"""Provider and LLM outages end to end: signed webhooks in, replies out through the real SDKs
to simulators that fail (500s, 429s with Retry-After, stalls past the client's timeout), then
recover. Every reply arrives exactly once; past the attempt limit a reply is dead-lettered, and
the admin API's replay delivers it once. Unit tests of the outbox and the LLM gateway cover the
mechanisms (tests/delivery, tests/llm); these check that they hold together."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import select

from channels.twilio_common import rest_client
from delivery.ratelimit import RULES, Rule
from storage.db import Database
from storage.models import OutboxRow, TaskRow
from tests.api import Client, ClientFactory
from tests.faults.harness import (
    TOKEN,
    Provider,
    Webhook,
    gateway_settings,
    mixed_webhooks,
    seed_team,
    slack_copies,
    sms_copies,
)
from tests.helpers import wait_until
from tests.sims.base import Recorded
from tests.sims.openai import OpenAISim, Reply
from tests.sims.slack import SlackSim
from tests.sims.twilio import TwilioSim

# Seconds the Slack and Twilio clients wait for an answer here (20 and 10 in production); long
# enough that a loaded machine never times out a call the simulator is answering.
CLIENT_TIMEOUT = 1.0
QUICK_RETRIES = {
    "SWITCHBOARD_OUTBOX_BACKOFF_BASE": 0.05,
    "SWITCHBOARD_OUTBOX_BACKOFF_MAX": 0.2,
    # Longer than a stalled call may take, so no live claim on a reply ever expires.
    "SWITCHBOARD_TASK_LEASE_SECONDS": 10,
}


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK clients give up after CLIENT_TIMEOUT (a stalled provider costs a second a try),
    and a conversation may be retried at once (not one message a second)."""
    for rule in ("slack.channel", "twilio.to"):
        monkeypatch.setitem(RULES, rule, Rule(0.0))
    monkeypatch.setattr("channels.slack.channel.API_TIMEOUT", CLIENT_TIMEOUT)
    monkeypatch.setattr(
        "channels.twilio_sms.channel.rest_client",
        functools.partial(rest_client, timeout=CLIENT_TIMEOUT),
    )


async def _start(
    make_client: ClientFactory, slack: SlackSim, twilio: TwilioSim, **settings: Any
) -> tuple[Client, Provider]:
    client = await make_client(**gateway_settings(slack, twilio, **QUICK_RETRIES, **settings))
    return client, Provider(client.session, twilio)


async def _post_all(provider: Provider, client: Client, hooks: Sequence[Webhook]) -> None:
    base = str(client.make_url("")).rstrip("/")
    for hook in hooks:
        assert await provider.deliver(hook, base) == "ok", hook.outcomes


async def _replies(db: Database) -> list[OutboxRow]:
    async with db.session() as session:
        return list(await session.scalars(select(OutboxRow).order_by(OutboxRow.created_at)))


async def _each_seen(
    db: Database, count: int, what: str, seen: Callable[[OutboxRow], bool]
) -> None:
    """Wait until each of the COUNT replies has been seen in a state SEEN accepts (not
    necessarily all at the same moment)."""
    ids: set[str] = set()

    async def all_seen() -> bool:
        rows = await _replies(db)
        ids.update(row.id for row in rows if seen(row))
        return len(rows) == count and len(ids) == count

    await wait_until(all_seen, timeout=20, interval=0.02, message=f"each of {count} replies {what}")


async def _all_sent(db: Database, count: int) -> list[OutboxRow]:
    async def sent() -> list[OutboxRow]:
        rows = await _replies(db)
        states = [(r.address, r.status, r.attempts, r.next_attempt_at, r.last_error) for r in rows]
        assert len(rows) == count and all(r.status == "sent" for r in rows), states
        return rows

    return await wait_until(sent, timeout=20, interval=0.05, message=f"{count} replies sent")


def _received(slack: SlackSim, twilio: TwilioSim) -> dict[str, list[str]]:
    """Every reply the providers accepted, by the token it quotes."""
    found: dict[str, list[str]] = {}
    for copy in slack_copies(slack) + sms_copies(twilio):
        found.setdefault(copy.token, []).append(copy.text)
    return found


PHASES = ["fail", "throttle", "stall"]


def _tries(slack: SlackSim, twilio: TwilioSim) -> dict[str, list[Recorded]]:
    """Every attempt to send a reply, by the Slack channel or phone number it was for."""
    found: dict[str, list[Recorded]] = {}
    for sim, path, field in (
        (slack, "/api/chat.postMessage", "channel"),
        (twilio, "/Messages.json", "To"),
    ):
        for record in sim.calls(path, method="POST"):
            found.setdefault(str(record.params[field]), []).append(record)
    return found


async def test_a_provider_outage_500s_then_429s_then_stalls_delays_replies_but_sends_each_once(
    make_client: ClientFactory,
    db: Database,
    database_url: str,
    slack_sim: SlackSim,
    twilio_sim: TwilioSim,
) -> None:
    team = await seed_team(database_url, phones=4, migrate=False)
    hooks = mixed_webhooks(8, twilio_sim, team)
    # However many tries the outage takes, none of these replies is given up on.
    client, provider = await _start(
        make_client, slack_sim, twilio_sim, SWITCHBOARD_OUTBOX_MAX_ATTEMPTS=100
    )
    sims = (slack_sim, twilio_sim)

    # 500s: every reply is tried, fails and is tried again.
    for sim in sims:
        sim.fail(500, times=None)
    await _post_all(provider, client, hooks)
    await _each_seen(
        db, len(hooks), "failed twice", lambda r: r.status == "pending" and r.attempts >= 2
    )

    # 429s with Retry-After: 1 second: the conversation waits that long before its next try.
    for sim in sims:
        sim.clear_faults()
        sim.throttle(retry_after=1, times=None)

    def each_throttled() -> bool:
        return all(
            any(r.fault == "throttle" for r in tries)
            for tries in _tries(slack_sim, twilio_sim).values()
        )

    await wait_until(each_throttled, timeout=20, interval=0.05)

    # Stalls past the client's timeout: each try is abandoned and tried again.
    for sim in sims:
        sim.clear_faults()
        sim.stall(times=None)
    await _each_seen(db, len(hooks), "timed out", lambda r: "in time" in (r.last_error or ""))

    # Recovered: every reply goes out, once.
    for sim in sims:
        sim.clear_faults()
    await _all_sent(db, len(hooks))

    received = _received(slack_sim, twilio_sim)
    assert received == {h.token: [received[h.token][0]] for h in hooks}
    for hook in hooks:
        assert f"There is no assist {hook.token}" in received[hook.token][0]
    tries = _tries(slack_sim, twilio_sim)
    assert sorted(tries) == sorted(h.address for h in hooks)
    for address, made in tries.items():
        answers = [r.fault for r in made]
        # 500s, then 429s, then stalls, then the one that went through.
        assert answers == [*sorted(answers[:-1], key=PHASES.index), None], (address, answers)
        assert set(answers) == {*PHASES, None}, (address, answers)
        # Retry-After was honoured: after a 429 the next try came a second later, not before.
        for before, after in itertools.pairwise(made):
            if before.fault == "throttle":
                assert after.at - before.at >= 0.95, (address, answers)


async def test_past_the_attempt_limit_replies_are_dead_lettered_then_replayed_once(
    make_client: ClientFactory,
    db: Database,
    database_url: str,
    slack_sim: SlackSim,
    twilio_sim: TwilioSim,
) -> None:
    team = await seed_team(database_url, phones=3, migrate=False)
    hooks = mixed_webhooks(6, twilio_sim, team)
    slack_hooks = [h for h in hooks if h.kind == "slack"]
    sms_hooks = [h for h in hooks if h.kind == "sms"]
    client, provider = await _start(
        make_client, slack_sim, twilio_sim, SWITCHBOARD_OUTBOX_MAX_ATTEMPTS=3
    )
    slack_sim.fail(503, times=None)  # Slack stays down
    twilio_sim.fail(503, times=2)  # Twilio fails twice: no reply reaches the limit there

    await _post_all(provider, client, hooks)

    def settled(row: OutboxRow) -> bool:
        return row.status == ("dead" if row.channel == "slack" else "sent")

    async def outcome() -> list[OutboxRow] | None:
        rows = await _replies(db)
        return rows if len(rows) == len(hooks) and all(settled(r) for r in rows) else None

    rows = await wait_until(outcome, timeout=20, interval=0.05)
    dead = [r for r in rows if r.status == "dead"]
    # Dead-lettered exactly at the limit: three tries each reached Slack, none after.
    assert sorted(r.address for r in dead) == sorted(h.address for h in slack_hooks)
    assert {(r.attempts, r.last_error) for r in dead} == {
        (3, "slack chat.postMessage: service_unavailable")
    }
    tries = _tries(slack_sim, twilio_sim)
    assert {h.address: len(tries[h.address]) for h in slack_hooks} == {
        h.address: 3 for h in slack_hooks
    }
    # Under the limit Twilio's replies got through (two tries failed), each once.
    assert sum(r.fault == "fail" for r in twilio_sim.requests) == 2
    assert sorted(c.token for c in sms_copies(twilio_sim)) == sorted(h.token for h in sms_hooks)

    # Slack is back; the dead letters stay dead until someone replays them.
    slack_sim.clear_faults()
    auth = {"Authorization": f"Bearer {team.api_key}"}
    listed = await client.get("/api/v1/outbox?status=dead", headers=auth)
    assert listed.status == 200
    assert sorted(i["id"] for i in (await listed.json())["items"]) == sorted(r.id for r in dead)
    assert slack_sim.posted() == []
    for row in dead:
        replayed = await client.post(f"/api/v1/outbox/{row.id}/replay", headers=auth)
        assert (replayed.status, await replayed.json()) == (200, {"replayed": 1})
    rows = await _all_sent(db, len(hooks))

    received = _received(slack_sim, twilio_sim)
    assert sorted(received) == sorted(h.token for h in hooks)
    assert all(len(texts) == 1 for texts in received.values()), received
    for row in dead:  # a reply delivered after its replay is no dead letter to replay again
        again = await client.post(f"/api/v1/outbox/{row.id}/replay", headers=auth)
        assert again.status == 409
    assert len(slack_sim.posted()) == len(slack_hooks)


def _echo(name: str) -> Any:
    """An LLM that answers by quoting the assist the member asked about."""

    def responder(request: dict[str, Any]) -> Reply:
        users = [m for m in request["messages"] if m["role"] == "user"]
        token = TOKEN.search(str(users[-1]["content"]))
        return Reply(content=f"{name} looked up {token.group() if token else '?'}")

    return responder


async def _answered(db: Database, hooks: Sequence[Webhook]) -> dict[str, str | None]:
    """llm_backend of each hook's task once every one is done and its reply sent."""

    async def done() -> dict[str, str | None] | None:
        async with db.session() as session:
            tasks = {
                t.external_id: t
                for t in await session.scalars(
                    select(TaskRow).where(TaskRow.external_id.in_([h.external_id for h in hooks]))
                )
            }
            rows = list(
                await session.scalars(
                    select(OutboxRow).where(OutboxRow.task_id.in_([t.id for t in tasks.values()]))
                )
            )
        if len(tasks) != len(hooks) or any(t.status != "done" for t in tasks.values()):
            return None
        if len(rows) != len(hooks) or any(r.status != "sent" for r in rows):
            return None
        return {external: t.llm_backend for external, t in tasks.items()}

    return await wait_until(done, timeout=20, interval=0.05, message="every request answered")


async def test_llm_failover_then_offline_fallback_answer_every_webhook_once(
    make_client: ClientFactory,
    db: Database,
    database_url: str,
    slack_sim: SlackSim,
    twilio_sim: TwilioSim,
    openai_sim: OpenAISim,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    team = await seed_team(database_url, phones=6, migrate=False)
    hooks = mixed_webhooks(12, twilio_sim, team)
    first, second, third = hooks[:4], hooks[4:8], hooks[8:]
    async with OpenAISim(api_key="sk-sim-backup-3333333333333333", models=["gpt-4o"]) as backup:
        monkeypatch.setenv("SWITCHBOARD_FAULT_BACKUP_KEY", backup.api_key)
        openai_sim.responder = _echo("primary")
        backup.responder = _echo("backup")
        client, provider = await _start(
            make_client,
            slack_sim,
            twilio_sim,
            OPENAI_API_KEY=openai_sim.api_key,
            OPENAI_BASE_URL=openai_sim.base_url,
            LLM_FALLBACKS=f"{backup.base_url}|gpt-4o|SWITCHBOARD_FAULT_BACKUP_KEY",
        )
        await _post_all(provider, client, first)
        assert set((await _answered(db, first)).values()) == {"llm:primary"}

        openai_sim.fail(500, times=None)  # the primary goes down: the backup answers
        await _post_all(provider, client, second)
        assert set((await _answered(db, second)).values()) == {"llm:fallback-1"}

        await backup.close()  # and then the backup: nobody listens there any more
        await _post_all(provider, client, third)
        assert set((await _answered(db, third)).values()) == {"offline"}
    assert not backup.handler_errors

    received = _received(slack_sim, twilio_sim)
    assert sorted(received) == sorted(h.token for h in hooks)
    assert all(len(texts) == 1 for texts in received.values()), received
    for hook in first:
        assert f"primary looked up {hook.token}" in received[hook.token][0]
    for hook in second:
        assert f"backup looked up {hook.token}" in received[hook.token][0]
    for hook in third:
        assert f"There is no assist {hook.token}" in received[hook.token][0]
