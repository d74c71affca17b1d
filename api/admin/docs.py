"""`GET /api/v1/docs`: the admin API as a page people read, rendered on the server from the
same OpenAPI document `/api/v1/openapi.json` serves (no CDN, no script; Jinja2 escapes every
value)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from api.console.templating import SECURITY_HEADERS

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("api.admin", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
SCHEMA_PREFIX = "#/components/schemas/"


def inline_code(text: str) -> Markup:
    """TEXT escaped, its `backticked` spans as <code>."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: shown as typed
        return escape(text)
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if i % 2 else escape(part)
        for i, part in enumerate(parts)
    )


ENV.filters["code"] = inline_code


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    description: str
    link: str | None = None


@dataclass(frozen=True)
class Answer:
    status: str
    description: str
    media_type: str | None
    type: str | None
    link: str | None


@dataclass(frozen=True)
class Operation:
    anchor: str
    method: str
    path: str
    summary: str
    description: str
    public: bool
    params: list[Field]
    body: str | None
    answers: list[Answer]


@dataclass
class Section:
    tag: str
    operations: list[Operation] = field(default_factory=list)


def type_of(schema: dict[str, Any]) -> tuple[str, str | None]:
    """A schema as a short type name, and the component it names (to link to)."""
    if "$ref" in schema:
        name = str(schema["$ref"]).removeprefix(SCHEMA_PREFIX)
        return name, name
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"]), None
    if "const" in schema:
        return f"{schema['const']!s}", None
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            parts = [type_of(s) for s in schema[key]]
            links = [link for _, link in parts if link]
            return " or ".join(name for name, _ in parts), links[0] if links else None
    kind = schema.get("type")
    if kind == "array":
        inner, link = type_of(schema.get("items", {}))
        return f"array of {inner}", link
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        inner, link = type_of(schema["additionalProperties"])
        return f"object of {inner}", link
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind), None
    if kind is None:
        return "any", None
    fmt = schema.get("format")
    return f"{kind} ({fmt})" if fmt else str(kind), None


def _fields(schema: dict[str, Any]) -> list[Field]:
    required = set(schema.get("required", ()))
    found = []
    for name, prop in schema.get("properties", {}).items():
        kind, link = type_of(prop)
        found.append(
            Field(name, kind, name in required, str(prop.get("description", "")), link=link)
        )
    return found


def _operations(document: dict[str, Any]) -> list[Section]:
    sections: dict[str, Section] = {}
    for path, item in document["paths"].items():
        for method, op in item.items():
            params = []
            for p in op.get("parameters", []):
                kind, link = type_of(p["schema"])
                params.append(
                    Field(
                        f"{p['name']} ({p['in']})",
                        kind,
                        bool(p.get("required")),
                        str(p.get("description", "")),
                        link=link,
                    )
                )
            body = None
            if "requestBody" in op:
                body, _ = type_of(op["requestBody"]["content"]["application/json"]["schema"])
            answers = []
            for status, answer in sorted(op["responses"].items()):
                shown: tuple[str | None, str | None, str | None] = (None, None, None)
                for media_type, content in answer.get("content", {}).items():
                    shown = (media_type, *type_of(content["schema"]))
                answers.append(Answer(status, answer["description"], *shown))
            tag = op.get("tags", ["admin"])[0]
            sections.setdefault(tag, Section(tag)).operations.append(
                Operation(
                    anchor=op["operationId"],
                    method=method.upper(),
                    path=path,
                    summary=op.get("summary", ""),
                    description=op.get("description", ""),
                    public=not op.get("security"),
                    params=params,
                    body=body,
                    answers=answers,
                )
            )
    return list(sections.values())


def render_docs(document: dict[str, Any]) -> str:
    schemas = document["components"]["schemas"]
    return ENV.get_template("api_docs.html").render(
        info=document["info"],
        about=document["info"].get("description", "").split("\n\n"),
        sections=_operations(document),
        schemas=[
            (name, str(schema.get("description", "")), _fields(schema), type_of(schema)[0])
            for name, schema in sorted(schemas.items())
        ],
    )


DOCS_PAGE = web.AppKey("api_docs_page", str)


async def serve_docs(request: web.Request) -> web.Response:
    # Rendered once, at setup: the document never changes while the gateway runs.
    page = request.app[DOCS_PAGE]
    response = web.Response(text=page, content_type="text/html", charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    return response
