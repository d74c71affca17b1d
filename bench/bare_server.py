"""The reference: bare aiohttp handlers that read and parse the same bodies the gateway takes
(web JSON, a Slack Events API envelope, a Twilio Messaging form) and answer as the gateway
does, with no signature check, no database and no middleware."""

from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import parse_qsl

from aiohttp import web

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


async def accept(request: web.Request) -> web.Response:
    body = json.loads(await request.read())
    if not isinstance(body, dict) or "member" not in body or "text" not in body:
        return web.json_response({"error": "bad_request"}, status=400)
    return web.json_response({"task_id": uuid.uuid4().hex, "duplicate": False}, status=202)


async def slack_events(request: web.Request) -> web.Response:
    body = json.loads((await request.read()).decode("utf-8"))
    if not isinstance(body, dict) or body.get("type") != "event_callback":
        return web.json_response({"error": "bad_request"}, status=400)
    return web.Response(status=200)


async def twilio_sms(request: web.Request) -> web.Response:
    form = dict(parse_qsl((await request.read()).decode("utf-8"), keep_blank_values=True))
    if "MessageSid" not in form:
        return web.json_response({"error": "bad_request"}, status=400)
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


def build() -> web.Application:
    app = web.Application()
    app.router.add_post("/api/v1/messages", accept)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_post("/twilio/sms", twilio_sms)
    return app


async def run() -> None:
    runner = web.AppRunner(build(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"reference listening on http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(run())
