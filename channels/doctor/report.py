"""What a check found, the report it goes into, and running checks side by side, each under
its own deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

Status = Literal["ok", "warn", "off", "fail"]
REDACTED = "[redacted]"


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of the report. A `fail` detail starts with the setting at fault."""

    name: str
    status: Status
    detail: str


def ok(name: str, detail: str) -> Finding:
    return Finding(name, "ok", detail)


def warn(name: str, detail: str) -> Finding:
    return Finding(name, "warn", detail)


def off(name: str, detail: str) -> Finding:
    return Finding(name, "off", detail)


def fail(name: str, detail: str) -> Finding:
    return Finding(name, "fail", detail)


def host_of(url: str) -> str:
    return urlsplit(url).netloc.rpartition("@")[2] or url


def refused(status: int, key_setting: str, url_setting: str, detail: str) -> str:
    """A provider's error answer, blaming the key, or the provider itself (busy or broken:
    5xx, 429), which the URL setting names."""
    if status >= 500 or status == 429:
        return f"{url_setting}: the provider answered HTTP {status} ({detail})"
    return f"{key_setting}: rejected (HTTP {status}: {detail})"


@dataclass(frozen=True, slots=True)
class Check:
    """A provider check: NAME in the report; SETTING is blamed when it does not answer."""

    name: str
    setting: str
    run: Callable[[float], Awaitable[list[Finding]]]


@dataclass(frozen=True, slots=True)
class Report:
    """The findings in check order, the webhook URLs to paste, and the secrets that must not
    appear in what is printed."""

    findings: tuple[Finding, ...]
    guide: tuple[str, ...] = ()
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def healthy(self) -> bool:
        """Nothing configured is wrong (warnings and unconfigured providers do not count)."""
        return not any(f.status == "fail" for f in self.findings)

    def render(self) -> str:
        """The report as printed; every configured secret replaced, whatever said it."""
        width = max((len(f.name) for f in self.findings), default=0)
        lines = ["Switchboard doctor", ""]
        lines += [f"  {f.status:<5} {f.name:<{width}}  {f.detail}" for f in self.findings]
        if self.guide:
            lines += ["", *self.guide]
        failed = sum(f.status == "fail" for f in self.findings)
        warned = sum(f.status == "warn" for f in self.findings)
        lines.append("")
        if failed:
            lines.append(
                f"{failed} problem{'s' if failed != 1 else ''} found: see the fail lines above."
            )
        else:
            note = f" ({warned} warning{'s' if warned != 1 else ''})" if warned else ""
            lines.append(f"Everything configured works{note}.")
        return redact("\n".join(lines), self.secrets)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


async def run_checks(checks: Sequence[Check], seconds: float) -> list[Finding]:
    """Every check at once, each allowed SECONDS; in the order given."""

    async def one(check: Check) -> list[Finding]:
        try:
            async with asyncio.timeout(seconds):
                return await check.run(seconds)
        except TimeoutError:
            return [fail(check.name, f"{check.setting}: no answer within {seconds:g} s")]
        except Exception as exc:  # one check's surprise is its own line, never the others'
            return [fail(check.name, f"{check.setting}: {type(exc).__name__}: {exc}")]

    results = await asyncio.gather(*(one(check) for check in checks))
    return [finding for findings in results for finding in findings]
