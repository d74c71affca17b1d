"""Real processes: SIGKILL after the 202 loses nothing; two nodes on PostgreSQL share the work."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from core.team import directory
from storage.db import Database
from storage.models import OutboxRow, TaskRow
from tests.helpers import wait_until
from tests.process import GatewayProcess


async def _seed(url: str) -> str:
    """Acme with Olivia; returns an API key of the workspace (the web channel needs one)."""
    db = Database(url)
    await db.migrate()
    async with db.session() as session:
        ws = await directory.create_workspace(session, "Acme")
        await directory.add_member(
            session, ws.id, name="Olivia", role="owner", email="olivia@acme.test"
        )
        key = await directory.create_api_key(session, ws.id)
    await db.dispose()
    return key.secret


async def _counts(url: str) -> dict[str, Any]:
    db = Database(url)
    try:
        async with db.session() as session:
            tasks = (
                await session.execute(select(TaskRow.status, TaskRow.claimed_by, TaskRow.attempts))
            ).all()
            replies = (
                await session.execute(
                    select(OutboxRow.task_id, func.count()).group_by(OutboxRow.task_id)
                )
            ).all()
            sent = await session.scalar(
                select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "sent")
            )
    finally:
        await db.dispose()
    return {"tasks": tasks, "replies": dict(replies), "sent": sent}


async def _post(
    http: aiohttp.ClientSession, base: str, text: str, key: str, *, api_key: str
) -> str:
    async with http.post(
        f"{base}/api/v1/messages",
        json={"member": "olivia@acme.test", "text": text},
        headers={"Idempotency-Key": key, "Authorization": f"Bearer {api_key}"},
    ) as resp:
        assert resp.status == 202, await resp.text()
        return str((await resp.json())["task_id"])


async def test_sigkill_after_202_still_yields_exactly_one_reply(
    database_url: str, tmp_path: Path
) -> None:
    api_key = await _seed(database_url)
    env = {"DATABASE_URL": database_url, "SWITCHBOARD_AUTO_MIGRATE": "true"}
    # Ingest only, so the kill certainly lands between the 202 and the processing.
    node = await GatewayProcess({**env, "SWITCHBOARD_WORKERS": "0"}, tmp_path).start()
    async with aiohttp.ClientSession() as http:
        task_ids = [await _post(http, node.url, "help", f"k{i}", api_key=api_key) for i in range(5)]
        await node.kill()

        restarted = await GatewayProcess(env, tmp_path).start()
        try:

            async def all_answered() -> bool:
                counts = await _counts(database_url)
                return counts["sent"] == 5

            await wait_until(all_answered, timeout=30)
            # A provider retry of an acknowledged request after the restart is not a new task.
            again = await _post(http, restarted.url, "help", "k0", api_key=api_key)
            assert again == task_ids[0]
        finally:
            assert await restarted.stop() == 0
    counts = await _counts(database_url)
    assert len(counts["tasks"]) == 5
    assert all(status == "done" for status, _, _ in counts["tasks"])
    assert counts["replies"] == {task_id: 1 for task_id in task_ids}


async def test_sigkill_while_processing_yields_exactly_one_reply(
    database_url: str, tmp_path: Path
) -> None:
    api_key = await _seed(database_url)
    env = {
        "DATABASE_URL": database_url,
        "SWITCHBOARD_AUTO_MIGRATE": "true",
        "SWITCHBOARD_TASK_LEASE_SECONDS": "1",
    }
    node = await GatewayProcess(env, tmp_path).start()
    async with aiohttp.ClientSession() as http:
        task_ids = await asyncio.gather(
            *(_post(http, node.url, "help", f"k{i}", api_key=api_key) for i in range(40))
        )
    await node.kill()  # some tasks done, some claimed mid-flight, some queued
    restarted = await GatewayProcess(env, tmp_path).start()
    try:

        async def all_done() -> bool:
            counts = await _counts(database_url)
            return all(s == "done" for s, _, _ in counts["tasks"]) and counts["sent"] == 40

        await wait_until(all_done, timeout=30)
    finally:
        await restarted.stop()
    counts = await _counts(database_url)
    assert counts["replies"] == {task_id: 1 for task_id in task_ids}


async def test_two_nodes_share_one_postgres_without_double_processing(
    postgres_url: str, tmp_path: Path
) -> None:
    api_key = await _seed(postgres_url)
    env = {"DATABASE_URL": postgres_url, "SWITCHBOARD_WORKERS": "2"}
    nodes = [await GatewayProcess(env, tmp_path).start() for _ in range(2)]
    try:
        async with aiohttp.ClientSession() as http:
            task_ids = await asyncio.gather(
                *(
                    _post(http, nodes[i % 2].url, f"help {i}", f"m{i}", api_key=api_key)
                    for i in range(120)
                )
            )

        async def all_sent() -> bool:
            return (await _counts(postgres_url))["sent"] == 120

        await wait_until(all_sent, timeout=60)
    finally:
        for node in nodes:
            await node.stop()
    counts = await _counts(postgres_url)
    assert counts["replies"] == {task_id: 1 for task_id in task_ids}
    assert all(attempts == 1 for _, _, attempts in counts["tasks"])  # nobody processed twice
    processed_by = {claimed_by.rsplit(":", 2)[1] for _, claimed_by, _ in counts["tasks"]}
    assert len(processed_by) == 2, "both nodes should have taken part"
