"""What every answer of the gateway shows about itself: /api/v1 errors as RFC 9457 problem
details (the middleware's 401, 404, 405 and 413 too), a Server header naming no versions, the
OpenAPI document describing every parameter and problem, and the API page people read."""

from __future__ import annotations

import asyncio
import re
from html.parser import HTMLParser
from typing import Any

from openapi_spec_validator import validate

from api.admin.docs import render_docs
from api.admin.routes import ENDPOINTS
from storage.db import Database
from tests.api import ClientFactory, start_gateway
from tests.console.helpers import origin, sign_in
from tests.console.live_helpers import go_live, live_team
from tests.factories import make_tenant

OFF = {"run_workers": False}
VERSIONS = re.compile(r"python|aiohttp|\d+\.\d+", re.IGNORECASE)


async def test_middleware_errors_under_api_v1_are_problem_details(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    client = await start_gateway(make_client, build=OFF, SWITCHBOARD_MAX_BODY_BYTES=1024)

    answers = {
        401: await client.get("/api/v1/members"),
        404: await client.get("/api/v1/no/such/thing", headers=tenant.auth),
        405: await client.put("/api/v1/members", headers=tenant.auth),
        413: await client.post(
            "/api/v1/members", headers=tenant.auth, json={"name": "x" * 5000, "role": "owner"}
        ),
    }

    for status, response in answers.items():
        body = await response.json()
        assert response.status == status, body
        assert response.content_type == "application/problem+json"
        assert body["type"] == "about:blank"
        assert body["status"] == status
        assert body["title"] == response.reason
        assert body["detail"] and body["detail"] == body["message"]
        assert body["instance"] == response.url.path
    assert answers[405].headers["Allow"]
    assert answers[401].headers["WWW-Authenticate"] == "Bearer"
    assert "1024 bytes" in (await answers[413].json())["detail"]


async def test_other_routes_keep_their_own_error_bodies(
    make_client: ClientFactory, db: Database
) -> None:
    client = await start_gateway(make_client, build=OFF)

    webhook = await client.post("/healthz")
    unknown = await client.get("/wp-login.php")

    for response in (webhook, unknown):
        assert response.content_type == "application/json"
        assert "type" not in await response.json()


async def test_no_answer_names_the_server_software_or_its_version(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    await live_team(db, tenant.workspace_id, [tenant.member_id])
    client = await start_gateway(make_client, build=OFF)
    await sign_in(client, db, tenant.member_id)
    await go_live(db, tenant.workspace_id, tenant.member_id)

    answers = [
        await client.get("/healthz"),
        await client.get("/api/v1/members", headers=tenant.auth),
        await client.get("/api/v1/members"),  # 401
        await client.get("/nowhere"),  # 404
        await client.get("/console/static/console.css"),  # a static file
        await client.get("/api/v1/docs"),
    ]
    ws = await client.ws_connect("/console/live/socket", headers=origin(client))
    upgrade = ws._response  # the 101 Switching Protocols answer
    await ws.close()

    assert upgrade.status == 101
    for response in [*answers, upgrade]:
        server = response.headers.get("Server", "")
        assert server == "Switchboard", (response.url, server)
        assert not VERSIONS.search(server)


async def test_a_request_the_parser_refuses_names_no_versions_either(
    make_client: ClientFactory,
) -> None:
    client = await start_gateway(make_client, build=OFF)
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = (await reader.read()).split(b"\r\n\r\n", 1)[0].decode()
    finally:
        writer.close()
        await writer.wait_closed()

    assert head.startswith("HTTP/1.0 400") or head.startswith("HTTP/1.1 400"), head
    assert "Server: Switchboard\r\n" in head + "\r\n", head


async def test_the_openapi_document_states_every_parameter_and_problem(
    make_client: ClientFactory,
) -> None:
    client = await start_gateway(make_client, build=OFF)

    document = await (await client.get("/api/v1/openapi.json")).json()

    validate(document)
    for ep in ENDPOINTS:
        operation = document["paths"][ep.path][ep.method.lower()]
        query = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
        assert list(query) == [p.name for p in ep.params], ep.path
        for param in ep.params:
            assert query[param.name]["schema"] == param.schema()
            assert query[param.name]["description"]
        for status, answer in operation["responses"].items():
            if int(status) >= 400:
                schema = answer["content"]["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}
        if "cursor" in query:
            page = operation["responses"]["200"]["content"]["application/json"]["schema"]
            name = page["$ref"].rsplit("/", 1)[1]
            properties = document["components"]["schemas"][name]["properties"]
            assert {"items", "next_cursor"} <= set(properties), ep.path
            assert query["limit"]["schema"]["maximum"] >= 200
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance"} <= set(problem["required"])


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


async def test_the_api_page_lists_every_operation_without_a_cdn(
    make_client: ClientFactory,
) -> None:
    client = await start_gateway(make_client, build=OFF)

    response = await client.get("/api/v1/docs")
    page = await response.text()

    assert response.status == 200
    assert response.content_type == "text/html"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    parsed = _Page()
    parsed.feed(page)
    text = " ".join(" ".join(parsed.text).split())
    for ep in ENDPOINTS:
        assert f"{ep.method} {ep.path}" in text, ep.path
        for param in ep.params:
            assert f"{param.name} (query)" in text
    assert "application/problem+json" in text
    assert "next_cursor" in text
    sources = [a.get("src") or a.get("href") or "" for _, a in parsed.tags]
    external = [s for s in sources if s.startswith(("http:", "https:", "//"))]
    assert external == []
    assert not [t for t, _ in parsed.tags if t == "script"]


def test_the_api_page_escapes_what_the_document_says() -> None:
    document: dict[str, Any] = {
        "info": {"title": "T <b>", "version": "1", "description": "a `<i>code</i>` & more"},
        "paths": {
            "/x": {
                "get": {
                    "operationId": "get_x",
                    "summary": "<script>alert(1)</script>",
                    "tags": ["<img src=x onerror=alert(1)>"],
                    "parameters": [
                        {
                            "name": "q<svg>",
                            "in": "query",
                            "description": '`"><script>`',
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": {"description": "<u>ok</u>"}},
                }
            }
        },
        "components": {"schemas": {"E<x>": {"type": "object", "description": "<b>e</b>"}}},
    }

    page = render_docs(document)

    parsed = _Page()
    parsed.feed(page)
    tags = {t for t, _ in parsed.tags}
    assert not tags & {"script", "img", "svg", "b", "i", "u"}
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<code>&lt;i&gt;code&lt;/i&gt;</code>" in page


async def test_the_console_links_to_the_api_page(make_client: ClientFactory, db: Database) -> None:
    tenant = await make_tenant(db)
    client = await start_gateway(make_client, build=OFF)
    await sign_in(client, db, tenant.member_id)

    page = await (await client.get("/console/inbox")).text()

    parsed = _Page()
    parsed.feed(page)
    assert "/api/v1/docs" in [a.get("href") for t, a in parsed.tags if t == "a"]


async def test_the_console_s_static_files_are_served_with_their_type_and_an_etag(
    make_client: ClientFactory,
) -> None:
    client = await start_gateway(make_client, build=OFF)
    css = await client.get("/console/static/console.css")
    assert css.status == 200
    assert css.content_type == "text/css"
    assert "body" in await css.text()
    etag = css.headers["ETag"]
    again = await client.get("/console/static/console.css", headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""
    script = await client.get("/console/static/console.js")
    assert script.status == 200 and "javascript" in script.content_type
    assert script.headers["ETag"] != etag
    icon = await client.get("/console/static/favicon.svg")
    assert (icon.status, icon.content_type) == (200, "image/svg+xml")
    for missing in ("nothing.css", "..%2Froutes.py", "%2E%2E%2Fsession.py"):
        assert (await client.get(f"/console/static/{missing}")).status == 404, missing
    assert (await client.get("/console/static/../routes.py")).status == 404
