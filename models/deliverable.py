"""What the core hands to delivery: channel-neutral results, rendered per channel later."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DeliverableKind = Literal["text", "card", "list", "proposal", "file", "error"]


class CardField(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str
    value: str


class Deliverable(BaseModel):
    """One result for a person. `text` is always a complete plain-text rendering."""

    model_config = ConfigDict(frozen=True)

    kind: DeliverableKind = "text"
    text: str
    title: str | None = None
    fields: tuple[CardField, ...] = ()
    items: tuple[str, ...] = ()
    data: dict[str, Any] = Field(default_factory=dict)


class Receipt(BaseModel):
    """A provider accepted a message: its id there, for status callbacks and edits."""

    model_config = ConfigDict(frozen=True)

    provider_message_id: str | None = None
    status: str = "sent"
