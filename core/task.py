"""The normalized Task every channel produces, and the Route a reply takes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
    raw: dict[str, Any] = Field(default_factory=dict)

    @property
    def dedupe_key(self) -> tuple[str, str, str]:
        return (self.workspace_id, self.channel, self.external_id)
