"""LLM backend tests: builders shared by the modules here (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from core.llm.gateway import EndpointConfig
from core.team.identity import Principal
from core.tools.registry import Handler, ToolContext
from models.deliverable import Deliverable
from models.task import Route, Sender, Task
from storage.types import new_id
from tests.sims.openai import OpenAISim

MODEL = "gpt-4o-mini"


class FakeClock:
    """Monotonic seconds that move only when a test (or an awaited `sleep`) says so."""

    def __init__(self, start: float = 10_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class HandlerLog:
    """Handlers that record every tool they were asked to run, with the parsed arguments."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def handler(self, name: str) -> Handler:
        async def run(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
            self.calls.append((name, args.model_dump(exclude_none=True)))
            return [Deliverable(text=f"ran {name}")]

        return run

    def handlers(self, names: Iterable[str]) -> dict[str, Handler]:
        return {name: self.handler(name) for name in names}

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def endpoint(sim: OpenAISim, name: str, *, model: str = MODEL) -> EndpointConfig:
    return EndpointConfig(name=name, base_url=sim.base_url, model=model, api_key=sim.api_key)


def principal(
    *,
    role: str | None = "owner",
    plan: str = "pro",
    workspace_id: str = "ws-1",
    workspace_name: str = "Acme Support",
    timezone: str = "UTC",
    member_id: str | None = "member-1",
    name: str | None = "Olivia Owner",
) -> Principal:
    return Principal(
        workspace_id=workspace_id,
        workspace_name=workspace_name,
        plan=plan,
        timezone=timezone,
        member_id=member_id if role is not None else None,
        name=name if role is not None else None,
        role=role,
    )


def web_task(workspace_id: str, member_id: str, text: str, received_at: datetime) -> Task:
    """A message a member sent on the web channel, as the journal would hand it to a worker."""
    return Task(
        id=new_id(),
        workspace_id=workspace_id,
        channel="web",
        external_id=new_id(),
        sender=Sender(channel="web", address=member_id),
        conversation=f"web:{member_id}",
        text=text,
        received_at=received_at,
        reply_route=Route(channel="web", address=member_id, thread=None),
    )


def system_message(request: dict[str, Any]) -> str:
    [system] = [m for m in request["messages"] if m["role"] == "system"]
    return str(system["content"])


def offered_tools(request: dict[str, Any]) -> set[str]:
    return {tool["function"]["name"] for tool in request.get("tools", [])}


def conversation(request: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, content) of every message but the system prompt, in order."""
    return [(m["role"], m["content"]) for m in request["messages"] if m["role"] != "system"]
