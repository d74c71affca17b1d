"""`doctor` against the provider simulators: all well, each rejected credential named, no
secret ever printed, the webhook URLs to paste."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from channels.doctor import Report, diagnose
from channels.doctor import urls as doctor_urls
from channels.registry import SPECS
from storage.db import Database
from tests.conftest import make_settings
from tests.process import ROOT
from tests.sims.base import Simulator
from tests.sims.brevo import BrevoSim
from tests.sims.elevenlabs import ElevenLabsSim
from tests.sims.openai import OpenAISim
from tests.sims.postmark import PostmarkSim
from tests.sims.resend import ResendSim
from tests.sims.sendgrid import SendGridSim
from tests.sims.slack import SlackSim
from tests.sims.telegram import TelegramSim
from tests.sims.twilio import TwilioSim

PUBLIC = "https://switchboard.example.com"
NUMBER = "+15550001111"
PROVIDERS = (
    "slack",
    "telegram",
    "twilio",
    "sendgrid",
    "postmark",
    "resend",
    "brevo",
    "elevenlabs",
    "llm primary",
    "llm fallback-1",
)


@dataclass
class Sims:
    slack: SlackSim
    telegram: TelegramSim
    twilio: TwilioSim
    sendgrid: SendGridSim
    postmark: PostmarkSim
    resend: ResendSim
    brevo: BrevoSim
    elevenlabs: ElevenLabsSim
    openai: OpenAISim


@pytest.fixture
async def sims(
    slack_sim: SlackSim,
    telegram_sim: TelegramSim,
    twilio_sim: TwilioSim,
    sendgrid_sim: SendGridSim,
    postmark_sim: Simulator,
    resend_sim: Simulator,
    brevo_sim: Simulator,
    elevenlabs_sim: ElevenLabsSim,
    openai_sim: OpenAISim,
) -> Sims:
    twilio_sim.phone_numbers = [NUMBER]
    telegram_sim.webhook = {"url": PUBLIC + "/telegram/webhook"}
    return Sims(
        slack_sim,
        telegram_sim,
        twilio_sim,
        sendgrid_sim,
        cast(PostmarkSim, postmark_sim),
        cast(ResendSim, resend_sim),
        cast(BrevoSim, brevo_sim),
        elevenlabs_sim,
        openai_sim,
    )


@pytest.fixture
async def migrated_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'switchboard.db'}"
    db = Database(url)
    try:
        await db.migrate()
    finally:
        await db.dispose()
    return url


def configuration(s: Sims, database_url: str) -> dict[str, str]:
    """Every provider configured, pointed at its simulator, with the credentials it accepts."""
    return {
        "DATABASE_URL": database_url,
        "PUBLIC_BASE_URL": PUBLIC,
        "SLACK_BOT_TOKEN": s.slack.token,
        "SLACK_SIGNING_SECRET": "slack-signing-secret-0001",
        "SLACK_API_URL": s.slack.api_url,
        "TELEGRAM_BOT_TOKEN": s.telegram.token,
        "TELEGRAM_WEBHOOK_SECRET": "telegram-webhook-secret-0001",
        "TELEGRAM_API_URL": s.telegram.base_url,
        "TWILIO_ACCOUNT_SID": s.twilio.account_sid,
        "TWILIO_AUTH_TOKEN": s.twilio.auth_token,
        "TWILIO_API_URL": s.twilio.url,
        "TWILIO_SMS_FROM": NUMBER,
        "TWILIO_WHATSAPP_FROM": f"whatsapp:{NUMBER}",
        "EMAIL_FROM": "support@example.com",
        "EMAIL_INBOUND_USER": "parse",
        "EMAIL_INBOUND_PASSWORD": "inbound-password-0001",
        "SENDGRID_API_KEY": s.sendgrid.api_key,
        "SENDGRID_API_URL": s.sendgrid.host,
        "POSTMARK_SERVER_TOKEN": s.postmark.server_token,
        "POSTMARK_API_URL": s.postmark.url,
        "RESEND_API_KEY": s.resend.api_key,
        "RESEND_API_URL": s.resend.url,
        "BREVO_API_KEY": s.brevo.api_key,
        "BREVO_API_URL": s.brevo.base_url,
        "ELEVENLABS_API_KEY": s.elevenlabs.api_key,
        "ELEVENLABS_API_URL": s.elevenlabs.base_url,
        "ELEVENLABS_VOICE_ID": s.elevenlabs.voice_id,
        "ELEVENLABS_WEBHOOK_SECRET": "elevenlabs-webhook-secret-0001",
        "OPENAI_API_KEY": s.openai.api_key,
        "OPENAI_BASE_URL": s.openai.base_url,
        "OPENAI_MODEL": "gpt-4o-mini",
        "LLM_FALLBACKS": f"{s.openai.base_url}|gpt-4o",
    }


SECRET_NAMES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "TWILIO_AUTH_TOKEN",
    "EMAIL_INBOUND_PASSWORD",
    "SENDGRID_API_KEY",
    "POSTMARK_SERVER_TOKEN",
    "RESEND_API_KEY",
    "BREVO_API_KEY",
    "ELEVENLABS_API_KEY",
    "ELEVENLABS_WEBHOOK_SECRET",
    "OPENAI_API_KEY",
)


def assert_no_secret(text: str, env: dict[str, str], *extra: str) -> None:
    for name in SECRET_NAMES:
        assert env[name] not in text, f"{name}'s value was printed"
    for value in extra:
        assert value not in text


async def run_doctor(env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """`main.py doctor` in a child process, logging at DEBUG (the SDKs' chattiest)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        "doctor",
        "--timeout",
        "30",
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "LOG_FORMAT": "text", "LOG_LEVEL": "debug", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(90):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def lines_of(text: str, name: str) -> list[str]:
    """The report lines about NAME, as `status detail`."""
    found = []
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0] in ("ok", "warn", "off", "fail"):
            rest = parts[1]
            if rest.startswith(name + " "):
                found.append(f"{parts[0]} {rest[len(name) :].strip()}")
    return found


async def test_all_configured_and_valid_passes(
    sims: Sims, migrated_url: str, tmp_path: Path
) -> None:
    env = configuration(sims, migrated_url)
    code, out, err = await run_doctor(env, tmp_path)

    assert code == 0, out + err
    assert lines_of(out, "database")[0].startswith("ok ")
    for provider in PROVIDERS:
        found = lines_of(out, provider)
        assert found, f"no line about {provider}:\n{out}"
        assert all(line.startswith("ok ") for line in found), found
    assert "fail" not in out.split()
    assert "Everything configured works." in out
    # One cheap authenticated call each, at the configured API URLs.
    assert sims.slack.calls("auth.test")
    assert sims.telegram.calls("/getMe") and sims.telegram.calls("/getWebhookInfo")
    assert sims.twilio.calls(f"/Accounts/{sims.twilio.account_sid}.json")
    assert len(sims.twilio.calls("/IncomingPhoneNumbers.json")) == 2
    assert sims.sendgrid.calls("/v3/scopes") and sims.postmark.calls("/server")
    assert sims.resend.calls("/domains") and sims.brevo.calls("/v3/account")
    assert sims.elevenlabs.calls(f"/v1/voices/{sims.elevenlabs.voice_id}")
    assert sims.openai.calls("/v1/models/gpt-4o-mini") and sims.openai.calls("/v1/models/gpt-4o")
    assert not sims.openai.chat_requests() and not sims.sendgrid.accepted

    # The URLs to paste, exactly; the inbound password is a placeholder.
    for url in (
        f"{PUBLIC}/slack/events",
        f"{PUBLIC}/telegram/webhook",
        f"{PUBLIC}/twilio/sms",
        f"{PUBLIC}/twilio/voice",
        f"{PUBLIC}/twilio/status",
        "https://parse:<EMAIL_INBOUND_PASSWORD>@switchboard.example.com/email/inbound",
        "https://parse:<EMAIL_INBOUND_PASSWORD>@switchboard.example.com/email/inbound/postmark",
        f"{PUBLIC}/elevenlabs/webhook",
    ):
        assert url in out
    assert "registers it itself when it starts" in out
    assert_no_secret(out + err, env)


async def test_a_rejected_token_fails_naming_it(
    sims: Sims, migrated_url: str, tmp_path: Path
) -> None:
    env = configuration(sims, migrated_url) | {"SLACK_BOT_TOKEN": "xoxb-9999-wrong-token"}
    code, out, err = await run_doctor(env, tmp_path)

    assert code == 1, out + err
    assert lines_of(out, "slack") == ["fail SLACK_BOT_TOKEN: invalid_auth"]
    assert lines_of(out, "telegram")[0].startswith("ok ")  # the others still checked
    assert "1 problem found" in out
    assert_no_secret(out + err, env)


async def doctor(env: dict[str, str], **overrides: Any) -> Report:
    values = {k: v for k, v in (env | overrides).items() if v is not None}
    settings = make_settings(values.pop("DATABASE_URL"), **values)
    return await diagnose(settings, seconds=10, environ={})


@pytest.mark.parametrize(
    ("setting", "value", "name", "expected"),
    [
        ("TELEGRAM_BOT_TOKEN", "111:wrongwrongwrong", "telegram", "TELEGRAM_BOT_TOKEN: rejected"),
        ("TWILIO_AUTH_TOKEN", "wrong-twilio-token-0000", "twilio", "TWILIO_AUTH_TOKEN: rejected"),
        ("SENDGRID_API_KEY", "SG.wrong.wrongwrong", "sendgrid", "SENDGRID_API_KEY: rejected"),
        ("POSTMARK_SERVER_TOKEN", "pm-wrong-0000", "postmark", "POSTMARK_SERVER_TOKEN: rejected"),
        ("RESEND_API_KEY", "re_wrong_0000", "resend", "RESEND_API_KEY: rejected"),
        ("BREVO_API_KEY", "xkeysib-wrong-0000", "brevo", "BREVO_API_KEY: rejected"),
        ("ELEVENLABS_API_KEY", "sk_wrong_0000", "elevenlabs", "ELEVENLABS_API_KEY: rejected"),
        ("ELEVENLABS_VOICE_ID", "NoSuchVoice0001", "elevenlabs", "ELEVENLABS_VOICE_ID: no voice"),
        # The fallback without a key of its own uses OPENAI_API_KEY too.
        (
            "OPENAI_API_KEY",
            "sk-wrong-0000",
            "llm primary,llm fallback-1",
            "OPENAI_API_KEY: rejected",
        ),
        ("OPENAI_MODEL", "gpt-9-imaginary", "llm primary", "OPENAI_MODEL: "),
        ("TWILIO_SMS_FROM", "+15559999999", "twilio", "TWILIO_SMS_FROM: +15559999999 is not"),
        ("EMAIL_FROM", None, "email", "EMAIL_FROM: not set"),
        ("SLACK_SIGNING_SECRET", None, "slack", "SLACK_SIGNING_SECRET: not set"),
        ("TELEGRAM_WEBHOOK_SECRET", None, "telegram", "TELEGRAM_WEBHOOK_SECRET: not set"),
    ],
)
async def test_each_wrong_setting_is_named(
    sims: Sims, migrated_url: str, setting: str, value: str | None, name: str, expected: str
) -> None:
    env = configuration(sims, migrated_url)
    report = await doctor(env, **{setting: value})
    text = report.render()

    assert not report.healthy
    failed = [f for f in report.findings if f.status == "fail"]
    expect = [(one, True) for one in name.split(",")]
    assert [(f.name, f.detail.startswith(expected)) for f in failed] == expect, text
    assert_no_secret(text, env, *([value] if value and setting.endswith(("KEY", "TOKEN")) else []))


async def test_a_fallback_key_read_from_another_variable_is_named_and_hidden(
    sims: Sims, migrated_url: str
) -> None:
    env = configuration(sims, migrated_url)
    settings = make_settings(
        migrated_url,
        **{k: v for k, v in env.items() if k != "DATABASE_URL"}
        | {"LLM_FALLBACKS": f"{sims.openai.base_url}|gpt-4o|BACKUP_LLM_KEY"},
    )
    report = await diagnose(settings, seconds=10, environ={"BACKUP_LLM_KEY": "sk-backup-wrong-1"})

    failed = [f for f in report.findings if f.status == "fail"]
    assert [(f.name, f.detail.split(":")[0]) for f in failed] == [
        ("llm fallback-1", "BACKUP_LLM_KEY")
    ]
    assert "sk-backup-wrong-1" not in report.render()


async def test_telegram_webhook_elsewhere_or_failing_is_a_warning(
    sims: Sims, migrated_url: str
) -> None:
    sims.telegram.webhook = {"url": "https://old.example.net/hook"}
    sims.telegram.webhook_error = "Wrong response from the webhook: 502 Bad Gateway"
    report = await doctor(configuration(sims, migrated_url))

    assert report.healthy
    warnings = [f.detail for f in report.findings if f.name == "telegram" and f.status == "warn"]
    assert any("https://old.example.net/hook" in w and PUBLIC in w for w in warnings), warnings
    assert any("502 Bad Gateway" in w for w in warnings), warnings


async def test_sandbox_and_sending_only_keys(sims: Sims, migrated_url: str) -> None:
    sims.postmark.delivery_type = "Sandbox"
    sims.resend.sending_only = True
    report = await doctor(configuration(sims, migrated_url))

    assert report.healthy
    by_name = {(f.name, f.status): f.detail for f in report.findings}
    assert "Sandbox" in by_name[("postmark", "warn")]
    assert by_name[("resend", "ok")] == "sending-only key accepted"


async def test_a_stalled_provider_fails_within_the_timeout_naming_its_url(
    sims: Sims, migrated_url: str
) -> None:
    env = configuration(sims, migrated_url)
    settings = make_settings(migrated_url, **{k: v for k, v in env.items() if k != "DATABASE_URL"})
    assert (await diagnose(settings, seconds=20, environ={})).healthy  # every SDK loaded
    sims.slack.stall(times=None, path="auth.test")
    report = await diagnose(settings, seconds=5, environ={})

    failed = [f for f in report.findings if f.status == "fail"]
    assert [(f.name, f.detail) for f in failed] == [
        ("slack", "SLACK_API_URL: no answer within 5 s")
    ]


async def test_a_provider_in_trouble_blames_its_url_not_the_token(
    sims: Sims, migrated_url: str
) -> None:
    sims.slack.fail(503, times=None, path="auth.test")
    report = await doctor(configuration(sims, migrated_url))

    failed = [(f.name, f.detail) for f in report.findings if f.status == "fail"]
    assert failed == [("slack", "SLACK_API_URL: Slack answered HTTP 503 (service_unavailable)")]


@pytest.mark.parametrize(
    ("sim", "path", "name", "setting"),
    [
        ("sendgrid", "/v3/scopes", "sendgrid", "SENDGRID_API_URL"),
        ("postmark", "/server", "postmark", "POSTMARK_API_URL"),
        ("resend", "/domains", "resend", "RESEND_API_URL"),
        ("brevo", "/v3/account", "brevo", "BREVO_API_URL"),
        ("elevenlabs", "/v1/voices/21m00Tcm4TlvDq8ikWAM", "elevenlabs", "ELEVENLABS_API_URL"),
        ("openai", "/v1/models/gpt-4o-mini", "llm primary", "OPENAI_BASE_URL"),
        ("twilio", ".json", "twilio", "TWILIO_API_URL"),
    ],
)
async def test_a_server_error_blames_the_provider_url(
    sims: Sims, migrated_url: str, sim: str, path: str, name: str, setting: str
) -> None:
    cast(Simulator, getattr(sims, sim)).fail(503, times=None, path=path)
    report = await doctor(configuration(sims, migrated_url))

    failed = [(f.name, f.detail.split(":")[0]) for f in report.findings if f.status == "fail"]
    assert failed == [(name, setting)], report.render()


async def test_nothing_configured_is_off_not_failing(sqlite_url: str, tmp_path: Path) -> None:
    db = Database(sqlite_url)
    await db.migrate()
    await db.dispose()
    report = await diagnose(make_settings(sqlite_url), seconds=5, environ={})

    assert report.healthy
    statuses = {f.name: f.status for f in report.findings}
    for name in ("slack", "telegram", "twilio", "email", "elevenlabs", "llm"):
        assert statuses[name] == "off", report.render()
    assert statuses["database"] == "ok"
    assert statuses["public url"] == "warn"
    assert not report.guide


async def test_http_public_url_is_warned_about(sims: Sims, migrated_url: str) -> None:
    report = await doctor(
        configuration(sims, migrated_url), PUBLIC_BASE_URL="http://gw.example.com"
    )

    assert report.healthy
    assert any(
        f.name == "public url" and f.detail.startswith("PUBLIC_BASE_URL: http://gw.example.com")
        for f in report.findings
    )


async def test_pending_migrations_then_at_head(empty_database_url: str) -> None:
    if empty_database_url.startswith("sqlite"):
        path = Path(empty_database_url.split("///", 1)[1])
        await asyncio.to_thread(path.touch)  # an empty database: every migration pending
    waits = await diagnose(make_settings(empty_database_url), seconds=10, environ={})
    manual = make_settings(empty_database_url, SWITCHBOARD_AUTO_MIGRATE=False)
    refuses = await diagnose(manual, seconds=10, environ={})
    db = Database(empty_database_url)
    try:
        await db.migrate()
    finally:
        await db.dispose()
    after = await diagnose(manual, seconds=10, environ={})

    assert waits.healthy and waits.findings[0].status == "warn"
    assert "`serve` applies them" in waits.findings[0].detail
    assert not refuses.healthy
    assert refuses.findings[0].detail.startswith("DATABASE_URL: ")
    assert "run `python main.py migrate`" in refuses.findings[0].detail
    assert after.healthy
    assert after.findings[0].status == "ok"
    assert after.findings[0].detail.endswith("reachable, migrations at head")


async def test_unreachable_database_names_it_without_its_password() -> None:
    url = "postgresql+asyncpg://switchboard:db-password-0001@127.0.0.1:9/switchboard"
    report = await diagnose(make_settings(url), seconds=5, environ={})

    database = report.findings[0]
    assert (database.name, database.status) == ("database", "fail")
    assert database.detail.startswith("DATABASE_URL: ")
    assert "db-password-0001" not in report.render()


def test_every_pasted_url_is_a_route_the_gateway_serves() -> None:
    served = {route.path for spec in SPECS for route in spec.routes}
    paths = [
        value
        for name, value in vars(doctor_urls).items()
        if name.isupper() and isinstance(value, str) and value.startswith("/")
    ]
    assert len(set(paths)) == 8
    assert set(paths) <= served
