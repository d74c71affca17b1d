"""The webhook URLs to paste into each configured provider's console, from PUBLIC_BASE_URL."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from channels.doctor.report import Finding, warn
from channels.telegram.adapter import WEBHOOK_PATH
from config import Settings

SLACK_EVENTS = "/slack/events"
TWILIO_SMS = "/twilio/sms"
TWILIO_STATUS = "/twilio/status"
TWILIO_VOICE = "/twilio/voice"
SENDGRID_INBOUND = "/email/inbound"
POSTMARK_INBOUND = "/email/inbound/postmark"
ELEVENLABS_WEBHOOK = "/elevenlabs/webhook"
TELEGRAM_WEBHOOK = WEBHOOK_PATH

PASSWORD_PLACEHOLDER = "<EMAIL_INBOUND_PASSWORD>"


def base_url_findings(settings: Settings) -> list[Finding]:
    if settings.public_base_url is None:
        return [
            warn(
                "public url",
                "PUBLIC_BASE_URL: not set; providers cannot call this gateway, and links and "
                f"webhook URLs use {settings.base_url}",
            )
        ]
    if settings.public_base_url.scheme != "https":
        return [
            warn(
                "public url",
                f"PUBLIC_BASE_URL: {settings.base_url} is not https; Slack and Twilio expect "
                "https, and inbound email passwords would travel in clear",
            )
        ]
    return []


def _with_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    return (
        f"{parts.scheme}://{quote(user, safe='')}:{PASSWORD_PLACEHOLDER}@{parts.netloc}{parts.path}"
    )


def webhook_guide(settings: Settings) -> list[str]:
    """Lines to print: per configured provider, where in its console each URL goes."""
    base = settings.base_url
    lines: list[str] = []

    def section(title: str, entries: list[tuple[str, str]]) -> None:
        width = max(len(label) for label, _ in entries)
        lines.append(title)
        lines.extend(f"  {label:<{width}}  {value}" for label, value in entries)

    if settings.slack_bot_token is not None:
        url = base + SLACK_EVENTS
        section(
            "Slack (api.slack.com/apps, your app):",
            [
                ("Event Subscriptions, Request URL", url),
                ("Interactivity & Shortcuts, Request URL", url),
                ("Slash Commands, /operator, Request URL", url),
            ],
        )
    if settings.telegram_bot_token is not None:
        if settings.telegram_mode == "polling":
            entries = [("no webhook", "polling mode: the gateway fetches updates itself")]
        else:
            entries = [
                (
                    "webhook (nothing to paste)",
                    f"{base + TELEGRAM_WEBHOOK}: the gateway registers it itself when it "
                    "starts (setWebhook, with TELEGRAM_WEBHOOK_SECRET as its secret token)",
                )
            ]
        section("Telegram:", entries)
    if settings.twilio_account_sid is not None and settings.twilio_auth_token is not None:
        entries = [
            ("Phone number, Messaging, A message comes in (HTTP POST)", base + TWILIO_SMS),
            ("Phone number, Voice, A call comes in (HTTP POST)", base + TWILIO_VOICE),
        ]
        if settings.twilio_whatsapp_from is not None:
            entries.append(
                ("WhatsApp sender, Webhook URL for incoming messages", base + TWILIO_SMS)
            )
        entries.append(
            (
                "Status callbacks (nothing to paste)",
                f"{base + TWILIO_STATUS}: sent with every message",
            )
        )
        section("Twilio (Console, Phone Numbers, Active numbers; Messaging, Senders):", entries)
    user = settings.email_inbound_user
    if user is not None:
        section(
            "Inbound email (HTTP Basic auth: EMAIL_INBOUND_USER, and the password you set in "
            "EMAIL_INBOUND_PASSWORD):",
            [
                (
                    "SendGrid, Settings, Inbound Parse, Destination URL",
                    _with_user(base + SENDGRID_INBOUND, user),
                ),
                (
                    "Postmark, Server, Inbound stream, Settings, Webhook",
                    _with_user(base + POSTMARK_INBOUND, user),
                ),
            ],
        )
    if settings.elevenlabs_webhook_secret is not None or settings.elevenlabs_api_key is not None:
        url = base + ELEVENLABS_WEBHOOK
        if settings.elevenlabs_webhook_secret is None:
            url += " (set ELEVENLABS_WEBHOOK_SECRET to the webhook's secret first)"
        section(
            "ElevenLabs (Agents Platform, Settings, Post-call webhook; signed with "
            "ELEVENLABS_WEBHOOK_SECRET):",
            [("Webhook URL", url)],
        )
    if lines:
        lines.insert(0, f"Webhook URLs to paste into each provider's console ({base}):")
    return lines


def inbound_findings(settings: Settings) -> list[Finding]:
    """What keeps a configured inbound route refusing everything."""
    findings = []
    if settings.email_from is not None and settings.email_inbound_user is None:
        findings.append(
            warn(
                "email",
                "EMAIL_INBOUND_USER: not set; the inbound email routes refuse every post "
                "until it and EMAIL_INBOUND_PASSWORD are",
            )
        )
    elif settings.email_inbound_user is not None and settings.email_inbound_password is None:
        findings.append(
            warn("email", "EMAIL_INBOUND_PASSWORD: not set; the inbound email routes refuse all")
        )
    if settings.elevenlabs_api_key is not None and settings.elevenlabs_webhook_secret is None:
        findings.append(
            warn(
                "elevenlabs",
                "ELEVENLABS_WEBHOOK_SECRET: not set; the post-call webhook answers 404 until it is",
            )
        )
    return findings
