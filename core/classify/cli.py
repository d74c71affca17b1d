"""`main.py classify`: print the tool calls chosen for a request."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from core.classify.offline import OfflineClassifier
from core.classify.types import Classification


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


def run(text: str, *, as_json: bool, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """Classify TEXT, or with TEXT `-` one request per line of stdin; return an exit code."""
    classifier = OfflineClassifier()
    render = _as_json if as_json else _as_text
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
