"""`main.py demo`: seed a demo workspace and play a short conversation through the web channel."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from sqlalchemy import select

from api.app import build_app
from config import Settings
from core import directory
from storage.db import Database
from storage.models import Member, Workspace

DEMO_WORKSPACE = "Demo Co"
TEAM = [
    ("Olivia Owner", "owner", "olivia@demo.example", {"sms": "+15550100001", "slack": "U0DEMO001"}),
    ("Adam Admin", "admin", "adam@demo.example", {"telegram": "100200300"}),
    ("Maria Lopez", "manager", "maria@demo.example", {}),
    ("Sam Support", "support", "sam@demo.example", {}),
]
SCRIPT = [
    ("olivia@demo.example", "hi, what can you do?"),
    ("sam@demo.example", "help"),
]


async def seed(db: Database) -> str:
    """Create the demo workspace and team once; returns its id."""
    async with db.session() as session:
        ws = await session.scalar(select(Workspace).where(Workspace.name == DEMO_WORKSPACE))
        if ws is None:
            ws = await directory.create_workspace(session, DEMO_WORKSPACE, plan="enterprise")
        for name, role, email, links in TEAM:
            exists = await session.scalar(
                select(Member.id).where(Member.workspace_id == ws.id, Member.email == email)
            )
            if exists is None:
                await directory.add_member(
                    session, ws.id, name=name, role=role, email=email, identities=links
                )
        return ws.id


async def run_demo(settings: Settings) -> int:
    db = Database(settings.database_url)
    try:
        await db.migrate()
        workspace_id = await seed(db)
    finally:
        await db.dispose()
    print(f"Seeded workspace {DEMO_WORKSPACE!r} ({workspace_id}) with {len(TEAM)} members.\n")
    demo_settings = settings.model_copy(update={"switchboard_port": 0, "web_auth": "open"})
    runner = web.AppRunner(build_app(demo_settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        async with aiohttp.ClientSession() as http:
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
    return 0
