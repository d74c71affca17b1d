"""Session memory: a member's recent exchanges go back to the model, nobody else's, 24 hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, func, select

from config.metrics import Metrics
from core.classify.backend import OfflineBackend
from core.classify.llm import LlmClassifier
from core.llm.memory import SessionMemory, prune_expired, remember
from core.team.identity import Principal
from core.tools.catalogue import build_registry
from models.classification import Classification, ToolCall
from storage.db import Database
from storage.models import Base, SessionMessage
from tests.api import Client, ClientFactory, finished_task
from tests.factories import make_member, make_tenant, make_workspace
from tests.llm import conversation
from tests.llm.conftest import GatewayFactory
from tests.sims.openai import OpenAISim

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
CSAT = Classification(
    calls=(ToolCall(tool="get_metrics", args={"metric": "csat", "period": "this_week"}),),
    backend="llm",
)


async def _send(client: Client, auth: dict[str, str], member_id: str, text: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/messages", json={"member": member_id, "text": text}, headers=auth
    )
    assert response.status == 202, await response.text()
    return await finished_task(client, (await response.json())["task_id"], **auth)


async def test_a_member_s_next_message_carries_their_earlier_exchange_and_nobody_else_s(
    make_client: ClientFactory, db: Database, openai_sim: OpenAISim
) -> None:
    ana = await make_tenant(db, name="Ana")
    async with db.session() as session:
        bo = await make_member(session, ana.workspace_id, role="admin", name="Bo")
    elsewhere = await make_tenant(db, name="Cy")
    client = await make_client(
        OPENAI_API_KEY=openai_sim.api_key, OPENAI_BASE_URL=openai_sim.base_url
    )
    openai_sim.reply_tool_calls([("get_metrics", {"metric": "csat", "period": "this_week"})])
    await _send(client, ana.auth, ana.member_id, "what's our csat this week?")

    openai_sim.reply_text("Last week it was 4.6.")
    await _send(client, ana.auth, ana.member_id, "and last week?")
    ana_second = openai_sim.last_chat_request()
    await _send(client, ana.auth, bo.id, "hello")
    bo_first = openai_sim.last_chat_request()
    await _send(client, elsewhere.auth, elsewhere.member_id, "hello")
    other_workspace = openai_sim.last_chat_request()

    assert conversation(ana_second) == [
        ("user", "what's our csat this week?"),
        ("assistant", '[chose get_metrics {"metric": "csat", "period": "this_week"}]'),
        ("user", "and last week?"),
    ]
    assert conversation(bo_first) == [("user", "hello")]
    assert conversation(other_workspace) == [("user", "hello")]

    # A third message from Ana sees both of her exchanges, the model's text answer included.
    await _send(client, ana.auth, ana.member_id, "thanks")
    assert conversation(openai_sim.last_chat_request())[2:] == [
        ("user", "and last week?"),
        ("assistant", "Last week it was 4.6."),
        ("user", "thanks"),
    ]


async def test_entries_older_than_24_hours_are_not_sent_and_are_pruned(
    db: Database, openai_sim: OpenAISim, make_gateway: GatewayFactory, metrics: Metrics
) -> None:
    async with db.session() as session:
        workspace = await make_workspace(session)
        member = await make_member(session, workspace.id, role="owner", name="Ana")
        await remember(
            session,
            workspace_id=workspace.id,
            member_id=member.id,
            text="old question",
            classification=Classification(reply="old answer", backend="llm"),
            now=T0,
        )
        await remember(
            session,
            workspace_id=workspace.id,
            member_id=member.id,
            text="newer question",
            classification=CSAT,
            now=T0 + timedelta(hours=2),
        )
    asker = Principal(workspace.id, workspace.name, "pro", "UTC", member.id, "Ana", "owner")
    llm = LlmClassifier(
        make_gateway(openai_sim),
        build_registry(),
        offline=OfflineBackend(),
        metrics=metrics,
        memory=SessionMemory(db),
    )

    await llm.classify("within a day", asker, T0 + timedelta(hours=23, minutes=59))
    within = conversation(openai_sim.last_chat_request())
    await llm.classify("a day later", asker, T0 + timedelta(hours=24))
    later = conversation(openai_sim.last_chat_request())

    assert [content for _, content in within] == [
        "old question",
        "old answer",
        "newer question",
        '[chose get_metrics {"metric": "csat", "period": "this_week"}]',
        "within a day",
    ]
    assert [content for _, content in later] == [
        "newer question",
        '[chose get_metrics {"metric": "csat", "period": "this_week"}]',
        "a day later",
    ]

    async with db.session() as session:
        assert await prune_expired(session, T0 + timedelta(hours=24)) == 2
        left = await session.scalar(select(func.count()).select_from(SessionMessage))
    assert left == 2


async def test_remembering_forgets_the_member_s_expired_entries(db: Database) -> None:
    async with db.session() as session:
        workspace = await make_workspace(session)
        ana = await make_member(session, workspace.id, role="owner")
        bo = await make_member(session, workspace.id, role="owner")
        for member in (ana, bo):
            await remember(
                session,
                workspace_id=workspace.id,
                member_id=member.id,
                text="yesterday",
                classification=CSAT,
                now=T0,
            )
        await remember(
            session,
            workspace_id=workspace.id,
            member_id=ana.id,
            text="today",
            classification=CSAT,
            now=T0 + timedelta(hours=25),
        )

    async with db.session() as session:
        rows = await session.execute(
            select(SessionMessage.member_id, SessionMessage.content).where(
                SessionMessage.role == "user"
            )
        )
        kept = sorted((member_id == ana.id, content) for member_id, content in rows)
    # Ana's expired entry went when she spoke again; Bo's waits for `prune_expired`.
    assert kept == [(False, "yesterday"), (True, "today")]


async def test_only_the_latest_exchanges_are_recalled_each_whole(db: Database) -> None:
    async with db.session() as session:
        workspace = await make_workspace(session)
        member = await make_member(session, workspace.id, role="owner")
        for n in range(5):
            await remember(
                session,
                workspace_id=workspace.id,
                member_id=member.id,
                text=f"question {n}",
                classification=Classification(reply=f"answer {n}", backend="llm"),
                now=T0 + timedelta(minutes=n),
            )
    asker = Principal(workspace.id, workspace.name, "pro", "UTC", member.id, "Ana", "owner")

    entries = await SessionMemory(db, max_exchanges=2).recall(asker, T0 + timedelta(hours=1))

    assert [(e.role, e.content) for e in entries] == [
        ("user", "question 3"),
        ("assistant", "answer 3"),
        ("user", "question 4"),
        ("assistant", "answer 4"),
    ]


async def test_the_migrations_build_the_memory_table_and_usage_columns_the_models_declare(
    db: Database,
) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [
            diff
            for diff in compare_metadata(context, Base.metadata)
            if "session_messages" in str(diff) or "llm_" in str(diff)
        ]

    async with db.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
