"""URL training sources are fetched after approval and re-fetched on restore; text sources
restore exactly. A local aiohttp server plays the customer's help pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from cli.seed import Seeded, seed_workspace
from core.approvals.proposals import Change, apply_changes
from core.training.fetch import (
    NotPublicAddress,
    PublicOnlyResolver,
    TrainingFetcher,
    readable_text,
    request_fetch,
)
from storage.db import Database
from storage.domain import Proposal, Snapshot, TrainingSource
from storage.models import Base
from storage.types import utcnow
from tests.api import ClientFactory, finished_task
from tests.factories import make_api_key
from tests.helpers import wait_until
from tests.write_cases import ask

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
OWNER = "olivia@demo.example"

PAGE = """<!doctype html><html><head><title>FAQ</title><style>p {{ color: red }}</style>
<script>var tracking = "do not keep";</script></head>
<body><nav>Home | Pricing | Login</nav>
<h1>Shipping &amp; returns</h1><p>{answer}</p>
<ul><li>Canada: 5-8 days</li><li>EU: 3-5 days</li></ul>
<footer>© Demo Co</footer></body></html>"""


@dataclass
class HelpSite:
    """The customer's site: pages by path; records every request."""

    pages: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (type, body)
    requests: list[str] = field(default_factory=list)
    hold: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path)
        if request.path == "/old-faq":
            raise web.HTTPFound("/faq")
        if request.path == "/slow":
            await self.hold.wait()  # answers only when the test says so
        if request.path == "/big":
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await response.prepare(request)
            for _ in range(64):
                await response.write(b"x" * 1024)
            return response
        if request.path not in self.pages:
            raise web.HTTPNotFound()
        content_type, body = self.pages[request.path]
        return web.Response(body=body.encode(), content_type=content_type, charset="utf-8")


@pytest.fixture
async def site() -> AsyncIterator[tuple[HelpSite, TestServer]]:
    pages = HelpSite()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", pages.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield pages, server
    finally:
        pages.hold.set()
        await server.close()


async def _source(db: Database, source_id: int) -> TrainingSource:
    async with db.session() as session:
        row = await session.get(TrainingSource, source_id)
        assert row is not None
        return row


async def _approve(
    db: Database, seeded: Seeded, tool: str, args: dict[str, Any], at: datetime
) -> tuple[str, Proposal]:
    """The owner asks at AT and approves five seconds later: the proposal text and the row."""
    (reply,) = await ask(db, seeded, OWNER, tool, args, at)
    assert reply.kind == "proposal", reply.text
    code = reply.data["proposal"]["code"]
    approval = ("approve_proposal", {"code": code})
    (done,) = await ask(db, seeded, OWNER, *approval, at + timedelta(seconds=5))
    assert done.text.startswith("Done:"), done.text
    async with db.session() as session:
        proposal = await session.get(Proposal, reply.data["proposal"]["id"])
        assert proposal is not None
        return reply.text, proposal


async def _restore(
    db: Database, seeded: Seeded, write: Proposal, at: datetime
) -> tuple[str, Proposal]:
    """Restore the state from before WRITE, approved."""
    snap = await _snapshot_of(db, write)
    return await _approve(db, seeded, "restore_snapshot", {"snapshot_id": snap.id}, at)


async def _snapshot_of(db: Database, proposal: Proposal) -> Snapshot:
    async with db.session() as session:
        snap = await session.scalar(select(Snapshot).where(Snapshot.proposal_id == proposal.id))
        assert snap is not None
        return snap


async def _url_source(db: Database, url: str) -> TrainingSource | None:
    async with db.session() as session:
        return await session.scalar(select(TrainingSource).where(TrainingSource.url == url))


async def test_a_restored_url_source_is_fetched_again_from_its_page(
    db: Database, site: tuple[HelpSite, TestServer]
) -> None:
    pages, server = site
    url = str(server.make_url("/faq"))
    pages.pages["/faq"] = ("text/html", PAGE.format(answer="We ship to Canada."))
    async with db.session() as session:
        seeded = await seed_workspace(session, now=NOW)

    async with TrainingFetcher(db, allow_private_hosts=True) as fetcher:
        # Added: nothing is fetched inside the approval; the worker fetches once it committed.
        _, added = await _approve(db, seeded, "add_training_source", {"url": url}, NOW)
        source = await _url_source(db, url)
        assert source is not None
        assert (source.fetch_status, source.content, pages.requests) == ("pending", None, [])
        assert await fetcher.fetch_due() == 1
        source = await _source(db, source.id)
        assert source.fetch_status == "fetched" and source.fetch_error is None
        assert source.content == (
            "Shipping & returns\nWe ship to Canada.\nCanada: 5-8 days\nEU: 3-5 days"
        )
        assert source.fetched_at is not None
        assert await fetcher.fetch_due() == 0  # fetched once

        # Restoring the add removes the source; restoring that brings it back, re-fetched:
        # the page says something new, and the snapshot's old text does not win.
        _, removed = await _restore(db, seeded, added, NOW + timedelta(hours=1))
        assert await _url_source(db, url) is None
        pages.pages["/faq"] = ("text/html", PAGE.format(answer="We now ship worldwide."))
        text, back = await _restore(db, seeded, removed, NOW + timedelta(hours=2))
        assert "re-fetched from their pages" in text
        source = await _source(db, source.id)
        assert source.fetch_status == "pending" and "Canada." in (source.content or "")
        assert await fetcher.fetch_due() == 1
        source = await _source(db, source.id)
        assert source.fetch_status == "fetched"
        assert source.content == (
            "Shipping & returns\nWe now ship worldwide.\nCanada: 5-8 days\nEU: 3-5 days"
        )
        assert pages.requests == ["/faq", "/faq"]

        # The site is down at the next restore: the restore stands, the fetch failed and says why.
        _, gone = await _restore(db, seeded, back, NOW + timedelta(hours=3))
        assert await _url_source(db, url) is None
        port = server.port
        await server.close()
        _, again = await _restore(db, seeded, gone, NOW + timedelta(hours=4))
        assert await fetcher.fetch_due() == 1
        source = await _source(db, source.id)
        assert (source.active, source.fetch_status) == (True, "failed")
        assert (
            source.fetch_error or ""
        ) == f"cannot connect to 127.0.0.1:{port} (connection refused)"
        assert "worldwide" in (source.content or "")  # the last good text stays
        assert (await _snapshot_of(db, again)).before  # the restore itself was recorded
        async with db.session() as session:
            restored = await session.get(Snapshot, (await _snapshot_of(db, gone)).id)
            assert restored is not None
            assert restored.restored_at == NOW + timedelta(hours=4, seconds=5)


async def test_a_text_source_restores_exactly_and_is_not_fetched(db: Database) -> None:
    async with db.session() as session:
        seeded = await seed_workspace(session, now=NOW)
        text = await session.scalar(select(TrainingSource).where(TrainingSource.kind == "text"))
        assert text is not None
        original = text.content
        # An earlier write replaced its text (as a snapshot records it), then it was removed.
        edit = Change(
            entity="training_source",
            key=str(text.id),
            field="content",
            before=original,
            after="Returns within 14 days.",
            label=f"training source {text.id} text",
        )
        await apply_changes(session, seeded.workspace_id, [edit])
        session.add(
            Snapshot(
                workspace_id=seeded.workspace_id,
                member_id=seeded.member_ids[OWNER],
                summary="edit the returns policy",
                before=[edit.model_dump(mode="json")],
                created_at=NOW - timedelta(days=3),
            )
        )
    async with db.session() as session:
        snap_id = await session.scalar(
            select(Snapshot.id).where(Snapshot.summary == "edit the returns policy")
        )

    (reply,) = await ask(db, seeded, OWNER, "restore_snapshot", {"snapshot_id": snap_id}, NOW)
    assert reply.kind == "proposal" and "re-fetched" not in reply.text
    (done,) = await ask(
        db, seeded, OWNER, "approve_proposal", {"code": reply.data["proposal"]["code"]}, NOW
    )
    assert done.text.startswith("Done:"), done.text

    restored = await _source(db, text.id)
    assert restored.content == original
    assert restored.fetch_status is None


async def test_fetch_failures_are_recorded_with_their_reason(
    db: Database, site: tuple[HelpSite, TestServer]
) -> None:
    pages, server = site
    pages.pages["/logo.png"] = ("image/png", "not really a png")
    pages.pages["/empty"] = ("text/html", "<html><body><script>x()</script></body></html>")
    pages.pages["/faq"] = ("text/plain", "Plain  answers\n\nhere.")
    async with db.session() as session:
        seeded = await seed_workspace(session, now=NOW)
    paths = ["/missing", "/logo.png", "/empty", "/big", "/slow", "/old-faq"]
    ids: dict[str, int] = {}
    async with db.session() as session:
        for path in paths:
            row = TrainingSource(
                workspace_id=seeded.workspace_id,
                kind="url",
                url=str(server.make_url(path)),
                title=path,
            )
            session.add(row)
            await session.flush()
            ids[path] = row.id
        await request_fetch(session, seeded.workspace_id, ids.values())

    async with TrainingFetcher(
        db, allow_private_hosts=True, timeout=0.5, max_bytes=16 * 1024, batch=10
    ) as fetcher:
        assert await fetcher.fetch_due() == len(paths)

    found = {path: await _source(db, source_id) for path, source_id in ids.items()}
    assert {p: (s.fetch_status, s.fetch_error) for p, s in found.items()} == {
        "/missing": ("failed", "HTTP 404 Not Found"),
        "/logo.png": ("failed", "the page is image/png, not HTML or text"),
        "/empty": ("failed", "the page has no readable text"),
        "/big": ("failed", "the page is larger than 16 KiB"),
        "/slow": ("failed", "no complete answer within 0.5 seconds"),
        "/old-faq": ("fetched", None),  # followed the redirect to a plain-text page
    }
    assert found["/old-faq"].content == "Plain answers\nhere."
    assert all(s.fetched_at is not None for s in found.values())


async def test_a_source_asked_for_again_while_fetching_drops_the_older_result(
    db: Database, site: tuple[HelpSite, TestServer]
) -> None:
    pages, server = site
    pages.pages["/faq"] = ("text/plain", "First version.")
    async with db.session() as session:
        seeded = await seed_workspace(session, now=NOW)
        row = TrainingSource(
            workspace_id=seeded.workspace_id, kind="url", url=str(server.make_url("/faq"))
        )
        session.add(row)
        await session.flush()
        source_id = row.id
        await request_fetch(session, seeded.workspace_id, [source_id])

    async with TrainingFetcher(db, allow_private_hosts=True) as fetcher:
        (claimed,) = await fetcher.claim()
        async with db.session() as session:  # restored again while the first fetch runs
            await request_fetch(session, seeded.workspace_id, [source_id])
        await fetcher.fetch(claimed)
        source = await _source(db, source_id)
        assert (source.fetch_status, source.content) == ("pending", None)

        # A node that died mid-fetch leaves a lease that runs out; another node takes it over.
        (claimed,) = await fetcher.claim()
        async with db.session() as session:
            await session.execute(
                update(TrainingSource)
                .where(TrainingSource.id == source_id)
                .values(fetch_lease_until=utcnow() - timedelta(seconds=1))
            )
        assert await fetcher.fetch_due() == 1
        source = await _source(db, source_id)
        assert (source.fetch_status, source.content) == ("fetched", "First version.")


def test_readable_text_keeps_what_a_reader_sees() -> None:
    html = PAGE.format(answer="Refunds take <b>10</b>&nbsp;days.").encode()
    assert readable_text("text/html", html, "utf-8") == (
        "Shipping & returns\nRefunds take 10 days.\nCanada: 5-8 days\nEU: 3-5 days"
    )


async def test_hosts_on_private_networks_are_refused() -> None:
    resolver = PublicOnlyResolver()
    try:
        with pytest.raises(NotPublicAddress, match=r"localhost resolves to 127\.0\.0\.1"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()


async def test_the_gateway_fetches_after_approval_and_refuses_its_own_network(
    db: Database, make_client: ClientFactory, site: tuple[HelpSite, TestServer]
) -> None:
    pages, server = site
    pages.pages["/faq"] = ("text/plain", "Internal notes.")
    async with db.session() as session:
        seeded = await seed_workspace(session, now=utcnow() - timedelta(minutes=1))
        key = await make_api_key(session, seeded.workspace_id)
    client = await make_client()
    auth = {"Authorization": f"Bearer {key.secret}"}
    url = str(server.make_url("/faq"))
    text = f"add {url} as a training source"
    asked = await client.post(
        "/api/v1/messages", json={"member": OWNER, "text": text}, headers=auth
    )
    assert asked.status == 202
    task = await finished_task(client, (await asked.json())["task_id"], **auth)
    code = task["replies"][0]["proposal"]["code"]
    approved = await client.post(
        "/api/v1/messages", json={"member": OWNER, "text": f"approve {code}"}, headers=auth
    )
    assert approved.status == 202

    async def settled() -> dict[str, Any] | None:
        response = await client.get("/api/v1/training/sources", headers=auth)
        items = [s for s in (await response.json())["items"] if s["url"] == url]
        return items[0] if items and items[0]["fetch_status"] == "failed" else None

    source = await wait_until(settled, timeout=10)
    assert source["fetch_error"] == "127.0.0.1 is not a public address"
    assert source["fetched_at"] is not None
    assert pages.requests == []  # the gateway never called into its own network


async def test_a_name_resolving_to_a_private_address_is_refused(
    db: Database, site: tuple[HelpSite, TestServer]
) -> None:
    pages, server = site
    pages.pages["/faq"] = ("text/plain", "Internal notes.")
    async with db.session() as session:
        seeded = await seed_workspace(session, now=NOW)
        row = TrainingSource(
            workspace_id=seeded.workspace_id,
            kind="url",
            url=f"http://localhost:{server.port}/faq",
        )
        session.add(row)
        await session.flush()
        await request_fetch(session, seeded.workspace_id, [row.id])

    async with TrainingFetcher(db) as fetcher:
        assert await fetcher.fetch_due() == 1

    source = await _source(db, row.id)
    assert (source.fetch_status, source.fetch_error) == (
        "failed",
        "localhost resolves to 127.0.0.1, 127.0.0.1 is not a public address",
    )
    assert pages.requests == []


async def test_the_migrations_build_the_fetch_columns_the_model_declares(db: Database) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [d for d in compare_metadata(context, Base.metadata) if "training_sources" in str(d)]

    async with db.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
