"""The AI Inbox under test: a seeded workspace, a member signed in to the console, what the
pages show (read back from their HTML), and a Server-Sent Events reader."""

from __future__ import annotations

import asyncio
import html
import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from cli.seed import Seeded, seed_workspace
from storage.db import Database
from storage.domain import Assist, AssistEvent
from storage.types import utcnow
from tests.console.helpers import origin, sign_in

Client = TestClient[Any, Any]
OLIVIA = "olivia@demo.example"  # owner
MARIA = "maria@demo.example"  # manager
SAM = "sam@demo.example"  # support

_ROW = re.compile(r'<li data-ref="(A-\d+)"')
_ITEM = re.compile(r'<li class="item kind-([a-z_]+)(?: flagged)?" data-id="([^"]+)">')


async def seeded(db: Database, *, timezone: str = "UTC") -> Seeded:
    async with db.session() as session:
        return await seed_workspace(session, now=utcnow() - timedelta(minutes=1), timezone=timezone)


@dataclass
class Console:
    """A member signed in to the console of one gateway node."""

    client: Client
    db: Database
    csrf: str

    @classmethod
    async def open(cls, client: Client, db: Database, member_id: str) -> Console:
        console = cls(client, db, await sign_in(client, db, member_id))
        await console.page("/console/inbox")  # signed in (not sent back to the sign-in page)
        return console

    async def page(self, path: str, status: int = 200) -> str:
        response = await self.client.get(path, allow_redirects=False)
        body = await response.text()
        assert response.status == status, (path, response.status, body[:500])
        return body

    async def post(
        self, path: str, data: dict[str, str], *, csrf: bool = True, status: int = 303
    ) -> ClientResponse:
        form = {**data, "csrf_token": self.csrf} if csrf else dict(data)
        response = await self.client.post(
            path, data=form, headers=origin(self.client), allow_redirects=False
        )
        assert response.status == status, (path, response.status, (await response.text())[:500])
        return response

    async def post_json(self, path: str, body: dict[str, Any], status: int = 200) -> Any:
        response = await self.client.post(
            path,
            json=body,
            headers={**origin(self.client), "X-CSRF-Token": self.csrf},
            allow_redirects=False,
        )
        text = await response.text()
        assert response.status == status, (path, response.status, text[:500])
        return json.loads(text) if response.content_type == "application/json" else text


def listed(page: str) -> list[str]:
    """The assist references the inbox list shows, top to bottom."""
    return _ROW.findall(page)


def list_section(page: str) -> str:
    start = page.index('id="assist-list"')
    return page[start : page.index("</ul>", start)]


def row_html(page: str, ref: str) -> str:
    start = page.index(f'<li data-ref="{ref}"')
    return page[start : page.index("</li>", start)]


def timeline(page: str) -> list[tuple[str, str]]:
    """(kind, id) of each entry of an assist page's conversation, top to bottom."""
    start = page.index('id="timeline"')
    section = page[start : page.index("</ol>", start)]
    return _ITEM.findall(section)


def timeline_texts(page: str) -> list[str]:
    start = page.index('id="timeline"')
    section = page[start : page.index("</ol>", start)]
    return [html.unescape(t) for t in re.findall(r'<div class="body">(.*?)</div>', section, re.S)]


def textarea(page: str, element_id: str) -> str:
    found = re.search(rf'<textarea id="{element_id}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found is not None, f"no textarea #{element_id}"
    return html.unescape(found.group(1))


def flash(page: str) -> str:
    found = re.search(r'id="flash">(.*?)</p>', page, re.S)
    assert found is not None, "the page shows no message"
    return html.unescape(found.group(1))


async def assist_row(db: Database, workspace_id: str, number: int) -> Assist:
    async with db.session() as session:
        row = await session.scalar(
            select(Assist).where(Assist.workspace_id == workspace_id, Assist.number == number)
        )
        assert row is not None
        return row


async def events_of(db: Database, assist_id: str) -> list[AssistEvent]:
    async with db.session() as session:
        return list(
            await session.scalars(
                select(AssistEvent)
                .where(AssistEvent.assist_id == assist_id)
                .order_by(AssistEvent.created_at, AssistEvent.id)
            )
        )


@dataclass
class EventStream:
    """A console's open `/console/events` stream, read event by event."""

    response: ClientResponse
    seen: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @classmethod
    async def open(cls, client: Client) -> EventStream:
        response = await client.get("/console/events", headers={"Accept": "text/event-stream"})
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        stream = cls(response)
        await stream.until("hello")  # from here on, every change is heard
        return stream

    async def _next(self) -> tuple[str, dict[str, Any]]:
        kind, data = "message", ""
        while True:
            line = (await self.response.content.readline()).decode()
            if line == "":
                raise EOFError("the stream ended")
            line = line.rstrip("\n")
            if line == "":
                if data:
                    return kind, json.loads(data)
                kind = "message"
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            if name == "event":
                kind = value
            elif name == "data":
                data += value

    async def until(self, kind: str, timeout: float = 10.0, **wanted: Any) -> dict[str, Any]:  # noqa: ASYNC109 - a bounded wait
        """The first event of KIND whose data holds WANTED, within TIMEOUT seconds."""

        async def find() -> dict[str, Any]:
            while True:
                event_kind, data = await self._next()
                self.seen.append((event_kind, data))
                if event_kind == kind and all(data.get(k) == v for k, v in wanted.items()):
                    return data

        return await asyncio.wait_for(find(), timeout)

    def close(self) -> None:
        self.response.close()
