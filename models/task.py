"""The normalized Task every channel produces, and the Route a reply takes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ChannelName = Literal["slack", "telegram", "sms", "whatsapp", "email", "voice", "web", "schedule"]
TaskKind = Literal[
    "message", "command", "approval", "email_reply", "voicemail", "escalation", "briefing"
]


class Sender(BaseModel):
    """Who sent it: the channel and that channel's address for the person."""

    model_config = ConfigDict(frozen=True)

    channel: ChannelName
    address: str = Field(min_length=1, max_length=320)


class Route(BaseModel):
    """Where a reply goes: a channel, an address on it and, where the channel has them, a thread."""

    model_config = ConfigDict(frozen=True)

    channel: ChannelName
    address: str = Field(min_length=1, max_length=320)
    thread: str | None = Field(None, max_length=320)


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    content_type: str = "application/octet-stream"
    url: str | None = None
    size: int | None = None


class Approval(BaseModel):
    """A decision on a proposal, taken at the edge (a button, "YES 1234", a spoken yes): the
    pipeline applies it without the classifier. A button names its proposal, a typed reply
    gives its code."""

    model_config = ConfigDict(frozen=True)

    decision: Literal["approve", "reject"]
    proposal_id: str | None = None
    code: str | None = None
    # The channel's handle on the message that asked (Slack channel and ts, Telegram chat and
    # message id): the outcome replaces its buttons once the proposal is decided.
    prompt: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _without_nul(cls, value: Any) -> Any:
        return without_nul(value)


class Briefing(BaseModel):
    """What a schedule's occurrence asks for: the briefing type and the schedule's parameters."""

    model_config = ConfigDict(frozen=True)

    type: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _without_nul(cls, value: Any) -> Any:
        return without_nul(value)


class Task(BaseModel):
    """One inbound request, normalized. The dedupe key is (workspace_id, channel, external_id)."""

    model_config = ConfigDict(frozen=True)

    id: str
    workspace_id: str
    channel: ChannelName
    external_id: str = Field(min_length=1, max_length=200)
    sender: Sender
    conversation: str = Field(max_length=320)
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    received_at: datetime
    reply_route: Route
    kind: TaskKind = "message"
    approval: Approval | None = None
    briefing: Briefing | None = None
    # The name the provider gives the sender (an email's From name, a Telegram user's name).
    sender_name: str | None = None
    # The kept email (`email_records` id) an email request arrived as.
    email_record: str | None = None
    # The provider's payload as received, kept for audit; the pipeline reads the fields above.
    raw: dict[str, Any] = Field(default_factory=dict)

    @field_validator("text", "conversation", "sender_name", "raw", mode="before")
    @classmethod
    def _without_nul(cls, value: Any) -> Any:
        """NUL is no character anyone writes, and PostgreSQL cannot store it in text or JSON:
        a provider's payload carrying one is kept without it. Half a surrogate pair no
        database encodes: it is kept as U+FFFD."""
        return without_nul(value)

    @property
    def dedupe_key(self) -> tuple[str, str, str]:
        return (self.workspace_id, self.channel, self.external_id)


def without_nul(value: Any) -> Any:
    """VALUE as a database can store it, at any depth: every NUL character removed from its
    strings (keys too), and every lone surrogate (half of a pair: a JSON body may spell one
    as a \\u escape, or carry its bytes, which Python's JSON reader passes through) replaced
    by U+FFFD, the replacement character; no database encodes one. A payload needing
    neither (nearly every one) is returned as it is, after one look at its JSON (orjson
    writes a NUL as `\\u0000` and refuses a lone surrogate), instead of being copied string
    by string."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return _LONE_SURROGATE.sub("\ufffd", value)
        return value
    if isinstance(value, dict | list | tuple) and _storable_as_is(value):
        return value
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(without_nul(v) for v in value)
    return value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable_as_is(value: Any) -> bool:
    """True only if VALUE surely holds neither NUL nor a lone surrogate: orjson writes it
    (it refuses a lone surrogate) and its JSON has no `\\u0000` (a backslash written before
    "u0000" also matches, and is then looked at string by string)."""
    try:
        return b"\\u0000" not in orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # a lone surrogate, or a type orjson knows not: string by string
        return False
