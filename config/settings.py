"""Settings read from the environment and `.env`, validated once at start-up."""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import (
    AnyHttpUrl,
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config.database import (
    DEFAULT_DATABASE_URL,
    DatabaseUrlError,
    default_data_dir,
    locate_database,
    normalize_database_url,
)


class SettingsError(Exception):
    """A configuration value is wrong; the message names every offending variable."""


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]
    return value


# What each email provider needs before it can send (environment names).
EMAIL_PROVIDER_SETTINGS: dict[str, tuple[str, ...]] = {
    "sendgrid": ("SENDGRID_API_KEY",),
    "postmark": ("POSTMARK_SERVER_TOKEN",),
    "resend": ("RESEND_API_KEY",),
    "brevo": ("BREVO_API_KEY",),
    "smtp": ("SMTP_HOST",),
}


class Settings(BaseSettings):
    """Every setting of the gateway; names are the environment variables of DESIGN.md."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
        env_ignore_empty=True,
    )

    # Server and storage. A relative SQLite path is taken in the data directory, so the
    # server and every command find the same file from any working directory.
    database_url: str = Field(DEFAULT_DATABASE_URL, alias="DATABASE_URL")
    data_dir: Path = Field(default_factory=default_data_dir, alias="SWITCHBOARD_DATA_DIR")
    switchboard_host: str = Field("127.0.0.1", alias="SWITCHBOARD_HOST")
    switchboard_port: int = Field(8080, ge=0, le=65535, alias="SWITCHBOARD_PORT")
    switchboard_secret_key: SecretStr | None = Field(None, alias="SWITCHBOARD_SECRET_KEY")
    # Former secrets, comma-separated, newest first: stored credentials encrypted under them
    # still decrypt (`python main.py secrets rotate` re-encrypts them under the current one).
    switchboard_secret_key_previous: SecretStr | None = Field(
        None, alias="SWITCHBOARD_SECRET_KEY_PREVIOUS"
    )
    public_base_url: AnyHttpUrl | None = Field(None, alias="PUBLIC_BASE_URL")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", alias="LOG_LEVEL")
    log_format: Literal["auto", "json", "text"] = Field("auto", alias="LOG_FORMAT")
    max_body_bytes: int = Field(1_048_576, ge=1024, alias="SWITCHBOARD_MAX_BODY_BYTES")
    # key: the web channel (`POST /api/v1/messages`, `GET /api/v1/tasks/{id}`) takes an API key
    # or a console session; open: anyone who reaches the gateway may post as any member.
    web_auth: Literal["key", "open"] = Field("key", alias="SWITCHBOARD_WEB_AUTH")
    workers: int = Field(4, ge=0, le=64, alias="SWITCHBOARD_WORKERS")
    # Gateway processes `serve` runs on this one port (SO_REUSEPORT), each a node of its own
    # sharing the work through the database: PostgreSQL only (see `_processes_need_postgres`).
    processes: int = Field(1, ge=1, le=64, alias="SWITCHBOARD_PROCESSES")
    task_lease_seconds: float = Field(60.0, gt=0, alias="SWITCHBOARD_TASK_LEASE_SECONDS")
    outbox_max_attempts: int = Field(8, ge=1, le=100, alias="SWITCHBOARD_OUTBOX_MAX_ATTEMPTS")
    outbox_backoff_base: float = Field(1.0, gt=0, alias="SWITCHBOARD_OUTBOX_BACKOFF_BASE")
    outbox_backoff_max: float = Field(300.0, gt=0, alias="SWITCHBOARD_OUTBOX_BACKOFF_MAX")
    auto_migrate: bool | None = Field(None, alias="SWITCHBOARD_AUTO_MIGRATE")
    shutdown_grace: float = Field(10.0, ge=0, alias="SWITCHBOARD_SHUTDOWN_GRACE")
    poll_interval: float = Field(0.5, gt=0, le=60, alias="SWITCHBOARD_POLL_INTERVAL")
    # `/metrics` counts the queues (tasks, outbox) at most once per this many seconds.
    metrics_cache_seconds: float = Field(
        5.0, ge=0, le=300, alias="SWITCHBOARD_METRICS_CACHE_SECONDS"
    )
    # Scheduler: whether this node may run it (one node does, chosen by an advisory lock on
    # PostgreSQL); how late a missed briefing may still go out; how often schedule changes
    # are polled and a follower tries to take over.
    scheduler_enabled: bool = Field(True, alias="SWITCHBOARD_SCHEDULER")
    scheduler_grace: float = Field(3600.0, ge=0, alias="SWITCHBOARD_SCHEDULER_GRACE")
    scheduler_poll_interval: float = Field(
        5.0, gt=0, le=25, alias="SWITCHBOARD_SCHEDULER_POLL_INTERVAL"
    )

    # Slack
    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_api_url: AnyHttpUrl = Field(AnyHttpUrl("https://slack.com/api/"), alias="SLACK_API_URL")
    # An app-level token (xapp-..., scope connections:write): events, interactivity and slash
    # commands arrive over Socket Mode instead of POST /slack/events; no public URL needed.
    slack_app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    # Telegram
    telegram_bot_token: SecretStr | None = Field(None, alias="TELEGRAM_BOT_TOKEN")
    telegram_webhook_secret: SecretStr | None = Field(None, alias="TELEGRAM_WEBHOOK_SECRET")
    telegram_api_url: AnyHttpUrl = Field(
        AnyHttpUrl("https://api.telegram.org/bot"), alias="TELEGRAM_API_URL"
    )
    # webhook: updates arrive at /telegram/webhook; polling: the gateway fetches them
    # (getUpdates), for local use without a public URL.
    telegram_mode: Literal["webhook", "polling"] = Field(
        "webhook", alias="SWITCHBOARD_TELEGRAM_MODE"
    )
    # Twilio
    twilio_account_sid: str | None = Field(None, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: SecretStr | None = Field(None, alias="TWILIO_AUTH_TOKEN")
    twilio_api_url: AnyHttpUrl = Field(AnyHttpUrl("https://api.twilio.com"), alias="TWILIO_API_URL")
    twilio_sms_from: str | None = Field(None, alias="TWILIO_SMS_FROM")
    twilio_whatsapp_from: str | None = Field(None, alias="TWILIO_WHATSAPP_FROM")
    # An approved WhatsApp template (Content SID, HX...) sent when a reply falls outside the
    # 24-hour customer-service window; without one the reply moves to another linked channel.
    twilio_whatsapp_template_sid: str | None = Field(None, alias="TWILIO_WHATSAPP_TEMPLATE_SID")
    # Email
    sendgrid_api_key: SecretStr | None = Field(None, alias="SENDGRID_API_KEY")
    sendgrid_api_url: AnyHttpUrl = Field(
        AnyHttpUrl("https://api.sendgrid.com"), alias="SENDGRID_API_URL"
    )
    email_from: str | None = Field(None, alias="EMAIL_FROM")
    email_inbound_domain: str | None = Field(None, alias="EMAIL_INBOUND_DOMAIN")
    email_inbound_user: str | None = Field(None, alias="EMAIL_INBOUND_USER")
    email_inbound_password: SecretStr | None = Field(None, alias="EMAIL_INBOUND_PASSWORD")
    # Which configured provider sends email when a workspace has not chosen one; unset: the
    # first configured of sendgrid, postmark, resend, brevo, smtp.
    email_provider: Literal["sendgrid", "postmark", "resend", "brevo", "smtp"] | None = Field(
        None, alias="SWITCHBOARD_EMAIL_PROVIDER"
    )
    postmark_server_token: SecretStr | None = Field(None, alias="POSTMARK_SERVER_TOKEN")
    postmark_api_url: AnyHttpUrl = Field(
        AnyHttpUrl("https://api.postmarkapp.com"), alias="POSTMARK_API_URL"
    )
    resend_api_key: SecretStr | None = Field(None, alias="RESEND_API_KEY")
    resend_api_url: AnyHttpUrl = Field(AnyHttpUrl("https://api.resend.com"), alias="RESEND_API_URL")
    brevo_api_key: SecretStr | None = Field(None, alias="BREVO_API_KEY")
    brevo_api_url: AnyHttpUrl = Field(AnyHttpUrl("https://api.brevo.com/v3"), alias="BREVO_API_URL")
    smtp_host: str | None = Field(None, alias="SMTP_HOST")
    smtp_port: int = Field(587, ge=1, le=65535, alias="SMTP_PORT")
    smtp_user: str | None = Field(None, alias="SMTP_USER")
    smtp_password: SecretStr | None = Field(None, alias="SMTP_PASSWORD")
    # starttls (submission, port 587), tls (implicit TLS, port 465) or none (a local relay)
    smtp_security: Literal["starttls", "tls", "none"] = Field("starttls", alias="SMTP_SECURITY")
    # IMAP polling of a mailbox, for teams without an inbound-parse provider (the scheduler's
    # leader fetches UNSEEN messages every IMAP_POLL_SECONDS)
    imap_host: str | None = Field(None, alias="IMAP_HOST")
    imap_port: int | None = Field(None, ge=1, le=65535, alias="IMAP_PORT")  # 993 with tls, 143
    imap_user: str | None = Field(None, alias="IMAP_USER")
    imap_password: SecretStr | None = Field(None, alias="IMAP_PASSWORD")
    imap_mailbox: str = Field("INBOX", min_length=1, alias="IMAP_MAILBOX")
    imap_security: Literal["tls", "starttls", "none"] = Field("tls", alias="IMAP_SECURITY")
    imap_poll_seconds: float = Field(60.0, ge=1, le=86400, alias="IMAP_POLL_SECONDS")
    # ElevenLabs
    elevenlabs_api_key: SecretStr | None = Field(None, alias="ELEVENLABS_API_KEY")
    elevenlabs_api_url: AnyHttpUrl = Field(
        AnyHttpUrl("https://api.elevenlabs.io"), alias="ELEVENLABS_API_URL"
    )
    elevenlabs_voice_id: str | None = Field(None, alias="ELEVENLABS_VOICE_ID")
    elevenlabs_webhook_secret: SecretStr | None = Field(None, alias="ELEVENLABS_WEBHOOK_SECRET")
    # Voice: seconds a call's webhook may take to answer (Twilio gives up at 15); an answer
    # not ready by then is held ("one moment") and fetched again.
    voice_budget: float = Field(10.0, ge=1, le=14, alias="SWITCHBOARD_VOICE_BUDGET")
    # LLM
    openai_api_key: SecretStr | None = Field(None, alias="OPENAI_API_KEY")
    openai_base_url: AnyHttpUrl = Field(
        AnyHttpUrl("https://api.openai.com/v1"), alias="OPENAI_BASE_URL"
    )
    openai_model: str = Field("gpt-4o-mini", min_length=1, alias="OPENAI_MODEL")
    llm_fallbacks: Annotated[list[str], NoDecode, BeforeValidator(_split_list)] = Field(
        default_factory=list, alias="LLM_FALLBACKS"
    )
    # The AI agent hands a customer to the team when its best answer scores below this (0..1).
    escalation_confidence: float = Field(0.5, ge=0, le=1, alias="SWITCHBOARD_ESCALATION_CONFIDENCE")

    # Live operators: how long an offer waits for its operator before passing to the next;
    # how long a live operator's console may go without a heartbeat (it sends one every 10 s)
    # before they are taken off; how many sessions one operator holds at once.
    live_offer_seconds: float = Field(30.0, ge=1, le=600, alias="SWITCHBOARD_LIVE_OFFER_SECONDS")
    live_presence_timeout: float = Field(
        30.0, ge=2, le=600, alias="SWITCHBOARD_LIVE_PRESENCE_TIMEOUT"
    )
    live_session_cap: int = Field(3, ge=1, le=50, alias="SWITCHBOARD_LIVE_SESSION_CAP")

    # What load_settings noticed but did not refuse (misspelled SWITCHBOARD_* names).
    _warnings: list[str] = PrivateAttr(default_factory=list)
    # An existing database file found in the working directory rather than the data directory
    # (see `config.database.locate_database`); the command line says so.
    _database_in_working_dir: Path | None = PrivateAttr(default=None)

    @property
    def config_warnings(self) -> list[str]:
        return list(self._warnings)

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_any_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _database_url_supported(cls, value: str) -> str:
        try:
            return normalize_database_url(value.strip())
        except DatabaseUrlError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("data_dir")
    @classmethod
    def _data_dir_absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @model_validator(mode="after")
    def _database_in_data_dir(self) -> Settings:
        # Without SWITCHBOARD_DATA_DIR, a database made where `./switchboard.db` was the
        # default stays in use rather than a new empty one starting in the data directory.
        legacy = None
        if "data_dir" not in self.model_fields_set:
            with contextlib.suppress(OSError):  # a working directory since removed
                legacy = Path.cwd()
        located = locate_database(self.database_url, self.data_dir, cwd=legacy)
        self.database_url = located.url
        self._database_in_working_dir = located.working_dir_file
        return self

    @field_validator("processes")
    @classmethod
    def _processes_need_postgres(cls, value: int, info: ValidationInfo) -> int:
        # DATABASE_URL is declared (so validated) first; absent here when it was refused.
        url = info.data.get("database_url", "")
        if value > 1 and url.startswith("sqlite"):
            raise ValueError(
                f"{value} processes need PostgreSQL: SQLite lets one writer at a time into its "
                "file, so further processes would only wait for it. Set DATABASE_URL to a "
                "postgresql:// database, or leave SWITCHBOARD_PROCESSES at 1"
            )
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _slack_app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError(
                "must be an app-level token (xapp-...): Slack app settings, Basic Information, "
                "App-Level Tokens, with the connections:write scope"
            )
        return value

    @field_validator("llm_fallbacks")
    @classmethod
    def _fallbacks_are_urls(cls, value: list[str]) -> list[str]:
        for item in value:
            # "URL" or "URL|MODEL|KEY_ENV": the key itself never sits in this variable.
            url = item.split("|", 1)[0]
            parts = urlsplit(url)
            if parts.scheme not in {"http", "https"} or not parts.netloc:
                raise ValueError(f"{url!r} is not an http(s) URL")
        return value

    @field_validator("web_auth", mode="before")
    @classmethod
    def _web_auth_not_auto(cls, value: object) -> object:
        # "auto" (open on a loopback address) was the old default; refused rather than
        # quietly read as either mode, so a deployment that set it learns what it gets now.
        if isinstance(value, str) and value.strip().lower() == "auto":
            raise ValueError(
                "'auto' is no longer accepted: use 'key' (the default: an API key or a console "
                "session) or 'open' (no authentication, for local experiments only)"
            )
        return value

    @field_validator("twilio_sms_from")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("+") and value[1:].isdigit()):
            raise ValueError("must be an E.164 number such as +15551234567")
        return value

    @field_validator("twilio_whatsapp_from")
    @classmethod
    def _whatsapp(cls, value: str | None) -> str | None:
        if value is None:
            return value
        number = value.removeprefix("whatsapp:")
        if not (number.startswith("+") and number[1:].isdigit()):
            raise ValueError("must be whatsapp:+E164 or +E164")
        return f"whatsapp:{number}"

    @model_validator(mode="after")
    def _email_provider_configured(self) -> Settings:
        chosen = self.email_provider
        if chosen is not None and chosen not in self.email_providers_configured:
            needs = EMAIL_PROVIDER_SETTINGS[chosen]
            raise ValueError(
                f"SWITCHBOARD_EMAIL_PROVIDER is {chosen} but {' and '.join(needs)} "
                f"{'is' if len(needs) == 1 else 'are'} not set"
            )
        return self

    @model_validator(mode="after")
    def _polling_takes_one_process(self) -> Settings:
        if (
            self.processes > 1
            and self.telegram_mode == "polling"
            and self.telegram_bot_token is not None
        ):
            raise ValueError(
                f"SWITCHBOARD_TELEGRAM_MODE=polling takes one process, but "
                f"SWITCHBOARD_PROCESSES is {self.processes}: Telegram hands updates to one "
                "getUpdates caller at a time and answers the others 409 Conflict. Use the "
                "webhook mode (the default) with several processes, or one process"
            )
        return self

    @property
    def email_providers_configured(self) -> list[str]:
        """The email providers whose credentials are set, in the default order."""
        return [
            name
            for name, needs in EMAIL_PROVIDER_SETTINGS.items()
            if all(getattr(self, variable.lower()) not in (None, "") for variable in needs)
        ]

    # Derived facts, used in several places.
    @property
    def database_in_working_dir(self) -> Path | None:
        """The database file kept from the working directory instead of the data directory's
        (SWITCHBOARD_DATA_DIR unset and the file already there), else None."""
        return self._database_in_working_dir

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def migrates_on_start(self) -> bool:
        """`serve` applies migrations itself on SQLite; PostgreSQL waits for `migrate`."""
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    @property
    def base_url(self) -> str:
        """Where people reach this gateway, for links in emails and printed sign-in links:
        PUBLIC_BASE_URL, else the address it listens on."""
        if self.public_base_url is not None:
            return str(self.public_base_url).rstrip("/")
        host = self.switchboard_host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{self.switchboard_port}"

    @property
    def secure_cookies(self) -> bool:
        """Cookies are Secure when people reach the gateway over https."""
        return self.base_url.startswith("https://")

    @property
    def web_is_open(self) -> bool:
        """The web channel and task lookups take requests without an API key or session."""
        return self.web_auth == "open"

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log filter that redacts them."""
        values = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
        return values


PREFIX = "SWITCHBOARD_"


def unknown_setting_warnings(
    sources: Mapping[str, Iterable[str]], ignore: Iterable[str] = ()
) -> list[str]:
    """A warning for each SWITCHBOARD_* name in SOURCES (where it was found -> names) that is
    no setting, with the closest setting's name when one is close."""
    known = [str(field.alias) for field in Settings.model_fields.values() if field.alias]
    skip = {name.upper() for name in ignore}
    warnings = []
    for where, names in sources.items():
        for name in sorted(set(names)):
            upper = name.upper()
            if not upper.startswith(PREFIX) or upper in known or upper in skip:
                continue
            close = difflib.get_close_matches(upper, known, n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warnings.append(f"{name} in {where} is not a Switchboard setting{hint}; ignored")
    return warnings


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and `.env`; raise SettingsError naming bad variables.

    SWITCHBOARD_* names that are no setting are not refused: `config_warnings` names them."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = error.get("loc") or ("?",)
            name = str(loc[0]).upper()
            lines.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from exc
    env_files = overrides.get("_env_file", Settings.model_config.get("env_file"))
    sources: dict[str, Iterable[str]] = {"the environment": os.environ}
    for env_file in env_files if isinstance(env_files, list | tuple) else [env_files]:
        if isinstance(env_file, str | os.PathLike):
            sources[str(env_file)] = dotenv_values(env_file)
    # LLM_FALLBACKS may name any variable as an endpoint's key: those are not misspellings.
    key_names = [entry.split("|")[2] for entry in settings.llm_fallbacks if entry.count("|") == 2]
    settings._warnings = unknown_setting_warnings(sources, ignore=key_names)
    return settings
