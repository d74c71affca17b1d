"""Linking chat identities without typing ids, end to end: "link <code>" through each signed
webhook (Slack, Telegram, SMS, WhatsApp) into the simulators' replies; refusals, throttling,
redelivery; Slack users matched by their verified email where the workspace allows it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from core.team.linking import MAX_FAILURES_PER_SENDER, MAX_FAILURES_PER_WORKSPACE, issue_code
from storage.db import Database
from storage.linking import LinkAttempt, LinkCode
from storage.models import AuditEntry, ChannelIdentity, Member, TaskRow, Workspace
from storage.types import utcnow
from tests.channels.slack_payloads import direct_message, mention
from tests.factories import make_member, make_workspace
from tests.helpers import settled
from tests.robustness.conftest import send
from tests.robustness.webhooks import (
    SECRET_KEY,
    Keys,
    Wire,
    gateway_settings,
    sign,
    slack_event,
    sms,
    telegram_update,
)
from tests.sims.sendgrid import SendGridSim
from tests.sims.slack import SlackSim
from tests.sims.telegram import TelegramSim
from tests.sims.twilio import TwilioSim

OLIVIA = ("Olivia Ortiz", "olivia@acme.example")
BEN = ("Ben Brooks", "ben@acme.example")
CARA = ("Cara Cruz", "cara@acme.example")
DAN = ("Dan Diaz", "dan@acme.example")


@dataclass
class World:
    client: Any
    db: Database
    workspace_id: str
    members: dict[str, str]  # email -> member id

    async def code(self, email: str, *, now: datetime | None = None) -> str:
        async with self.db.session() as session:
            member = await session.get(Member, self.members[email])
            assert member is not None
            issued = await issue_code(
                session,
                member,
                secret=SECRET_KEY.encode(),
                now=now or utcnow(),
                actor="test",
            )
        return issued.code

    async def send(self, wire: Wire, times: int = 1) -> None:
        for _ in range(times):
            status, text = await send(self.client, sign(wire, Keys()))
            assert status == 200, text
        await settled(self.db)

    async def linked(self) -> set[tuple[str, str, str]]:
        """(channel, address, member email) of every identity but the email ones."""
        async with self.db.session() as session:
            rows = await session.execute(
                select(ChannelIdentity.channel, ChannelIdentity.address, Member.email)
                .join(Member, Member.id == ChannelIdentity.member_id)
                .where(ChannelIdentity.channel != "email")
            )
        return {(c, a, str(e)) for c, a, e in rows}


async def world(
    db: Database,
    make_client: Any,
    slack: SlackSim,
    telegram: TelegramSim,
    twilio: TwilioSim,
    sendgrid: SendGridSim,
    identities: dict[str, dict[str, str]] | None = None,
) -> World:
    async with db.session() as session:
        workspace = await make_workspace(session, name="Acme")
        members = {}
        for name, email in (OLIVIA, BEN, CARA, DAN):
            member = await make_member(
                session,
                workspace.id,
                name=name,
                email=email,
                identities=(identities or {}).get(email),
            )
            members[email] = member.id
    client = await make_client(
        **gateway_settings(slack=slack, telegram=telegram, twilio=twilio, sendgrid=sendgrid)
    )
    return World(client, db, workspace.id, members)


def bodies(twilio: TwilioSim, to: str) -> list[str]:
    return [m["body"] for m in twilio.sent(to=to)]


# --------------------------------------------------------------------------- linked


async def test_link_code_from_each_chat_channel_links_it_and_is_answered_once(
    db: Database,
    make_client: Any,
    slack_sim: SlackSim,
    telegram_sim: TelegramSim,
    twilio_sim: TwilioSim,
    sendgrid_sim: SendGridSim,
) -> None:
    w = await world(db, make_client, slack_sim, telegram_sim, twilio_sim, sendgrid_sim)
    slack_user, telegram_user = "U0OLIVIA1", 700100200
    ben_phone, cara_whatsapp = "+15550101111", "+15550102222"
    wires = {
        "slack": slack_event(direct_message(f"link {await w.code(OLIVIA[1])}", user=slack_user)),
        "telegram": telegram_update(
            telegram_sim.message_update(telegram_user, f"link {await w.code(DAN[1])}")
        ),
        "sms": sms(ben_phone, f"Link {await w.code(BEN[1])}"),
        "whatsapp": sms(f"whatsapp:{cara_whatsapp}", f" link {await w.code(CARA[1])} "),
    }
    for wire in wires.values():
        await w.send(wire, times=2)  # the provider redelivers: one link, one reply

    assert await w.linked() == {
        ("slack", slack_user, OLIVIA[1]),
        ("telegram", str(telegram_user), DAN[1]),
        ("sms", ben_phone, BEN[1]),
        ("whatsapp", cara_whatsapp, CARA[1]),
    }
    assert [m["text"] for m in slack_sim.posted()] == [
        "Linked this Slack account to Olivia Ortiz (olivia@acme.example)."
    ]
    assert [m["text"] for m in telegram_sim.messages(telegram_user)] == [
        "Linked this Telegram account to Dan Diaz (dan@acme.example)."
    ]
    assert bodies(twilio_sim, ben_phone) == [
        "Linked this phone number to Ben Brooks (ben@acme.example)."
    ]
    assert bodies(twilio_sim, f"whatsapp:{cara_whatsapp}") == [
        "Linked this WhatsApp number to Cara Cruz (cara@acme.example)."
    ]
    async with db.session() as session:
        tasks = await session.scalar(select(func.count()).select_from(TaskRow))
        used = list(await session.scalars(select(LinkCode.used_channel)))
        audits = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "identity.link"))
        )
    assert tasks == 4
    assert sorted(str(u) for u in used) == ["slack", "sms", "telegram", "whatsapp"]
    assert sorted((a.target, a.details["channel"], a.details["method"]) for a in audits) == sorted(
        (w.members[email], channel, "link_code")
        for email, channel in (
            (OLIVIA[1], "slack"),
            (DAN[1], "telegram"),
            (BEN[1], "sms"),
            (CARA[1], "whatsapp"),
        )
    )
    # Raw ids never reach the member.
    everything = "\n".join(
        [m["text"] for m in slack_sim.posted()]
        + [m["text"] for m in telegram_sim.messages()]
        + [m["body"] for m in twilio_sim.sent()]
    )
    assert not any(member_id in everything for member_id in w.members.values())
    assert slack_user not in everything and str(telegram_user) not in everything

    # From now on the Slack account is Olivia, and Ben's number is Ben on WhatsApp too.
    await w.send(slack_event(mention("help", user=slack_user)))
    await w.send(sms(f"whatsapp:{ben_phone}", "what can you do?"))
    async with db.session() as session:
        latest = list(
            await session.scalars(
                select(TaskRow.member_id).order_by(TaskRow.received_at.desc()).limit(2)
            )
        )
    assert set(latest) == {w.members[OLIVIA[1]], w.members[BEN[1]]}


# --------------------------------------------------------------------------- refused


async def test_wrong_expired_and_used_codes_are_refused_and_link_nothing(
    db: Database,
    make_client: Any,
    slack_sim: SlackSim,
    telegram_sim: TelegramSim,
    twilio_sim: TwilioSim,
    sendgrid_sim: SendGridSim,
) -> None:
    w = await world(db, make_client, slack_sim, telegram_sim, twilio_sim, sendgrid_sim)
    expired = await w.code(OLIVIA[1], now=utcnow() - timedelta(minutes=11))
    ben = await w.code(BEN[1])
    wrong = next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in (expired, ben))

    await w.send(sms("+15550103001", f"link {wrong}"))
    await w.send(sms("+15550103002", f"link {expired}"))
    await w.send(sms("+15550103003", f"link {ben}"))  # linked: Ben's code is used now
    await w.send(sms("+15550103004", f"link {ben}"))

    assert bodies(twilio_sim, "+15550103001") == [
        "That link code is not right, so nothing was linked. Check the 6 digits, or get a new "
        "code on your profile page in the console."
    ]
    assert bodies(twilio_sim, "+15550103002") == [
        "That link code has expired (codes work for 10 minutes), so nothing was linked. Get a "
        "new one on your profile page in the console."
    ]
    assert bodies(twilio_sim, "+15550103004") == [
        "That link code has been used already, so nothing was linked. Get a new one on your "
        "profile page in the console."
    ]
    assert await w.linked() == {("sms", "+15550103003", BEN[1])}
    # A new code replaces the member's unused one.
    first = await w.code(CARA[1])
    second = await w.code(CARA[1])
    await w.send(sms("+15550103005", f"link {first}"))
    assert "not right" in bodies(twilio_sim, "+15550103005")[0]
    await w.send(sms("+15550103005", f"link {second}"))
    assert ("sms", "+15550103005", CARA[1]) in await w.linked()


async def test_an_identity_linked_to_another_member_is_never_moved(
    db: Database,
    make_client: Any,
    slack_sim: SlackSim,
    telegram_sim: TelegramSim,
    twilio_sim: TwilioSim,
    sendgrid_sim: SendGridSim,
) -> None:
    bens_phone = "+15550104001"
    w = await world(
        db,
        make_client,
        slack_sim,
        telegram_sim,
        twilio_sim,
        sendgrid_sim,
        identities={BEN[1]: {"sms": bens_phone}},
    )
    code = await w.code(OLIVIA[1])
    await w.send(sms(f"whatsapp:{bens_phone}", f"link {code}"))

    assert bodies(twilio_sim, f"whatsapp:{bens_phone}") == [
        "This WhatsApp number is linked to another member of the team already, so it was not "
        "linked to Olivia Ortiz. Ask an owner or admin to unlink it first."
    ]
    assert await w.linked() == {("sms", bens_phone, BEN[1])}
    # The code was not spent on the refusal: Olivia's own account still links with it.
    await w.send(slack_event(direct_message(f"link {code}", user="U0OLIVIA9")))
    assert ("slack", "U0OLIVIA9", OLIVIA[1]) in await w.linked()
    # And linking the same account again just says so.
    await w.send(slack_event(direct_message(f"link {await w.code(OLIVIA[1])}", user="U0OLIVIA9")))
    assert slack_sim.posted()[-1]["text"] == (
        "This Slack account is already linked to you: Olivia Ortiz (olivia@acme.example)."
    )


async def test_guessing_is_throttled_per_sender_and_per_workspace(
    db: Database,
    make_client: Any,
    slack_sim: SlackSim,
    telegram_sim: TelegramSim,
    twilio_sim: TwilioSim,
    sendgrid_sim: SendGridSim,
) -> None:
    w = await world(db, make_client, slack_sim, telegram_sim, twilio_sim, sendgrid_sim)
    code = await w.code(OLIVIA[1])
    guesser = "+15550105001"
    guesses = [g for g in (f"{n:06d}" for n in range(10)) if g != code]
    for guess in guesses[:MAX_FAILURES_PER_SENDER]:
        await w.send(sms(guesser, f"link {guess}"))
    # The right code now gets the same refusal as any other: the sender must wait.
    await w.send(sms(guesser, f"link {code}"))
    replies = bodies(twilio_sim, guesser)
    assert len(replies) == MAX_FAILURES_PER_SENDER + 1
    assert replies[-1] == "Too many wrong link codes from here. Wait 15 minutes, then try again."
    assert await w.linked() == set()

    # Guesses spread over many senders stop the whole workspace's linking for a while.
    async with db.session() as session:
        now = utcnow()
        for n in range(MAX_FAILURES_PER_WORKSPACE - MAX_FAILURES_PER_SENDER):
            session.add(
                LinkAttempt(
                    workspace_id=w.workspace_id,
                    channel="telegram",
                    address=str(900000 + n),
                    created_at=now,
                )
            )
    await w.send(sms("+15550105002", f"link {code}"))
    assert bodies(twilio_sim, "+15550105002") == [
        "Too many wrong link codes were tried lately. Wait 15 minutes, then try again."
    ]
    assert await w.linked() == set()
    # Once the window has passed, the code (still unused) works.
    async with db.session() as session:
        await session.execute(
            update(LinkAttempt).values(created_at=utcnow() - timedelta(minutes=16))
        )
    await w.send(sms("+15550105002", f"link {code}"))
    assert await w.linked() == {("sms", "+15550105002", OLIVIA[1])}
    # Attempts older than the window are dropped when the next one is counted.
    await w.send(sms("+15550105003", f"link {guesses[0]}"))
    async with db.session() as session:
        kept = list(await session.scalars(select(LinkAttempt.address)))
    assert kept == ["+15550105003"]


async def test_other_customer_text_is_not_taken_for_a_link_request(
    db: Database,
    make_client: Any,
    slack_sim: SlackSim,
    telegram_sim: TelegramSim,
    twilio_sim: TwilioSim,
    sendgrid_sim: SendGridSim,
) -> None:
    w = await world(db, make_client, slack_sim, telegram_sim, twilio_sim, sendgrid_sim)
    code = await w.code(OLIVIA[1])
    for text in (f"please link {code}", f"link {code} and close A-1042", f"link {code}0"):
        await w.send(sms("+15550106001", text))
    assert await w.linked() == set()
    async with db.session() as session:
        attempts = await session.scalar(select(func.count()).select_from(LinkAttempt))
    assert attempts == 0  # went on to the team as customer messages, no guesses counted
    assert all("link code" not in b for b in bodies(twilio_sim, "+15550106001"))


# --------------------------------------------------------------------------- Slack email


async def _slack_email_linking(db: Database, workspace_id: str, on: bool) -> None:
    async with db.session() as session:
        await session.execute(
            update(Workspace).where(Workspace.id == workspace_id).values(slack_email_linking=on)
        )


async def test_slack_users_are_matched_by_verified_email_only_when_the_workspace_allows(
    db: Database,
    make_client: Any,
    slack_sim: SlackSim,
    telegram_sim: TelegramSim,
    twilio_sim: TwilioSim,
    sendgrid_sim: SendGridSim,
) -> None:
    w = await world(db, make_client, slack_sim, telegram_sim, twilio_sim, sendgrid_sim)
    olivia = slack_sim.add_user("U0OLIVIA5", name="olivia", email="Olivia@Acme.example")
    olivia["is_email_confirmed"] = True
    unconfirmed = slack_sim.add_user("U0BENXX01", name="ben", email=BEN[1])
    unconfirmed["is_email_confirmed"] = False
    customer = slack_sim.add_user("U0CUSTOM1", name="casey", email="casey@customer.example")
    customer["is_email_confirmed"] = True

    # Off (the default): nobody is looked up, Olivia's Slack account is a stranger.
    await w.send(slack_event(mention("help", user="U0OLIVIA5")))
    assert slack_sim.args("users.info") == []
    assert await w.linked() == set()

    await _slack_email_linking(db, w.workspace_id, True)
    await w.send(slack_event(mention("help", user="U0OLIVIA5")))
    await w.send(slack_event(mention("help again", user="U0OLIVIA5")))
    for _ in range(3):  # a customer chatting: asked about once, then remembered
        await w.send(slack_event(mention("any news?", user="U0CUSTOM1")))
    await w.send(slack_event(mention("help", user="U0BENXX01")))

    assert await w.linked() == {("slack", "U0OLIVIA5", OLIVIA[1])}
    assert sorted(a["user"] for a in slack_sim.args("users.info")) == [
        "U0BENXX01",
        "U0CUSTOM1",
        "U0OLIVIA5",
    ]
    async with db.session() as session:
        answered_as = list(
            await session.scalars(
                select(TaskRow.member_id)
                .where(TaskRow.sender_address == "U0OLIVIA5")
                .order_by(TaskRow.received_at)
            )
        )
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.action == "identity.link"))
    # The first message came while the setting was off; the next two are Olivia's.
    assert answered_as == [None, w.members[OLIVIA[1]], w.members[OLIVIA[1]]]
    assert audit is not None
    assert audit.details == {"channel": "slack", "method": "verified_email"}

    # Switched off again, a new Slack user with a member's email is not looked up.
    await _slack_email_linking(db, w.workspace_id, False)
    slack_sim.add_user("U0DANXX01", name="dan", email=DAN[1])["is_email_confirmed"] = True
    await w.send(slack_event(mention("help", user="U0DANXX01")))
    assert len(slack_sim.args("users.info")) == 3
    assert ("slack", "U0DANXX01", DAN[1]) not in await w.linked()
