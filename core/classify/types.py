"""Result types shared by every classifier backend."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ToolCall(BaseModel):
    """One tool the classifier chose, with its arguments as plain JSON values."""

    model_config = ConfigDict(frozen=True)

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class Classification(BaseModel):
    """What a classifier made of one request.

    `calls` may be empty: then `reply` holds the polite answer or the clarifying question.
    """

    model_config = ConfigDict(frozen=True)

    calls: tuple[ToolCall, ...] = ()
    reply: str | None = None
    backend: Literal["offline", "llm"] = "offline"
