"""Fault tests' tools: a seeded team, signed Slack and Twilio webhooks, a provider that posts
them (and retries what failed, as Slack and Twilio do), and the books that tie every reply the
simulators received to the request it answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
from sqlalchemy import select

from core.team import directory
from storage.db import Database
from storage.models import ChannelIdentity, Member, OutboxRow, TaskRow
from storage.types import new_id
from tests.channels.slack_payloads import SIGNING_SECRET, mention, sign
from tests.helpers import settled as wait_settled
from tests.process import GatewayProcess
from tests.sims.slack import SlackSim
from tests.sims.twilio import TwilioSim, message_webhook, twilio_signature

PUBLIC_BASE_URL = "https://gw.example"
SECRET_KEY = "fault-tests-secret-key-for-media-links"
SLACK_USER = "U0FAULT01"
# Replies to a text go out from the number it was written to; the gateway allows 25 messages
# a second per sending number, so the load is spread over several of ours.
OUR_NUMBERS = tuple(f"+1555000{n:04d}" for n in range(40))
TOKEN = re.compile(r"A-\d{6}")

Kind = Literal["slack", "sms"]
# What one POST came to: 2xx, the gateway's refusal, or the connection's fate.
Outcome = Literal["ok", "refused", "reset", "error"]


@dataclass(frozen=True)
class Providers:
    """The provider APIs one gateway sends its replies to: a Slack and a Twilio simulator."""

    slack: SlackSim
    twilio: TwilioSim

    @classmethod
    async def start(cls, stack: contextlib.AsyncExitStack) -> Providers:
        """A new pair, closed with STACK; a simulator whose handler failed fails the test."""
        pair = cls(
            await stack.enter_async_context(SlackSim()),
            await stack.enter_async_context(TwilioSim()),
        )
        stack.callback(pair.check)
        return pair

    def check(self) -> None:
        for sim in (self.slack, self.twilio):
            assert not sim.handler_errors, f"{sim.name} simulator failed: {sim.handler_errors}"


def gateway_env(
    database_url: str, slack: SlackSim, twilio: TwilioSim, **overrides: str
) -> dict[str, str]:
    """A gateway process's settings: both channels on, pointed at the simulators."""
    return {
        "DATABASE_URL": database_url,
        "SWITCHBOARD_SECRET_KEY": SECRET_KEY,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "SLACK_BOT_TOKEN": slack.token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_API_URL": twilio.url,
        "TWILIO_SMS_FROM": OUR_NUMBERS[0],
        "SWITCHBOARD_SCHEDULER": "false",
        **overrides,
    }


async def start_nodes(
    envs: Sequence[dict[str, str]], cwd: Path, stack: contextlib.AsyncExitStack
) -> list[GatewayProcess]:
    """A `main.py serve` process per ENVS entry, started together; each is stopped (SIGTERM,
    or nothing if it was killed) when STACK closes."""
    nodes = [GatewayProcess(env, cwd) for env in envs]
    started = await asyncio.gather(*(n.start() for n in nodes), return_exceptions=True)
    for node, result in zip(nodes, started, strict=True):
        if not isinstance(result, BaseException):
            stack.push_async_callback(node.stop)
    for result in started:
        if isinstance(result, BaseException):
            raise result
    return nodes


def gateway_settings(slack: SlackSim, twilio: TwilioSim, **overrides: Any) -> dict[str, Any]:
    """The same settings for an in-process gateway (`make_client`)."""
    env = gateway_env("", slack, twilio)
    env.pop("DATABASE_URL")
    return {**env, **overrides}


@dataclass(frozen=True)
class Team:
    workspace_id: str
    owner_id: str
    api_key: str
    phones: tuple[str, ...]


def member_phone(index: int) -> str:
    return f"+1556{index:07d}"  # apart from OUR_NUMBERS


async def seed_team(database_url: str, *, phones: int, migrate: bool = True) -> Team:
    """One workspace: an owner on Slack (SLACK_USER) and PHONES members texting by SMS, each
    from a number of their own (the gateway allows one message a second per recipient)."""
    db = Database(database_url)
    try:
        if migrate:
            await db.migrate()
        async with db.session() as session:
            ws = await directory.create_workspace(session, "Faulty Co", plan="enterprise")
            owner = await directory.add_member(
                session,
                ws.id,
                name="Olivia Owner",
                role="owner",
                email="olivia@faulty.example",
                identities={"slack": SLACK_USER},
            )
            key = await directory.create_api_key(session, ws.id, name="fault tests")
            numbers = tuple(member_phone(i) for i in range(phones))
            members = [
                Member(id=new_id(), workspace_id=ws.id, name=f"Texter {i}", role="manager")
                for i in range(phones)
            ]
            session.add_all(members)
            await session.flush()
            session.add_all(
                ChannelIdentity(
                    id=new_id(), workspace_id=ws.id, member_id=m.id, channel="sms", address=n
                )
                for m, n in zip(members, numbers, strict=True)
            )
        return Team(ws.id, owner.id, key.secret, numbers)
    finally:
        await db.dispose()


@dataclass
class Webhook:
    """One request a provider delivers (and redelivers until it is acknowledged)."""

    kind: Kind
    token: str  # A-nnnnnn: asked about, so the reply quotes it
    external_id: str  # Slack event_id / Twilio MessageSid: the gateway's dedupe key
    address: str  # where the reply goes: Slack channel / member's phone
    thread: str  # Slack: the mention's ts, which the reply is threaded under / our number
    body: bytes = b""  # Slack: the JSON envelope (signed afresh on every delivery)
    form: dict[str, str] = field(default_factory=dict)  # Twilio: the signed form
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return "ok" in self.outcomes


def slack_webhook(index: int) -> Webhook:
    token = f"A-{100000 + index}"
    channel = f"C0F{index:06d}"  # one channel each: Slack allows one message a second in one
    payload = mention(f"show assist {token}", user=SLACK_USER, channel=channel)
    return Webhook(
        kind="slack",
        token=token,
        external_id=payload["event_id"],
        address=channel,
        thread=payload["event"]["ts"],
        body=json.dumps(payload).encode(),
    )


def sms_webhook(index: int, twilio: TwilioSim, phone: str) -> Webhook:
    token = f"A-{200000 + index}"
    ours = OUR_NUMBERS[index % len(OUR_NUMBERS)]
    form = message_webhook(
        account_sid=twilio.account_sid, from_=phone, to=ours, body=f"show assist {token}"
    )
    return Webhook(
        kind="sms",
        token=token,
        external_id=form["MessageSid"],
        address=phone,
        thread=ours,
        form=form,
    )


def mixed_webhooks(count: int, twilio: TwilioSim, team: Team) -> list[Webhook]:
    """COUNT webhooks, Slack and SMS alternating; each SMS from a member's own phone."""
    hooks = []
    for i in range(count):
        if i % 2 == 0:
            hooks.append(slack_webhook(i))
        else:
            hooks.append(sms_webhook(i, twilio, team.phones[i // 2]))
    return hooks


class Provider:
    """Delivers webhooks the way Slack and Twilio do: signed, and again later if the first
    delivery was not acknowledged (Slack adds X-Slack-Retry-Num; Twilio repeats the form)."""

    def __init__(self, http: aiohttp.ClientSession, twilio: TwilioSim) -> None:
        self._http = http
        self._auth_token = twilio.auth_token

    async def deliver(self, hook: Webhook, base_url: str) -> Outcome:
        retry = len(hook.outcomes)
        if hook.kind == "slack":
            headers = {**sign(hook.body), "Content-Type": "application/json"}
            if retry:
                headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_error"}
            request = self._http.post(f"{base_url}/slack/events", data=hook.body, headers=headers)
        else:
            path = "/twilio/sms"
            signature = twilio_signature(self._auth_token, PUBLIC_BASE_URL + path, hook.form)
            request = self._http.post(
                base_url + path, data=hook.form, headers={"X-Twilio-Signature": signature}
            )
        outcome: Outcome
        try:
            async with request as response:
                await response.read()
                outcome = "ok" if response.status < 300 else "error"
        except aiohttp.ClientConnectorError:
            outcome = "refused"  # nothing reached the gateway
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError):
            outcome = "reset"  # sent; the gateway died before (or while) answering
        hook.outcomes.append(outcome)
        return outcome

    async def redeliver(
        self, hooks: Iterable[Webhook], base_url: str, *, concurrency: int = 16
    ) -> None:
        """Deliver every HOOK not yet acknowledged until it is (at most 5 tries each)."""
        pending = [h for h in hooks if not h.acknowledged]
        gate = asyncio.Semaphore(concurrency)

        async def one(hook: Webhook) -> None:
            async with gate:
                for _ in range(5):
                    if await self.deliver(hook, base_url) == "ok":
                        return

        await asyncio.gather(*(one(h) for h in pending))
        refused = [h.outcomes for h in pending if not h.acknowledged]
        assert not refused, f"redeliveries not acknowledged: {refused[:5]}"


# --------------------------------------------------------------------------- the books


@dataclass(frozen=True)
class Copy:
    """A reply as a simulator received it."""

    token: str
    address: str  # Slack channel / recipient's number
    thread: str  # Slack thread_ts / the number it was sent from
    text: str
    at: float  # time.monotonic() at arrival in the simulator
    provider_id: str  # Slack ts / Twilio message sid


def copies(providers: Providers) -> list[Copy]:
    """Every reply PROVIDERS accepted (Slack and SMS)."""
    return slack_copies(providers.slack) + sms_copies(providers.twilio)


def slack_copies(slack: SlackSim) -> list[Copy]:
    """Every chat.postMessage the Slack simulator stored, with its arrival time."""
    calls = [r for r in slack.calls("/api/chat.postMessage") if r.fault is None]
    posted = slack.posted()
    assert len(calls) == len(posted), "every accepted chat.postMessage is a stored message"
    copies = []
    for call, message in zip(calls, posted, strict=True):
        found = TOKEN.search(message["text"])
        copies.append(
            Copy(
                token=found.group() if found else "",
                address=message["channel"],
                thread=message.get("thread_ts", ""),
                text=message["text"],
                at=call.at,
                provider_id=message["ts"],
            )
        )
    return copies


def sms_copies(twilio: TwilioSim) -> list[Copy]:
    """Every message the Twilio simulator created, with its arrival time."""
    calls = [r for r in twilio.calls("/Messages.json", method="POST") if r.fault is None]
    created = list(twilio.messages.values())
    assert len(calls) == len(created), "every accepted Messages.json create is a message"
    copies = []
    for call, message in zip(calls, created, strict=True):
        found = TOKEN.search(message["body"])
        copies.append(
            Copy(
                token=found.group() if found else "",
                address=message["to"],
                thread=message["from"],
                text=message["body"],
                at=call.at,
                provider_id=message["sid"],
            )
        )
    return copies


@dataclass(frozen=True)
class Stored:
    """What the database says about one webhook: its tasks and their replies."""

    tasks: int
    status: str | None
    replies: tuple[tuple[str, str | None], ...]  # (outbox status, provider message id)


async def stored(database_url: str, hooks: Sequence[Webhook]) -> dict[str, Stored]:
    """The tasks and outbox rows of each webhook, by its external id."""
    db = Database(database_url)
    try:
        async with db.session() as session:
            tasks = (
                await session.execute(
                    select(TaskRow.id, TaskRow.external_id, TaskRow.status).where(
                        TaskRow.channel.in_(("slack", "sms"))
                    )
                )
            ).all()
            replies = (
                await session.execute(
                    select(OutboxRow.task_id, OutboxRow.status, OutboxRow.provider_message_id)
                )
            ).all()
    finally:
        await db.dispose()
    by_task: dict[str, list[tuple[str, str | None]]] = {}
    for task_id, status, provider_id in replies:
        by_task.setdefault(task_id, []).append((status, provider_id))
    count = Counter(external for _, external, _ in tasks)
    books: dict[str, Stored] = {}
    for task_id, external, status in tasks:
        books[external] = Stored(count[external], status, tuple(by_task.get(task_id, ())))
    return {h.external_id: books.get(h.external_id, Stored(0, None, ())) for h in hooks}


async def settled(database_url: str, *, timeout: float = 60.0) -> None:  # noqa: ASYNC109
    """Wait until no task is queued or running and no reply is pending or being sent."""
    db = Database(database_url)
    try:
        await wait_settled(db, timeout=timeout, interval=0.1)
    finally:
        await db.dispose()


def copies_by_token(copies: Iterable[Copy]) -> dict[str, list[Copy]]:
    found: dict[str, list[Copy]] = {}
    for copy in copies:
        found.setdefault(copy.token, []).append(copy)
    for same in found.values():
        same.sort(key=lambda c: c.at)
    return found
