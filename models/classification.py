"""Result types shared by every classifier backend."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ToolCall(BaseModel):
    """One tool the classifier chose, with its arguments as plain JSON values."""

    model_config = ConfigDict(frozen=True)

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class Usage(BaseModel):
    """What one model call cost: tokens as the endpoint counted them and an estimate in USD."""

    model_config = ConfigDict(frozen=True)

    endpoint: str
    model: str
    prompt_tokens: int = Field(0, ge=0)
    completion_tokens: int = Field(0, ge=0)
    cost_usd: float = Field(0.0, ge=0)


class Classification(BaseModel):
    """What a classifier made of one request.

    `calls` may be empty: then `reply` holds the polite answer or the clarifying question.
    `usage` is set when a model answered (the offline classifier costs nothing).
    """

    model_config = ConfigDict(frozen=True)

    calls: tuple[ToolCall, ...] = ()
    reply: str | None = None
    backend: Literal["offline", "llm"] = "offline"
    usage: Usage | None = None
