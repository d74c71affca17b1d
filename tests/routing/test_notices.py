"""Notices that reach people: a new assist nobody can take goes to the whole team (support
included) and the workspace's notification addresses; whoever is handed an assist hears of it by
email and on their default linked channel (here SMS), with the console link; assigning from
the console tells the new assignee; a customer's reply goes to the assignee."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from channels.voice.store import record_voicemail
from core.assists.csat import Links
from core.assists.mail import AssistMailer
from core.assists.notify import notify_team
from core.assists.records import create_assist
from core.assists.team_actions import update
from core.routing.availability import set_availability
from storage.db import Database
from storage.domain import Assist
from storage.models import OutboxRow
from tests.channels.twilio_helpers import PUBLIC_BASE_URL, twilio_settings
from tests.factories import make_member, make_workspace
from tests.helpers import wait_until
from tests.sims.sendgrid import SendGridSim
from tests.sims.twilio import TwilioSim

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SAM_PHONE = "+15550001111"
LINK = f"{PUBLIC_BASE_URL}/console/assists/"


def _text(mail: dict[str, Any]) -> str:
    return "\n".join(part["value"] for part in mail.get("content", []))


async def _mail_to(sim: SendGridSim, address: str, has: str) -> dict[str, Any]:
    return await wait_until(
        lambda: next(
            (
                m
                for m in sim.mails()
                if address in [t["email"] for p in m["personalizations"] for t in p["to"]]
                and has in _text(m) + m.get("subject", "")
            ),
            None,
        ),
        timeout=15,
        message=f"an email to {address} with {has!r}",
    )


async def test_team_list_then_assignee_by_email_and_sms_with_the_link(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim, twilio_sim: TwilioSim
) -> None:
    await make_client(
        **twilio_settings(twilio_sim),
        SENDGRID_API_KEY=sendgrid_sim.api_key,
        SENDGRID_API_URL=sendgrid_sim.url,
        EMAIL_FROM="support@acme.example",
    )
    async with db.session() as session:
        ws = await make_workspace(session, plan="enterprise")
        ws.notification_addresses = ["Alerts@Acme.example"]
        olivia = await make_member(session, ws.id, name="Olivia", role="owner")
        sam = await make_member(
            session, ws.id, name="Sam", role="support", identities={"sms": SAM_PHONE}
        )
        sam.default_channel = "sms"
        olivia.availability = sam.availability = "offline"
        ws_id, olivia_id, sam_id = ws.id, olivia.id, sam.id
        olivia_email, sam_email = olivia.email, sam.email
    assert olivia_email and sam_email

    # Nobody is available: the team (support too) and the list are told.
    async with db.session() as session:
        assist = await create_assist(
            session, workspace_id=ws_id, subject="Parcel lost", summary="Never came", now=NOW
        )
        assert assist.assignee_id is None
        told = await notify_team(
            session, assist, title=f"[{assist.ref}] New escalation", text="...", dedupe_key="t"
        )
        ref = assist.ref
    assert sorted(told) == sorted([olivia_email, sam_email, "alerts@acme.example"])
    for address in told:
        await _mail_to(sendgrid_sim, address, f"[{ref}] New escalation")

    # Sam comes online: handed the assist, told by email and by SMS with its link.
    async with db.session() as session:
        await set_availability(
            session, ws_id, sam_id, "available", actor=sam_id, now=NOW, base_url=PUBLIC_BASE_URL
        )
    mail = await _mail_to(sendgrid_sim, sam_email, f"{LINK}{ref}")
    assert mail["subject"] == f"[{ref}] Assigned to you: Parcel lost"
    sms = await wait_until(
        lambda: next((m for m in twilio_sim.sent(SAM_PHONE) if ref in m["body"]), None),
        timeout=15,
        message="the SMS to Sam",
    )
    assert sms["body"] == f"{ref} is assigned to you: Parcel lost {LINK}{ref}"

    # A customer reply now goes to Sam alone.
    async with db.session() as session:
        found = await session.get(Assist, assist.id)
        assert found is not None
        told = await notify_team(
            session,
            found,
            title=f"[{ref}] New reply",
            text="Any news?",
            dedupe_key="r",
            link=f"{LINK}{ref}",
        )
    assert told == [sam_email, SAM_PHONE]
    await wait_until(
        lambda: any(m["body"] == f"[{ref}] New reply {LINK}{ref}" for m in twilio_sim.sent()),
        timeout=15,
        message="the reply notice by SMS",
    )

    # An owner reassigns it to Olivia from the console: she is told, with the link.
    async with db.session() as session:
        found = await session.get(Assist, assist.id)
        assert found is not None

        mailer = AssistMailer(links=Links(base_url=PUBLIC_BASE_URL))
        await update(session, found, now=NOW, mailer=mailer, assignee_id=olivia_id)
    mail = await _mail_to(sendgrid_sim, olivia_email, f"{LINK}{ref}")
    assert mail["subject"] == f"[{ref}] Assigned to you: Parcel lost"


async def test_a_routed_voicemail_tells_its_assignee(db: Database) -> None:
    async with db.session() as session:
        ws = await make_workspace(session, plan="enterprise")
        sam = await make_member(session, ws.id, name="Sam", role="support")
        ws_id, sam_id, sam_email = ws.id, sam.id, sam.email
    async with db.session() as session:
        assist, created = await record_voicemail(
            session,
            workspace_id=ws_id,
            key="voicemail:RE1",
            call_sid="CA1",
            caller="+15550002222",
            caller_number="+15550002222",
            text="Please call me back about my order",
            recording_url=None,
            duration=12,
            labels=["Acme"],
            base_url=PUBLIC_BASE_URL,
        )
    assert created and assist.assignee_id == sam_id
    async with db.session() as session:
        (notice,) = await session.scalars(
            select(OutboxRow).where(OutboxRow.channel == "email", OutboxRow.address == sam_email)
        )
    assert (
        notice.deliverable["title"]
        == f"[{assist.ref}] Assigned to you: Voicemail from +15550002222"
    )
    assert f"{LINK}{assist.ref}" in notice.deliverable["text"]
