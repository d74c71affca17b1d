"""Settings: every DESIGN name read from the environment or .env; bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import SettingsError, load_settings
from config.database import default_data_dir
from config.settings import Settings

DESIGN_NAMES = [
    "DATABASE_URL",
    "SWITCHBOARD_SECRET_KEY",
    "PUBLIC_BASE_URL",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_API_URL",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "TELEGRAM_API_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_API_URL",
    "TWILIO_SMS_FROM",
    "TWILIO_WHATSAPP_FROM",
    "SENDGRID_API_KEY",
    "SENDGRID_API_URL",
    "EMAIL_FROM",
    "EMAIL_INBOUND_DOMAIN",
    "EMAIL_INBOUND_USER",
    "EMAIL_INBOUND_PASSWORD",
    "ELEVENLABS_API_KEY",
    "ELEVENLABS_API_URL",
    "ELEVENLABS_VOICE_ID",
    "ELEVENLABS_WEBHOOK_SECRET",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "LLM_FALLBACKS",
    "SWITCHBOARD_HOST",
    "SWITCHBOARD_PORT",
]


def test_every_design_name_is_a_setting_and_in_env_example() -> None:
    aliases = {f.alias for f in Settings.model_fields.values()}
    assert set(DESIGN_NAMES) <= aliases
    example = (Path(__file__).parents[2] / ".env.example").read_text()
    listed = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    assert aliases <= listed


def test_defaults_are_the_embedded_ones(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    s = load_settings(_env_file=None)
    # SQLite in the per-user data directory (tests/config/test_database.py has the table).
    assert s.data_dir == default_data_dir() and s.data_dir.is_relative_to(tmp_path / "home")
    assert s.database_url == f"sqlite+aiosqlite:///{s.data_dir / 'switchboard.db'}"
    assert (s.switchboard_host, s.switchboard_port) == ("127.0.0.1", 8080)
    assert s.openai_api_key is None and s.slack_bot_token is None
    assert str(s.telegram_api_url) == "https://api.telegram.org/bot"
    assert s.migrates_on_start
    assert s.web_auth == "key" and not s.web_is_open


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SWITCHBOARD_PORT=9099\nOPENAI_MODEL=from-dotenv\n")
    monkeypatch.setenv("OPENAI_MODEL", "from-env")
    monkeypatch.setenv("LLM_FALLBACKS", "http://127.0.0.1:9001/v1, http://127.0.0.1:9002/v1")
    s = load_settings()
    assert s.switchboard_port == 9099
    assert s.openai_model == "from-env"  # the environment wins over .env
    assert s.llm_fallbacks == ["http://127.0.0.1:9001/v1", "http://127.0.0.1:9002/v1"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SWITCHBOARD_PORT", "eighty"),
        ("SWITCHBOARD_PORT", "70000"),
        ("DATABASE_URL", "mysql://root@localhost/x"),
        ("SLACK_API_URL", "not a url"),
        ("TWILIO_SMS_FROM", "5550100"),
        ("LLM_FALLBACKS", "ftp://example.invalid"),
        ("SWITCHBOARD_WEB_AUTH", "sometimes"),
    ],
)
def test_a_wrong_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    assert name in str(caught.value)


def test_secrets_are_hidden_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret-token")
    s = load_settings(_env_file=None)
    assert "xoxb-very-secret-token" not in repr(s)
    assert "xoxb-very-secret-token" in s.secret_values()


def test_the_web_channel_needs_a_key_wherever_it_listens() -> None:
    # Loopback included: "open" is only ever what someone set.
    for host in ("127.0.0.1", "::1", "localhost", "0.0.0.0"):
        assert not load_settings(_env_file=None, SWITCHBOARD_HOST=host).web_is_open
    assert load_settings(_env_file=None, SWITCHBOARD_WEB_AUTH="open").web_is_open


@pytest.mark.parametrize("value", ["auto", "AUTO", " auto "])
def test_the_former_auto_mode_is_refused_with_what_to_use_instead(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SWITCHBOARD_WEB_AUTH", value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert "SWITCHBOARD_WEB_AUTH" in message
    assert "'auto' is no longer accepted" in message
    assert "'key'" in message and "'open'" in message


def test_telegram_polling_takes_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://sb@127.0.0.1:5432/sb")
    monkeypatch.setenv("SWITCHBOARD_PROCESSES", "2")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:polling-test-token")
    monkeypatch.setenv("SWITCHBOARD_TELEGRAM_MODE", "polling")
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert "SWITCHBOARD_TELEGRAM_MODE=polling takes one process" in message
    assert "SWITCHBOARD_PROCESSES is 2" in message
    assert "123456:polling-test-token" not in message
    # Webhooks spread over the processes like any request; without a bot, no polling at all.
    monkeypatch.setenv("SWITCHBOARD_TELEGRAM_MODE", "webhook")
    assert load_settings(_env_file=None).processes == 2
    monkeypatch.setenv("SWITCHBOARD_TELEGRAM_MODE", "polling")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN")
    assert load_settings(_env_file=None).processes == 2
