"""Link codes and Slack's verified emails, below the webhooks: what counts as a link request,
what Slack's `users.info` answer vouches for, the email cache, and the tables the migration
builds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Connection

from channels.slack.directory import SlackDirectory
from core.team.linking import code_digest, instruction, parse_request
from core.team.slack_email import ANSWER_TTL, ERROR_TTL, EmailCache, LookupUnavailable
from storage.db import Database
from storage.models import Base
from tests.channels.slack_payloads import TEAM
from tests.sims.slack import SlackSim


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("link 123456", "123456"),
        ("Link 123456", "123456"),
        ("  LINK   123 456 \n", "123456"),
        ("link 123-456", "123456"),
        ("link 12345", None),
        ("link 1234567", None),
        ("link \uff11\uff12\uff13\uff14\uff15\uff16", None),  # full-width digits: not ASCII
        ("please link 123456", None),
        ("link 123456 now", None),
        ("link", None),
        ("123456", None),
        ("unlink 123456", None),
    ],
)
def test_only_the_whole_message_link_and_six_digits_is_a_link_request(
    text: str, code: str | None
) -> None:
    assert parse_request(text) == code


def test_codes_are_hashed_with_the_secret_and_the_workspace() -> None:
    digest = code_digest(b"secret", "ws1", "123456")
    assert len(digest) == 64 and "123456" not in digest
    assert digest != code_digest(b"other", "ws1", "123456")
    assert digest != code_digest(b"secret", "ws2", "123456")
    assert code_digest(None, "ws1", "123456") != code_digest(None, "ws1", "123457")


def test_the_instruction_names_the_channels_that_are_on() -> None:
    assert instruction("123456", ["Slack", "SMS", "WhatsApp"]).startswith(
        "Send “link 123456” from Slack, SMS or WhatsApp to link that account to you."
    )
    assert "No chat channel" in instruction("123456", [])


def test_email_cache_keeps_answers_an_hour_and_failures_a_minute() -> None:
    now = [0.0]
    cache = EmailCache(clock=lambda: now[0])
    cache.put(("ws", "U1"), "a@b.example", ANSWER_TTL)
    cache.put(("ws", "U2"), None, ERROR_TTL)
    assert cache.get(("ws", "U1")) == (True, "a@b.example")
    assert cache.get(("ws", "U2")) == (True, None)
    assert cache.get(("ws", "U3")) == (False, None)
    now[0] = ERROR_TTL + 1
    assert cache.get(("ws", "U2")) == (False, None)
    assert cache.get(("ws", "U1")) == (True, "a@b.example")
    now[0] = ANSWER_TTL + 1
    assert cache.get(("ws", "U1")) == (False, None)


@pytest.fixture
async def directory(slack_sim: SlackSim) -> AsyncIterator[SlackDirectory]:
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(
            token=slack_sim.token, base_url=slack_sim.api_url, session=session, retry_handlers=[]
        )
        yield SlackDirectory(client, timeout=5.0)


async def test_only_a_confirmed_email_of_a_person_of_the_same_team_is_vouched_for(
    slack_sim: SlackSim, directory: SlackDirectory
) -> None:
    def person(user_id: str, email: str | None = "Ana@Acme.example", **fields: object) -> None:
        user = slack_sim.add_user(user_id, name=user_id.lower(), email=email)
        user.update({"is_email_confirmed": True, **fields})

    person("U0ANA0001")
    person("U0NOCONF1", is_email_confirmed=False)
    person("U0NOMAIL1", email=None)
    person("U0GONE001", deleted=True)
    person("U0BOT0001", is_bot=True)
    person("U0GUEST01", team_id="T0OTHERORG")
    slack_sim.add_user("U0OLDSIM1", name="old", email="ana@acme.example")  # field absent

    assert await directory.verified_email("U0ANA0001", TEAM) == "ana@acme.example"
    for user_id in ("U0NOCONF1", "U0NOMAIL1", "U0GONE001", "U0BOT0001", "U0GUEST01", "U0OLDSIM1"):
        assert await directory.verified_email(user_id, TEAM) is None, user_id
    assert await directory.verified_email("U0NOBODY1", TEAM) is None  # user_not_found

    slack_sim.refuse("users.info", "missing_scope")
    with pytest.raises(LookupUnavailable, match=r"users:read\.email"):
        await directory.verified_email("U0ANA0001", TEAM)
    slack_sim.fail(500)
    with pytest.raises(LookupUnavailable):
        await directory.verified_email("U0ANA0001", TEAM)


async def test_the_migrations_build_the_link_tables_the_models_declare(db: Database) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [
            diff
            for diff in compare_metadata(context, Base.metadata)
            if "link_" in str(diff) or "slack_email_linking" in str(diff)
        ]

    async with db.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
