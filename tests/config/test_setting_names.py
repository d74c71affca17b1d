"""Forgiving names: LOG_LEVEL in any case; a misspelled SWITCHBOARD_* name warned about, with
the setting it was probably meant to be, and never fatal."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import load_settings
from config.logging import setup_logging
from tests.process import ROOT


@pytest.fixture(autouse=True)
def _no_stray_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test-run variables (SWITCHBOARD_FUZZ_SCALE, ...) are not what these tests are about."""
    for name in list(os.environ):
        if name.upper().startswith("SWITCHBOARD_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("value", ["debug", "Debug", " warning ", "ERROR"])
def test_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LOG_LEVEL", value)
    settings = load_settings()

    assert settings.log_level == value.strip().upper()
    try:
        setup_logging(settings.log_level, "text")
        assert logging.getLogger().level == getattr(logging, value.strip().upper())
    finally:
        setup_logging("INFO", "text")


def test_an_unknown_log_level_is_still_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    with pytest.raises(Exception, match="LOG_LEVEL"):
        load_settings()


def test_a_misspelled_name_in_the_environment_is_warned_about(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHBOARD_WOKERS", "2")
    monkeypatch.setenv("SWITCHBOARD_PORT", "9000")  # a real setting: not warned about
    settings = load_settings()

    assert settings.switchboard_port == 9000
    assert settings.workers == 4  # the misspelling changed nothing
    assert settings.config_warnings == [
        "SWITCHBOARD_WOKERS in the environment is not a Switchboard setting "
        "(did you mean SWITCHBOARD_WORKERS?); ignored"
    ]


def test_a_misspelled_name_in_dotenv_is_warned_about(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SWITCHBOARD_SECRET_KYE=abc\nSWITCHBOARD_NONSENSE_THING=1\n")
    settings = load_settings()

    assert settings.config_warnings == [
        "SWITCHBOARD_NONSENSE_THING in .env is not a Switchboard setting; ignored",
        "SWITCHBOARD_SECRET_KYE in .env is not a Switchboard setting "
        "(did you mean SWITCHBOARD_SECRET_KEY?); ignored",
    ]
    assert "abc" not in " ".join(settings.config_warnings)  # names only, never values


def test_a_variable_named_by_llm_fallbacks_is_not_a_misspelling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLM_FALLBACKS", "https://llm.example.com/v1|gpt-4o|SWITCHBOARD_BACKUP_KEY")
    monkeypatch.setenv("SWITCHBOARD_BACKUP_KEY", "sk-backup")

    assert load_settings().config_warnings == []


def test_the_command_line_warns_at_start_and_carries_on(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "migrate"],
        cwd=tmp_path,
        env={
            "PATH": os.environ.get("PATH", ""),
            "LOG_FORMAT": "text",
            "LOG_LEVEL": "warning",
            "SWITCHBOARD_SHUTDOWN_GRAC": "3",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert "database is up to date" in done.stdout
    assert (
        "WARNING switchboard: SWITCHBOARD_SHUTDOWN_GRAC in the environment is not a Switchboard "
        "setting (did you mean SWITCHBOARD_SHUTDOWN_GRACE?); ignored"
    ) in done.stderr
