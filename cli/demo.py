"""`main.py demo`: seed a demo workspace and play a short conversation through the web channel."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from sqlalchemy import select

from api.app import build_app
from cli.seed import TEAM, seed_workspace
from config import Settings
from core.team import directory
from storage.db import Database
from storage.models import Workspace
from storage.types import utcnow

DEMO_WORKSPACE = "Demo Co"
SCRIPT = [
    ("olivia@demo.example", "hi, what can you do?"),
    ("olivia@demo.example", "what's our resolution rate this week?"),
    ("olivia@demo.example", "what are customers mostly asking about this month?"),
    ("maria@demo.example", "show open urgent assists"),
    ("maria@demo.example", "show me A-1040"),
    ("olivia@demo.example", "any knowledge gaps?"),
    ("sam@demo.example", "close A-1041"),
]


async def seed(db: Database) -> str:
    """Create the demo workspace once; returns its id."""
    async with db.session() as session:
        ws = await session.scalar(select(Workspace).where(Workspace.name == DEMO_WORKSPACE))
        if ws is not None:
            return ws.id
        seeded = await seed_workspace(session, name=DEMO_WORKSPACE, now=utcnow())
        return seeded.workspace_id


async def _demo_key(db: Database, workspace_id: str) -> directory.NewApiKey:
    """A key for the script's web requests (the web channel is never open for the demo)."""
    async with db.session() as session:
        return await directory.create_api_key(session, workspace_id, name="demo", actor="demo")


async def _revoke(settings: Settings, key: directory.NewApiKey) -> None:
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            await directory.revoke_api_key(session, key.workspace_id, key.id, actor="demo")
    finally:
        await db.dispose()


async def run_demo(settings: Settings) -> int:
    db = Database(settings.database_url)
    try:
        await db.migrate()
        workspace_id = await seed(db)
        key = await _demo_key(db, workspace_id)
    finally:
        await db.dispose()
    print(f"Seeded workspace {DEMO_WORKSPACE!r} ({workspace_id}) with {len(TEAM)} members.\n")
    try:
        await _play(settings.model_copy(update={"switchboard_port": 0}), key.secret)
    finally:
        await _revoke(settings, key)
    return 0


async def _play(settings: Settings, api_key: str) -> None:
    """Serve the gateway on an ephemeral port and play SCRIPT through its web channel."""
    runner = web.AppRunner(build_app(settings))
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}/api/v1"
        auth = {"Authorization": f"Bearer {api_key}"}
        async with aiohttp.ClientSession(headers=auth) as http:
            for member, text in SCRIPT:
                print(f"[web] {member}: {text}")
                body = {"member": member, "text": text}
                async with http.post(f"{base}/messages", json=body) as r:
                    task_id = (await r.json())["task_id"]
                for _ in range(200):
                    async with http.get(f"{base}/tasks/{task_id}") as r:
                        task = await r.json()
                    if task["status"] in ("done", "failed"):
                        break
                    await asyncio.sleep(0.05)
                for reply in task["replies"]:
                    print(f"[web] switchboard → {member}:\n{reply['text']}\n")
    finally:
        await runner.cleanup()
