"""Tenancy: two seeded workspaces whose teams share names, emails, phone numbers and Slack ids.
Everything done as workspace A (its admin API key, its members on every channel, webhooks
routed to its addresses) leaves every row of workspace B exactly as it was, never shows one of
B's ids, and B's ids guessed into A's admin API URLs answer 404 like ids that do not exist."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from api.admin.routes import ENDPOINTS
from channels.slack.blocks import APPROVE_ACTION
from channels.telegram.inbound import button_data
from cli.seed import Seeded, seed_workspace
from core.integrations import accounts as integration_accounts
from core.integrations.vault import Vault
from core.live import access, groups
from core.team import directory, linking
from storage.db import Database
from storage.domain import Assist, Conversation, Proposal
from storage.live import LiveSession
from storage.models import (
    ChannelIdentity,
    Member,
    OutboxRow,
    TaskRow,
    Workspace,
    WorkspaceAddress,
)
from storage.types import utcnow
from tests.api import Client, ClientFactory, finished_task
from tests.channels.slack_payloads import TEAM as TEAM_A
from tests.channels.slack_payloads import block_actions, mention
from tests.factories import make_outbox_row, make_task_row
from tests.helpers import wait_until
from tests.integrations.importing import make_import_world
from tests.robustness.conftest import send
from tests.robustness.webhooks import (
    INBOUND_DOMAIN,
    INBOX,
    OUR_NUMBER,
    SECRET_KEY,
    Keys,
    gateway_settings,
    inbound_email,
    sign,
    slack_event,
    slack_form,
    sms,
    snapshot,
    telegram_update,
)
from tests.sims.sendgrid import SendGridSim
from tests.sims.slack import SlackSim
from tests.sims.telegram import TelegramSim
from tests.sims.twilio import TwilioSim

TEAM_B = "T0RIVAL01"
NUMBER_B = "+15550008888"
INBOX_B = f"rival@{INBOUND_DOMAIN}"
OLIVIA = {"phone": "+15550100001", "slack": "U0DEMO001", "email": "olivia@demo.example"}
ADAM_TELEGRAM = 100200300
ONLY_IN_B = 9001  # an assist number B has and A does not


@dataclass(frozen=True)
class Tenants:
    a: Seeded
    b: Seeded
    key_a: str
    key_b: str
    ids_b: dict[str, str]  # one of B's ids for each admin API path parameter
    link_code_b: str  # a live link code of B's member


async def _tenants(db: Database, telegram_bot_id: str) -> Tenants:
    now = utcnow() - timedelta(minutes=1)
    async with db.session() as session:
        a = await seed_workspace(session, name="Demo Co", now=now)
        b = await seed_workspace(session, name="Rival Inc", now=now, seed=11, conversations=80)
        key_a = await directory.create_api_key(session, a.workspace_id, name="a")
        key_b = await directory.create_api_key(session, b.workspace_id, name="b")
        for workspace, channel, address in (
            (a.workspace_id, "slack", TEAM_A),
            (b.workspace_id, "slack", TEAM_B),
            (a.workspace_id, "sms", OUR_NUMBER),
            (b.workspace_id, "sms", NUMBER_B),
            (a.workspace_id, "telegram", telegram_bot_id),
            (a.workspace_id, "email", INBOX),
            (b.workspace_id, "email", INBOX_B),
        ):
            session.add(WorkspaceAddress(workspace_id=workspace, channel=channel, address=address))
        only_in_b = Assist(
            workspace_id=b.workspace_id, number=ONLY_IN_B, subject="Rival's own assist"
        )
        session.add(only_in_b)
        olivia_b = b.member_ids[OLIVIA["email"]]
        task = await make_task_row(session, b.workspace_id, olivia_b)
        dead = await make_outbox_row(session, b.workspace_id, olivia_b, task_id=task.id)
        await session.flush()
        identity = await session.scalar(
            select(ChannelIdentity.id).where(ChannelIdentity.member_id == olivia_b)
        )
        # B's live operators: a group, and a session on one of its conversations.
        group_b = await groups.create_group(
            session,
            b.workspace_id,
            name="Rival desk",
            workflows=[b.agent_id],
            members=[olivia_b],
            actor="test",
            now=now,
        )
        conversation_b = await session.scalar(
            select(Conversation.id).where(Conversation.workspace_id == b.workspace_id).limit(1)
        )
        assert conversation_b is not None
        live_b = LiveSession(
            workspace_id=b.workspace_id,
            conversation_id=conversation_b,
            agent_id=b.agent_id,
            status="completed",
            tried=[],
            held=[],
            created_at=now,
            updated_at=now,
        )
        session.add(live_b)
        await session.flush()
        line_b = await integration_accounts.connect(
            session,
            Vault("rival's secret"),
            b.workspace_id,
            provider="aircall",
            label="Rival line",
            credentials={"api_id": "r", "api_token": "rival-token-0123", "phone_number": "+1555"},
            actor="test",
            now=now,
        )
        imports_b = await make_import_world(session, b.workspace_id)
        # A live link code of B's, which a sender reaching A must not be able to use.
        olivia_b_member = await session.get(Member, olivia_b)
        assert olivia_b_member is not None
        link_code_b = await linking.issue_code(
            session, olivia_b_member, secret=SECRET_KEY.encode(), now=utcnow(), actor="test"
        )
    ids_b = {
        "integration_id": line_b.id,
        "import_id": imports_b["import_id"],
        "workspace_id": b.workspace_id,
        "member_id": olivia_b,
        "identity_id": str(identity),
        "key_id": key_b.id,
        "ref": f"A-{ONLY_IN_B}",
        "task_id": task.id,
        "outbox_id": dead.id,
        "agent_id": b.agent_id,
        "conversation_id": conversation_b,
        "group_id": group_b.group.id,
        "session_id": live_b.id,
    }
    return Tenants(a, b, key_a.secret, key_b.secret, ids_b, link_code_b.code)


def identifiers(rows: dict[str, list[tuple[Any, ...]]]) -> set[str]:
    """The ids of a snapshot's rows (32 hex characters each), which only their workspace's
    answers may show."""
    return {
        value
        for table in rows.values()
        for row in table
        for value in row
        if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32}", value)
    }


class Web:
    """A member of a workspace on the web channel, with its API key."""

    def __init__(self, client: Client, key: str, member: str) -> None:
        self.client = client
        self.auth = {"Authorization": f"Bearer {key}"}
        self.member = member
        self.seen: list[str] = []

    async def ask(self, text: str) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/messages", json={"member": self.member, "text": text}, headers=self.auth
        )
        assert response.status == 202, await response.text()
        task = await finished_task(self.client, (await response.json())["task_id"], **self.auth)
        self.seen.append(json.dumps(task))
        return task


def _proposal_code(task: dict[str, Any]) -> tuple[str, str]:
    (proposal,) = [r["proposal"] for r in task["replies"] if r.get("proposal")]
    return str(proposal["id"]), str(proposal["code"])


BODIES = {
    "PATCH /api/v1/members/{member_id}": {"role": "admin"},
    "POST /api/v1/members/{member_id}/identities": {"channel": "telegram", "address": "4242"},
    "PATCH /api/v1/assists/{ref}": {"status": "closed", "priority": "low"},
    "POST /api/v1/assists/{ref}/replies": {"text": "Hello from the wrong workspace"},
    "POST /api/v1/assists/{ref}/notes": {"text": "a note in the wrong workspace"},
    "POST /api/v1/assists/{ref}/suggested-reply": {"mode": "shorter"},
    "POST /api/v1/assists/{ref}/csat": {"rating": 1},
    "PATCH /api/v1/agents/{agent_id}": {"name": "Hijacked", "channels": ["all"]},
    "PATCH /api/v1/operator-groups/{group_id}": {"name": "Hijacked", "members": []},
    "PATCH /api/v1/integrations/{integration_id}": {"enabled": False, "label": "Hijacked"},
}


async def _guess_b_ids(client: Client, auth: dict[str, str], ids_b: dict[str, str]) -> list[str]:
    """Every admin route with B's ids in its URL, as A: each answer, which must be 404."""
    answers = []
    for ep in ENDPOINTS:
        if "{" not in ep.path:
            continue
        label = f"{ep.method} {ep.path}"
        path = ep.path.format_map(ids_b)
        body = BODIES.get(label)
        response = await client.request(ep.method, path, json=body, headers=auth)
        text = await response.text()
        assert response.status == 404, (label, response.status, text)
        answers.append(text)
    return answers


async def test_workspace_a_never_reads_or_changes_workspace_b(
    make_client: ClientFactory,
    db: Database,
    slack_sim: SlackSim,
    telegram_sim: TelegramSim,
    twilio_sim: TwilioSim,
    sendgrid_sim: SendGridSim,
) -> None:
    bot_id = telegram_sim.token.split(":")[0]
    tenants = await _tenants(db, bot_id)
    client = await make_client(
        **gateway_settings(
            slack=slack_sim, telegram=telegram_sim, twilio=twilio_sim, sendgrid=sendgrid_sim
        )
    )
    olivia_a = tenants.a.member_ids[OLIVIA["email"]]
    olivia_b = tenants.b.member_ids[OLIVIA["email"]]
    # B's own business first: a pending proposal, whose id and code A will try.
    proposal_b, code_b = _proposal_code(
        await Web(client, tenants.key_b, olivia_b).ask("close A-1042")
    )
    tenants.ids_b["proposal_id"] = proposal_b
    before = await snapshot(db, tenants.b.workspace_id)
    ids_b = identifiers(before) | {tenants.b.workspace_id}
    assert {olivia_b, proposal_b} <= ids_b

    web = Web(client, tenants.key_a, olivia_a)
    auth_a = web.auth
    keys_a = Keys(api_key=tenants.key_a)
    shown: list[str] = []

    # A runs Live Operator Mode, so its live lists answer (and must show nothing of B's).
    async with db.session() as session:
        workspace_a = await session.get(Workspace, tenants.a.workspace_id)
        assert workspace_a is not None
        await access.set_features(session, workspace_a, operator=True, presence=True, actor="t")

    # The admin API, with A's key: lists, then B's ids guessed into every URL.
    for ep in ENDPOINTS:
        if "{" not in ep.path and ep.method == "GET":
            response = await client.get(ep.path, headers=auth_a)
            assert response.status == 200, (ep.path, await response.text())
            shown.append(await response.text())
    # Their 404 messages may name the id asked about (A's own input), and nothing else of B's.
    echoes = await _guess_b_ids(client, auth_a, tenants.ids_b)
    for assignee in (olivia_b, "f" * 32):  # B's member, and one that does not exist
        response = await client.patch(
            "/api/v1/assists/A-1042", json={"assignee_id": assignee}, headers=auth_a
        )
        shown.append(f"{response.status} {await response.text()}".replace(olivia_b, "B's id"))
    assert shown[-2].split(" ", 1)[0] == shown[-1].split(" ", 1)[0] != "200", shown[-2:]
    response = await client.post(
        "/api/v1/messages", json={"member": olivia_b, "text": "help"}, headers=auth_a
    )
    assert response.status == 404

    # A's members on every channel, reading, writing, and deciding B's proposal.
    for text in ("list assists", f"show A-{ONLY_IN_B}", "show A-1042", "list team"):
        await web.ask(text)
    await web.ask("list schedules")
    await web.ask(f"approve {code_b}")
    proposal_a, code_a = _proposal_code(await web.ask("close A-1042"))
    await web.ask(f"approve {code_a}")
    chat = [
        sms(OLIVIA["phone"], f"YES {code_b}"),
        sms(OLIVIA["phone"], "list assists"),
        sms("+15550107777", f"link {tenants.link_code_b}"),  # B's code, sent to A's number
        slack_event(mention(f"show A-{ONLY_IN_B}", user=OLIVIA["slack"])),
        slack_form(
            block_actions(
                user=OLIVIA["slack"],
                action_id=APPROVE_ACTION,
                value=proposal_b,
                channel="C0OPS0001",
                message={"ts": f"{int(time.time())}.000100"},
            )
        ),
        telegram_update(telegram_sim.message_update(ADAM_TELEGRAM, "list team")),
        telegram_update(
            telegram_sim.callback_query_update(ADAM_TELEGRAM, button_data(proposal_b, approve=True))
        ),
        inbound_email(
            sender=OLIVIA["email"],
            subject="approval",
            text=f"approve {code_b}",
            message_id="<olivia-approves@demo.example>",
        ),
        inbound_email(
            sender="customer1@mail.example",
            subject=f"[A-{ONLY_IN_B}] still waiting",
            text="Any news on my request? I want to talk to a person.",
            message_id="<customer1-a@mail.example>",
        ),
    ]
    for wire in chat:
        status, text = await send(client, sign(wire, keys_a))
        assert status == 200, (wire.route, status, text)
        shown.append(text)

    async def settled() -> bool:
        async with db.session() as session:
            rows = await session.execute(
                select(TaskRow.status).where(TaskRow.status.in_(("queued", "running")))
            )
            pending = await session.execute(
                select(OutboxRow.status).where(OutboxRow.status.in_(("pending", "sending")))
            )
            return not rows.all() and not pending.all()

    await wait_until(settled, timeout=30, message="A's requests answered")

    async with db.session() as session:
        closed = await session.scalar(
            select(Assist.status).where(
                Assist.workspace_id == tenants.a.workspace_id, Assist.number == 1042
            )
        )
        decided = await session.scalar(select(Proposal.status).where(Proposal.id == proposal_a))
    assert (closed, decided) == ("closed", "executed")  # A's own write did happen
    assert await snapshot(db, tenants.b.workspace_id) == before
    sent = [
        r.text for sim in (slack_sim, telegram_sim, twilio_sim, sendgrid_sim) for r in sim.requests
    ]
    everything = "\n".join([*shown, *web.seen, *sent])
    assert sorted(i for i in ids_b if i in everything) == []
    guessed = set(tenants.ids_b.values())
    assert sorted(i for i in ids_b - guessed if i in "\n".join(echoes)) == []
    assert "Rival" not in everything
    # B's code did not link anything in A either: the sender was told it is not right.
    assert twilio_sim.sent(to="+15550107777")[0]["body"].startswith("That link code is not right")
