"""The command line: bootstrap commands, migrate, classify, and serve's start-up errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.process import ROOT


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "LOG_FORMAT": "text", **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bootstrap_workspace_member_and_api_key(tmp_path: Path) -> None:
    created = run("workspace", "create", "Acme", "--plan", "enterprise", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert "workspace Acme created" in created.stdout and "plan enterprise" in created.stdout
    assert "AI agent Acme Assistant created" in created.stdout  # its customers are answered
    assert (tmp_path / "switchboard.db").exists()  # the embedded default, in the working dir

    member = run(
        "member",
        "add",
        "--workspace",
        "Acme",
        "--name",
        "Maria",
        "--role",
        "manager",
        "--email",
        "Maria@Acme.test",
        "--phone",
        "+1 555 010 0001",
        "--slack",
        "U024BE7LH",
        cwd=tmp_path,
    )
    assert member.returncode == 0, member.stderr
    assert "linked identities: email, sms, slack" in member.stdout

    key = run("apikey", "create", "--workspace", "Acme", cwd=tmp_path)
    assert key.returncode == 0, key.stderr
    secret = key.stdout.strip()
    assert secret.startswith("sb_") and len(secret) > 40
    assert "shown once" in key.stderr

    duplicate = run("workspace", "create", "Acme", cwd=tmp_path)
    assert duplicate.returncode == 1
    assert "exists already" in duplicate.stderr

    bad_phone = run(
        "member",
        "add",
        "--workspace",
        "Acme",
        "--name",
        "X",
        "--role",
        "admin",
        "--phone",
        "12",
        cwd=tmp_path,
    )
    assert bad_phone.returncode == 1
    assert "E.164" in bad_phone.stderr

    unknown = run(
        "member", "add", "--workspace", "Nope", "--name", "X", "--role", "admin", cwd=tmp_path
    )
    assert unknown.returncode == 1 and "no workspace 'Nope'" in unknown.stderr


def test_migrate_then_bad_setting_names_the_variable(tmp_path: Path) -> None:
    migrated = run("migrate", cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "up to date" in migrated.stdout

    bad = run("serve", cwd=tmp_path, env={"SWITCHBOARD_PORT": "eighty"})
    assert bad.returncode == 2
    assert "SWITCHBOARD_PORT" in bad.stderr


def test_classify_json_reads_stdin_line_by_line(tmp_path: Path) -> None:
    result = run("classify", "--json", "-", cwd=tmp_path, stdin="help\n\nwhat can you do?\n")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert line["backend"] == "offline"
        assert isinstance(line["calls"], list)
