"""`main.py member link-code`: the code on standard output, what to do with it on standard
error, naming only the chat channels this configuration has."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_cli import run


def test_link_code_is_printed_for_a_member(tmp_path: Path) -> None:
    assert run("workspace", "create", "Acme", cwd=tmp_path).returncode == 0
    added = run(
        "member", "add", "--workspace", "Acme", "--name", "Olivia Ortiz", "--role", "owner",
        "--email", "olivia@acme.example", cwd=tmp_path,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr

    plain = run(
        "member", "link-code", "--workspace", "Acme", "--email", "olivia@acme.example",
        cwd=tmp_path,
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert re.fullmatch(r"[0-9]{6}\n", plain.stdout)
    assert "No chat channel (Slack, Telegram, SMS or WhatsApp) is set up" in plain.stderr

    telegram = run(
        "member", "link-code", "--workspace", "Acme", "--email", "olivia@acme.example",
        cwd=tmp_path, env={"TELEGRAM_BOT_TOKEN": "123456:ABC-def"},
    )  # fmt: skip
    assert telegram.returncode == 0, telegram.stderr
    code = telegram.stdout.strip()
    assert f"Send “link {code}” from Telegram to link that account to you." in telegram.stderr
    assert "for 10 minutes" in telegram.stderr

    unknown = run(
        "member", "link-code", "--workspace", "Acme", "--email", "nobody@acme.example",
        cwd=tmp_path,
    )  # fmt: skip
    assert unknown.returncode == 1
    assert "no member 'nobody@acme.example'" in unknown.stderr
    assert unknown.stdout == ""
