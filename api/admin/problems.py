"""Errors of the `/api/v1` routes as RFC 9457 problem details (`application/problem+json`).

Every error the gateway renders (`api.http.error_response`: the handlers' problems, the
router's 404 and 405, the body limit's 413, the 500 of a crash) is a JSON object with `error`
and `message`; under `/api/v1` this middleware, placed outside the error middleware, turns it
into a problem object keeping those two fields, so clients written before keep working. Other
routes (webhooks, the console) keep their own answers."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aiohttp import web

from api.http import Handler

PREFIX = "/api/v1"
PROBLEM_JSON = "application/problem+json"


def problem_body(status: int, detail: str, instance: str) -> dict[str, Any]:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "error": title.lower().replace(" ", "_"),
        "message": detail,
    }


def _is_api(request: web.Request) -> bool:
    path = request.path
    return path == PREFIX or path.startswith(PREFIX + "/")


@web.middleware
async def problem_details(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if response.status < 400 or not _is_api(request) or not isinstance(response, web.Response):
        return response
    if response.content_type != "application/json" or not isinstance(response.body, bytes):
        return response
    try:
        rendered = json.loads(response.body)
    except ValueError:
        return response
    if not (isinstance(rendered, dict) and isinstance(rendered.get("message"), str)):
        return response
    # The raw path (percent-encoded as sent) is a valid URI reference; the query is left out.
    body = problem_body(response.status, rendered["message"], request.rel_url.raw_path)
    response.body = json.dumps(body, ensure_ascii=False).encode()
    response.content_type = PROBLEM_JSON
    response.charset = "utf-8"
    return response
