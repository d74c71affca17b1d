"""Integrations by chat: "connect Zendesk" answers with the console form's link (credentials
are never typed into chat); a credential pasted anyway is not repeated, not sent to the model
and not kept in its memory; "turn off the Dialpad line" toggles the connected account through
a proposal (several matches: it asks which); list_integrations shows accounts, never
credentials."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import select

from core.integrations import accounts
from core.integrations.vault import Vault
from storage.db import Database
from storage.integrations import IntegrationAccount
from storage.models import SessionMessage, TaskRow
from storage.types import utcnow
from tests.api import Client, ClientFactory, finished_task
from tests.factories import Tenant, make_tenant
from tests.sims.openai import OpenAISim

SECRET = "chat tests' long random secret"
VAULT = Vault(SECRET)
PASTED = "zdtok9f8e7d6c5b4a3x"
DIALPAD_KEY = "dp-live-key-7c1e0b9a44"
BASE = "https://sb.example.com"
OUR_LOGGERS = {"switchboard", "api", "channels", "scheduler", "core", "delivery", "storage"}


async def _send(client: Client, tenant: Tenant, text: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/messages", json={"member": tenant.member_id, "text": text}, headers=tenant.auth
    )
    assert response.status == 202, await response.text()
    return await finished_task(client, (await response.json())["task_id"], **tenant.auth)


def _text(task: dict[str, Any]) -> str:
    return "\n".join(r["text"] for r in task["replies"])


async def _connect(db: Database, tenant: Tenant, provider: str, label: str, **creds: str) -> str:
    async with db.session() as session:
        account = await accounts.connect(
            session,
            VAULT,
            tenant.workspace_id,
            provider=provider,
            label=label,
            credentials=creds,
            actor="test",
            now=utcnow(),
        )
        return account.id


async def _enabled(db: Database, account_id: str) -> bool:
    async with db.session() as session:
        row = await session.get(IntegrationAccount, account_id)
        assert row is not None
        return row.enabled


async def test_connect_answers_with_the_console_form_link(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    client = await make_client(SWITCHBOARD_SECRET_KEY=SECRET, PUBLIC_BASE_URL=BASE)
    for text, anchor, title in [
        ("connect Zendesk", "zendesk", "Zendesk account"),
        ("set up the Dialpad line", "dialpad", "Dialpad line"),
        ("add our Aircall account", "aircall", "Aircall line"),
    ]:
        said = _text(await _send(client, tenant, text))
        assert f"To connect {title}, open the console's Integrations page: " in said
        assert f"{BASE}/console/integrations#{anchor}" in said
        assert "never type them into chat" in said
    async with db.session() as session:
        assert list(await session.scalars(select(IntegrationAccount))) == []


async def test_a_pasted_credential_is_not_repeated_used_or_given_to_the_model(
    make_client: ClientFactory,
    db: Database,
    openai_sim: OpenAISim,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = await make_tenant(db)
    client = await make_client(
        SWITCHBOARD_SECRET_KEY=SECRET,
        OPENAI_API_KEY=openai_sim.api_key,
        OPENAI_BASE_URL=openai_sim.base_url,
    )
    openai_sim.reply_tool_calls([("connect_integration", {"provider": "zendesk"})])
    task = await _send(client, tenant, f"connect zendesk with token {PASTED}")
    said = _text(task)
    assert "/console/integrations#zendesk" in said
    assert "looked like it contained a credential: I did not use or keep it" in said
    assert PASTED not in said

    openai_sim.reply_text("You're welcome.")
    await _send(client, tenant, "thanks")
    # What the model was sent, both times (the second with the session's memory).
    sent = json.dumps(openai_sim.chat_requests())
    assert "connect zendesk with token [redacted]" in sent
    assert PASTED not in sent
    async with db.session() as session:
        memory = " ".join(m.content for m in await session.scalars(select(SessionMessage)))
        assert "connect zendesk" in memory and PASTED not in memory
        assert list(await session.scalars(select(IntegrationAccount))) == []
    # Our own logs (the database drivers' statement echo, on only because the test turns every
    # logger to DEBUG, prints the inbound journal's row, which keeps the message as received).
    ours = [r.getMessage() for r in caplog.records if r.name.split(".")[0] in OUR_LOGGERS]
    assert ours and PASTED not in "\n".join(ours)


async def test_turning_a_line_off_and_on_by_chat(make_client: ClientFactory, db: Database) -> None:
    tenant = await make_tenant(db)
    client = await make_client(SWITCHBOARD_SECRET_KEY=SECRET)
    support = await _connect(
        db,
        tenant,
        "dialpad",
        "Support line",
        api_key=DIALPAD_KEY,
        phone_number="+15550002222",
        target_type="user",
        target_id="42",
    )
    zendesk = await _connect(
        db,
        tenant,
        "zendesk",
        "Acme EU",
        subdomain="acme",
        email="a@acme.example",
        api_token="t" * 20,
    )

    task = await _send(client, tenant, "turn off the Dialpad line")
    (reply,) = task["replies"]
    proposal = reply["proposal"]
    assert (proposal["changes"][0]["before"], proposal["changes"][0]["after"]) == ("on", "off")
    assert "Dialpad Support line" in reply["text"]
    assert await _enabled(db, support) is True  # nothing changes before approval
    done = await _send(client, tenant, f"yes {proposal['code']}")
    assert "approved" in _text(done).lower() or "done" in _text(done).lower()
    assert await _enabled(db, support) is False
    assert await _enabled(db, zendesk) is True

    said = _text(await _send(client, tenant, "turn off the Dialpad line"))
    assert said == "Dialpad Support line is already off."

    listed = await _send(client, tenant, "list integrations")
    text = _text(listed)
    assert "Dialpad · Support line: off" in text and "Zendesk · Acme EU: on" in text
    assert DIALPAD_KEY not in json.dumps(listed) and "t" * 20 not in json.dumps(listed)
    assert "••••" not in text  # not even masked values go into chat

    # Two Dialpad lines: it asks which, and changes nothing.
    sales = await _connect(
        db,
        tenant,
        "dialpad",
        "Sales line",
        api_key=DIALPAD_KEY,
        phone_number="+15550003333",
        target_type="department",
        target_id="7",
    )
    said = _text(await _send(client, tenant, "turn on the Dialpad line"))
    assert said.startswith("Which one should I turn on? 2 accounts match")
    assert "Dialpad Support line (off)" in said and "Dialpad Sales line (on)" in said
    assert (await _enabled(db, support), await _enabled(db, sales)) == (False, True)

    task = await _send(client, tenant, "turn on Zendesk")
    assert "Zendesk Acme EU is already on." == _text(task)
    async with db.session() as session:
        texts = " ".join(t.text for t in await session.scalars(select(TaskRow)))
    assert DIALPAD_KEY not in texts


async def test_the_model_may_name_a_line_by_its_label(
    make_client: ClientFactory, db: Database, openai_sim: OpenAISim
) -> None:
    tenant = await make_tenant(db)
    client = await make_client(
        SWITCHBOARD_SECRET_KEY=SECRET,
        OPENAI_API_KEY=openai_sim.api_key,
        OPENAI_BASE_URL=openai_sim.base_url,
    )
    lines = {
        label: await _connect(
            db,
            tenant,
            "aircall",
            label,
            api_id="ac-id",
            api_token="ac-token-0123456789",
            phone_number=number,
        )
        for label, number in (("Support line", "+15550001"), ("Sales line", "+15550002"))
    }
    openai_sim.reply_tool_calls(
        [("toggle_integration", {"integration": "the sales line", "enabled": False})]
    )
    task = await _send(client, tenant, "pause the sales line for today")
    (reply,) = task["replies"]
    assert "Aircall Sales line" in reply["text"] and reply["proposal"]["changes"]
    code = reply["proposal"]["code"]
    openai_sim.reply_tool_calls([("approve_proposal", {"code": code})])
    await _send(client, tenant, f"yes {code}")
    assert await _enabled(db, lines["Sales line"]) is False
    assert await _enabled(db, lines["Support line"]) is True
    tools = {t["function"]["name"] for t in openai_sim.chat_requests()[0]["tools"]}
    assert {"connect_integration", "toggle_integration", "list_integrations"} <= tools
    assert "ac-token-0123456789" not in json.dumps(openai_sim.chat_requests())


async def test_how_an_import_went_is_answered_with_its_counts(
    make_client: ClientFactory, db: Database
) -> None:
    from storage.integrations import ImportRun

    tenant = await make_tenant(db)
    client = await make_client(SWITCHBOARD_SECRET_KEY=SECRET)
    account_id = await _connect(
        db,
        tenant,
        "zendesk",
        "Acme EU",
        subdomain="acme",
        email="ops@acme.example",
        api_token="zd-token-0123456789",
    )
    async with db.session() as session:
        now = utcnow()
        session.add(
            ImportRun(
                workspace_id=tenant.workspace_id,
                account_id=account_id,
                status="done",
                imported=200,
                skipped=7,
                cursor={},
                created_at=now,
                finished_at=now,
                updated_at=now,
            )
        )
    answer = _text(await _send(client, tenant, "how did the Zendesk import go?"))
    assert "Imports:" in answer and "200 imported, 7 skipped" in answer, answer
    assert "zd-token" not in answer
