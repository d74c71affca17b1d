"""The OpenAPI 3.1 document, generated from the endpoint table and its pydantic models."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

from api.admin.params import Param

PROBLEM_TYPE = "application/problem+json"
ABOUT = (
    "The gateway's admin REST API. Authenticate with `Authorization: Bearer <api key>`.\n\n"
    '**Lists** are paged by cursor: each answers `{"items": [...], "next_cursor": ...}` in '
    "a stable order; pass `next_cursor` back as `cursor` for the next page (null on the last "
    "page), and `limit` for the page size.\n\n"
    "**Query parameters** a route does not take, given twice, or with a bad value are "
    "refused with 400 naming the parameter.\n\n"
    "**Errors** are RFC 9457 problem details (`application/problem+json`): `type`, `title`, "
    "`status`, `detail`, `instance`; `error` and `message` repeat the title (as a code) and "
    "the detail for clients written before."
)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: Literal["key", "web", "none"] = "key"
    tag: str = "admin"
    # When the route answers 403 for an API key too (a feature flag off): why, for the doc.
    forbidden: str | None = None
    # When the route answers 409 until the server is configured (a secret unset): why.
    unconfigured: str | None = None
    # The query parameters it takes (each optional); any other is refused with 400.
    params: tuple[Param, ...] = ()
    # A response that is no pydantic model: its media type and schema.
    media_type: str = "application/json"
    raw_schema: dict[str, Any] | None = None


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

    def error(description: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
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
                {
                    "name": part[1:-1],
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
                for part in ep.path.split("/")
                if part.startswith("{")
            ]
            + [
                {
                    "name": p.name,
                    "in": "query",
                    "required": False,
                    "description": p.description,
                    "schema": p.schema(),
                }
                for p in ep.params
            ],
            "responses": {
                "400": error(
                    "bad input: a query parameter the route does not take, one given twice, a "
                    "bad value, or a malformed body"
                ),
            },
        }
        if ep.auth != "none":
            op["responses"]["401"] = error("no API key, or one invalid or revoked")
            op["responses"]["404"] = error("no such resource (in the key's workspace)")
            op["security"] = [{"bearer": []}]
        else:
            op["security"] = []
        if ep.method != "GET":
            op["responses"]["413"] = error("the body is over the gateway's size limit")
            # A write can conflict with the current state (a duplicate, a key already
            # revealed, a reply already delivered, no suggested reply to send).
            op["responses"]["409"] = error("conflicts with the current state")
        if ep.auth == "web":
            op["description"] = (
                "An API key (any member of its workspace), or a console session (its own "
                "member only: 403 otherwise). Without either only when the gateway runs with "
                "SWITCHBOARD_WEB_AUTH=open."
            )
            op["responses"]["403"] = error("a console session acting for another member")
        if ep.forbidden is not None:
            op["responses"]["403"] = error(ep.forbidden)
        if ep.unconfigured is not None:
            op["responses"]["409"] = error(ep.unconfigured)
        if ep.request is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(ep.request)}},
            }
        if ep.response is not None or ep.raw_schema is not None:
            schema = ref(ep.response) if ep.response is not None else ep.raw_schema
            op["responses"][str(ep.status)] = {
                "description": "ok",
                "content": {ep.media_type: {"schema": schema}},
            }
        else:
            op["responses"][str(ep.status)] = {"description": "done"}
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    schemas["Problem"] = PROBLEM_SCHEMA
    return {
        "openapi": "3.1.0",
        "info": {"title": "Switchboard admin API", "version": "1", "description": ABOUT},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem details object",
    "properties": {
        "type": {"type": "string", "description": "about:blank: the status says it all"},
        "title": {"type": "string", "description": "the status's reason phrase"},
        "status": {"type": "integer", "description": "the HTTP status code"},
        "detail": {"type": "string", "description": "what is wrong, and what to do"},
        "instance": {"type": "string", "description": "the path asked for"},
        "error": {"type": "string", "description": "the title as a code, e.g. not_found"},
        "message": {"type": "string", "description": "the same as detail"},
    },
    "required": ["type", "title", "status", "detail", "instance", "error", "message"],
}

OPENAPI = web.AppKey("openapi", dict)


async def serve_openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])
