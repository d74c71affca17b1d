"""The reference: a bare aiohttp handler that reads and parses the same body and answers 202."""

from __future__ import annotations

import asyncio
import json
import uuid

from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    body = json.loads(await request.read())
    if not isinstance(body, dict) or "member" not in body or "text" not in body:
        return web.json_response({"error": "bad_request"}, status=400)
    return web.json_response({"task_id": uuid.uuid4().hex, "duplicate": False}, status=202)


async def run() -> None:
    app = web.Application()
    app.router.add_post("/api/v1/messages", accept)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"reference listening on http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(run())
