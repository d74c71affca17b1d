"""The OpenAPI 3.1 document, generated from the endpoint table and its pydantic models."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    handler: Callable[[web.Request], Awaitable[web.Response]]
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: Literal["key", "web"] = "key"
    tag: str = "admin"
    # When the route answers 403 for an API key too (a feature flag off): why, for the doc.
    forbidden: str | None = None
    # When the route answers 409 until the server is configured (a secret unset): why.
    unconfigured: str | None = None


def openapi_document(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    """OpenAPI 3.1 for the endpoints, with their pydantic models as the component schemas."""
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas[name] = sub
        name = model.__name__.replace("[", "_").replace("]", "")
        schemas[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}

    error = {
        "description": "error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    paths: dict[str, Any] = {}
    for ep in endpoints:
        op: dict[str, Any] = {
            "summary": ep.summary,
            "tags": [ep.tag],
            "operationId": f"{ep.method.lower()}_{ep.path.strip('/').replace('/', '_')}".replace(
                "{", ""
            ).replace("}", ""),
            "parameters": [
                {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
                for part in ep.path.split("/")
                if part.startswith("{")
            ],
            "responses": {"400": error, "401": error, "404": error, "413": error},
        }
        if ep.method != "GET":
            # A write can conflict with the current state (a duplicate, a key already
            # revealed, a reply already delivered, no suggested reply to send).
            op["responses"]["409"] = error
        op["security"] = [{"bearer": []}]
        if ep.auth == "web":
            op["description"] = (
                "An API key (any member of its workspace), or a console session (its own "
                "member only: 403 otherwise). Without either only when the gateway runs with "
                "SWITCHBOARD_WEB_AUTH=open."
            )
            op["responses"]["403"] = error
        if ep.forbidden is not None:
            op["responses"]["403"] = {**error, "description": ep.forbidden}
        if ep.unconfigured is not None:
            op["responses"]["409"] = {**error, "description": ep.unconfigured}
        if ep.request is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(ep.request)}},
            }
        if ep.response is not None:
            op["responses"][str(ep.status)] = {
                "description": "ok",
                "content": {"application/json": {"schema": ref(ep.response)}},
            }
        else:
            op["responses"][str(ep.status)] = {"description": "done"}
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    schemas["Error"] = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
        "required": ["error", "message"],
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Switchboard admin API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


OPENAPI = web.AppKey("openapi", dict)


async def serve_openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])
