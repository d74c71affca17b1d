"""SMS and WhatsApp through Twilio: the whole gateway, webhooks signed as Twilio signs them,
replies through the real twilio SDK into the Twilio simulator."""

from __future__ import annotations

import itertools
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from channels.base import InboundRequest
from channels.twilio_common import (
    MalformedWebhook,
    SignatureError,
    WebhookVerifier,
    delivery_error,
    parse_form,
    rest_client,
)
from channels.twilio_sms.inbound import approval_of, keyword_of
from channels.twilio_sms.segments import segments
from channels.twilio_sms.sender import (
    MAX_SEGMENTS,
    REROUTE_NOTICE,
    message_text,
    split_message,
)
from channels.twilio_sms.webhooks import HELP_TEXT
from cli.seed import Seeded, seed_workspace
from core.reports import analytics
from core.team.directory import link_identity
from delivery.errors import ProviderTimeout
from delivery.outbox.queue import enqueue
from models.deliverable import Deliverable
from models.task import Route
from storage.db import Database
from storage.domain import Assist, Conversation, Proposal
from storage.models import (
    DeliveryReceipt,
    MediaObject,
    Member,
    OptOut,
    OutboxRow,
    TaskRow,
    WorkspaceAddress,
)
from storage.types import utcnow
from tests.channels.twilio_helpers import (
    ECHO,
    OUR_NUMBER,
    OUR_WHATSAPP,
    PUBLIC_BASE_URL,
    TEMPLATE_SID,
    Phone,
    start,
    stored_rows,
)
from tests.factories import make_member, make_workspace
from tests.helpers import wait_until
from tests.sims.twilio import TwilioSim, twilio_signature

OLIVIA = "+15550100001"  # owner in the seeded workspace
MARIA = "+15550100003"  # manager
TOM = "+15550100004"  # manager, linked by the test
STRANGER = "+15550199999"  # nobody's number
AUTH_TOKEN = "simauthtoken" + "0" * 20


async def _seed(db: Database) -> Seeded:
    async with db.session() as session:
        return await seed_workspace(session, now=utcnow() - timedelta(minutes=1))


async def _team(db: Database, *numbers: str) -> list[str]:
    """A small workspace whose owners hold NUMBERS; their member ids."""
    async with db.session() as session:
        workspace = await make_workspace(session)
        members = [
            await make_member(session, workspace.id, identities={"sms": number})
            for number in numbers
        ]
        return [m.id for m in members]


async def _outbox(db: Database, **where: Any) -> list[OutboxRow]:
    async with db.session() as session:
        query = select(OutboxRow).order_by(OutboxRow.created_at, OutboxRow.seq)
        for name, value in where.items():
            query = query.where(getattr(OutboxRow, name) == value)
        return list(await session.scalars(query))


async def _queue_reply(db: Database, route: Route, text: str, key: str) -> None:
    """A reply nobody asked for just now (a briefing, say), queued for the outbox."""
    async with db.session() as session:
        workspace_id = await session.scalar(select(Member.workspace_id).limit(1))
        assert workspace_id is not None
        enqueue(
            session,
            workspace_id=workspace_id,
            route=route,
            deliverables=[Deliverable(text=text)],
            dedupe_prefix=key,
        )


async def _final(db: Database, key: str) -> OutboxRow:
    async def row() -> OutboxRow | None:
        async with db.session() as session:
            found = await session.scalar(
                select(OutboxRow).where(OutboxRow.dedupe_key == f"{key}:0")
            )
        return found if found is not None and found.status not in ("pending", "sending") else None

    return await wait_until(row, timeout=10, message=f"outbox row {key} final")


def _squash(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("text", "encoding", "count"),
    [
        ("a" * 160, "gsm7", 1),
        ("a" * 161, "gsm7", 2),
        ("a" * 306, "gsm7", 2),
        ("a" * 307, "gsm7", 3),
        ("€" * 80, "gsm7", 1),  # an extension character counts two septets
        ("€" + "a" * 159, "gsm7", 2),
        ("あ" * 70, "ucs2", 1),
        ("あ" * 71, "ucs2", 2),
        ("😀" * 35, "ucs2", 1),  # two UTF-16 units each
        ("😀" + "a" * 69, "ucs2", 2),
        ("", "gsm7", 0),
    ],
)
def test_segment_counts(text: str, encoding: str, count: int) -> None:
    found = segments(text)
    assert (found.encoding, found.count) == (encoding, count)


def test_euro_counts_two_septets_and_pairs_never_straddle_segments() -> None:
    assert segments("€").units == 2
    # 152 + 2 + 152 = 306 septets would fill two segments exactly if "€" could be cut in half.
    assert segments("a" * 152 + "€" + "a" * 152).count == 3
    assert segments("あ" * 66 + "😀" + "あ" * 66).count == 3


def test_long_gsm_text_splits_into_whole_segments_at_natural_boundaries() -> None:
    paragraphs = [f"Paragraph {i}: " + "the queue is moving along nicely. " * 12 for i in range(9)]
    text = "\n\n".join(paragraphs)
    parts = split_message(text, "sms")
    assert len(parts) > 1
    for part in parts:
        found = segments(part)
        assert found.encoding == "gsm7"
        assert found.count <= MAX_SEGMENTS and len(part) <= 1600
        assert part.startswith("Paragraph")  # cut between paragraphs, not inside one
    assert _squash(" ".join(parts)) == _squash(text)


def test_text_with_an_emoji_is_split_as_ucs2() -> None:
    text = "Résumé of the week 📈\n" + " ".join(f"item {i} is done ✅." for i in range(120))
    parts = split_message(text, "sms")
    assert len(parts) > 1
    for part in parts:
        assert segments(part).count <= MAX_SEGMENTS and len(part) <= 1600
        assert "\ud83d" not in part  # no half emoji (Python strings never split a pair)
    assert _squash(" ".join(parts)) == _squash(text)


def test_typographic_characters_do_not_force_ucs2() -> None:
    (part,) = split_message("A-1045 priority: normal → urgent — “now”", "sms")
    assert part == 'A-1045 priority: normal -> urgent - "now"'
    assert segments(part).encoding == "gsm7"


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", "stop"),
        (" stop ", "stop"),
        ("Unsubscribe", "stop"),
        ("cancel", "stop"),
        ("QUIT", "stop"),
        ("start", "start"),
        ("YES", "start"),
        ("unstop", "start"),
        ("help", "help"),
        ("INFO", "help"),
        ("stop it", None),
        ("yes 1234", None),
    ],
)
def test_keywords_are_whole_messages(body: str, keyword: str | None) -> None:
    assert keyword_of(body) == keyword


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("YES 1234", ("approve", "1234")),
        ("y 1234", ("approve", "1234")),
        ("Approve #4821", ("approve", "4821")),
        ("no, 1234", ("reject", "1234")),
        ("N 1234.", ("reject", "1234")),
        ("cancel 1234", ("reject", "1234")),
        ("yes", None),
        ("yes please do 1234 now", None),
    ],
)
def test_approval_codes(body: str, expected: tuple[str, str] | None) -> None:
    assert approval_of(body) == expected


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (b"Body=a%00b", True),  # percent-encoded
        (b"Bo%00dy=ab", True),  # in a name
        (b"Body=a\x00b", True),  # as it is
        (b"Body=a%2500b&Note=100%25", False),  # the text "%00", not a NUL
    ],
)
def test_a_form_holding_a_nul_is_refused(body: bytes, refused: bool) -> None:
    request = InboundRequest.build(
        body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    if refused:
        with pytest.raises(MalformedWebhook, match="NUL"):
            parse_form(request)
    else:
        assert parse_form(request)["Body"] == "a%00b"


def test_signature_is_checked_against_the_public_url_not_the_local_one() -> None:
    verifier = WebhookVerifier(AUTH_TOKEN, PUBLIC_BASE_URL + "/")
    params = {"MessageSid": "SM" + "1" * 32, "Body": "hi", "From": OLIVIA}
    body = "&".join(f"{k}={v}" for k, v in params.items()).replace("+", "%2B").encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    def request(signed_for: str) -> InboundRequest:
        signature = twilio_signature(AUTH_TOKEN, signed_for, params)
        return InboundRequest.build(
            body=body,
            url="http://127.0.0.1:8080/twilio/sms?x=1",
            headers={**form, "X-Twilio-Signature": signature},
        )

    assert verifier.verify(request(f"{PUBLIC_BASE_URL}/twilio/sms?x=1"))["From"] == OLIVIA
    with pytest.raises(SignatureError):
        verifier.verify(request("http://127.0.0.1:8080/twilio/sms?x=1"))


def test_proposal_asks_for_yes_or_no_with_its_code() -> None:
    proposal = Deliverable(
        kind="proposal",
        text="Proposed: set A-1045 to urgent\n- A-1045 priority: normal → urgent\n"
        'Reply "approve 4821" to go ahead or "reject 4821" to cancel (expires in 24 hours).',
        data={"proposal": {"code": "4821"}},
    )
    assert message_text(proposal) == (
        "Proposed: set A-1045 to urgent\n- A-1045 priority: normal → urgent\n"
        "Reply YES 4821 to approve, NO 4821 to cancel."
    )


# ---------------------------------------------------------------------------- end to end


async def test_owner_question_is_answered_by_sms_with_the_figure(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    seeded = await _seed(db)
    phone = await start(make_client, twilio_sim)
    # The stranger's message opens a customer conversation of its own.
    asked_at = utcnow()

    await phone.text(OLIVIA, "how is our resolution rate this week?")
    await phone.text(STRANGER, "how is our resolution rate this week?")

    (body,) = await phone.replies(OLIVIA)
    now = utcnow()
    window, _ = analytics.windows("this_week", now, "UTC")
    async with db.session() as session:
        rows = list(
            await session.scalars(
                select(Conversation).where(
                    Conversation.workspace_id == seeded.workspace_id,
                    Conversation.started_at >= window.start,
                    Conversation.started_at < window.end,
                )
            )
        )
    assert "resolution rate" in body.lower()
    # Olivia's figure counts the conversations there when her task ran: the seeded ones, and
    # the stranger's only if it was processed first.
    before = [r for r in rows if r.started_at < asked_at]
    candidates = {
        f"{100 * sum(r.resolved_by_ai for r in found) / len(found):.1f}%"
        for found in (before, rows)
        if found
    }
    if candidates:
        assert any(figure in body for figure in candidates), (body, candidates)
    sent = twilio_sim.message_params()[0]
    assert (sent["From"], sent["StatusCallback"]) == (
        OUR_NUMBER,
        f"{PUBLIC_BASE_URL}/twilio/status",
    )
    # Someone not on the team is a customer: the AI agent cannot answer that from its training
    # data, so it offers a person on the team; never the figures.
    (to_stranger,) = await phone.replies(STRANGER)
    assert "%" not in to_stranger and to_stranger.endswith("What's your name?")
    await phone.settled(db)
    assert len(twilio_sim.sent(to=OLIVIA)) == 1


async def test_redelivered_message_gets_one_task_and_one_reply(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db, OLIVIA)
    phone = await start(make_client, twilio_sim, build=ECHO)

    params = await phone.text(OLIVIA, "what can you do?")
    await phone.deliver(params)
    await phone.replies(OLIVIA)
    await phone.deliver(params)
    await phone.settled(db)

    async with db.session() as session:
        tasks = list(await session.scalars(select(TaskRow)))
    assert [(t.channel, t.external_id, t.sender_address) for t in tasks] == [
        ("sms", params["MessageSid"], OLIVIA)
    ]
    assert tasks[0].reply_route == {"channel": "sms", "address": OLIVIA, "thread": OUR_NUMBER}
    assert [m["body"] for m in twilio_sim.sent(to=OLIVIA)] == ["You said: what can you do?"]


async def test_bad_signatures_and_malformed_messages_are_refused_storing_nothing(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db, OLIVIA)
    phone = await start(make_client, twilio_sim)
    params = phone.params(OLIVIA, "how is our resolution rate this week?")
    before = await stored_rows(db)
    local_url = str(phone.client.make_url("/twilio/sms"))

    refused = [
        await phone.post("/twilio/sms", params, signature="bm90IHRoZSBzaWduYXR1cmU="),
        await phone.post("/twilio/sms", params, signature=""),
        await phone.post("/twilio/sms", params, signed_url=local_url),
        await phone.post("/twilio/sms", params, signed_url=PUBLIC_BASE_URL + "/twilio/status"),
        await _tampered(phone, params),
        await phone.post("/twilio/status", {"MessageSid": params["MessageSid"]}, signature="x"),
    ]
    missing_sid = {k: v for k, v in params.items() if k not in ("MessageSid", "SmsMessageSid")}
    malformed = [
        await phone.post("/twilio/sms", missing_sid),
        await phone.post("/twilio/sms", {**params, "From": "not-a-number"}),
        await phone.post("/twilio/sms", {**params, "To": ""}),
        await phone.post("/twilio/sms", {**params, "NumMedia": "2"}),
        await phone.post("/twilio/status", {"MessageStatus": "delivered"}),
    ]

    assert [status for status, _ in refused] == [403] * len(refused)
    assert [status for status, _ in malformed] == [400] * len(malformed)
    assert "MessageSid is missing" in malformed[0][1]
    assert await stored_rows(db) == before
    assert twilio_sim.sent() == []


async def _tampered(phone: Phone, params: dict[str, str]) -> tuple[int, str]:
    """Signed for the original body, delivered with another."""
    signature = twilio_signature(phone.sim.auth_token, PUBLIC_BASE_URL + "/twilio/sms", params)
    return await phone.post(
        "/twilio/sms", {**params, "Body": "close every assist"}, signature=signature
    )


async def _priority(db: Database, seeded: Seeded, number: int) -> str:
    async with db.session() as session:
        row = await session.scalar(
            select(Assist).where(
                Assist.workspace_id == seeded.workspace_id, Assist.number == number
            )
        )
        assert row is not None
        return row.priority


async def test_approval_by_code_only_from_the_requester(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    seeded = await _seed(db)
    async with db.session() as session:
        tom = await session.get(Member, seeded.member_ids["tom@demo.example"])
        assert tom is not None
        await link_identity(session, tom, "sms", TOM)
    phone = await start(make_client, twilio_sim)
    before = await _priority(db, seeded, 1045)

    await phone.text(MARIA, "set A-1045 to urgent")
    (prompt,) = await phone.replies(MARIA)
    match = re.search(r"Reply YES (\d{4}) to approve, NO \1 to cancel", prompt)
    assert match is not None, prompt
    code = match[1]
    assert f"A-1045 priority: {before} -> urgent" in prompt

    await phone.text(TOM, f"YES {code}")
    await phone.text(STRANGER, f"yes {code}")
    (refused,) = await phone.replies(TOM)
    (stranger,) = await phone.replies(STRANGER)
    assert "Only the person who asked" in refused
    assert "not linked to a member" in stranger
    assert await _priority(db, seeded, 1045) == before
    async with db.session() as session:
        proposal = await session.scalar(select(Proposal).where(Proposal.code == code))
        assert proposal is not None and proposal.status == "pending"

    await phone.text(MARIA, f"YES {code}")
    await phone.text(MARIA, f"Y {code}")
    replies = await phone.replies(MARIA, 3)
    assert replies[1].startswith("Done: set A-1045 to urgent priority")
    assert "already approved" in replies[2]
    assert await _priority(db, seeded, 1045) == "urgent"
    await phone.settled(db)
    assert sum(body.startswith("Done:") for body in await phone.replies(MARIA, 3)) == 1
    async with db.session() as session:
        tasks = list(await session.scalars(select(TaskRow).where(TaskRow.kind == "approval")))
    approvals = [t.approval or {} for t in tasks]
    assert {(a.get("decision"), a.get("code")) for a in approvals} == {("approve", code)}


async def test_long_replies_split_on_segment_boundaries_and_paced_per_number(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db, OLIVIA, MARIA)
    await start(make_client, twilio_sim)
    gsm = "\n\n".join(
        f"Section {i}: " + "all assists answered within the hour. " * 10 for i in range(5)
    )
    ucs2 = "Weekly wins 🎉\n" + "\n".join(
        f"{i}. Résolu en moins d\u2019une heure ✅" for i in range(40)
    )

    await _queue_reply(db, Route(channel="sms", address=OLIVIA), gsm, "long-gsm")
    await _queue_reply(db, Route(channel="sms", address=MARIA), ucs2, "long-ucs2")

    for number, text, encoding in ((OLIVIA, gsm, "gsm7"), (MARIA, ucs2, "ucs2")):
        row = await _final(db, "long-gsm" if number == OLIVIA else "long-ucs2")
        assert row.status == "sent", row.last_error
        bodies = [m["body"] for m in twilio_sim.sent(to=number)]
        assert len(bodies) == row.parts_sent > 1
        for body in bodies:
            assert len(body) <= 1600 and segments(body).count <= MAX_SEGMENTS
            assert segments(body).encoding == encoding
        assert _squash(" ".join(bodies)) == _squash(
            text.replace("\u2019", "'") if encoding == "gsm7" else text
        )
        # One number gets at most one message a second (the simulator's arrival times).
        times = [r.at for r in twilio_sim.calls("/Messages.json") if r.form["To"] == number]
        assert all(b - a >= 0.9 for a, b in itertools.pairwise(times))
        async with db.session() as session:
            receipts = list(
                await session.scalars(
                    select(DeliveryReceipt).where(DeliveryReceipt.outbox_id == row.id)
                )
            )
        assert sorted(r.part for r in receipts) == list(range(len(bodies)))


async def test_csv_report_is_sent_as_a_signed_media_link(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _seed(db)
    phone = await start(make_client, twilio_sim)

    await phone.text(OLIVIA, "run the assists report for the last 7 days as csv")
    await phone.replies(OLIVIA, 2)
    await phone.settled(db)

    with_media = [p for p in twilio_sim.message_params() if "MediaUrl" in p]
    assert len(with_media) == 1
    link = with_media[0]["MediaUrl"]
    assert link.startswith(f"{PUBLIC_BASE_URL}/media/")
    assert "CSV" in with_media[0]["Body"] and len(with_media[0]["Body"]) <= 300
    token = link.removeprefix(f"{PUBLIC_BASE_URL}/media/")
    response = await phone.client.get(f"/media/{token}")
    assert response.status == 200
    assert response.content_type == "text/csv"
    media_id = token.split(".")[0]
    async with db.session() as session:
        stored = await session.get(MediaObject, media_id)
        assert stored is not None
    assert await response.read() == stored.data
    assert (await response.read()).decode().splitlines()[0].count(",") >= 1

    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    expired = phone.gateway.media.token(media_id, utcnow() - timedelta(seconds=1))
    assert (await phone.client.get(f"/media/{tampered}")).status == 404
    assert (await phone.client.get(f"/media/{expired}")).status == 404


async def test_stop_start_and_help(db: Database, make_client: Any, twilio_sim: TwilioSim) -> None:
    await _team(db, OLIVIA)
    phone = await start(make_client, twilio_sim, build=ECHO)

    stop = await phone.text(OLIVIA, "STOP")
    await phone.deliver(stop)  # redelivered: still one record
    async with db.session() as session:
        opt_outs = list(await session.scalars(select(OptOut)))
        tasks = list(await session.scalars(select(TaskRow)))
    assert [(o.channel, o.address) for o in opt_outs] == [("sms", OLIVIA)]
    assert [(t.kind, t.status, t.raw["keyword"]) for t in tasks] == [("command", "done", "stop")]

    await _queue_reply(db, Route(channel="sms", address=OLIVIA), "Your daily summary", "after-stop")
    dead = await _final(db, "after-stop")
    assert dead.status == "dead" and "opted out" in (dead.last_error or "")
    assert twilio_sim.sent(to=OLIVIA) == []

    await phone.text(OLIVIA, "start")
    async with db.session() as session:
        assert list(await session.scalars(select(OptOut))) == []
    await _queue_reply(
        db, Route(channel="sms", address=OLIVIA), "Your daily summary", "after-start"
    )
    assert (await _final(db, "after-start")).status == "sent"

    await phone.text(OLIVIA, "Help")
    assert await phone.replies(OLIVIA, 2) == ["Your daily summary", HELP_TEXT]
    await phone.settled(db)
    async with db.session() as session:
        kinds = [t.kind for t in await session.scalars(select(TaskRow))]
    assert kinds == ["command"] * 3  # none of them reached the operator


async def test_status_callbacks_move_receipts_forward_only(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db, OLIVIA, MARIA)
    phone = await start(make_client, twilio_sim)
    status_url = str(phone.client.make_url("/twilio/status"))
    await _queue_reply(db, Route(channel="sms", address=OLIVIA), "Your daily summary", "status")
    row = await _final(db, "status")
    (message,) = twilio_sim.sent(to=OLIVIA)
    sid = message["sid"]
    assert (row.provider_message_id, row.provider_status) == (sid, "queued")

    async def state() -> tuple[str, str | None]:
        async with db.session() as session:
            receipt = await session.scalar(
                select(DeliveryReceipt).where(DeliveryReceipt.provider_message_id == sid)
            )
            outbox = await session.get(OutboxRow, row.id)
            assert receipt is not None and outbox is not None
            return receipt.status, outbox.provider_status

    assert await twilio_sim.advance(sid, "sent", deliver_to=status_url) == 200
    assert await state() == ("sent", "sent")
    assert await twilio_sim.advance(sid, "delivered", deliver_to=status_url) == 200
    assert await twilio_sim.advance(sid, "sending", deliver_to=status_url) == 200  # late
    assert await twilio_sim.advance(sid, "sent", deliver_to=status_url) == 200  # late
    assert await state() == ("delivered", "delivered")

    unknown = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered", "To": OLIVIA}
    assert (await phone.post("/twilio/status", unknown))[0] == 200
    forged = {"MessageSid": sid, "MessageStatus": "failed", "To": OLIVIA}
    assert (await phone.post("/twilio/status", forged, signature="Zm9yZ2Vk"))[0] == 403
    assert await state() == ("delivered", "delivered")

    # A carrier's "unsubscribed" (21610) stops further messages to that number too.
    await _queue_reply(db, Route(channel="sms", address=MARIA), "Your daily summary", "unsub")
    await _final(db, "unsub")
    (to_maria,) = twilio_sim.sent(to=MARIA)
    await twilio_sim.advance(
        to_maria["sid"], "undelivered", error_code=21610, deliver_to=status_url
    )
    async with db.session() as session:
        receipt = await session.scalar(
            select(DeliveryReceipt).where(DeliveryReceipt.provider_message_id == to_maria["sid"])
        )
        opted = await session.scalar(select(OptOut).where(OptOut.address == MARIA))
    assert receipt is not None and (receipt.status, receipt.error_code) == ("undelivered", "21610")
    assert opted is not None and opted.channel == "sms"


async def _age_whatsapp_messages(db: Database, hours: float) -> None:
    async with db.session() as session:
        await session.execute(
            update(TaskRow)
            .where(TaskRow.channel == "whatsapp")
            .values(received_at=utcnow() - timedelta(hours=hours))
        )


async def test_whatsapp_template_outside_the_24_hour_window(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db, OLIVIA)
    phone = await start(
        make_client,
        twilio_sim,
        build=ECHO,
        TWILIO_WHATSAPP_TEMPLATE_SID=TEMPLATE_SID,
    )
    whatsapp = f"whatsapp:{OLIVIA}"

    await phone.text(whatsapp, "what can you do?")
    await phone.replies(whatsapp)
    await phone.settled(db)
    (first,) = twilio_sim.message_params()
    assert (first["From"], first["Body"]) == (OUR_WHATSAPP, "You said: what can you do?")
    assert "ContentSid" not in first

    await _age_whatsapp_messages(db, 25)
    route = Route(channel="whatsapp", address=whatsapp)
    await _queue_reply(db, route, "Daily inbox summary\n12 open assists", "late")
    assert (await _final(db, "late")).status == "sent"
    template = twilio_sim.message_params()[-1]
    assert template["To"] == whatsapp and template["ContentSid"] == TEMPLATE_SID
    assert json.loads(template["ContentVariables"]) == {"1": "Daily inbox summary"}
    assert "Body" not in template


async def test_whatsapp_outside_the_window_moves_to_another_channel(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db, OLIVIA)
    phone = await start(make_client, twilio_sim, build=ECHO)
    whatsapp = f"whatsapp:{OLIVIA}"
    await phone.text(whatsapp, "what can you do?")
    await phone.replies(whatsapp)
    await phone.settled(db)

    await _age_whatsapp_messages(db, 24.5)
    route = Route(channel="whatsapp", address=whatsapp)
    await _queue_reply(db, route, "Daily inbox summary", "late")
    moved = await _final(db, "late")
    (by_sms,) = await phone.replies(OLIVIA)
    assert moved.status == "rerouted"
    assert by_sms == f"{REROUTE_NOTICE}\n\nDaily inbox summary"
    assert len(twilio_sim.sent(to=whatsapp)) == 1  # only the free-form reply of earlier

    # A customer with no other channel: nothing is sent, and the reason is kept.
    await _queue_reply(
        db, Route(channel="whatsapp", address=f"whatsapp:{STRANGER}"), "Your ticket", "nowhere"
    )
    nowhere = await _final(db, "nowhere")
    assert nowhere.status == "dead" and "no other linked channel" in (nowhere.last_error or "")
    assert twilio_sim.sent(to=f"whatsapp:{STRANGER}") == []


async def test_429_is_retried_after_its_delay_and_delivered_once(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db, OLIVIA)
    await start(make_client, twilio_sim)
    # Two seconds: more than the outbox's own first backoff (at most one), so only an
    # honoured Retry-After explains the gap.
    twilio_sim.throttle(retry_after=2, path="/Messages.json")

    await _queue_reply(db, Route(channel="sms", address=OLIVIA), "Your daily summary", "busy")
    row = await _final(db, "busy")

    assert (row.status, row.attempts) == ("sent", 2)
    calls = twilio_sim.calls("/Messages.json")
    assert [c.fault for c in calls] == ["throttle", None]
    assert calls[1].at - calls[0].at >= 1.9
    assert [m["body"] for m in twilio_sim.sent(to=OLIVIA)] == ["Your daily summary"]


async def test_mms_media_is_recorded_on_the_task(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db, OLIVIA)
    phone = await start(make_client, twilio_sim, build=ECHO)
    base = f"https://api.twilio.com/2010-04-01/Accounts/{twilio_sim.account_sid}/Messages"
    media = [
        (f"{base}/MM{'1' * 32}/Media/ME{'a' * 32}", "image/jpeg"),
        (f"{base}/MM{'1' * 32}/Media/ME{'b' * 32}", "application/pdf"),
    ]

    params = await phone.text(OLIVIA, "see attached", media=media, sid="MM" + "1" * 32)

    async with db.session() as session:
        task = await session.scalar(
            select(TaskRow).where(TaskRow.external_id == params["MessageSid"])
        )
    assert task is not None and task.text == "see attached"
    assert [(a["url"], a["content_type"]) for a in task.attachments] == media
    assert [a["name"] for a in task.attachments] == [f"ME{'a' * 32}", f"ME{'b' * 32}"]


async def test_refusals_are_mapped_and_an_unsubscribed_number_is_remembered(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    await _team(db, OLIVIA, MARIA)
    await start(make_client, twilio_sim)

    twilio_sim.refuse(21610)
    await _queue_reply(db, Route(channel="sms", address=OLIVIA), "Summary", "unsubscribed")
    unsubscribed = await _final(db, "unsubscribed")
    twilio_sim.refuse(21211)
    await _queue_reply(db, Route(channel="sms", address=MARIA), "Summary", "invalid")
    invalid = await _final(db, "invalid")
    twilio_sim.forbid()
    await _queue_reply(db, Route(channel="sms", address=MARIA), "Summary", "forbidden")
    forbidden = await _final(db, "forbidden")
    twilio_sim.fail(503)
    await _queue_reply(db, Route(channel="sms", address=MARIA), "Summary", "unavailable")
    unavailable = await _final(db, "unavailable")

    assert (unsubscribed.status, unsubscribed.attempts) == ("dead", 1)
    assert "21610" in (unsubscribed.last_error or "")
    assert (invalid.status, invalid.attempts) == ("dead", 1)
    assert "21211" in (invalid.last_error or "")
    assert (forbidden.status, forbidden.attempts) == ("dead", 1)
    assert (unavailable.status, unavailable.attempts) == ("sent", 2)  # retried
    async with db.session() as session:
        opted = [(o.channel, o.address) for o in await session.scalars(select(OptOut))]
    assert opted == [("sms", OLIVIA)]
    # Refused calls were made once each; after 21610 nothing more goes to that number.
    await _queue_reply(db, Route(channel="sms", address=OLIVIA), "Summary", "again")
    assert (await _final(db, "again")).status == "dead"
    olivia_calls = [c for c in twilio_sim.calls("/Messages.json") if c.form["To"] == OLIVIA]
    assert len(olivia_calls) == 1


async def test_a_stalled_api_hits_the_client_timeout(twilio_sim: TwilioSim) -> None:
    client = rest_client(twilio_sim.account_sid, twilio_sim.auth_token, twilio_sim.url, timeout=0.3)
    twilio_sim.stall()
    try:
        with pytest.raises(TimeoutError) as caught:
            await client.messages.create_async(to=OLIVIA, from_=OUR_NUMBER, body="x")
    finally:
        await client.http_client.close()  # type: ignore[attr-defined]
    assert isinstance(delivery_error(caught.value), ProviderTimeout)


async def test_each_number_reaches_its_own_workspace(
    db: Database, make_client: Any, twilio_sim: TwilioSim
) -> None:
    other_number = "+15550008888"
    async with db.session() as session:
        first = await make_workspace(session)
        second = await make_workspace(session)
        session.add(WorkspaceAddress(workspace_id=second.id, channel="sms", address=OUR_NUMBER))
    phone = await start(make_client, twilio_sim, build=ECHO)
    before = await stored_rows(db)

    params = await phone.text(OLIVIA, "hello", to=OUR_NUMBER)
    status, text = await phone.post("/twilio/sms", phone.params(OLIVIA, "hi", to=other_number))

    assert status == 404 and other_number in text  # two workspaces, and nobody owns that one
    async with db.session() as session:
        task = await session.scalar(select(TaskRow))
    assert task is not None and task.external_id == params["MessageSid"]
    assert task.workspace_id == second.id != first.id
    assert (await stored_rows(db))["tasks"] == before["tasks"] + 1


async def test_webhooks_answer_404_when_the_channel_is_off(make_client: Any) -> None:
    client = await make_client()
    response = await client.post("/twilio/sms", data={"MessageSid": "SM" + "1" * 32})
    assert response.status == 404
    assert "TWILIO_ACCOUNT_SID" in (await response.json())["message"]
