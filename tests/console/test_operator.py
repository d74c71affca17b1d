"""The operator panel and History, over HTTP: the member's messages become web tasks the
pipeline answers; proposals are approved or rejected from the page, once; Restore proposes."""

from __future__ import annotations

import re
from datetime import timedelta
from html import escape
from typing import Any

import markupsafe
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update

from cli.seed import Seeded, seed_workspace
from core.approvals.proposals import Change
from core.reports import analytics
from storage.db import Database
from storage.domain import Assist, Conversation, Proposal, Snapshot
from storage.models import TaskRow
from storage.types import utcnow
from tests.console.helpers import origin, sign_in
from tests.factories import make_tenant
from tests.helpers import wait_until

OLIVIA = "olivia@demo.example"  # owner
MARIA = "maria@demo.example"  # manager
SAM = "sam@demo.example"  # support

Client = TestClient[Any, Any]


@pytest.fixture
async def seeded(db: Database) -> Seeded:
    async with db.session() as session:
        found = await seed_workspace(session, now=utcnow() - timedelta(minutes=1))
        # The seed files A-1042 as high already; the request below must change something.
        await session.execute(
            update(Assist)
            .where(Assist.workspace_id == found.workspace_id, Assist.number == 1042)
            .values(priority="normal")
        )
        return found


def _json_headers(client: Client, csrf: str) -> dict[str, str]:
    return {**origin(client), "X-CSRF-Token": csrf, "Accept": "application/json"}


async def _finished(client: Client, task_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        response = await client.get(
            f"/console/operator/tasks/{task_id}", headers={"Accept": "application/json"}
        )
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body if body["finished"] else None

    return await wait_until(done, timeout=15)


async def _ask(client: Client, csrf: str, text: str) -> dict[str, Any]:
    response = await client.post(
        "/console/operator/messages", json={"text": text}, headers=_json_headers(client, csrf)
    )
    assert response.status == 202, await response.text()
    return await _finished(client, (await response.json())["task_id"])


async def _decide(client: Client, csrf: str, proposal_id: str, decision: str) -> dict[str, Any]:
    response = await client.post(
        f"/console/operator/proposals/{proposal_id}/decision",
        json={"decision": decision},
        headers=_json_headers(client, csrf),
    )
    assert response.status == 202, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def _priority(db: Database, workspace_id: str, number: int) -> str:
    async with db.session() as session:
        value = await session.scalar(
            select(Assist.priority).where(
                Assist.workspace_id == workspace_id, Assist.number == number
            )
        )
        assert value is not None
        return value


async def _tasks_of(db: Database, member_id: str) -> int:
    async with db.session() as session:
        return (
            await session.scalar(
                select(func.count())
                .select_from(TaskRow)
                .where(TaskRow.sender_address == member_id, TaskRow.channel == "web")
            )
            or 0
        )


async def _resolution_rate_this_week(db: Database, workspace_id: str) -> str:
    """Counted here from the rows, not through the code under test."""
    window, _ = analytics.windows("this_week", utcnow(), "UTC")
    async with db.session() as session:
        rows = list(
            await session.execute(
                select(Conversation.resolved_by_ai).where(
                    Conversation.workspace_id == workspace_id,
                    Conversation.started_at >= window.start,
                    Conversation.started_at < window.end,
                )
            )
        )
    if not rows:
        return "no data"  # early in the week, before its first conversation
    return f"{100 * sum(1 for (solved,) in rows if solved) / len(rows):.1f}%"


async def test_a_read_comes_back_as_a_card_with_its_chart_and_next_step(
    db: Database, make_client: Any, seeded: Seeded
) -> None:
    client = await make_client()
    csrf = await sign_in(client, db, seeded.member_ids[OLIVIA])
    expected = await _resolution_rate_this_week(db, seeded.workspace_id)

    opened = await client.get("/console/operator")
    assert opened.status == 200
    html = await opened.text()
    # The live snapshot and what the operator can help with, before anything is asked.
    assert "AI resolution rate, this week" in html and expected in html
    assert "Unassigned assists" in html and "Knowledge gaps" in html
    assert "Do you ship to Canada?" in html  # the most asked open gap
    assert "What I can help with" in html and "Set assist priority" in html
    assert 'for="message">Ask the operator<' in html and "autofocus" in html
    assert 'href="/console/history"' in html and 'aria-label="History"' in html

    exchange = await _ask(client, csrf, "how is our resolution rate this week?")
    assert exchange["status"] == "done"
    (card,) = exchange["replies"]
    assert card["kind"] == "card"
    assert card["title"] == "Resolution rate, this week"
    shown = {f["label"]: f["value"] for f in card["fields"]}
    assert shown["Resolution rate"] == expected
    assert card["next_step"]
    chart = await client.get(card["chart_url"])
    assert chart.status == 200 and chart.content_type == "image/png"
    assert (await chart.read()).startswith(b"\x89PNG")

    page = await (await client.get("/console/operator")).text()
    assert "how is our resolution rate this week?" in page
    assert f"<dd>{expected}</dd>" in page
    assert f'src="{card["chart_url"]}"' in page
    assert f"<strong>Next step</strong> {escape(card['next_step'])}" in page


async def test_the_plain_form_posts_and_redirects_to_the_conversation(
    db: Database, make_client: Any, seeded: Seeded
) -> None:
    client = await make_client()
    csrf = await sign_in(client, db, seeded.member_ids[OLIVIA])
    response = await client.post(
        "/console/operator/messages",
        data={"csrf_token": csrf, "text": "show history", "key": "form-1"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert response.status == 303
    location = response.headers["Location"]
    task_id = location.split("#task-", 1)[1]
    assert location.startswith("/console/operator#task-")
    # Sent twice (the browser's back and resubmit): still one message.
    again = await client.post(
        "/console/operator/messages",
        data={"csrf_token": csrf, "text": "show history", "key": "form-1"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert again.headers["Location"] == location
    await _finished(client, task_id)
    page = await (await client.get("/console/operator")).text()
    assert f'id="task-{task_id}"' in page
    assert "set A-1047 to low priority" in page  # the seeded history, as a list
    assert await _tasks_of(db, seeded.member_ids[OLIVIA]) == 1


async def test_a_write_is_proposed_and_approve_executes_it_once(
    db: Database, make_client: Any, seeded: Seeded
) -> None:
    client = await make_client()
    csrf = await sign_in(client, db, seeded.member_ids[OLIVIA])

    exchange = await _ask(client, csrf, "set A-1042 to high priority")
    (reply,) = exchange["replies"]
    assert reply["kind"] == "proposal"
    proposal = reply["proposal"]
    assert proposal["open"] and proposal["status"] == "pending"
    assert proposal["changes"] == [
        {"label": "A-1042 priority", "before": "normal", "after": "high"}
    ]
    assert await _priority(db, seeded.workspace_id, 1042) == "normal"
    page = await (await client.get("/console/operator")).text()
    row = re.search(r"<tr><th scope=\"row\">A-1042 priority</th>(.*?)</tr>", page)
    assert row is not None
    assert '<td class="before">normal</td><td class="after">high</td>' in row.group(1)
    assert 'value="approve" class="primary">Approve</button>' in page
    assert 'value="reject">Reject</button>' in page

    first = await _decide(client, csrf, proposal["id"], "approve")
    assert first["duplicate"] is False and first["notice"] is None
    second = await _decide(client, csrf, proposal["id"], "approve")  # the double click
    assert second["duplicate"] is True and second["task_id"] == first["task_id"]
    done = await _finished(client, first["task_id"])
    assert done["replies"][0]["text"].startswith("Done: set A-1042 to high priority")
    assert await _priority(db, seeded.workspace_id, 1042) == "high"
    third = await _decide(client, csrf, proposal["id"], "approve")
    assert "already decided: Approved and carried out" in third["notice"]

    async with db.session() as session:
        executed = await session.scalar(
            select(func.count()).select_from(Snapshot).where(Snapshot.proposal_id == proposal["id"])
        )
    assert executed == 1
    page = await (await client.get("/console/operator")).text()
    assert "Approved and carried out" in page
    assert f"/console/operator/proposals/{proposal['id']}/decision" not in page

    # Rejecting afterwards is a new request, and the engine says it is too late.
    late = await _decide(client, csrf, proposal["id"], "reject")
    assert late["duplicate"] is False
    said = await _finished(client, late["task_id"])
    assert "was already approved and carried out" in said["replies"][0]["text"]
    assert await _priority(db, seeded.workspace_id, 1042) == "high"


async def test_reject_from_the_plain_form_changes_nothing(
    db: Database, make_client: Any, seeded: Seeded
) -> None:
    client = await make_client()
    csrf = await sign_in(client, db, seeded.member_ids[OLIVIA])
    proposal = (await _ask(client, csrf, "set A-1042 to high priority"))["replies"][0]["proposal"]

    response = await client.post(
        f"/console/operator/proposals/{proposal['id']}/decision",
        data={"csrf_token": csrf, "decision": "reject", "next": "/console/operator"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert response.status == 303
    location = response.headers["Location"]
    task_id = location.rsplit("#task-", 1)[1]
    said = await _finished(client, task_id)
    assert said["replies"][0]["text"].startswith("Cancelled: set A-1042 to high priority")
    assert await _priority(db, seeded.workspace_id, 1042) == "normal"
    async with db.session() as session:
        status = await session.scalar(select(Proposal.status).where(Proposal.id == proposal["id"]))
        snapshots = await session.scalar(
            select(func.count()).select_from(Snapshot).where(Snapshot.proposal_id == proposal["id"])
        )
    assert status == "rejected" and snapshots == 0
    page = await (await client.get(location.split("#", 1)[0])).text()
    assert "Rejected: nothing was changed" in page


async def test_a_support_member_is_refused_every_operator_and_history_route(
    db: Database, make_client: Any, seeded: Seeded
) -> None:
    client = await make_client()
    csrf = await sign_in(client, db, seeded.member_ids[SAM])
    for path in ("/console/operator", "/console/history"):
        response = await client.get(path)
        assert response.status == 403, path
        assert "is for admin, owner" in await response.text()
    headers = _json_headers(client, csrf)
    calls = [
        client.post("/console/operator/messages", json={"text": "close A-1041"}, headers=headers),
        client.get("/console/operator/tasks/anything", headers=headers),
        client.get("/console/operator/snapshot", headers=headers),
        client.post(
            "/console/operator/proposals/x/decision", json={"decision": "approve"}, headers=headers
        ),
        client.post("/console/history/1/restore", json={}, headers=headers),
        client.post(
            "/console/operator/messages",
            data={"csrf_token": csrf, "text": "close A-1041"},
            headers=origin(client),
        ),
    ]
    for call in calls:
        response = await call
        assert response.status == 403, response.url
    assert await _tasks_of(db, seeded.member_ids[SAM]) == 0


async def test_an_enterprise_manager_gets_the_inbox_tools_only(
    db: Database, make_client: Any, seeded: Seeded
) -> None:
    client = await make_client()
    await sign_in(client, db, seeded.member_ids[MARIA])
    page = await (await client.get("/console/operator")).text()
    assert "Unassigned assists" in page
    assert "AI resolution rate" not in page and "Knowledge gaps" not in page
    assert "Set assist priority" in page and "Run report" not in page
    assert 'href="/console/history"' not in page
    assert (await client.get("/console/history")).status == 403


async def test_tasks_and_proposals_of_others_are_not_found(
    db: Database, make_client: Any, seeded: Seeded
) -> None:
    client = await make_client()
    csrf = await sign_in(client, db, seeded.member_ids[OLIVIA])
    asked = await _ask(client, csrf, "set A-1042 to high priority")
    proposal_id = asked["replies"][0]["proposal"]["id"]
    card = (await _ask(client, csrf, "how is our resolution rate this week?"))["replies"][0]

    other = await make_tenant(db, plan="enterprise")
    stranger = await make_client()
    stranger_csrf = await sign_in(stranger, db, other.member_id)
    headers = _json_headers(stranger, stranger_csrf)
    response = await stranger.get(f"/console/operator/tasks/{asked['id']}", headers=headers)
    assert response.status == 404
    response = await stranger.post(
        f"/console/operator/proposals/{proposal_id}/decision",
        json={"decision": "approve"},
        headers=headers,
    )
    assert response.status == 404
    assert (await stranger.get(card["chart_url"])).status == 404
    assert 'class="bubble">set A-1042' not in await (await stranger.get("/console/operator")).text()

    # Another member of the same workspace does not read Olivia's conversation either.
    colleague = await make_client()
    await sign_in(colleague, db, seeded.member_ids["adam@demo.example"])
    response = await colleague.get(
        f"/console/operator/tasks/{asked['id']}", headers={"Accept": "application/json"}
    )
    assert response.status == 404
    assert await _priority(db, seeded.workspace_id, 1042) == "normal"


async def test_without_the_csrf_token_nothing_is_journaled(
    db: Database, make_client: Any, seeded: Seeded
) -> None:
    client = await make_client()
    csrf = await sign_in(client, db, seeded.member_ids[OLIVIA])
    refused = [
        await client.post(
            "/console/operator/messages",
            json={"text": "set A-1042 to high priority"},
            headers={**origin(client), "Accept": "application/json"},
        ),
        await client.post(
            "/console/operator/messages",
            data={"text": "set A-1042 to high priority"},
            headers=origin(client),
        ),
        await client.post(
            "/console/operator/messages",
            json={"text": "set A-1042 to high priority"},
            headers={"Origin": "https://evil.example", "X-CSRF-Token": csrf},
        ),
        await client.post("/console/history/1/restore", data={}, headers=origin(client)),
    ]
    assert [r.status for r in refused] == [403, 403, 403, 403]
    assert await _tasks_of(db, seeded.member_ids[OLIVIA]) == 0


async def test_history_lists_the_write_and_restore_goes_through_approval(
    db: Database, make_client: Any, seeded: Seeded
) -> None:
    client = await make_client()
    csrf = await sign_in(client, db, seeded.member_ids[OLIVIA])
    proposal = (await _ask(client, csrf, "set A-1042 to high priority"))["replies"][0]["proposal"]
    await _finished(client, (await _decide(client, csrf, proposal["id"], "approve"))["task_id"])
    assert await _priority(db, seeded.workspace_id, 1042) == "high"
    async with db.session() as session:
        snap_id = await session.scalar(
            select(Snapshot.id).where(Snapshot.proposal_id == proposal["id"])
        )

    html = await (await client.get("/console/history")).text()
    entries = re.findall(r'<li class="entry" id="snapshot-(\d+)">', html)
    assert entries[0] == str(snap_id)  # newest first, before the seeded ones
    entry = html.split(f'id="snapshot-{snap_id}"', 1)[1].split("</li>", 1)[0]
    assert "set A-1042 to high priority" in entry and "Olivia Owner" in entry
    assert '<td class="before">normal</td><td class="after">high</td>' in entry
    assert '<button type="submit">Restore</button>' in entry

    response = await client.post(
        f"/console/history/{snap_id}/restore",
        data={"csrf_token": csrf, "key": "page-1"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert response.status == 303
    location = response.headers["Location"]
    task_id = location.split("task=", 1)[1].split("#", 1)[0]
    restore = await _finished(client, task_id)
    (reply,) = restore["replies"]
    assert reply["kind"] == "proposal"
    assert reply["proposal"]["changes"] == [
        {"label": "A-1042 priority (restore)", "before": "high", "after": "normal"}
    ]
    assert await _priority(db, seeded.workspace_id, 1042) == "high"  # not yet approved

    html = await (await client.get(location.split("#", 1)[0])).text()
    entry = html.split(f'id="snapshot-{snap_id}"', 1)[1].split("</li>", 1)[0]
    assert "Restore waiting for approval" in entry
    assert f"/console/operator/proposals/{reply['proposal']['id']}/decision" in entry
    assert 'value="approve" class="primary">Approve</button>' in entry
    # A second Restore while that one waits proposes nothing new.
    again = await client.post(
        f"/console/history/{snap_id}/restore",
        json={"key": "page-2"},
        headers=_json_headers(client, csrf),
    )
    assert (await again.json()) == {"task_id": None, "proposal_id": reply["proposal"]["id"]}

    response = await client.post(
        f"/console/operator/proposals/{reply['proposal']['id']}/decision",
        data={"csrf_token": csrf, "decision": "approve", "next": "/console/history"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert response.headers["Location"].startswith("/console/history?task=")
    approved_task = response.headers["Location"].split("task=", 1)[1].split("#", 1)[0]
    await _finished(client, approved_task)
    assert await _priority(db, seeded.workspace_id, 1042) == "normal"
    html = await (await client.get(f"/console/history?task={approved_task}")).text()
    assert "Done: restore snapshot" in html
    entry = html.split(f'id="snapshot-{snap_id}"', 1)[1].split("</li>", 1)[0]
    assert "Restored" in entry and "disabled" in entry


async def test_restore_is_off_past_retention_and_for_undone_changes(
    db: Database, make_client: Any
) -> None:
    now = utcnow()
    async with db.session() as session:
        seeded = await seed_workspace(session, now=now - timedelta(minutes=1), plan="pro")
        assist_id = await session.scalar(
            select(Assist.id).where(
                Assist.workspace_id == seeded.workspace_id, Assist.number == 1044
            )
        )
        old = Snapshot(
            workspace_id=seeded.workspace_id,
            member_id=seeded.member_ids[OLIVIA],
            summary="set A-1044 to urgent priority",
            before=[
                Change(
                    entity="assist",
                    key=str(assist_id),
                    field="priority",
                    before="normal",
                    after="urgent",
                    label="A-1044 priority",
                ).model_dump(mode="json")
            ],
            created_at=now - timedelta(days=31),
        )
        session.add(old)
        await session.flush()
        old_id = old.id
    client = await make_client()
    csrf = await sign_in(client, db, seeded.member_ids[OLIVIA])
    html = await (await client.get("/console/history")).text()
    entry = html.split(f'id="snapshot-{old_id}"', 1)[1].split("</li>", 1)[0]
    assert f'disabled aria-describedby="why-{old_id}">Restore</button>' in entry
    assert "Older than the 30-day retention of the Pro plan" in entry
    undone = re.search(
        r'id="snapshot-(\d+)">(?:(?!</li>).)*assign A-1048 to Tom Baker(?:(?!</li>).)*</li>',
        html,
        re.S,
    )
    assert undone is not None
    assert "disabled" in undone.group(0) and "the change was already taken back" in undone.group(0)

    response = await client.post(
        f"/console/history/{old_id}/restore",
        json={"key": "k"},
        headers=_json_headers(client, csrf),
    )
    assert response.status == 409
    assert "retention" in (await response.json())["message"]
    assert await _tasks_of(db, seeded.member_ids[OLIVIA]) == 0


async def test_a_report_comes_with_a_signed_download_link(
    db: Database, make_client: Any, seeded: Seeded
) -> None:
    client = await make_client()
    csrf = await sign_in(client, db, seeded.member_ids[OLIVIA])
    exchange = await _ask(client, csrf, "performance report as pdf")
    card = next(r for r in exchange["replies"] if r["kind"] == "card")
    rate = {f["label"]: f for f in card["fields"]}["Resolution rate"]
    # The figure apart from its trend, which says whether it is good news.
    assert re.fullmatch(r"\d+\.\d%", rate["value"]), rate
    assert rate["detail"].endswith(("(better)", "(worse)")) or "unchanged" in rate["detail"]
    files = [r["file"] for r in exchange["replies"] if r["kind"] == "file"]
    assert len(files) == 1
    file = files[0]
    assert file["filename"].endswith(".pdf") and file["url"].startswith("/media/")
    download = await client.get(file["url"])
    assert download.status == 200 and download.content_type == "application/pdf"
    assert (await download.read()).startswith(b"%PDF")
    page = await (await client.get("/console/operator")).text()
    assert f'href="{file["url"]}"' in page and f">Download {file['filename']}</a>" in page
    # A forged link answers nothing.
    assert (await client.get(file["url"][:-3] + "xyz")).status == 404


async def test_customer_text_in_an_answer_stays_inert(
    db: Database, make_client: Any, seeded: Seeded
) -> None:
    attack = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    async with db.session() as session:
        await session.execute(
            update(Assist)
            .where(Assist.workspace_id == seeded.workspace_id, Assist.number == 1046)
            .values(subject=attack)
        )
    client = await make_client()
    csrf = await sign_in(client, db, seeded.member_ids[OLIVIA])
    exchange = await _ask(client, csrf, "show A-1046")
    assert attack in exchange["replies"][0]["text"]  # the data, as data
    page = await (await client.get("/console/operator")).text()
    assert "<img src=x" not in page and "<script>alert" not in page
    assert str(markupsafe.escape(attack)) in page
