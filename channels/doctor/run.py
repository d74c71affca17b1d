"""Run every check at once and gather the report."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping

from channels.doctor.ai import check_elevenlabs, fallback_keys, llm_checks
from channels.doctor.database import check_database, password_of
from channels.doctor.email import email_checks
from channels.doctor.messaging import check_slack, check_telegram, check_twilio
from channels.doctor.report import Check, Finding, Report, run_checks, warn
from channels.doctor.urls import base_url_findings, inbound_findings, webhook_guide
from config import Settings

DEFAULT_TIMEOUT = 10.0


async def diagnose(
    settings: Settings,
    *,
    seconds: float = DEFAULT_TIMEOUT,
    environ: Mapping[str, str] | None = None,
) -> Report:
    """Check the database and every configured provider, concurrently, SECONDS each at most."""
    env = os.environ if environ is None else environ
    checks = [
        Check("database", "DATABASE_URL", functools.partial(check_database, settings)),
        Check("slack", "SLACK_API_URL", functools.partial(check_slack, settings)),
        Check("telegram", "TELEGRAM_API_URL", functools.partial(check_telegram, settings)),
        Check("twilio", "TWILIO_API_URL", functools.partial(check_twilio, settings)),
    ]
    mail, mail_findings = email_checks(settings)
    llm, llm_findings = llm_checks(settings, env)
    checks += mail
    checks.append(
        Check("elevenlabs", "ELEVENLABS_API_URL", functools.partial(check_elevenlabs, settings))
    )
    checks += llm
    findings: list[Finding] = [warn("settings", text) for text in settings.config_warnings]
    findings += await run_checks(checks, seconds)
    findings += mail_findings + llm_findings
    findings += inbound_findings(settings) + base_url_findings(settings)
    secrets = [*settings.secret_values(), *fallback_keys(settings, env)]
    if (password := password_of(settings.database_url)) is not None:
        secrets.append(password)
    return Report(tuple(findings), tuple(webhook_guide(settings)), tuple(secrets))
