"""`main.py classify`: print the tool calls chosen for a request."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from core.classify.offline import OfflineClassifier
from models.classification import Classification

if TYPE_CHECKING:
    from config import Settings


def _as_json(result: Classification) -> str:
    return json.dumps(
        {
            "calls": [{"tool": c.tool, "args": c.args} for c in result.calls],
            "backend": result.backend,
            **({"reply": result.reply} if result.reply else {}),
        },
        ensure_ascii=False,
    )


def _as_text(result: Classification) -> str:
    if not result.calls:
        return f"(no tool) {result.reply or ''}".rstrip()
    return "\n".join(
        f"{c.tool}({', '.join(f'{k}={v!r}' for k, v in c.args.items())})" for c in result.calls
    )


def _requests(text: str, stdin: TextIO) -> Iterator[str]:
    if text != "-":
        yield text
        return
    for line in stdin:
        if line := line.strip():
            yield line


def run(
    text: str,
    *,
    as_json: bool,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    settings: Settings | None = None,
) -> int:
    """Classify TEXT, or with TEXT `-` one request per line of stdin; return an exit code.

    With OPENAI_API_KEY in SETTINGS the LLM chain answers (offline as its last resort).
    """
    render = _as_json if as_json else _as_text
    if settings is not None and settings.openai_api_key is not None:
        asyncio.run(_run_llm(_requests(text, stdin), settings, render, stdout))
        return 0
    classifier = OfflineClassifier()
    if text == "-":
        for line in stdin:
            line = line.strip()
            if not line:
                continue
            stdout.write(render(classifier.classify(line)) + "\n")
            stdout.flush()
        return 0
    stdout.write(render(classifier.classify(text)) + "\n")
    return 0


async def _run_llm(
    requests: Iterator[str],
    settings: Settings,
    render: Callable[[Classification], str],
    stdout: TextIO,
) -> None:
    # Imported here: the offline path stays free of the SDK and the database layer.
    from config.metrics import Metrics
    from core.classify.backend import OfflineBackend
    from core.classify.llm import LlmClassifier
    from core.llm.gateway import LlmGateway
    from core.team.identity import Principal
    from core.tools.catalogue import default_registry

    # Who asks on the command line: an owner on Enterprise, so the model is offered every tool.
    principal = Principal(
        workspace_id="cli",
        workspace_name="command line",
        plan="enterprise",
        timezone="UTC",
        member_id="cli",
        name="command line",
        role="owner",
    )
    metrics = Metrics()
    async with LlmGateway.from_settings(settings, metrics=metrics) as gateway:
        classifier = LlmClassifier(
            gateway, default_registry(), offline=OfflineBackend(), metrics=metrics
        )
        for request in requests:
            result = await classifier.classify(request, principal, datetime.now(UTC))
            stdout.write(render(result) + "\n")
            stdout.flush()
