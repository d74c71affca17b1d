"""The AI Inbox in the console: the list and its filters, an assist's page, the team's actions
(reply, note, refine, status, details, assign, close), roles, tenancy, CSRF."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

from sqlalchemy import func, select

from api.console.templating import short_time
from core.team import directory
from storage.db import Database
from storage.domain import Assist, AssistEvent, Customer, QaPair, Snapshot
from storage.types import utcnow
from tests.channels.email_helpers import email_settings
from tests.console.helpers import origin
from tests.console.inbox_helpers import (
    MARIA,
    OLIVIA,
    SAM,
    Console,
    assist_row,
    events_of,
    flash,
    list_section,
    listed,
    row_html,
    seeded,
    textarea,
    timeline,
    timeline_texts,
)
from tests.factories import make_member, make_workspace
from tests.helpers import settled
from tests.sims.sendgrid import SendGridSim

BASE = "http://gw.example"


async def _all_assists(db: Database, workspace_id: str) -> list[Assist]:
    async with db.session() as session:
        return list(
            await session.scalars(select(Assist).where(Assist.workspace_id == workspace_id))
        )


def _newest_first(rows: list[Assist]) -> list[str]:
    return [x.ref for x in sorted(rows, key=lambda x: (x.created_at, x.number), reverse=True)]


async def test_the_default_view_lists_open_assists_newest_first(
    db: Database, make_client: Any
) -> None:
    seed = await seeded(db, timezone="Asia/Tokyo")
    console = await Console.open(await make_client(), db, seed.member_ids[OLIVIA])
    page = await console.page("/console/inbox")

    every = await _all_assists(db, seed.workspace_id)
    open_ = [x for x in every if x.status == "open"]
    assert listed(page) == _newest_first(open_)
    assert any(x.assignee_id is None for x in open_)  # unassigned ones are among them
    now = utcnow()
    for x in open_:
        row = row_html(page, x.ref)
        assert f'href="/console/assists/{x.ref}"' in row
        assert f'<span class="badge {x.priority}">{x.priority}</span>' in row
        assert str(x.customer_details["name"]) in row
        assert ("Unread customer reply" in row) == x.unread
        # Times in the member's time zone (the workspace's, Tokyo, here).
        assert f">{short_time(x.created_at, 'Asia/Tokyo', now)}</time>" in row
    counts = {s: sum(x.status == s for x in every) for s in ("open", "pending", "closed")}
    for status, count in counts.items():
        assert f'data-count="{status}">{count}</span>' in page

    pending = await console.page("/console/inbox?status=pending")
    assert listed(pending) == _newest_first([x for x in every if x.status == "pending"])
    closed = await console.page("/console/inbox?status=closed")
    assert listed(closed) == _newest_first([x for x in every if x.status == "closed"])


async def test_filters_and_search_narrow_the_list(db: Database, make_client: Any) -> None:
    seed = await seeded(db)
    maria = seed.member_ids[MARIA]
    console = await Console.open(await make_client(), db, maria)
    every = [x for x in await _all_assists(db, seed.workspace_id) if x.status == "open"]

    async def shown(query: str) -> list[str]:
        return listed(await console.page(f"/console/inbox?{query}"))

    def expect(keep: Any) -> list[str]:
        return _newest_first([x for x in every if keep(x)])

    assert await shown("assignee=unassigned") == expect(lambda x: x.assignee_id is None)
    assert await shown("assignee=me") == expect(lambda x: x.assignee_id == maria)
    tom = seed.member_ids["tom@demo.example"]
    assert await shown(f"assignee={tom}") == expect(lambda x: x.assignee_id == tom)
    assert await shown("priority=urgent") == expect(lambda x: x.priority == "urgent")
    assert await shown("category=Billing") == expect(lambda x: x.category == "billing")
    assert await shown("label=VIP") == expect(lambda x: "vip" in x.labels)
    assert await shown("priority=high&category=technical") == expect(
        lambda x: x.priority == "high" and x.category == "technical"
    )
    assert expect(lambda x: "vip" in x.labels)  # the filters above did narrow something

    def text_of(x: Assist) -> str:
        details = x.customer_details
        return " ".join(
            [x.subject or "", x.summary, str(details.get("name")), str(details.get("email"))]
        ).lower()

    assert await shown("q=Customer+1") == expect(lambda x: "customer 1" in text_of(x))
    assert await shown("q=customer5%40mail.example") == expect(
        lambda x: "customer5@mail.example" in text_of(x)
    )
    assert await shown("q=refund") == expect(lambda x: "refund" in text_of(x))
    first = every[0]
    assert first.ref in await shown(f"q={first.ref}")
    assert first.ref in await shown(f"q={first.number}")
    # A customer's record (not only the assist's copy of it) is searched too.
    async with db.session() as session:
        customer = await session.get(Customer, first.customer_id)
        assert customer is not None
        customer.name = "Zelda Quintessa"
    assert await shown("q=quintessa") == [first.ref]

    nothing = await console.page("/console/inbox?q=no+such+customer+anywhere")
    assert listed(nothing) == []
    assert "No open assists match." in nothing and "clear the filters" in nothing
    # The same filter behind the admin API's list.
    async with db.session() as session:
        key = await directory.create_api_key(session, seed.workspace_id, name="t")
    api = await console.client.get(
        "/api/v1/assists?status=open&label=vip&limit=500",
        headers={"Authorization": f"Bearer {key.secret}"},
    )
    assert [a["ref"] for a in (await api.json())["items"]] == expect(lambda x: "vip" in x.labels)


async def test_empty_states_say_what_to_do(db: Database, make_client: Any) -> None:
    async with db.session() as session:
        ws = await make_workspace(session)
        member = await make_member(session, ws.id, role="support")
    console = await Console.open(await make_client(), db, member.id)
    page = await console.page("/console/inbox")
    assert listed(page) == []
    assert "No open assists." in page and "asks the AI agent for a person" in page
    pending = await console.page("/console/inbox?status=pending")
    assert "after the team replies" in pending


async def _assist_with_history(db: Database, workspace_id: str) -> Assist:
    """A-1041 with a two-turn transcript, then a note, a reply and the customer's answer."""
    x = await assist_row(db, workspace_id, 1041)
    opened = utcnow() - timedelta(hours=3)
    async with db.session() as session:
        row = await session.get(Assist, x.id)
        assert row is not None
        row.created_at = opened
        row.unread = True
        row.transcript = [
            {"from": "customer", "text": "I was charged twice.", "at": opened.isoformat()},
            {"from": "agent", "text": "Let me bring in a teammate.", "at": opened.isoformat()},
        ]
        await session.execute(AssistEvent.__table__.delete().where(AssistEvent.assist_id == x.id))
        for minutes, kind, author, body in (
            (30, "note", "Maria Lopez", "Checked the ledger: duplicate charge."),
            (60, "reply", "Maria Lopez", "We refunded the second charge."),
            (90, "customer_reply", "customer2@mail.example", "Thanks, I see it."),
        ):
            session.add(
                AssistEvent(
                    workspace_id=workspace_id,
                    assist_id=x.id,
                    kind=kind,
                    author=author,
                    body=body,
                    created_at=opened + timedelta(minutes=minutes),
                )
            )
    return x


async def test_an_assist_page_shows_the_conversation_in_order_and_marks_it_read(
    db: Database, make_client: Any
) -> None:
    seed = await seeded(db)
    x = await _assist_with_history(db, seed.workspace_id)
    console = await Console.open(await make_client(), db, seed.member_ids[MARIA])

    page = await console.page("/console/assists/A-1041?status=open")

    assert [kind for kind, _ in timeline(page)] == [
        "customer",
        "ai",
        "note",
        "reply",
        "customer_reply",
    ]
    assert timeline_texts(page) == [
        "I was charged twice.",
        "Let me bring in a teammate.",
        "Checked the ledger: duplicate charge.",
        "We refunded the second charge.",
        "Thanks, I see it.",
    ]
    # Three panels: the list (this assist marked current), the conversation, the details.
    assert 'id="inbox-panel"' in page and 'class="current"' in row_html(page, "A-1041")
    assert '<aside class="panel side"' in page
    assert x.summary in page and "customer2@mail.example" in page
    assert 'for="reply">Reply</label>' in page and ">Send</button>" in page
    assert 'id="tab-note"' in page and ">Internal note</button>" in page
    assert textarea(page, "reply") == x.suggested_reply  # opens with the AI's draft
    assert 'id="ai-draft">AI draft</span>' in page
    assert not (await assist_row(db, seed.workspace_id, 1041)).unread
    state = await console.client.get("/console/assists/A-1041/state")
    items = (await state.json())["items"]
    assert [i["kind"] for i in items][-1] == "customer_reply"


async def test_previous_assists_of_the_customer_are_listed(db: Database, make_client: Any) -> None:
    seed = await seeded(db)
    x = await assist_row(db, seed.workspace_id, 1040)
    async with db.session() as session:
        session.add(
            Assist(
                workspace_id=seed.workspace_id,
                number=2001,
                status="closed",
                subject="Wrong size delivered",
                customer_id=x.customer_id,
                resolution="Exchanged for a medium.",
                created_at=x.created_at - timedelta(days=30),
                updated_at=x.created_at - timedelta(days=29),
                closed_at=x.created_at - timedelta(days=29),
            )
        )
    console = await Console.open(await make_client(), db, seed.member_ids[OLIVIA])
    page = await console.page("/console/assists/A-1040")
    section = page[page.index('id="previous-assists"') :]
    assert 'href="/console/assists/A-2001"' in section
    assert "Wrong size delivered" in section and "Exchanged for a medium." in section


async def _mail_console(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim, who: str = SAM
) -> tuple[Console, Any]:
    seed = await seeded(db)
    # Plain http: the test client keeps Secure cookies (an https base URL) off plain http.
    client = await make_client(**email_settings(sendgrid_sim, PUBLIC_BASE_URL=BASE))
    return await Console.open(client, db, seed.member_ids[who]), seed


async def test_send_emails_the_reply_in_the_assists_thread(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    console, seed = await _mail_console(db, make_client, sendgrid_sim)  # a support member
    x = await assist_row(db, seed.workspace_id, 1040)
    customer = str(x.customer_details["email"])

    await console.post("/console/assists/A-1040/reply", {"text": "Your refund is on its way."})
    await sendgrid_sim.wait_for(1)
    await console.post("/console/assists/A-1040/reply", {"text": "It should arrive Friday."})
    await sendgrid_sim.wait_for(2)
    await settled(db)

    first, second = sendgrid_sim.mails()
    assert sendgrid_sim.recipients() == [customer, customer]
    assert "Your refund is on its way." in first["content"][0]["value"]
    assert first["subject"].startswith("[A-1040] ")
    assert first["reply_to"]["email"].startswith("reply+")
    assert second["headers"]["In-Reply-To"] == first["headers"]["Message-ID"]
    assert first["headers"]["Message-ID"] in second["headers"]["References"]
    after = await assist_row(db, seed.workspace_id, 1040)
    assert after.status == "pending" and after.first_response_at is not None
    replies = [(e.kind, e.author, e.body) for e in await events_of(db, x.id) if e.kind == "reply"]
    assert replies == [
        ("reply", "Sam Support", "Your refund is on its way."),
        ("reply", "Sam Support", "It should arrive Friday."),
    ]
    page = await console.page("/console/assists/A-1040")
    assert flash(page) == f"Reply sent to {customer}."
    assert "It should arrive Friday." in timeline_texts(page)
    # Answered: the box no longer offers the AI's draft (it would go out twice).
    assert textarea(page, "reply") == "" and 'id="ai-draft"' not in page
    # An empty reply sends nothing.
    await console.post("/console/assists/A-1040/reply", {"text": "   "})
    assert "Write a reply first" in flash(await console.page("/console/assists/A-1040"))
    await settled(db)
    assert len(sendgrid_sim.mails()) == 2


async def test_a_note_is_kept_and_never_sent(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    console, seed = await _mail_console(db, make_client, sendgrid_sim)
    x = await assist_row(db, seed.workspace_id, 1042)

    await console.post("/console/assists/A-1042/note", {"text": "Reseller: check the contract."})
    await settled(db)

    assert sendgrid_sim.mails() == []
    (note,) = [e for e in await events_of(db, x.id) if e.body == "Reseller: check the contract."]
    assert (note.kind, note.author) == ("note", "Sam Support")
    page = await console.page("/console/assists/A-1042")
    assert timeline(page)[-1][0] == "note"
    assert "the customer does not see it" in flash(page)
    assert (await assist_row(db, seed.workspace_id, 1042)).status == x.status


async def test_refine_modes_rewrite_the_draft(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    console, seed = await _mail_console(db, make_client, sendgrid_sim)
    path = "/console/assists/A-1042/refine"

    fresh = await console.post_json(path, {"mode": "regenerate"})
    assert fresh["backend"] == "offline" and fresh["text"].startswith("Hi ")
    shorter = await console.post_json(path, {"mode": "shorter"})
    assert len(shorter["text"]) < len(fresh["text"])
    formal = await console.post_json(path, {"mode": "formal"})
    assert formal["text"].startswith("Dear ") and "'" not in formal["text"]
    casual = await console.post_json(path, {"mode": "casual"})
    assert casual["text"].startswith("Hi ")
    assert (await assist_row(db, seed.workspace_id, 1042)).suggested_reply == casual["text"]
    await console.post_json(path, {"mode": "pirate"}, status=400)

    # Without JavaScript: a plain form, and the page opens with the new draft.
    await console.post(path, {"mode": "formal"})
    page = await console.page("/console/assists/A-1042")
    kept = (await assist_row(db, seed.workspace_id, 1042)).suggested_reply
    assert kept and kept.startswith("Dear ") and textarea(page, "reply") == kept
    assert flash(page) == "The AI draft was rewritten (More formal)."
    await settled(db)
    assert sendgrid_sim.mails() == []  # refining sends nothing


async def test_status_details_and_assignment(db: Database, make_client: Any) -> None:
    seed = await seeded(db)
    console = await Console.open(await make_client(), db, seed.member_ids[MARIA])
    tom = seed.member_ids["tom@demo.example"]

    await console.post("/console/assists/A-1044/status", {"status": "pending"})
    await console.post(
        "/console/assists/A-1044/details",
        {
            "priority": "urgent",
            "category": "Shipping",
            "tags": "late, carrier, late",
            "labels": "vip",
        },
    )
    await console.post("/console/assists/A-1044/assign", {"assignee": tom})
    x = await assist_row(db, seed.workspace_id, 1044)
    assert (x.status, x.priority, x.category, x.tags, x.labels, x.assignee_id) == (
        "pending",
        "urgent",
        "shipping",
        ["late", "carrier"],
        ["vip"],
        tom,
    )
    await console.post("/console/assists/A-1044/assign", {"assignee": "me"})
    assert (await assist_row(db, seed.workspace_id, 1044)).assignee_id == seed.member_ids[MARIA]
    await console.post("/console/assists/A-1044/assign", {"assignee": ""})
    assert (await assist_row(db, seed.workspace_id, 1044)).assignee_id is None
    await console.post("/console/assists/A-1044/assign", {"assignee": "nobody"}, status=400)
    await console.post("/console/assists/A-1044/status", {"status": "closed"}, status=400)
    assert (await assist_row(db, seed.workspace_id, 1044)).status == "pending"


async def test_close_with_a_csat_survey_and_training(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    console, seed = await _mail_console(db, make_client, sendgrid_sim, who=OLIVIA)
    x = await assist_row(db, seed.workspace_id, 1040)
    customer = str(x.customer_details["email"])
    await console.post("/console/assists/A-1040/reply", {"text": "Your refund was issued today."})
    page = await console.page("/console/assists/A-1040")
    assert 'id="train"' in page and 'id="survey"' in page
    async with db.session() as session:
        pairs_before = await session.scalar(select(func.count()).select_from(QaPair))

    await console.post("/console/assists/A-1040/close", {"survey": "1", "train": "1"})
    await sendgrid_sim.wait_for(2)
    await settled(db)

    closed = await assist_row(db, seed.workspace_id, 1040)
    assert closed.status == "closed" and closed.closed_at is not None
    assert closed.resolution == "Your refund was issued today."
    survey = sendgrid_sim.mails()[-1]
    assert survey["personalizations"][0]["to"][0]["email"] == customer
    assert survey["subject"].startswith("[A-1040] ")
    links = re.findall(rf"{BASE}/csat/\S+", survey["content"][0]["value"])
    assert [link.rsplit("=", 1)[1] for link in links] == ["5", "4", "3", "2", "1"]
    async with db.session() as session:
        pairs = list(await session.scalars(select(QaPair).where(QaPair.source == "assist:A-1040")))
        total = await session.scalar(select(func.count()).select_from(QaPair))
        snapshot = await session.scalar(
            select(Snapshot)
            .where(Snapshot.workspace_id == seed.workspace_id)
            .order_by(Snapshot.id.desc())
        )
    assert total == (pairs_before or 0) + len(pairs) and pairs
    assert pairs[0].answer == "Your refund was issued today."
    assert snapshot is not None and "A-1040" in snapshot.summary  # History can undo it
    message = flash(await console.page("/console/assists/A-1040"))
    assert f"A satisfaction survey was emailed to {customer}." in message
    assert "added to the AI agent's training" in message

    # Without the survey box, no survey.
    mails = len(sendgrid_sim.mails())
    await console.post("/console/assists/A-1041/close", {})
    await settled(db)
    assert len(sendgrid_sim.mails()) == mails
    assert (await assist_row(db, seed.workspace_id, 1041)).status == "closed"
    # Reopening.
    await console.post("/console/assists/A-1041/status", {"status": "open"})
    reopened = await assist_row(db, seed.workspace_id, 1041)
    assert reopened.status == "open" and reopened.closed_at is None


async def test_a_support_member_works_assists_but_not_the_team_or_configuration(
    db: Database, make_client: Any
) -> None:
    seed = await seeded(db)
    console = await Console.open(await make_client(), db, seed.member_ids[SAM])
    page = await console.page("/console/assists/A-1043")
    assert 'id="assignee"' not in page and 'id="train"' not in page
    nav = page[page.index('aria-label="Console"') : page.index("</nav>")]
    for area in ("Operator", "History", "Team", "AI agents"):
        assert f">{area}</a>" not in nav
    for path in ("/console/team", "/console/agents", "/console/operator", "/console/history"):
        response = await console.client.get(path, allow_redirects=False)
        # 403 where the page is served; never shown to support.
        assert response.status in (403, 404), path
        assert response.status != 200

    await console.post("/console/assists/A-1043/status", {"status": "pending"})
    await console.post(
        "/console/assists/A-1043/details",
        {"priority": "high", "category": "billing", "tags": "", "labels": ""},
    )
    await console.post("/console/assists/A-1043/note", {"text": "Looked into it."})
    before = await assist_row(db, seed.workspace_id, 1043)
    assert (before.status, before.priority) == ("pending", "high")

    refused = await console.post("/console/assists/A-1043/assign", {"assignee": "me"}, status=403)
    assert "Assigning assists is for admin, manager, owner" in await refused.text()
    refused = await console.post(
        "/console/assists/A-1043/close", {"train": "1", "survey": "1"}, status=403
    )
    after = await assist_row(db, seed.workspace_id, 1043)
    assert (after.assignee_id, after.status) == (before.assignee_id, "pending")


async def test_another_workspaces_assist_is_not_found_and_reads_nothing(
    db: Database, make_client: Any
) -> None:
    seed = await seeded(db)
    async with db.session() as session:
        other = await make_workspace(session)
        stranger = await make_member(session, other.id, role="owner")
        session.add(
            Assist(
                workspace_id=other.id,
                number=7001,
                subject="Mine alone",
                summary="Nothing to see.",
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    console = await Console.open(await make_client(), db, seed.member_ids[OLIVIA])
    x = await assist_row(db, seed.workspace_id, 1040)
    events = len(await events_of(db, x.id))

    page = await console.page("/console/assists/A-7001", status=404)
    assert "Mine alone" not in page and "No such assist" in page
    response = await console.client.get("/console/assists/A-7001/state")
    assert response.status == 404
    await console.post("/console/assists/A-7001/note", {"text": "hello"}, status=404)
    await console.post("/console/assists/A-7001/status", {"status": "pending"}, status=404)
    assert "Mine alone" not in await console.page("/console/inbox?q=mine")

    # The stranger's session cannot read the seeded workspace's assists either.
    theirs = await Console.open(await make_client(), db, stranger.id)
    assert "Refund not received" not in await theirs.page("/console/assists/A-1040", status=404)
    await theirs.post("/console/assists/A-1040/reply", {"text": "hi"}, status=404)
    assert len(await events_of(db, x.id)) == events


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    console, seed = await _mail_console(db, make_client, sendgrid_sim, who=OLIVIA)
    x = await assist_row(db, seed.workspace_id, 1040)
    events = len(await events_of(db, x.id))
    attempts = [
        ("reply", {"text": "Forged"}),
        ("note", {"text": "Forged"}),
        ("status", {"status": "pending"}),
        ("details", {"priority": "low", "category": "x", "tags": "", "labels": ""}),
        ("assign", {"assignee": "me"}),
        ("close", {"survey": "1"}),
        ("refine", {"mode": "shorter"}),
    ]
    for action, data in attempts:
        refused = await console.post(
            f"/console/assists/A-1040/{action}", data, csrf=False, status=403
        )
        assert "nothing was changed" in await refused.text()
    # With the token but from another site: refused as well.
    for action, data in attempts:
        response = await console.client.post(
            f"/console/assists/A-1040/{action}",
            data={**data, "csrf_token": console.csrf},
            headers={"Origin": "https://evil.example"},
            allow_redirects=False,
        )
        assert response.status == 403, action
    await settled(db)
    after = await assist_row(db, seed.workspace_id, 1040)
    assert (after.status, after.priority, after.assignee_id, after.suggested_reply) == (
        x.status,
        x.priority,
        x.assignee_id,
        x.suggested_reply,
    )
    assert len(await events_of(db, x.id)) == events
    assert sendgrid_sim.mails() == []


ATTACKS = [
    "<script>alert('name')</script>",
    '<img src=x onerror="alert(1)">',
    '"><svg onload=alert(2)>',
    "javascript:alert(3)",
    "' onmouseover='alert(4)",
    "</textarea><script>alert(5)</script>",
    "{{ 7*7 }}<b>bold</b>",
]


async def test_an_attack_corpus_renders_inert(db: Database, make_client: Any) -> None:
    seed = await seeded(db)
    x = await assist_row(db, seed.workspace_id, 1040)
    name, subject, summary, tag, label, body, reply = (
        ATTACKS[0],
        ATTACKS[1],
        ATTACKS[2],
        ATTACKS[4],
        ATTACKS[6],
        ATTACKS[5],
        ATTACKS[5],
    )
    async with db.session() as session:
        row = await session.get(Assist, x.id)
        assert row is not None
        row.customer_details = {
            "name": name,
            "email": 'a"b@example.com',
            "website": ATTACKS[3],
            "order": ATTACKS[1],
        }
        row.subject = subject
        row.summary = summary
        row.tags = [tag, ATTACKS[2]]
        row.labels = [label]
        row.category = ATTACKS[4][:60]
        row.suggested_reply = reply
        row.escalation_reason = ATTACKS[0]
        row.transcript = [{"from": "customer", "text": body}, {"from": "agent", "text": ATTACKS[1]}]
        row.created_at = utcnow()
        row.unread = True
        for kind in ("note", "customer_reply"):
            session.add(
                AssistEvent(
                    workspace_id=seed.workspace_id,
                    assist_id=x.id,
                    kind=kind,
                    author=ATTACKS[2],
                    body=ATTACKS[0],
                    flagged=kind == "customer_reply",
                )
            )
    console = await Console.open(await make_client(), db, seed.member_ids[OLIVIA])

    pages = {
        "inbox": await console.page("/console/inbox"),
        "search": await console.page("/console/inbox?q=" + "%3Cscript%3E"),
        "assist": await console.page("/console/assists/A-1040"),
    }
    assert "A-1040" in listed(pages["inbox"])
    for where, page in pages.items():
        for attack in ATTACKS:
            if attack == "javascript:alert(3)":
                assert 'href="javascript:' not in page.lower(), where
                continue
            assert attack not in page, (where, attack)
        for raw in ("<script>alert", "<img src=x", "<svg onload", "<b>bold</b>"):
            assert raw not in page, (where, raw)
        # Parsed as a browser would: no injected element, no handler attribute, no script
        # but our own files.
        elements = parsed(page)
        assert not [e for e in elements if e[0] in ("img", "svg", "b", "iframe")], where
        assert not [e for e in elements if any(k.startswith("on") for k, _ in e[1])], where
        scripts = [dict(e[1]).get("src") for e in elements if e[0] == "script"]
        assert all(src and src.startswith("/console/static/") for src in scripts), where
        hrefs = [dict(e[1]).get("href") or "" for e in elements]
        assert not [h for h in hrefs if h.strip().lower().startswith("javascript:")], where
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in list_section(pages["inbox"])
    assist = pages["assist"]
    assert "&lt;/textarea&gt;&lt;script&gt;" in textarea_raw(assist)
    assert "{{ 7*7 }}" in assist  # no template injection: shown as typed
    # The live views are JSON, not HTML, and say so.
    for path in ("/console/inbox/rows", "/console/assists/A-1040/state"):
        response = await console.client.get(path)
        assert response.content_type == "application/json"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def parsed(page: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every start tag of PAGE with its attributes, as an HTML parser reads them."""
    parser = _Elements()
    parser.feed(page)
    return parser.found


def textarea_raw(page: str) -> str:
    start = page.index('<textarea id="reply"')
    return page[start : page.index("</textarea>", start) + len("</textarea>")]


async def test_the_inbox_needs_a_session(make_client: Any) -> None:
    client = await make_client()
    for path in ("/console/inbox", "/console/assists/A-1040", "/console/events"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 302 and response.headers["Location"].startswith(
            "/console/login"
        ), path
    response = await client.post(
        "/console/assists/A-1040/note",
        data={"text": "x"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert response.status == 302
