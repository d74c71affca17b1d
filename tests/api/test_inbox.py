"""Working an assist through the admin API (reply with the suggested reply, internal notes,
refinements, status, previous assists) and the customer's one-click CSAT survey."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from cli.seed import Seeded
from core.reports import analytics
from core.team import directory
from storage.db import Database
from storage.domain import Assist, AssistEvent, Conversation, Customer
from storage.types import utcnow
from tests.channels.email_helpers import Mailroom, email_settings, seed
from tests.sims.openai import OpenAISim
from tests.sims.sendgrid import SendGridSim

Client = Any
TEAM = ["adam@demo.example", "maria@demo.example", "olivia@demo.example", "tom@demo.example"]


async def _gateway(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim | None
) -> tuple[Mailroom, Seeded, dict[str, str]]:
    seeded = await seed(db)
    async with db.session() as session:
        key = await directory.create_api_key(session, seeded.workspace_id, name="inbox")
    settings = email_settings(sendgrid_sim) if sendgrid_sim else {}
    client = await make_client(**settings)
    return Mailroom(client, db), seeded, {"Authorization": f"Bearer {key.secret}"}


async def _assist(db: Database, number: int) -> Assist:
    async with db.session() as session:
        row = await session.scalar(select(Assist).where(Assist.number == number))
        assert row is not None
        return row


async def _call(
    mailroom: Mailroom, auth: dict[str, str], method: str, path: str, status: int, **kw: Any
) -> Any:
    response = await mailroom.client.request(method, path, headers=auth, **kw)
    body = await response.json()
    assert response.status == status, body
    return body


async def _csat_scores(db: Database, workspace_id: str) -> list[int]:
    """The ratings the CSAT metric averages over the last 30 days."""
    window, _ = analytics.windows("last_30_days", utcnow(), "UTC")
    async with db.session() as session:
        rows = await analytics.conversations(session, workspace_id, window)
    return sorted(r.csat for r in rows if r.csat is not None)


def _to(mail: dict[str, Any]) -> str:
    return str(mail["personalizations"][0]["to"][0]["email"])


def _text(mail: dict[str, Any]) -> str:
    return next(c["value"] for c in mail["content"] if c["type"] == "text/plain")


async def test_a_reply_without_text_emails_the_suggested_reply_in_the_assist_thread(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    mailroom, _, auth = await _gateway(db, make_client, sendgrid_sim)
    assist = await _assist(db, 1040)
    assert assist.status == "open" and assist.suggested_reply

    sent = await _call(mailroom, auth, "POST", "/api/v1/assists/A-1040/replies", 201, json={})
    await mailroom.settled()

    customer = str(assist.customer_details["email"])
    assert (sent["to"], sent["text"]) == (customer, assist.suggested_reply)
    (mail,) = sendgrid_sim.mails()
    assert _to(mail) == customer and _text(mail).strip() == assist.suggested_reply
    assert mail["subject"].startswith("[A-1040] ")
    assert mail["reply_to"]["email"].startswith("reply+")
    assert mail["headers"]["Message-ID"] == sent["message_id"]
    after = await _assist(db, 1040)
    assert after.status == "pending" and after.first_response_at is not None
    detail = await _call(mailroom, auth, "GET", "/api/v1/assists/A-1040", 200)
    assert [(e["kind"], e["body"]) for e in detail["events"]][-1] == (
        "reply",
        assist.suggested_reply,
    )


async def test_an_internal_note_is_kept_and_never_sent_to_the_customer(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    mailroom, _, auth = await _gateway(db, make_client, sendgrid_sim)

    note = await _call(
        mailroom,
        auth,
        "POST",
        "/api/v1/assists/A-1041/notes",
        201,
        json={"text": "Customer is a reseller; check the contract.", "author": "Maria Lopez"},
    )
    await mailroom.settled()

    assert (note["kind"], note["author"]) == ("note", "Maria Lopez")
    assert sendgrid_sim.mails() == []
    detail = await _call(mailroom, auth, "GET", "/api/v1/assists/A-1041", 200)
    assert detail["events"][-1]["body"] == "Customer is a reseller; check the contract."


async def test_the_suggested_reply_is_refined_and_kept(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    mailroom, _, auth = await _gateway(db, make_client, sendgrid_sim)
    path = "/api/v1/assists/A-1042/suggested-reply"

    fresh = await _call(mailroom, auth, "POST", path, 200, json={"mode": "regenerate"})
    assert fresh["text"].startswith("Hi Customer,") or fresh["text"].startswith("Hi ")
    assert fresh["backend"] == "offline"
    shorter = await _call(mailroom, auth, "POST", path, 200, json={"mode": "shorter"})
    assert len(shorter["text"]) < len(fresh["text"])
    formal = await _call(mailroom, auth, "POST", path, 200, json={"mode": "formal"})
    assert formal["text"].startswith("Dear ") and "'" not in formal["text"]
    casual = await _call(mailroom, auth, "POST", path, 200, json={"mode": "casual"})
    assert casual["text"].startswith("Hi ")
    assert (await _assist(db, 1042)).suggested_reply == casual["text"]
    again = await _call(mailroom, auth, "POST", path, 200, json={"mode": "regenerate"})
    assert again["text"] != casual["text"]
    await _call(mailroom, auth, "POST", path, 400, json={"mode": "pirate"})


async def test_the_suggested_reply_is_refined_by_the_llm_when_one_is_configured(
    db: Database, make_client: Any, openai_sim: OpenAISim
) -> None:
    seeded = await seed(db)
    async with db.session() as session:
        key = await directory.create_api_key(session, seeded.workspace_id, name="inbox")
    client = await make_client(
        OPENAI_API_KEY=openai_sim.api_key, OPENAI_BASE_URL=openai_sim.base_url
    )
    mailroom, auth = Mailroom(client, db), {"Authorization": f"Bearer {key.secret}"}
    before = (await _assist(db, 1042)).suggested_reply
    openai_sim.reply_tool_calls([("write_reply", {"text": "Dear customer, it ships today."})])

    formal = await _call(
        mailroom,
        auth,
        "POST",
        "/api/v1/assists/A-1042/suggested-reply",
        200,
        json={"mode": "formal"},
    )

    assert (formal["text"], formal["backend"]) == ("Dear customer, it ships today.", "llm")
    request = openai_sim.last_chat_request()
    assert "formal" in request["messages"][0]["content"]
    assert before and before in request["messages"][-1]["content"]
    assert (await _assist(db, 1042)).suggested_reply == "Dear customer, it ships today."


async def _close_with_survey(
    mailroom: Mailroom, auth: dict[str, str], sendgrid_sim: SendGridSim
) -> tuple[dict[str, Any], list[str]]:
    await _call(
        mailroom,
        auth,
        "POST",
        "/api/v1/assists/A-1040/replies",
        201,
        json={"text": "Your refund was issued today."},
    )
    closed = await _call(
        mailroom, auth, "PATCH", "/api/v1/assists/A-1040", 200, json={"status": "closed"}
    )
    await mailroom.settled()
    survey = sendgrid_sim.mails()[-1]
    links = re.findall(r"https://gw\.example/csat/\S+", _text(survey))
    return closed, links


async def test_closing_sends_a_csat_survey_whose_link_records_the_rating(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    mailroom, seeded, auth = await _gateway(db, make_client, sendgrid_sim)
    customer = str((await _assist(db, 1040)).customer_details["email"])
    scores = await _csat_scores(db, seeded.workspace_id)

    closed, links = await _close_with_survey(mailroom, auth, sendgrid_sim)

    assert closed["status"] == "closed" and closed["closed_at"]
    assert closed["resolution"] == "Your refund was issued today."
    assert closed["survey_sent_to"] == customer
    assert "promote A-1040 to training" in closed["training_offer"]
    assert [link.rsplit("=", 1)[1] for link in links] == ["5", "4", "3", "2", "1"]
    survey = sendgrid_sim.mails()[-1]
    assert _to(survey) == customer and survey["subject"].startswith("[A-1040] ")

    page = await mailroom.client.get(links[0].removeprefix("https://gw.example"))
    assert page.status == 200 and "You rated our help 5 of 5" in await page.text()
    assist = await _assist(db, 1040)
    async with db.session() as session:
        conversation = await session.get(Conversation, assist.conversation_id)
    assert conversation is not None and conversation.csat == 5
    assert await _csat_scores(db, seeded.workspace_id) == sorted([*scores, 5])  # the metric
    assert conversation.started_at == assist.created_at and conversation.escalated
    detail = await _call(mailroom, auth, "GET", "/api/v1/assists/A-1040", 200)
    assert detail["csat"] == 5 and "negative-csat" not in detail["labels"]

    # The same link again changes nothing; the form (POST) records a change of mind.
    again = await mailroom.client.get(links[0].removeprefix("https://gw.example"))
    assert again.status == 200
    token = links[0].removeprefix("https://gw.example/csat/").split("?")[0]
    form = await mailroom.client.post(f"/csat/{token}", data={"rating": "4"})
    assert form.status == 200
    async with db.session() as session:
        events = list(
            await session.scalars(
                select(AssistEvent.body).where(
                    AssistEvent.assist_id == assist.id, AssistEvent.kind == "csat"
                )
            )
        )
        conversation = await session.get(Conversation, assist.conversation_id)
    assert conversation is not None and conversation.csat == 4
    assert events == [
        "The customer rated the help 5/5.",
        "The customer rated the help 4/5 (was 5/5).",
    ]
    choices = await mailroom.client.get(f"/csat/{token}")
    assert choices.status == 200 and (await choices.text()).count("name=rating") == 5


async def test_a_negative_rating_flags_the_assist_and_tells_the_team(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    mailroom, _, auth = await _gateway(db, make_client, sendgrid_sim)
    _, links = await _close_with_survey(mailroom, auth, sendgrid_sim)
    sent_before = len(sendgrid_sim.mails())

    page = await mailroom.client.get(links[-1].removeprefix("https://gw.example"))
    await mailroom.settled()

    assert page.status == 200 and "the team will follow up" in await page.text()
    assist = await _assist(db, 1040)
    assert "negative-csat" in assist.labels and assist.unread
    async with db.session() as session:
        event = await session.scalar(
            select(AssistEvent).where(
                AssistEvent.assist_id == assist.id, AssistEvent.kind == "csat"
            )
        )
    assert event is not None and event.flagged and "1/5" in event.body
    told = sendgrid_sim.mails()[sent_before:]
    assert told and all(m["subject"] == "[A-1040] Negative rating: 1/5" for m in told)
    assert {_to(m) for m in told} <= set(TEAM)
    # The team is sent to the assist's console page, not to the JSON API.
    for mail in told:
        assert "Open it in the console: https://gw.example/console/assists/A-1040" in _text(mail)
        assert "/api/v1/" not in _text(mail)


async def test_forged_or_altered_survey_links_record_nothing(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    mailroom, _, auth = await _gateway(db, make_client, sendgrid_sim)
    _, links = await _close_with_survey(mailroom, auth, sendgrid_sim)
    good = links[0].removeprefix("https://gw.example")
    token = good.removeprefix("/csat/").split("?")[0]
    assist_id, expires, signature = token.split(".")
    other = (await _assist(db, 1041)).id
    forged = [
        f"/csat/{assist_id}.{expires}.{'A' * len(signature)}?rating=1",
        f"/csat/{other}.{expires}.{signature}?rating=1",  # another assist, same signature
        f"/csat/{assist_id}.{int(expires) + 3600}.{signature}?rating=1",  # a later expiry
        "/csat/nonsense?rating=1",
    ]
    for path in forged:
        response = await mailroom.client.get(path)
        assert response.status == 404, path
        forged_post = await mailroom.client.post(path.split("?")[0], data={"rating": "1"})
        assert forged_post.status == 404, path
    bad = await mailroom.client.get(good.replace("rating=5", "rating=9"))
    assert bad.status == 400
    async with db.session() as session:
        ratings = list(
            await session.scalars(
                select(Conversation.csat)
                .join(Assist, Assist.conversation_id == Conversation.id)
                .where(Assist.number.in_((1040, 1041)))
            )
        )
    assert ratings == []  # no conversation got a rating


async def test_survey_links_need_the_secret_key(db: Database, make_client: Any) -> None:
    mailroom, _, _ = await _gateway(db, make_client, None)  # no SWITCHBOARD_SECRET_KEY
    assist = await _assist(db, 1040)
    response = await mailroom.client.get(f"/csat/{assist.id}.9999999999.abc?rating=5")
    assert response.status == 404


async def test_status_priority_assignee_and_previous_assists(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    mailroom, seeded, auth = await _gateway(db, make_client, sendgrid_sim)
    first = await _assist(db, 1040)
    async with db.session() as session:
        customer = await session.get(Customer, first.customer_id)
        assert customer is not None
        earlier = Assist(
            workspace_id=seeded.workspace_id,
            number=2001,
            status="closed",
            subject="Wrong size delivered",
            customer_id=customer.id,
            resolution="Exchanged for a medium.",
            created_at=first.created_at - timedelta(days=30),
            updated_at=first.created_at - timedelta(days=29),
            closed_at=first.created_at - timedelta(days=29),
        )
        session.add(earlier)
    maria = seeded.member_ids["maria@demo.example"]

    changed = await _call(
        mailroom,
        auth,
        "PATCH",
        "/api/v1/assists/A-1040",
        200,
        json={"priority": "urgent", "assignee_id": maria, "status": "pending"},
    )

    assert (changed["priority"], changed["assignee_id"], changed["status"]) == (
        "urgent",
        maria,
        "pending",
    )
    assert changed["previous"] == [
        {
            "ref": "A-2001",
            "status": "closed",
            "subject": "Wrong size delivered",
            "created_at": changed["previous"][0]["created_at"],
            "resolution": "Exchanged for a medium.",
        }
    ]
    assert changed["customer_details"] == first.customer_details
    assert changed["escalation_reason"] == first.escalation_reason
    await _call(
        mailroom, auth, "PATCH", "/api/v1/assists/A-1040", 404, json={"assignee_id": "nobody"}
    )
    await _call(mailroom, auth, "PATCH", "/api/v1/assists/A-9999", 404, json={"status": "open"})
    unassigned = await _call(
        mailroom, auth, "PATCH", "/api/v1/assists/A-1040", 200, json={"assignee_id": None}
    )
    assert unassigned["assignee_id"] is None
