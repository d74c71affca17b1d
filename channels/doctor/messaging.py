"""Slack (`auth.test`), Telegram (`getMe`, `getWebhookInfo`) and Twilio (the account and its
numbers), each through the SDK client its channel uses, at its `*_API_URL`."""

from __future__ import annotations

import logging
import os

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from telegram import Bot
from telegram.error import InvalidToken, NetworkError, TelegramError
from twilio.base.exceptions import TwilioRestException

from channels.doctor.report import Finding, fail, host_of, off, ok, warn
from channels.telegram.adapter import WEBHOOK_PATH
from channels.twilio_common import rest_client
from config import Settings
from config.logging import sdk_logger

log = logging.getLogger(__name__)


async def check_slack(settings: Settings, seconds: float) -> list[Finding]:
    if settings.slack_bot_token is None:
        return [off("slack", "SLACK_BOT_TOKEN is not set")]
    api_url = str(settings.slack_api_url)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session:
        client = AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=api_url,
            session=session,
            retry_handlers=[],
            logger=sdk_logger(log, "slack"),
        )
        try:
            answer = await client.auth_test()
        except SlackApiError as exc:
            status, error = exc.response.status_code, exc.response.get("error")
            if status >= 500 or status == 429:  # Slack's trouble, not the token's
                return [fail("slack", f"SLACK_API_URL: Slack answered HTTP {status} ({error})")]
            return [fail("slack", f"SLACK_BOT_TOKEN: {error or f'HTTP {status}'}")]
        except aiohttp.ClientError as exc:
            return [
                fail("slack", f"SLACK_API_URL: cannot reach {host_of(api_url)}: {exc!r}"),
            ]
    findings = [
        ok(
            "slack",
            f"auth.test: bot @{answer.get('user')} ({answer.get('user_id')}) in workspace "
            f"{answer.get('team')} ({answer.get('team_id')})",
        )
    ]
    if settings.slack_signing_secret is None:
        findings.append(
            fail("slack", "SLACK_SIGNING_SECRET: not set; the Slack channel stays off without it")
        )
    return findings


async def check_telegram(settings: Settings, seconds: float) -> list[Finding]:
    if settings.telegram_bot_token is None:
        return [off("telegram", "TELEGRAM_BOT_TOKEN is not set")]
    # As the channel does: PTB 22 warns about int periods unless told to use timedeltas.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    api_url = str(settings.telegram_api_url).rstrip("/")
    bot = Bot(settings.telegram_bot_token.get_secret_value(), base_url=api_url)
    try:
        async with bot:  # initialize() is getMe
            info = await bot.get_webhook_info()
            username = bot.username
    except InvalidToken:
        # PTB's own message quotes the token: it goes no further.
        return [fail("telegram", "TELEGRAM_BOT_TOKEN: rejected by Telegram (getMe: Unauthorized)")]
    except NetworkError as exc:
        return [fail("telegram", f"TELEGRAM_API_URL: cannot reach {host_of(api_url)}: {exc}")]
    except TelegramError as exc:
        return [fail("telegram", f"TELEGRAM_BOT_TOKEN: {exc.message}")]
    findings = [ok("telegram", f"getMe: bot @{username}")]
    if settings.telegram_mode == "polling":
        findings.append(
            ok("telegram", "SWITCHBOARD_TELEGRAM_MODE=polling: updates are fetched, no webhook")
        )
        return findings
    if settings.telegram_webhook_secret is None:
        findings.append(
            fail(
                "telegram",
                f"TELEGRAM_WEBHOOK_SECRET: not set; every call to {WEBHOOK_PATH} is refused "
                "(or use SWITCHBOARD_TELEGRAM_MODE=polling)",
            )
        )
    if settings.public_base_url is None:
        findings.append(
            fail(
                "telegram",
                "PUBLIC_BASE_URL: not set; Telegram has nowhere to deliver updates (or use "
                "SWITCHBOARD_TELEGRAM_MODE=polling)",
            )
        )
        return findings
    expected = settings.base_url + WEBHOOK_PATH
    if not info.url:
        findings.append(
            warn("telegram", f"no webhook registered yet; the gateway sets {expected} at start")
        )
    elif info.url != expected:
        findings.append(
            warn(
                "telegram",
                f"webhook is {info.url}, not PUBLIC_BASE_URL{WEBHOOK_PATH} ({expected}); the "
                "gateway sets it again at start",
            )
        )
    else:
        findings.append(
            ok("telegram", f"webhook {info.url}, {info.pending_update_count} update(s) pending")
        )
    if info.last_error_message:
        when = f" at {info.last_error_date:%Y-%m-%d %H:%M} UTC" if info.last_error_date else ""
        findings.append(
            warn(
                "telegram",
                f"Telegram's last delivery to the webhook failed{when}: {info.last_error_message}",
            )
        )
    return findings


async def check_twilio(settings: Settings, seconds: float) -> list[Finding]:
    sid, token = settings.twilio_account_sid, settings.twilio_auth_token
    if sid is None or token is None:
        return [off("twilio", "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not both set")]
    api_url = str(settings.twilio_api_url)
    client = rest_client(sid, token.get_secret_value(), api_url, timeout=seconds)
    findings: list[Finding] = []
    try:
        account = await client.api.v2010.accounts(sid).fetch_async()
        if account.status != "active":
            findings.append(
                fail("twilio", f"TWILIO_ACCOUNT_SID: account {sid} is {account.status}")
            )
        else:
            findings.append(ok("twilio", f"account {sid} ({account.friendly_name}) is active"))
        senders = (
            ("TWILIO_SMS_FROM", settings.twilio_sms_from),
            ("TWILIO_WHATSAPP_FROM", settings.twilio_whatsapp_from),
        )
        for setting, value in senders:
            if value is None:
                continue
            number = value.removeprefix("whatsapp:")
            found = await client.incoming_phone_numbers.list_async(phone_number=number, limit=1)
            if found:
                findings.append(ok("twilio", f"{setting} {number} is one of the account's numbers"))
            elif setting == "TWILIO_WHATSAPP_FROM":
                # The WhatsApp Sandbox and senders registered elsewhere are not among them.
                findings.append(
                    warn(
                        "twilio",
                        f"{setting}: {number} is not one of the account's phone numbers (fine "
                        "for the WhatsApp Sandbox or a sender registered in WhatsApp Senders)",
                    )
                )
            else:
                findings.append(
                    fail("twilio", f"{setting}: {number} is not one of the account's numbers")
                )
    except TwilioRestException as exc:
        if exc.status in (401, 403):
            blamed = f"TWILIO_AUTH_TOKEN: rejected by Twilio for account {sid}"
        elif exc.status == 404:
            blamed = f"TWILIO_ACCOUNT_SID: Twilio knows no account {sid}"
        else:
            blamed = "TWILIO_API_URL: Twilio answered"
        return [fail("twilio", f"{blamed} (HTTP {exc.status}, error {exc.code}: {exc.msg})")]
    except (aiohttp.ClientError, OSError) as exc:
        return [fail("twilio", f"TWILIO_API_URL: cannot reach {host_of(api_url)}: {exc!r}")]
    finally:
        await client.http_client.close()
    if settings.public_base_url is None:
        findings.append(
            fail(
                "twilio",
                "PUBLIC_BASE_URL: not set; the SMS, WhatsApp and voice channels stay off "
                "without it (Twilio signs the public URL it calls)",
            )
        )
    return findings
