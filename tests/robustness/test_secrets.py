"""Secrets never in logs, nor in what users are shown: a real `main.py serve` process with
every secret set to a distinctive value and DEBUG logging, driven through every channel with
failures on the way (providers answering 500, wrong signatures, the LLM down, then its
fallback), and everything it wrote to stderr and every message it sent searched for each
secret and its obvious encodings."""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus, urlencode

import aiohttp
import pytest
from pydantic import SecretStr

from api.state import GATEWAY
from cli.seed import seed_workspace
from config import Settings
from config.logging import RedactSecrets
from core.team import directory
from storage.db import Database
from storage.types import utcnow
from tests.api import ClientFactory
from tests.channels.email_payloads import inbound_parse, simple_email
from tests.channels.slack_payloads import mention
from tests.helpers import settled
from tests.process import GatewayProcess
from tests.robustness.webhooks import (
    INBOX,
    OUR_NUMBER,
    PUBLIC_BASE_URL,
    basic,
    elevenlabs_sign,
    slack_sign,
    twilio_signature,
)
from tests.sims.elevenlabs import DEFAULT_VOICE_ID, ElevenLabsSim, post_call_transcription
from tests.sims.openai import OpenAISim
from tests.sims.sendgrid import SendGridSim
from tests.sims.slack_socket import SlackSocketSim
from tests.sims.telegram import TelegramSim
from tests.sims.twilio import TwilioSim, call_webhook, message_webhook

# One distinctive value per secret, none a substring of another.
SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-9917-4402-SLACKBOTsecretQ7w",
    "SLACK_SIGNING_SECRET": "slacksigningSECRETz8Kp2",
    "SLACK_APP_TOKEN": "xapp-1-A0SIMAPP1-1-slackAPPsecretK8u",
    "TELEGRAM_BOT_TOKEN": "7351902468:AAtelegramBOTsecretR4vN",
    "TELEGRAM_WEBHOOK_SECRET": "telegramWEBHOOKsecretM3x",
    "TWILIO_AUTH_TOKEN": "twilioAUTHsecret5Hq9",
    "SENDGRID_API_KEY": "SG.sendgridKEY.secretB6tY",
    "POSTMARK_SERVER_TOKEN": "postmarkSERVERsecretJ2d",
    "RESEND_API_KEY": "re_resendKEYsecretW8c",
    "BREVO_API_KEY": "xkeysib-brevoKEYsecretF5n",
    "SMTP_PASSWORD": "smtpPASSWORDsecretL1g",
    "IMAP_PASSWORD": "imapPASSWORDsecretD5z",
    "EMAIL_INBOUND_PASSWORD": "inboundPASSWORDsecretV0k",
    "ELEVENLABS_API_KEY": "sk_elevenlabsKEYsecretC9s",
    "ELEVENLABS_WEBHOOK_SECRET": "wsec_elevenlabsHOOKsecretU4e",
    "OPENAI_API_KEY": "sk-openaiKEYsecretT7b",
    "SWITCHBOARD_SECRET_KEY": "switchboardSECRETkeyH6r",
    "SWITCHBOARD_SECRET_KEY_PREVIOUS": "switchboardOLDkeyN2w",
}
FALLBACK_KEY_ENV = "SWITCHBOARD_FALLBACK_LLM_KEY"
FALLBACK_KEY = "sk-fallbackLLMsecretP3j"
ACCOUNT_SID = "AC" + "7" * 32
INBOUND_USER = "parse"
OLIVIA = {"phone": "+15550100001", "slack": "U0DEMO001", "email": "olivia@demo.example"}
ADAM_TELEGRAM = 100200300
MARIA_PHONE = "+15550100003"


def encodings(value: str) -> set[str]:
    """VALUE as it could show up in a log line or a message."""
    forms = {
        value,
        quote(value, safe=""),
        quote_plus(value),
        base64.b64encode(value.encode()).decode().rstrip("="),
        base64.urlsafe_b64encode(value.encode()).decode().rstrip("="),
        json.dumps(value)[1:-1],
        value.encode().hex(),
    }
    if ":" in value:  # the Telegram token: its secret half alone
        forms.add(value.split(":", 1)[1])
    return forms


def every_secret(api_key: str) -> dict[str, set[str]]:
    secrets = {**SECRETS, FALLBACK_KEY_ENV: FALLBACK_KEY, "API key": api_key}
    found = {name: encodings(value) for name, value in secrets.items()}
    # HTTP Basic as sent: Twilio's REST credentials, the Inbound Parse credentials.
    for name, user, password in (
        ("TWILIO_AUTH_TOKEN", ACCOUNT_SID, SECRETS["TWILIO_AUTH_TOKEN"]),
        ("EMAIL_INBOUND_PASSWORD", INBOUND_USER, SECRETS["EMAIL_INBOUND_PASSWORD"]),
        ("SMTP_PASSWORD", "smtp-user", SECRETS["SMTP_PASSWORD"]),
    ):
        found[name].add(basic(user, password).split(" ", 1)[1].rstrip("="))
    return found


def leaks(text: str, secrets: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{name} as {form!r}" for name, forms in secrets.items() for form in forms if form in text
    )


def test_every_secret_setting_is_covered() -> None:
    declared = {
        str(field.alias)
        for field in Settings.model_fields.values()
        if SecretStr in getattr(field.annotation, "__args__", (field.annotation,))
    }
    assert declared == set(SECRETS)


async def _seed(database_url: str) -> str:
    db = Database(database_url)
    await db.migrate()
    try:
        async with db.session() as session:
            seeded = await seed_workspace(session, now=utcnow())
            key = await directory.create_api_key(session, seeded.workspace_id, name="secrets")
    finally:
        await db.dispose()
    return key.secret


async def _settled(database_url: str) -> None:
    db = Database(database_url)
    try:
        await settled(db, timeout=45, interval=0.1)
    finally:
        await db.dispose()


class Traffic:
    """Requests to the gateway process, signed as each provider signs (or not)."""

    def __init__(self, http: aiohttp.ClientSession, url: str, api_key: str) -> None:
        self.http = http
        self.url = url
        self.api_key = api_key
        self.answers: list[str] = []  # every response body, shown to whoever called

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        async with self.http.post(self.url + path, data=body, headers=headers) as response:
            self.answers.append(await response.text(errors="replace"))
            return response.status

    async def slack(self, text: str, *, secret: str = SECRETS["SLACK_SIGNING_SECRET"]) -> int:
        body = json.dumps(mention(text, user=OLIVIA["slack"])).encode()
        headers = {"Content-Type": "application/json"}
        return await self.post(
            "/slack/events",
            body,
            headers | slack_sign(body, secret=secret, timestamp=int(time.time())),
        )

    async def telegram(self, sim: TelegramSim, text: str, *, secret: str) -> int:
        body = json.dumps(sim.message_update(ADAM_TELEGRAM, text)).encode()
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}
        return await self.post("/telegram/webhook", body, headers)

    async def twilio(self, path: str, params: dict[str, str], *, token: str) -> int:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(token, PUBLIC_BASE_URL + path, _form(params)),
        }
        return await self.post(path, _form(params), headers)

    async def email(self, sender: str, text: str, *, password: str) -> int:
        raw = simple_email(
            sender=sender,
            to=INBOX,
            subject="Where is my order?",
            text=text,
            message_id=f"<{time.time_ns()}@mail.example>",
        )
        post = inbound_parse(raw, envelope_to=[INBOX])
        headers = {
            "Content-Type": post.content_type,
            "Authorization": basic(INBOUND_USER, password),
        }
        return await self.post("/email/inbound", io.BytesIO(post.body).read(), headers)

    async def elevenlabs(self, *, secret: str) -> int:
        payload = post_call_transcription(
            caller=OLIVIA["phone"], called=OUR_NUMBER, turns=[("user", "how are we doing")]
        )
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "ElevenLabs-Signature": elevenlabs_sign(body, secret, int(time.time())),
        }
        return await self.post("/elevenlabs/webhook", body, headers)

    async def web(self, text: str, *, key: str) -> int:
        body = json.dumps({"member": OLIVIA["email"], "text": text}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        return await self.post("/api/v1/messages", body, headers)

    async def web_replies(self) -> list[str]:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        async with self.http.get(self.url + "/api/v1/tasks?limit=500", headers=headers) as r:
            tasks = (await r.json())["items"]
        texts = []
        for task in tasks:
            async with self.http.get(f"{self.url}/api/v1/tasks/{task['id']}", headers=headers) as r:
                texts.append(await r.text())
        return texts


def _form(params: dict[str, str]) -> bytes:
    return urlencode(params).encode()


@dataclass
class Providers:
    """Every provider's simulator, holding the distinctive credentials."""

    slack: SlackSocketSim
    telegram: TelegramSim
    twilio: TwilioSim
    sendgrid: SendGridSim
    eleven: ElevenLabsSim
    openai: OpenAISim
    fallback: OpenAISim

    def gateway_env(self, database_url: str) -> dict[str, str]:
        return {
            **SECRETS,
            FALLBACK_KEY_ENV: FALLBACK_KEY,
            "DATABASE_URL": database_url,
            "SWITCHBOARD_AUTO_MIGRATE": "true",
            "SWITCHBOARD_SCHEDULER": "false",
            "LOG_LEVEL": "DEBUG",
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "SLACK_API_URL": self.slack.api_url,
            "TELEGRAM_API_URL": self.telegram.base_url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_API_URL": self.twilio.url,
            "TWILIO_SMS_FROM": OUR_NUMBER,
            "SENDGRID_API_URL": self.sendgrid.url,
            "EMAIL_FROM": "Demo Co Support <support@demo.example>",
            "EMAIL_INBOUND_DOMAIN": "in.demo.example",
            "EMAIL_INBOUND_USER": INBOUND_USER,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_USER": "smtp-user",
            "ELEVENLABS_API_URL": self.eleven.base_url,
            "ELEVENLABS_VOICE_ID": DEFAULT_VOICE_ID,
            "OPENAI_BASE_URL": self.openai.base_url,
            "LLM_FALLBACKS": f"{self.fallback.base_url}|gpt-4o-mini|{FALLBACK_KEY_ENV}",
            "SWITCHBOARD_VOICE_BUDGET": "3",
            "SWITCHBOARD_OUTBOX_BACKOFF_BASE": "0.05",
            "SWITCHBOARD_OUTBOX_BACKOFF_MAX": "0.2",
        }

    def shown(self) -> list[str]:
        """What reached the providers to be shown to people (not setWebhook: the secret it
        carries is for Telegram itself)."""
        return [
            r.text
            for sim in (self.slack, self.telegram, self.twilio, self.sendgrid)
            for r in sim.requests
            if not r.path.endswith("/setWebhook")
        ]


@asynccontextmanager
async def providers() -> AsyncIterator[Providers]:
    async with (
        # Socket Mode on too: the app-level token is used (apps.connections.open) and kept.
        SlackSocketSim(
            token=SECRETS["SLACK_BOT_TOKEN"], app_token=SECRETS["SLACK_APP_TOKEN"]
        ) as slack,
        TelegramSim(token=SECRETS["TELEGRAM_BOT_TOKEN"]) as telegram,
        TwilioSim(account_sid=ACCOUNT_SID, auth_token=SECRETS["TWILIO_AUTH_TOKEN"]) as twilio,
        SendGridSim(api_key=SECRETS["SENDGRID_API_KEY"]) as sendgrid,
        ElevenLabsSim(api_key=SECRETS["ELEVENLABS_API_KEY"]) as eleven,
        OpenAISim(api_key=SECRETS["OPENAI_API_KEY"]) as openai,
        OpenAISim(api_key=FALLBACK_KEY) as fallback,
    ):
        yield Providers(slack, telegram, twilio, sendgrid, eleven, openai, fallback)


WRONG = "not-the-right-secret-000"
# What each request below is answered: accepted, or refused for its wrong secret.
EXPECTED = [202, 401, 200, 401, 200, 401, 200, 403, 200, 200, 200, 401, 200, 401]


async def drive(url: str, api_key: str, sims: Providers, database_url: str) -> list[str]:
    """Traffic on every channel, every provider failing once on the way and the LLM's first
    endpoint down; returns everything shown to whoever called, once all is delivered."""
    for sim in (sims.slack, sims.telegram, sims.twilio, sims.sendgrid, sims.eleven):
        sim.fail(500, times=1)
    sims.openai.fail(500, times=None)
    sims.fallback.reply_tool_calls([("help", {})])
    token = SECRETS["TWILIO_AUTH_TOKEN"]
    call = {"account_sid": ACCOUNT_SID, "call_sid": "CA" + "1" * 32, "to": OUR_NUMBER}
    text = {"account_sid": ACCOUNT_SID, "from_": MARIA_PHONE, "to": OUR_NUMBER, "body": "help"}
    async with aiohttp.ClientSession() as http:
        traffic = Traffic(http, url, api_key)
        statuses = [
            await traffic.web("help", key=api_key),
            await traffic.web("help", key=WRONG),
            await traffic.slack("how is our resolution rate this week?"),
            await traffic.slack("help", secret=WRONG),
            await traffic.telegram(
                sims.telegram, "list assists", secret=SECRETS["TELEGRAM_WEBHOOK_SECRET"]
            ),
            await traffic.telegram(sims.telegram, "help", secret=WRONG),
            await traffic.twilio("/twilio/sms", message_webhook(**text), token=token),
            await traffic.twilio("/twilio/sms", message_webhook(**text), token=WRONG),
            await traffic.twilio(
                "/twilio/voice", call_webhook(**call, from_=OLIVIA["phone"]), token=token
            ),
            await traffic.twilio(
                "/twilio/voice/gather",
                call_webhook(**call, from_=OLIVIA["phone"], speech="list my schedules"),
                token=token,
            ),
            await traffic.email(
                "Jane Roe <jane.roe@mail.example>",
                "My order never came, I want to talk to a person.",
                password=SECRETS["EMAIL_INBOUND_PASSWORD"],
            ),
            await traffic.email("jane.roe@mail.example", "hello", password=WRONG),
            await traffic.elevenlabs(secret=SECRETS["ELEVENLABS_WEBHOOK_SECRET"]),
            await traffic.elevenlabs(secret=WRONG),
        ]
        await _settled(database_url)
        web_replies = await traffic.web_replies()
    assert statuses == EXPECTED, str(statuses)
    assert sims.fallback.chat_requests(), "the LLM fallback was never asked"
    return [*traffic.answers, *web_replies, *sims.shown()]


async def test_a_gateway_process_logs_no_secret_and_shows_none(
    database_url: str, tmp_path: Path
) -> None:
    api_key = await _seed(database_url)
    async with providers() as sims:
        node = await GatewayProcess(sims.gateway_env(database_url), tmp_path).start(timeout=60)
        try:
            shown = await drive(node.url, api_key, sims, database_url)
            assert sims.slack.connections_opened >= 1  # Socket Mode used SLACK_APP_TOKEN
        finally:
            await node.stop()

    secrets = every_secret(api_key)
    assert '"level": "DEBUG"' in node.text
    assert leaks(node.text, secrets) == [], "secrets in the gateway's log"
    assert leaks("\n".join(shown), secrets) == [], "secrets in what people were shown"


async def test_no_logger_records_a_secret_the_redaction_cannot_catch(
    make_client: ClientFactory,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every logger at DEBUG, also those the gateway quiets (HTTP clients, access log, SQL):
    after the gateway's own redaction (exact configured values) no record holds a secret, in
    any encoding; and a secret the redaction does not know (an API key, the fallback LLM's
    key) is never logged at all."""
    api_key = await _seed(database_url)
    monkeypatch.setenv(FALLBACK_KEY_ENV, FALLBACK_KEY)
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "aiohttp.access", "sqlalchemy.engine", "openai"):
        caplog.set_level(logging.DEBUG, logger=name)
    async with providers() as sims:
        env = sims.gateway_env(database_url)
        del env[FALLBACK_KEY_ENV]
        client = await make_client(**env)
        settings = client.server.app[GATEWAY].settings
        shown = await drive(str(client.make_url("")).rstrip("/"), api_key, sims, database_url)
        await client.close()

    redact = RedactSecrets(settings.secret_values())
    unknown = {k: v for k, v in every_secret(api_key).items() if k in (FALLBACK_KEY_ENV, "API key")}
    redacted, raw = [], []
    for record in caplog.records:
        raw.append(record.getMessage() + (record.exc_text or ""))
        copy = logging.makeLogRecord(record.__dict__)
        redact.filter(copy)
        redacted.append(copy.getMessage() + (copy.exc_text or ""))
    assert len(redacted) > 200
    assert leaks("\n".join(redacted), every_secret(api_key)) == []
    assert leaks("\n".join(raw), unknown) == []
    assert leaks("\n".join(shown), every_secret(api_key)) == []
