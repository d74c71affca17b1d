"""`main.py demo`: a scripted morning at Demo Co through every channel, against provider
simulators running in this process. The gateway is the real one (build_app), on a database of
its own in a temporary folder; Slack, Telegram, Twilio and SendGrid are the simulators the
tests use (tests/sims), reached through the official SDKs exactly as the real providers would
be; every inbound request is signed the way each provider signs it. What each provider
received is printed after each step. With `--serve` the gateway then keeps serving its console,
with a one-time sign-in link, until Ctrl-C, which deletes the demo's database; without, the
demo ends there.

The simulators live in the source checkout's tests/ folder: the demo runs from a clone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import shutil
import signal
import socket
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, select, update

from api.app import build_app
from api.state import GATEWAY
from cli.seed import seed_workspace
from config import Settings
from core.team import signin
from storage.db import Database
from storage.domain import Assist, Schedule
from storage.models import Member, TaskRow
from storage.types import utcnow

OLIVIA_SLACK = "U0DEMO001"  # the seeded owner, linked to Slack
OLIVIA_DM = "D0DEMO001"  # her direct messages with the bot
ADAM_TELEGRAM = 100200300  # the seeded admin, linked to Telegram
OUR_NUMBER = "+15550009999"
CUSTOMER_PHONE = "+15557770001"
CUSTOMER_EMAIL = "jane.roe@mail.example"
INBOUND_DOMAIN = "in.demo.example"
INBOUND_USER, INBOUND_PASSWORD = "parse", secrets.token_urlsafe(16)
SLACK_SECRET = secrets.token_hex(16)
TELEGRAM_SECRET = secrets.token_urlsafe(16)
STEPS = 6


class DemoUnavailable(RuntimeError):
    """The demo cannot run here (no simulators: not a source checkout)."""


def _simulators() -> Any:
    try:
        from tests.channels import email_payloads, slack_payloads
        from tests.helpers import settled
        from tests.sims import sendgrid, slack, telegram, twilio
    except ImportError as exc:
        raise DemoUnavailable(
            "the demo plays against the provider simulators in tests/sims of the source "
            "checkout: run it from the cloned repository (python main.py demo)"
        ) from exc
    return slack, telegram, twilio, sendgrid, slack_payloads, email_payloads, settled


class DemoClock:
    """The scheduler's clock: the real one, moved forward when the demo jumps to a briefing."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.ahead


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def demo_settings(values: dict[str, Any]) -> Settings:
    """Settings from VALUES alone: every other setting at its default, whatever the
    environment or a .env says (the demo must not reach a real provider or database)."""
    base: dict[str, Any] = {}
    for name, info in Settings.model_fields.items():
        base[info.alias or name] = info.get_default(call_default_factory=True)
    base.update(values)
    return Settings(_env_file=None, **base)


@dataclass
class Seen:
    """How much of each simulator's record has been printed."""

    counts: dict[str, int] = field(default_factory=dict)

    def new(self, name: str, items: list[Any]) -> list[Any]:
        start = self.counts.get(name, 0)
        self.counts[name] = len(items)
        return items[start:]


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Demo:
    def __init__(self, *, host: str, port: int, keep: bool) -> None:
        (
            self.slack_mod,
            self.telegram_mod,
            self.twilio_mod,
            self.sendgrid_mod,
            self.slack_payloads,
            self.email_payloads,
            self.settled,
        ) = _simulators()
        self.host, self.port, self.keep = host, port, keep
        self.base = f"http://{host}:{port}"
        self.folder = Path(tempfile.mkdtemp(prefix="switchboard-demo-"))
        self.database_url = f"sqlite+aiosqlite:///{self.folder / 'demo.db'}"
        self.clock = DemoClock()
        self.seen = Seen()
        self.step = 0

    # --- set-up -------------------------------------------------------------------------------

    async def run(self) -> int:
        # The transcript is the demo's output: the gateway logs only warnings meanwhile.
        logging.getLogger().setLevel(logging.WARNING)
        async with AsyncExitStack() as stack:
            self.slack = await stack.enter_async_context(self.slack_mod.SlackSim())
            self.telegram = await stack.enter_async_context(self.telegram_mod.TelegramSim())
            self.twilio = await stack.enter_async_context(self.twilio_mod.TwilioSim())
            self.sendgrid = await stack.enter_async_context(self.sendgrid_mod.SendGridSim())
            self.settings = demo_settings(self._values())
            self.db = Database(self.database_url)
            stack.push_async_callback(self.db.dispose)
            await self.db.migrate()
            async with self.db.session() as session:
                seeded = await seed_workspace(session, now=utcnow() - timedelta(minutes=1))
                # The seeded briefings would fire whenever the clock passes their time (and
                # when it jumps ahead): the demo shows the one Olivia schedules.
                await session.execute(update(Schedule).values(active=False))
            self.workspace_id = seeded.workspace_id
            self.olivia = seeded.member_ids["olivia@demo.example"]
            runner = web.AppRunner(build_app(self.settings, clock=self.clock))
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            await web.TCPSite(runner, self.host, self.port).start()
            self.app = runner.app
            self.http = await stack.enter_async_context(aiohttp.ClientSession())
            print(
                f"Switchboard demo: the gateway runs at {self.base} on a database of its own "
                f"({self.folder}); Slack, Telegram, Twilio and SendGrid are simulators in this "
                "process, reached through their official SDKs.\n",
                flush=True,
            )
            await self._script()
            await self._console()
            if self.keep:
                await _until_stopped()
        shutil.rmtree(self.folder, ignore_errors=True)
        return 0

    def _values(self) -> dict[str, Any]:
        return {
            "DATABASE_URL": self.database_url,
            "PUBLIC_BASE_URL": self.base,
            "SWITCHBOARD_HOST": self.host,
            "SWITCHBOARD_PORT": self.port,
            "SWITCHBOARD_SECRET_KEY": secrets.token_urlsafe(32),
            "SWITCHBOARD_POLL_INTERVAL": 0.05,
            "LOG_LEVEL": "WARNING",
            "SLACK_BOT_TOKEN": self.slack.token,
            "SLACK_SIGNING_SECRET": SLACK_SECRET,
            "SLACK_API_URL": self.slack.api_url,
            "TELEGRAM_BOT_TOKEN": self.telegram.token,
            "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
            "TELEGRAM_API_URL": self.telegram.base_url,
            "TWILIO_ACCOUNT_SID": self.twilio.account_sid,
            "TWILIO_AUTH_TOKEN": self.twilio.auth_token,
            "TWILIO_API_URL": self.twilio.url,
            "TWILIO_SMS_FROM": OUR_NUMBER,
            "SENDGRID_API_KEY": self.sendgrid.api_key,
            "SENDGRID_API_URL": self.sendgrid.url,
            "EMAIL_FROM": "Demo Co Support <support@demo.example>",
            "EMAIL_INBOUND_DOMAIN": INBOUND_DOMAIN,
            "EMAIL_INBOUND_USER": INBOUND_USER,
            "EMAIL_INBOUND_PASSWORD": INBOUND_PASSWORD,
        }

    # --- the script ---------------------------------------------------------------------------

    async def _script(self) -> None:
        await self._slack_chart()
        await self._telegram_approval()
        assist = await self._sms_escalation()
        await self._email_reply(assist)
        await self._briefing()
        await self._report()

    async def _slack_chart(self) -> None:
        self._begin("Slack: Olivia (owner) asks a question in a direct message")
        await self._slack_event(
            self.slack_payloads.direct_message(
                "what's our resolution rate this week?", user=OLIVIA_SLACK, channel=OLIVIA_DM
            ),
            said="what's our resolution rate this week?",
        )
        await self._wait(lambda: bool(self.slack.uploads), "the chart upload")
        self._report_providers()

    async def _telegram_approval(self) -> None:
        self._begin("Telegram: Adam (admin) asks to close an assist, then approves with a button")
        await self._telegram_update(
            self.telegram.message_update(ADAM_TELEGRAM, "close A-1041", first_name="Adam"),
            said="close A-1041",
        )
        prompt = self.telegram.messages(ADAM_TELEGRAM)[-1]
        (buttons,) = prompt["reply_markup"]["inline_keyboard"]
        approve = next(b for b in buttons if b["text"] == "Approve")
        self._report_providers()
        print("  Adam taps Approve")
        await self._telegram_update(
            self.telegram.callback_query_update(
                ADAM_TELEGRAM, approve["callback_data"], message_id=prompt["message_id"]
            )
        )
        self._report_providers()

    async def _sms_escalation(self) -> Assist:
        self._begin("SMS: a customer texts, asks for a person, and an assist is opened")
        before = await self._assist_numbers()
        for said in (
            "My refund for order #48213 still hasn't come, I asked again. Live agent please",
            "Jane Roe",
            CUSTOMER_EMAIL,
            "CONFIRM",
        ):
            await self._text(CUSTOMER_PHONE, said)
        async with self.db.session() as session:
            assist = await session.scalar(
                select(Assist)
                .where(Assist.workspace_id == self.workspace_id, Assist.number.not_in(before))
                .order_by(Assist.number)
            )
        if assist is None:
            raise RuntimeError("the escalation opened no assist")
        print(f"  assist {assist.ref} opened: {_short(assist.summary)}")
        self._report_providers()
        return assist

    async def _email_reply(self, assist: Assist) -> None:
        self._begin(f"Email: the customer answers the confirmation; it threads into {assist.ref}")
        confirmation = next(
            m
            for m in reversed(self.sendgrid.mails())
            if m["personalizations"][0]["to"][0]["email"] == CUSTOMER_EMAIL
            and assist.ref in m["subject"]
        )
        reply_to = confirmation["reply_to"]["email"]
        mail = self.email_payloads.simple_email(
            sender=f"Jane Roe <{CUSTOMER_EMAIL}>",
            to=reply_to,
            subject=f"Re: {confirmation['subject']}",
            text="Here is my bank statement reference: 99812. Thank you!",
            message_id=f"<jane-{secrets.token_hex(4)}@mail.example>",
        )
        post = self.email_payloads.inbound_parse(mail, envelope_to=[reply_to])
        print(f"  Jane Roe <{CUSTOMER_EMAIL}> → {reply_to}: Re: {confirmation['subject']}")
        auth = self.email_payloads.basic_auth(INBOUND_USER, INBOUND_PASSWORD)
        async with self.http.post(
            f"{self.base}/email/inbound", data=post.body, headers=post.headers(auth)
        ) as response:
            body = await response.json()
        if response.status != 200 or body.get("assist") != assist.ref:
            raise RuntimeError(f"the email reply did not thread into {assist.ref}: {body}")
        print(f"  the gateway answered: {body['status']} into {body['assist']}")
        await self._settled()
        self._report_providers()

    async def _briefing(self) -> None:
        self._begin("Slack: Olivia schedules a briefing, approves it, and it fires")
        asked = "send me the weekly performance digest every friday at 16:00 on slack"
        await self._slack_event(
            self.slack_payloads.direct_message(asked, user=OLIVIA_SLACK, channel=OLIVIA_DM),
            said=asked,
        )
        card = self.slack.posted()[-1]
        actions = next(b for b in card.get("blocks", []) if b["type"] == "actions")
        approve = next(e for e in actions["elements"] if e["action_id"] == "proposal_approve")
        self._report_providers()
        print("  Olivia clicks Approve")
        stored = next(m for m in self.slack.messages if m["ts"] == card["ts"])
        await self._slack_form(
            self.slack_payloads.block_actions(
                user=OLIVIA_SLACK,
                action_id="proposal_approve",
                value=approve["value"],
                channel=card["channel"],
                message=stored,
            )
        )
        # The scheduler's clock jumps to next Friday, 16:00 (UTC, the workspace's time zone).
        now = self.clock.now()
        friday = (now + timedelta(days=(4 - now.weekday()) % 7 or 7)).replace(
            hour=16, minute=0, second=0, microsecond=0
        )
        self.clock.ahead = friday - datetime.now(UTC) + timedelta(seconds=5)
        print(f"  the scheduler's clock jumps to {friday:%A %Y-%m-%d %H:%M} UTC")
        uploads = len(self.slack.uploads)
        gateway = self.app[GATEWAY]
        if gateway.scheduler is not None:
            gateway.scheduler.wake()
        await self._wait(self._briefing_fired, "the briefing")
        # The digest is a card and its chart: done when the chart is in Slack.
        await self._wait(lambda: len(self.slack.uploads) > uploads, "the briefing's chart")
        await self._settled()
        self._report_providers()

    async def _report(self) -> None:
        self._begin("Slack: Olivia asks for last week's performance report as a PDF")
        asked = "send me the performance report for last week as pdf"
        uploads = len(self.slack.uploads)
        await self._slack_event(
            self.slack_payloads.direct_message(asked, user=OLIVIA_SLACK, channel=OLIVIA_DM),
            said=asked,
        )
        await self._wait(lambda: len(self.slack.uploads) > uploads, "the report upload")
        self._report_providers()

    async def _console(self) -> None:
        if not self.keep:
            print(
                "\nDone. To look at it all in the team console, run `python main.py demo "
                "--serve`: the same morning, then the console stays open (with a sign-in link) "
                "until Ctrl-C. The demo's database lives only while it runs.",
                flush=True,
            )
            return
        async with self.db.session() as session:
            member = await session.get(Member, self.olivia)
            assert member is not None
            link = await signin.sign_in_link(session, member, self.base, now=utcnow())
        print(f"\nDone. The team console: {self.base}/console/")
        print(f"Sign in as Olivia (one-time link, 30 minutes): {link}")
        print(
            "The demo gateway keeps running; Ctrl-C stops it and deletes its database.",
            flush=True,
        )

    # --- talking to the gateway as each provider does --------------------------------------------

    def _begin(self, title: str) -> None:
        self.step += 1
        print(f"[{self.step}/{STEPS}] {title}", flush=True)

    async def _slack_event(self, payload: dict[str, Any], *, said: str) -> None:
        print(f"  Slack → gateway: {_short(said)}")
        raw = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            **self.slack_payloads.sign(raw, secret=SLACK_SECRET),
        }
        await self._post("/slack/events", raw, headers)

    async def _slack_form(self, raw: bytes) -> None:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            **self.slack_payloads.sign(raw, secret=SLACK_SECRET),
        }
        await self._post("/slack/events", raw, headers)

    async def _telegram_update(self, update: dict[str, Any], *, said: str | None = None) -> None:
        if said:
            print(f"  Telegram → gateway: {said}")
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
        }
        await self._post("/telegram/webhook", json.dumps(update).encode(), headers)

    async def _text(self, sender: str, said: str) -> None:
        print(f"  {sender} → {OUR_NUMBER} (SMS): {said}")
        params = self.twilio_mod.message_webhook(
            account_sid=self.twilio.account_sid, from_=sender, to=OUR_NUMBER, body=said
        )
        url = f"{self.base}/twilio/sms"
        signature = self.twilio_mod.twilio_signature(self.twilio.auth_token, url, params)
        async with self.http.post(
            url, data=params, headers={"X-Twilio-Signature": signature}
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"/twilio/sms answered {response.status}")
        await self._settled()

    async def _post(self, path: str, raw: bytes, headers: dict[str, str]) -> None:
        async with self.http.post(f"{self.base}{path}", data=raw, headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status}: {await response.text()}")
        await self._settled()

    # --- waiting and reporting -------------------------------------------------------------------

    async def _settled(self) -> None:
        """Every task finished and every reply in a final delivery state."""
        await self.settled(self.db, timeout=60)

    async def _wait(
        self,
        done: Callable[[], bool] | Callable[[], Awaitable[bool]],
        what: str,
        timeout: float = 30.0,  # noqa: ASYNC109 - a bounded wait
    ) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            result = done()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"waited {timeout:.0f} s for {what}")
            await asyncio.sleep(0.05)

    async def _briefing_fired(self) -> bool:
        async with self.db.session() as session:
            fired = await session.scalar(
                select(func.count()).select_from(TaskRow).where(TaskRow.kind == "briefing")
            )
        return bool(fired)

    async def _assist_numbers(self) -> list[int]:
        async with self.db.session() as session:
            return list(
                await session.scalars(
                    select(Assist.number).where(Assist.workspace_id == self.workspace_id)
                )
            )

    def _report_providers(self) -> None:
        """What each simulator received since the last step."""
        for message in self.seen.new("slack", self.slack.messages):
            header = next(
                (b["text"]["text"] for b in message.get("blocks", []) if b["type"] == "header"),
                None,
            )
            shown = _short(header or message["text"])
            print(f"  Slack received chat.postMessage in {message['channel']}: {shown}")
        for edit in self.seen.new("slack-updates", self.slack.args("chat.update")):
            blocks = edit.get("blocks")
            blocks = json.loads(blocks) if isinstance(blocks, str) else blocks or []
            first = next((b["text"]["text"] for b in blocks if b.get("text")), edit.get("text"))
            print(f"  Slack received chat.update of {edit['ts']}: {_short(first or '')}")
        for upload in self.seen.new("slack-files", list(self.slack.uploads.values())):
            data = upload.get("data") or b""
            print(
                f"  Slack received a file upload in {','.join(upload.get('channels') or [])}: "
                f"{upload['filename']} ({len(data):,} bytes, {_kind(data)}) "
                f"titled {upload.get('title')!r}"
            )
        for sent in self.seen.new("telegram", self.telegram.sent):
            buttons = [
                b["text"]
                for row in (sent.get("reply_markup") or {}).get("inline_keyboard", [])
                for b in row
            ]
            shown = f" [buttons: {', '.join(buttons)}]" if buttons else ""
            print(
                f"  Telegram received a message to chat {sent['chat']['id']}: "
                f"{_short(sent.get('text') or sent.get('caption') or '')}{shown}"
            )
        for edited in self.seen.new("telegram-edits", self.telegram.params("editMessageText")):
            print(f"  Telegram received editMessageText: {_short(edited.get('text', ''))}")
        for sms in self.seen.new("twilio", self.twilio.sent()):
            print(f"  Twilio received Messages.create to {sms['to']}: {_short(sms['body'])}")
        for mail in self.seen.new("sendgrid", self.sendgrid.mails()):
            to = mail["personalizations"][0]["to"][0]["email"]
            print(f"  SendGrid received mail/send to {to}: {_short(mail['subject'], 100)}")
        print(flush=True)


def _kind(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "PNG image"
    if data.startswith(b"%PDF"):
        return "PDF"
    return "file"


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run_demo(settings: Settings, *, keep: bool = False, port: int | None = None) -> int:
    """Play the demo; SETTINGS give only the host to listen on (and the port when asked)."""
    host = settings.switchboard_host
    try:
        demo = Demo(host=host, port=port or _free_port(host), keep=keep)
    except DemoUnavailable as exc:
        print(f"The demo cannot run here: {exc}.")
        return 1
    return await demo.run()
