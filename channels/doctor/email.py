"""The email providers whose keys are set: SendGrid (`GET /v3/scopes`), Postmark
(`GET /server`), Resend (`GET /domains`) and Brevo (`GET /account`), each at its `*_API_URL`."""

from __future__ import annotations

import asyncio
import functools
import urllib.error
from urllib.parse import urlsplit

import aiohttp
import httpx
import postmark
from brevo import AsyncBrevo
from brevo.core.api_error import ApiError as BrevoApiError
from postmark.exceptions import InvalidAPIKeyException, PostmarkAPIException, PostmarkException
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from channels.doctor.report import Check, Finding, fail, host_of, off, ok, refused, warn
from config import Settings

INBOUND_PATHS = {"sendgrid": "/email/inbound", "postmark": "/email/inbound/postmark"}


async def check_sendgrid(settings: Settings, seconds: float) -> list[Finding]:
    assert settings.sendgrid_api_key is not None
    api_url = str(settings.sendgrid_api_url).rstrip("/")
    client = SendGridAPIClient(settings.sendgrid_api_key.get_secret_value(), host=api_url)
    client.client.timeout = seconds
    try:
        # The SDK is synchronous (urllib): its one call runs in a worker thread.
        response = await asyncio.to_thread(client.client.scopes.get)
    except HTTPError as exc:
        detail = _sendgrid_detail(exc)
        status = int(exc.status_code)
        return [fail("sendgrid", refused(status, "SENDGRID_API_KEY", "SENDGRID_API_URL", detail))]
    except (urllib.error.URLError, OSError) as exc:
        return [fail("sendgrid", f"SENDGRID_API_URL: cannot reach {host_of(api_url)}: {exc!r}")]
    scopes = response.to_dict.get("scopes", [])
    if "mail.send" not in scopes:
        return [fail("sendgrid", "SENDGRID_API_KEY: the key lacks the Mail Send permission")]
    return [ok("sendgrid", f"key accepted, with Mail Send ({len(scopes)} scopes)")]


def _sendgrid_detail(exc: HTTPError) -> str:
    try:
        messages = [str(e.get("message")) for e in exc.to_dict.get("errors", [])]
    except (ValueError, AttributeError, TypeError):
        return "no detail"
    return "; ".join(messages) or "no detail"


async def check_postmark(settings: Settings, seconds: float) -> list[Finding]:
    assert settings.postmark_server_token is not None
    api_url = str(settings.postmark_api_url).rstrip("/")
    client = postmark.ServerClient(
        settings.postmark_server_token.get_secret_value(),
        retries=0,
        timeout=seconds,
        base_url=api_url,
    )
    try:
        server = await client.server.get()
    except InvalidAPIKeyException as exc:
        return [fail("postmark", f"POSTMARK_SERVER_TOKEN: rejected by Postmark ({exc.message})")]
    except PostmarkAPIException as exc:
        status = exc.http_status or 502
        blamed = refused(status, "POSTMARK_SERVER_TOKEN", "POSTMARK_API_URL", exc.message)
        return [fail("postmark", blamed)]
    except PostmarkException as exc:
        return [fail("postmark", f"POSTMARK_API_URL: cannot reach {host_of(api_url)}: {exc}")]
    finally:
        await client.close()
    findings = [ok("postmark", f"server token accepted (server {server.name!r})")]
    if str(server.delivery_type.value) != "Live":
        findings.append(
            warn("postmark", f"server {server.name!r} is a Sandbox server: nothing is delivered")
        )
    if server.inbound_hook_url and settings.public_base_url is not None:
        hook = urlsplit(server.inbound_hook_url)  # its user:password are never shown
        expected = settings.base_url + INBOUND_PATHS["postmark"]
        shown = f"{hook.scheme}://{hook.hostname}{f':{hook.port}' if hook.port else ''}{hook.path}"
        if shown != expected:
            findings.append(
                warn("postmark", f"the inbound webhook goes to {shown}, not {expected}")
            )
    return findings


async def check_resend(settings: Settings, seconds: float) -> list[Finding]:
    """One GET /domains with plain aiohttp, as the Resend provider sends (its SDK keeps its key
    in module globals). A sending-only key may not list domains: Resend's 401
    `restricted_api_key` proves the key is real."""
    assert settings.resend_api_key is not None
    api_url = str(settings.resend_api_url).rstrip("/")
    headers = {
        "Authorization": f"Bearer {settings.resend_api_key.get_secret_value()}",
        "User-Agent": "switchboard",
    }
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session,
            session.get(api_url + "/domains", headers=headers) as response,
        ):
            status = response.status
            try:
                data = await response.json(content_type=None)
            except ValueError:
                data = None
    except aiohttp.ClientError as exc:
        return [fail("resend", f"RESEND_API_URL: cannot reach {host_of(api_url)}: {exc!r}")]
    body = data if isinstance(data, dict) else {}
    if status == 401 and body.get("name") == "restricted_api_key":
        return [ok("resend", "sending-only key accepted")]
    if status >= 400:
        detail = f"{body.get('name')}, {body.get('message')}" if body else "no detail"
        return [fail("resend", refused(status, "RESEND_API_KEY", "RESEND_API_URL", detail))]
    domains = {d.get("name"): d.get("status") for d in body.get("data", []) if isinstance(d, dict)}
    findings = [ok("resend", f"full-access key accepted; domains: {', '.join(map(str, domains))}")]
    sender_domain = (settings.email_from or "").rpartition("@")[2].rstrip(">").lower()
    if sender_domain and domains.get(sender_domain) != "verified":
        findings.append(
            warn("resend", f"EMAIL_FROM: {sender_domain} is not a verified domain in Resend")
        )
    return findings


async def check_brevo(settings: Settings, seconds: float) -> list[Finding]:
    assert settings.brevo_api_key is not None
    api_url = str(settings.brevo_api_url).rstrip("/")
    async with httpx.AsyncClient(timeout=seconds) as http:
        client = AsyncBrevo(
            api_key=settings.brevo_api_key.get_secret_value(),
            base_url=api_url,
            max_retries=0,
            httpx_client=http,
        )
        try:
            account = await client.account.get_account()
        except BrevoApiError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            detail = body.get("message") or body.get("code") or "no detail"
            status = exc.status_code or 502
            return [fail("brevo", refused(status, "BREVO_API_KEY", "BREVO_API_URL", detail))]
        except httpx.HTTPError as exc:
            return [fail("brevo", f"BREVO_API_URL: cannot reach {host_of(api_url)}: {exc!r}")]
    return [ok("brevo", f"key accepted (account {account.email}, {account.company_name})")]


CHECKS = {
    "sendgrid": (check_sendgrid, "SENDGRID_API_URL"),
    "postmark": (check_postmark, "POSTMARK_API_URL"),
    "resend": (check_resend, "RESEND_API_URL"),
    "brevo": (check_brevo, "BREVO_API_URL"),
}


def email_checks(settings: Settings) -> tuple[list[Check], list[Finding]]:
    """A check per configured provider (SMTP has none here: it is not an HTTP API), and
    what is off or missing."""
    configured = settings.email_providers_configured
    checks = [
        Check(name, url_setting, functools.partial(check, settings))
        for name, (check, url_setting) in CHECKS.items()
        if name in configured
    ]
    findings: list[Finding] = []
    if "smtp" in configured:
        findings.append(warn("smtp", f"SMTP_HOST {settings.smtp_host}: not checked (no HTTP API)"))
    if not configured:
        findings.append(off("email", "no email provider's key is set"))
    elif settings.email_from is None:
        findings.append(
            fail("email", "EMAIL_FROM: not set; the email channel stays off without it")
        )
    return checks, findings
