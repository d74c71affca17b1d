"""Two nodes (two engines on one PostgreSQL database) taking arrivals and handing out at the
same time: no assist is assigned twice and no member goes past their cap."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from core.assists.records import create_assist
from core.routing.assignment import assign
from storage.db import Database
from storage.domain import Assist
from storage.models import Member
from tests.factories import make_member, make_workspace

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CAPS = {"Olivia": 3, "Sam": 4, "Mia": 2}


@pytest.fixture
async def nodes(postgres_url: str) -> AsyncIterator[tuple[Database, Database]]:
    first, second = Database(postgres_url), Database(postgres_url)
    await first.migrate()
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


async def _team(db: Database, availability: str) -> tuple[str, dict[str, str]]:
    async with db.session() as session:
        ws = await make_workspace(session, plan="enterprise")
        ids = {}
        for name, cap in CAPS.items():
            member = await make_member(session, ws.id, name=name, role="support")
            member.assist_cap = cap
            member.availability = availability
            ids[name] = member.id
    return ws.id, ids


async def _check(db: Database, ws: str, ids: dict[str, str], expected: int) -> None:
    async with db.session() as session:
        assignees = list(
            await session.scalars(select(Assist.assignee_id).where(Assist.workspace_id == ws))
        )
    counts = Counter(a for a in assignees if a is not None)
    for name, cap in CAPS.items():
        assert counts[ids[name]] == cap, name  # filled to the cap, never past it
    assert sum(counts.values()) == expected


async def test_concurrent_arrivals_on_two_nodes_never_exceed_a_cap(
    nodes: tuple[Database, Database],
) -> None:
    ws, ids = await _team(nodes[0], "available")

    async def arrive(db: Database, i: int) -> str | None:
        async with db.session() as session:
            assist = await create_assist(
                session, workspace_id=ws, subject=f"Arrival {i}", summary="", now=NOW
            )
            return assist.assignee_id

    results = await asyncio.gather(*(arrive(nodes[i % 2], i) for i in range(20)))
    assert sum(r is not None for r in results) == sum(CAPS.values())
    await _check(nodes[0], ws, ids, sum(CAPS.values()))


async def test_two_nodes_handing_out_the_same_backlog_assign_each_assist_once(
    nodes: tuple[Database, Database],
) -> None:
    ws, ids = await _team(nodes[0], "offline")
    async with nodes[0].session() as session:
        backlog = [
            (await create_assist(session, workspace_id=ws, subject=f"Old {i}", summary="")).id
            for i in range(12)
        ]
    async with nodes[0].session() as session:
        for member in await session.scalars(select(Member).where(Member.workspace_id == ws)):
            member.availability = "available"

    async def take(db: Database, assist_id: str) -> str | None:
        async with db.session() as session:
            member = await assign(session, assist_id, now=NOW)
            return member.id if member is not None else None

    # Both nodes try every assist of the backlog at once.
    results = await asyncio.gather(
        *(take(node, assist_id) for assist_id in backlog for node in nodes)
    )
    # Each assignment that was made is the one stored: nobody overwrote another node's.
    made = [r for r in results if r is not None]
    assert len(made) == sum(CAPS.values())
    await _check(nodes[0], ws, ids, sum(CAPS.values()))
