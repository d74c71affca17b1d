"""The live operator's chat tools through the task processor and the offline classifier, as a
member's Telegram message reaches them: "who is live" (list_live_operators), "go live on
billing" and "take me offline" (set_live). Each reply says what the database now holds; the
feature flags and scopes refuse with a sentence saying why, changing nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from core.classify.backend import OfflineBackend
from core.live import access, groups
from core.live.presence import CHAT_HOLD
from core.processing.pipeline import TaskProcessor
from core.schedules.timing import zone
from core.team import agents
from core.tools.catalogue import default_registry
from models.task import Route, Sender, Task
from storage.db import Database
from storage.domain import Conversation
from storage.live import LiveSession, OperatorPresence
from storage.models import OutboxRow, Workspace
from storage.types import new_id, utcnow
from tests.factories import make_member
from tests.live import live_rows

PAT_CHAT = "7001"
ANA_CHAT = "7002"
OWNER_CHAT = "7000"


@dataclass(frozen=True)
class Team:
    workspace_id: str
    billing: str  # agent ids
    sales: str
    pat: str  # support, in "Billing team" and "Sales team"
    ana: str  # support, in "Billing team"
    owner: str


async def _team(db: Database, *, operator: bool = True, presence: bool = True) -> Team:
    async with db.session() as session:
        made = await agents.create_workspace_with_agent(session, "Acme", plan="pro")
        ws = made.workspace
        billing = await agents.create_agent(
            session, ws.id, agents.AgentFields(name="Billing", channels=["sms"])
        )
        sales = await agents.create_agent(
            session, ws.id, agents.AgentFields(name="Sales", channels=["whatsapp"])
        )
        pat = await make_member(
            session, ws.id, name="Pat", role="support", identities={"telegram": PAT_CHAT}
        )
        ana = await make_member(
            session, ws.id, name="Ana", role="support", identities={"telegram": ANA_CHAT}
        )
        owner = await make_member(
            session, ws.id, name="Olivia", role="owner", identities={"telegram": OWNER_CHAT}
        )
        now = utcnow()
        for name, flows, people in (
            ("Billing team", [billing.id], [pat.id, ana.id]),
            ("Sales team", [sales.id], [pat.id]),
        ):
            await groups.create_group(
                session,
                ws.id,
                name=name,
                workflows=flows,
                members=people,
                actor="test",
                now=now,
            )
        await access.set_features(
            session, ws, operator=operator, presence=presence and operator, actor="test"
        )
    return Team(ws.id, billing.id, sales.id, pat.id, ana.id, owner.id)


async def _say(db: Database, team: Team, chat: str, text: str) -> str:
    """CHAT's member says TEXT on Telegram; the reply."""
    now = utcnow()
    task = Task(
        id=new_id(),
        workspace_id=team.workspace_id,
        channel="telegram",
        external_id=new_id(),
        sender=Sender(channel="telegram", address=chat),
        conversation=chat,
        text=text,
        received_at=now,
        reply_route=Route(channel="telegram", address=chat),
    )
    async with db.session() as session:
        outcome = await TaskProcessor(OfflineBackend(), default_registry()).process(
            session, task, now
        )
    (reply,) = outcome.deliverables
    return reply.text or ""


async def _presence(db: Database, member_id: str) -> OperatorPresence | None:
    async with db.session() as session:
        return await session.get(OperatorPresence, member_id)


def _clock(at: datetime, tz: str) -> str:
    return at.astimezone(zone(tz)).strftime("%H:%M")


async def _held_session(db: Database, team: Team, operator_id: str) -> str:
    """A customer's SMS conversation on Billing, held by OPERATOR_ID."""
    async with db.session() as session:
        now = utcnow()
        conversation = Conversation(
            workspace_id=team.workspace_id,
            agent_id=team.billing,
            channel="sms",
            address="+15550108888",
            reply_route={"channel": "sms", "address": "+15550108888"},
            started_at=now,
            updated_at=now,
        )
        session.add(conversation)
        await session.flush()
        live = LiveSession(
            workspace_id=team.workspace_id,
            conversation_id=conversation.id,
            agent_id=team.billing,
            status="active",
            operator_id=operator_id,
            tried=[operator_id],
            accepted_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(live)
        await session.flush()
        conversation.live_session_id = live.id
        return live.id


async def test_going_live_by_chat_on_a_workflow_a_group_or_all(db: Database) -> None:
    team = await _team(db)

    billing = await _say(db, team, PAT_CHAT, "go live on billing")
    held = await _presence(db, team.pat)
    async with db.session() as session:
        workspace = await session.get(Workspace, team.workspace_id)
        assert workspace is not None
        tz = workspace.timezone

    assert held is not None and held.until is not None
    assert held.workflows == [team.billing]
    assert (held.via, held.route) == ("chat", {"channel": "telegram", "address": PAT_CHAT})
    hours = int(CHAT_HOLD.total_seconds() // 3600)
    assert billing == (
        f"You're live on Billing until {_clock(held.until, tz)} ({hours} hours) or until you "
        "say 'take me offline'. New conversations are offered to you here."
    )

    # A group's name means all its workflows; several names, all of them; none, every one.
    assert (await _say(db, team, PAT_CHAT, "go live on the Sales team")).startswith(
        "You're live on Sales until"
    )
    assert (await _presence(db, team.pat)).workflows == [team.sales]  # type: ignore[union-attr]
    both = await _say(db, team, PAT_CHAT, "put me live on billing and sales")
    assert both.startswith("You're live on Billing and Sales until")
    assert sorted((await _presence(db, team.pat)).workflows) == sorted(  # type: ignore[union-attr]
        [team.billing, team.sales]
    )
    await _say(db, team, PAT_CHAT, "take me offline")
    every = await _say(db, team, PAT_CHAT, "go live")
    assert every.startswith("You're live on Billing and Sales until")


async def test_a_workflow_not_of_the_members_groups_is_refused_naming_theirs(
    db: Database,
) -> None:
    team = await _team(db)
    before = await live_rows(db, team.workspace_id)

    unknown = await _say(db, team, ANA_CHAT, "go live on marketing")
    not_hers = await _say(db, team, ANA_CHAT, "go live on sales")

    assert unknown == (
        "None of your workflows or groups is called 'marketing'; yours are Billing and "
        "Billing team."
    )
    assert not_hers.startswith("None of your workflows or groups is called 'sales'")
    assert await live_rows(db, team.workspace_id) == before


async def test_who_is_live_lists_operators_their_workflows_and_sessions(db: Database) -> None:
    team = await _team(db)
    assert await _say(db, team, OWNER_CHAT, "who is live") == "Nobody is live right now."
    await _say(db, team, PAT_CHAT, "go live on billing and sales")
    await _say(db, team, ANA_CHAT, "go live")
    await _held_session(db, team, team.pat)

    listed = await _say(db, team, OWNER_CHAT, "who's live right now?")

    lines = listed.splitlines()
    assert lines[0] == "2 operators live now, holding 1 conversation:"
    assert lines[1].startswith("- Pat on Billing and Sales: 1 conversation, live since ")
    assert lines[1].endswith("(by chat)")
    assert lines[2].startswith("- Ana on Billing: 0 conversations, live since ")


async def test_taking_oneself_offline_hands_the_sessions_to_the_ai_and_says_so(
    db: Database,
) -> None:
    team = await _team(db)
    await _say(db, team, PAT_CHAT, "go live on billing")
    session_id = await _held_session(db, team, team.pat)

    reply = await _say(db, team, PAT_CHAT, "take me offline")

    assert reply == "You're offline; 1 conversation went back to the AI."
    assert await _presence(db, team.pat) is None
    async with db.session() as session:
        live = await session.get(LiveSession, session_id)
        told = list(
            await session.scalars(select(OutboxRow).where(OutboxRow.address == "+15550108888"))
        )
    assert live is not None and live.status == "ai"
    assert len(told) == 1  # the customer hears the AI has them again
    again = await _say(db, team, PAT_CHAT, "go offline")
    assert again.startswith("You weren't live")


async def test_going_offline_offers_the_session_to_another_live_operator(db: Database) -> None:
    team = await _team(db)
    await _say(db, team, PAT_CHAT, "go live on billing")
    await _say(db, team, ANA_CHAT, "go live on billing")
    session_id = await _held_session(db, team, team.pat)

    reply = await _say(db, team, PAT_CHAT, "stop live")

    assert reply == "You're offline; 1 conversation was offered to another live operator."
    async with db.session() as session:
        live = await session.get(LiveSession, session_id)
        offers = list(await session.scalars(select(OutboxRow).where(OutboxRow.address == ANA_CHAT)))
    assert live is not None and (live.status, live.offered_to) == ("offered", team.ana)
    assert [o.deliverable["title"] for o in offers] == ["Live conversation"]


async def test_with_the_feature_off_the_tools_say_so_and_change_nothing(db: Database) -> None:
    team = await _team(db, operator=False)
    before = await live_rows(db, team.workspace_id)

    who = await _say(db, team, OWNER_CHAT, "who is live")
    live = await _say(db, team, PAT_CHAT, "go live on billing")

    assert who.startswith("Live Operator Mode is off for this workspace")
    assert live.startswith("Live Operator Mode is off for this workspace")
    assert await live_rows(db, team.workspace_id) == before


async def test_without_presence_who_is_live_is_not_shown(db: Database) -> None:
    team = await _team(db, presence=False)

    who = await _say(db, team, OWNER_CHAT, "is anyone live?")
    live = await _say(db, team, PAT_CHAT, "go live")  # going live needs operator only

    assert who.startswith("Live presence is off for this workspace")
    assert live.startswith("You're live on Billing and Sales until")


async def test_a_missing_scope_is_named(db: Database) -> None:
    team = await _team(db)
    async with db.session() as session:
        workspace = await session.get(Workspace, team.workspace_id)
        assert workspace is not None
        await access.set_role_scopes(session, workspace, "support", [], actor="test")
    before = await live_rows(db, team.workspace_id)

    who = await _say(db, team, PAT_CHAT, "who is live")
    live = await _say(db, team, PAT_CHAT, "go live on billing")

    assert who == "This needs the operator:read scope, which your account does not have."
    assert live == "This needs the operator:write scope, which your account does not have."
    assert await live_rows(db, team.workspace_id) == before
    # A grant to the member alone is enough.
    async with db.session() as session:
        workspace = await session.get(Workspace, team.workspace_id)
        assert workspace is not None
        await access.set_member_scopes(session, workspace, team.pat, [access.WRITE], actor="test")
    assert (await _say(db, team, PAT_CHAT, "go live on billing")).startswith("You're live on")


async def test_availability_phrasings_stay_availability(db: Database) -> None:
    team = await _team(db)
    await _say(db, team, PAT_CHAT, "go live on billing")

    reply = await _say(db, team, OWNER_CHAT, "set Pat offline")

    # An availability change, proposed to the owner; Pat's live presence is another thing.
    assert reply.startswith("Proposed: set Pat offline\n- Pat availability: available → offline")
    assert await _presence(db, team.pat) is not None


async def test_help_for_a_support_member_names_the_live_phrasings(db: Database) -> None:
    team = await _team(db)

    on = await _say(db, team, PAT_CHAT, "help")
    async with db.session() as session:
        workspace = await session.get(Workspace, team.workspace_id)
        assert workspace is not None
        await access.set_features(session, workspace, operator=False, actor="test")
    off = await _say(db, team, PAT_CHAT, "help")

    live = 'As a live operator you can ask "who is live", say "go live on <workflow>"'
    assert on.startswith("Hi Pat. Support members work assists") and live in on
    assert off.startswith("Hi Pat. Support members work assists") and live not in off
