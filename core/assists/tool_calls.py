"""The OpenAI-style tool calls the assists' prompts ask for: a function's schema, and the
arguments of the model's call to it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion


def function_tool(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The tool definition of function NAME taking SCHEMA's arguments."""
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": schema},
    }


def tool_arguments(completion: ChatCompletion, name: str) -> dict[str, Any]:
    """The JSON arguments of the completion's call to NAME.

    Raises:
        MalformedAnswer: the model did not call NAME, or not with a JSON object.
    """
    from core.llm.gateway import MalformedAnswer

    choices = completion.choices or []
    message = choices[0].message if choices else None
    for call in (message.tool_calls if message else None) or ():
        if call.type == "function" and call.function.name == name:
            try:
                parsed = json.loads(call.function.arguments or "{}")
            except json.JSONDecodeError as exc:
                raise MalformedAnswer(f"{name} arguments are not JSON") from exc
            if isinstance(parsed, dict):
                return parsed
    raise MalformedAnswer(f"the model did not call {name}")
