"""OpenAI function definitions in strict mode, generated from the tools' pydantic models."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

# Keywords strict mode rejects or ignores; validation stays with pydantic on the way back.
_DROP = {"default", "title", "examples"}


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema made strict: every property required, optional ones nullable,
    no additional properties anywhere (OpenAI "Structured Outputs" rules)."""
    schema = copy.deepcopy(model.model_json_schema())
    defs = schema.pop("$defs", {})
    out = _strict(schema)
    if defs:
        out["$defs"] = {name: _strict(sub) for name, sub in defs.items()}
    return out


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {k: _strict(v) for k, v in node.items() if k not in _DROP}
    if node.get("type") == "object" or "properties" in node:
        props = node.get("properties", {})
        node["type"] = "object"
        node["properties"] = props
        node["required"] = list(props)
        node["additionalProperties"] = False
    return node


def function_definition(name: str, description: str, model: type[BaseModel]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": strict_schema(model),
            "strict": True,
        },
    }
