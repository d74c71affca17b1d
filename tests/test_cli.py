"""The command line: bootstrap and admin commands, where the database is found, `--version`,
help for every argument, migrate, classify, and serve's start-up errors."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

import main
from tests.conftest import make_settings
from tests.process import ROOT


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`python main.py ARGS` in CWD, with a home directory of its own (beside CWD) unless ENV
    names one: the default data directory is under it, never the developer's."""
    home = cwd.parent / f"{cwd.name}-home"
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        cwd=cwd,
        env={
            "PATH": os.environ.get("PATH", ""),
            "LOG_FORMAT": "text",
            "HOME": str(home),
            **(env or {}),
        },
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def default_database(cwd: Path) -> Path:
    """Where `run` from CWD keeps the database by default (Linux's per-user data directory)."""
    return cwd.parent / f"{cwd.name}-home" / ".local" / "share" / "switchboard" / "switchboard.db"


def test_bootstrap_workspace_member_and_api_key(tmp_path: Path) -> None:
    created = run("workspace", "create", "Acme", "--plan", "enterprise", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert "workspace Acme created" in created.stdout and "plan enterprise" in created.stdout
    assert "AI agent Acme Assistant created" in created.stdout  # its customers are answered
    # The default: the per-user data directory, not the working directory.
    assert default_database(tmp_path).exists()
    assert not (tmp_path / "switchboard.db").exists()

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


def test_serve_with_the_database_unreachable_says_so_in_one_line(tmp_path: Path) -> None:
    """Exit status 2 and a sentence naming the database without its password (a supervisor or
    a container's restart policy starts it again), not a traceback."""
    unreachable = run(
        "serve", cwd=tmp_path, env={"DATABASE_URL": "postgresql://sb:hunter2pw@127.0.0.1:9/sb"}
    )
    assert unreachable.returncode == 2, unreachable.stderr
    last = unreachable.stderr.strip().splitlines()[-1]
    assert last.startswith("switchboard: cannot reach the database postgresql+asyncpg://sb:***@")
    assert "Connect call failed" in last
    assert "Traceback" not in unreachable.stderr
    assert "hunter2pw" not in unreachable.stderr + unreachable.stdout


def test_serve_on_a_database_that_does_not_exist_says_so_in_one_line(tmp_path: Path) -> None:
    """The server answers but refuses the connection (no such database): the same one line
    and exit status 2 as an unreachable server, naming what the server said."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL tests need a server (CI sets it)")
    base = server.rsplit("/", 1)[0]
    missing = run("serve", cwd=tmp_path, env={"DATABASE_URL": f"{base}/sb_no_such_database"})
    assert missing.returncode == 2, missing.stderr
    last = missing.stderr.strip().splitlines()[-1]
    assert last.startswith("switchboard: cannot use the database postgresql+asyncpg://")
    assert 'database "sb_no_such_database" does not exist' in last
    assert "Traceback" not in missing.stderr


def test_classify_json_reads_stdin_line_by_line(tmp_path: Path) -> None:
    result = run("classify", "--json", "-", cwd=tmp_path, stdin="help\n\nwhat can you do?\n")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert line["backend"] == "offline"
        assert isinstance(line["calls"], list)


def _workspace_names(listed: subprocess.CompletedProcess[str]) -> list[str]:
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line)["name"] for line in listed.stdout.splitlines()]


def test_every_working_directory_finds_the_same_database(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second" / "deeper"
    first.mkdir()
    second.mkdir(parents=True)
    home = {"HOME": str(tmp_path / "home")}

    assert run("workspace", "create", "Acme", cwd=first, env=home).returncode == 0
    assert _workspace_names(run("workspace", "list", "--json", cwd=second, env=home)) == ["Acme"]
    assert (tmp_path / "home/.local/share/switchboard/switchboard.db").is_file()

    # SWITCHBOARD_DATA_DIR, and a relative SQLite path in DATABASE_URL, taken inside it: the
    # same file for migrate, the bootstrap commands and the lists, wherever they run.
    data = {**home, "SWITCHBOARD_DATA_DIR": str(tmp_path / "data")}
    relative = {**data, "DATABASE_URL": "sqlite:///team.db"}
    migrated = run("migrate", cwd=first, env=relative)
    assert migrated.returncode == 0, migrated.stderr
    assert f"up to date: {tmp_path / 'data' / 'team.db'}" in migrated.stdout
    assert run("workspace", "create", "Globex", cwd=second, env=relative).returncode == 0
    assert _workspace_names(run("workspace", "list", "--json", cwd=first, env=relative)) == [
        "Globex"
    ]
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "team.db")) as conn:
        assert conn.execute("SELECT name FROM workspaces").fetchall() == [("Globex",)]
    assert not (first / "team.db").exists() and not (second / "team.db").exists()
    assert _workspace_names(run("workspace", "list", "--json", cwd=second, env=data)) == []


def test_a_database_already_in_the_working_directory_is_kept(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    # Made where ./switchboard.db was the default (here: the data directory set to it).
    made = run("workspace", "create", "Legacy", cwd=project, env={"SWITCHBOARD_DATA_DIR": "."})
    assert made.returncode == 0, made.stderr
    assert (project / "switchboard.db").is_file()

    listed = run("workspace", "list", "--json", cwd=project)
    assert _workspace_names(listed) == ["Legacy"]  # not a new, empty database elsewhere
    assert f"using {project / 'switchboard.db'}, found in the working directory" in listed.stderr
    assert f"SWITCHBOARD_DATA_DIR={project}" in listed.stderr
    assert not default_database(project).exists()


def _lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def _cli(database_url: str, *argv: str) -> tuple[int, str, str]:
    """One command in this process (as `main()` runs it, with test settings): its exit
    status, output and errors."""
    args: argparse.Namespace = main.parser().parse_args(list(argv))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = args.fn(make_settings(database_url), args)
    return code, out.getvalue(), err.getvalue()


def _json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_members_and_api_keys_are_listed_and_keys_revoked(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'switchboard.db'}"
    env = {"DATABASE_URL": url}
    assert _cli(url, "workspace", "create", "Acme")[0] == 0
    for name, role, extra in (
        ("Olivia", "owner", ["--email", "olivia@acme.test", "--slack", "U024BE7LH"]),
        ("Sam", "support", ["--phone", "+15550100002"]),
    ):
        code, _, err = _cli(
            url, "member", "add", "--workspace", "Acme", "--name", name, "--role", role, *extra
        )
        assert code == 0, err
    _, secret, _ = _cli(url, "apikey", "create", "--workspace", "Acme", "--name", "ci")
    secret = secret.strip()

    members = _lines(run("member", "list", "--workspace", "Acme", "--json", cwd=tmp_path, env=env))
    assert [(m["name"], m["role"], m["email"], m["channels"]) for m in members] == [
        ("Olivia", "owner", "olivia@acme.test", ["email", "slack"]),
        ("Sam", "support", None, ["sms"]),
    ]
    _, table, _ = _cli(url, "member", "list", "--workspace", "Acme")
    assert table.splitlines()[0].split() == ["id", "name", "role", "status", "email", "channels"]
    assert "Olivia" in table and "email, slack" in table

    _, workspaces, _ = _cli(url, "workspace", "list", "--json")
    assert [(w["name"], w["plan"], w["members"]) for w in _json_lines(workspaces)] == [
        ("Acme", "pro", 2)
    ]

    listed = run("apikey", "list", "--workspace", "Acme", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert secret not in listed.stdout and secret[10:20] not in listed.stdout
    _, as_json, _ = _cli(url, "apikey", "list", "--workspace", "Acme", "--json")
    (key,) = _json_lines(as_json)
    assert key["name"] == "ci" and secret.startswith(key["prefix"])
    assert key["created"] and key["last_used"] is None and key["revoked"] is None
    assert key["prefix"] in listed.stdout and key["id"] in listed.stdout

    unknown = run("apikey", "revoke", "--workspace", "Acme", "nope", cwd=tmp_path, env=env)
    assert unknown.returncode == 1
    assert "Acme has no API key 'nope'" in unknown.stderr and "apikey list" in unknown.stderr

    revoked = run("apikey", "revoke", "--workspace", "Acme", key["id"], cwd=tmp_path, env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert f"API key {key['id']}" in revoked.stdout and "revoked" in revoked.stdout
    _, as_json, _ = _cli(url, "apikey", "list", "--workspace", "Acme", "--json")
    assert _json_lines(as_json)[0]["revoked"] is not None
    code, again, _ = _cli(url, "apikey", "revoke", "--workspace", "Acme", key["id"])
    assert code == 0 and "already revoked" in again

    code, _, err = _cli(url, "member", "list", "--workspace", "Nope")
    assert code == 1 and "no workspace 'Nope'" in err


async def test_a_key_revoked_from_the_command_line_is_refused_by_the_api(
    database_url: str, make_client: Any
) -> None:
    await asyncio.to_thread(_cli, database_url, "workspace", "create", "Acme")
    _, secret, _ = await asyncio.to_thread(
        _cli, database_url, "apikey", "create", "--workspace", "Acme"
    )
    client = await make_client()
    auth = {"Authorization": f"Bearer {secret.strip()}"}
    assert (await client.get("/api/v1/workspaces", headers=auth)).status == 200

    _, listed, _ = await asyncio.to_thread(
        _cli, database_url, "apikey", "list", "--workspace", "Acme", "--json"
    )
    key = json.loads(listed)
    assert key["last_used"] is not None  # the request above
    code, _, _ = await asyncio.to_thread(
        _cli, database_url, "apikey", "revoke", "--workspace", "Acme", key["id"]
    )
    assert code == 0
    assert (await client.get("/api/v1/workspaces", headers=auth)).status == 401


def test_version_comes_from_the_package_metadata(tmp_path: Path) -> None:
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == f"switchboard {metadata.version('switchboard')}\n"
    # The console command is the same entry point as `python main.py`.
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"switchboard": "main:main"}
    entry = metadata.EntryPoint(name="switchboard", value=scripts["switchboard"], group="x")
    assert entry.load() is main.main


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _commands(child, (*path, name))
    return found


def test_every_command_and_argument_has_help(tmp_path: Path) -> None:
    commands = _commands(main.parser())
    assert {("member", "list"), ("workspace", "list"), ("apikey", "revoke")} <= {
        path for path, _ in commands
    }
    missing = []
    for path, parser in commands:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                described = {choice.dest for choice in action._choices_actions if choice.help}
                missing += [(*path, name) for name in action.choices if name not in described]
            elif not isinstance(action, argparse._HelpAction | argparse._VersionAction) and (
                not action.help or action.help == argparse.SUPPRESS
            ):
                missing.append((*path, action.dest))
    assert missing == []

    shown = run("apikey", "revoke", "--help", cwd=tmp_path)
    assert shown.returncode == 0
    assert "KEY_ID" in shown.stdout and "as `apikey list` shows it" in shown.stdout
    assert "--workspace WORKSPACE" in shown.stdout and "workspace id or name" in shown.stdout


def test_a_workspace_country_lets_members_phones_be_written_the_national_way(
    tmp_path: Path,
) -> None:
    created = run("workspace", "create", "Acme UK", "--country", "gb", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    added = run(
        "member",
        "add",
        "--workspace",
        "Acme UK",
        "--name",
        "Olivia",
        "--role",
        "owner",
        "--phone",
        "07700 900123",
        cwd=tmp_path,
    )
    assert added.returncode == 0, added.stderr
    assert "linked identities: sms" in added.stdout
    # Without a country the same number needs its country code.
    assert run("workspace", "create", "Acme US", cwd=tmp_path).returncode == 0
    refused = run(
        "member",
        "add",
        "--workspace",
        "Acme US",
        "--name",
        "Tom",
        "--role",
        "owner",
        "--phone",
        "07700 900123",
        cwd=tmp_path,
    )
    assert refused.returncode == 1
    assert "set the workspace's country" in refused.stderr

    bad = run("workspace", "create", "Nowhere", "--country", "Atlantis", cwd=tmp_path)
    assert bad.returncode == 1
    assert "not a country code such as US, GB or DE" in bad.stderr
