"""Fixtures for the robustness tests: the whole gateway with every channel on, over a seeded
workspace, and a check after each test that everything it accepted was processed cleanly."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import func, select

from cli.seed import seed_workspace
from core.team import directory
from delivery.media import MediaStore
from storage.db import Database
from storage.domain import Assist
from storage.models import TaskRow
from storage.types import utcnow
from tests.api import Client, ClientFactory
from tests.helpers import wait_until
from tests.robustness.strategies import Facts
from tests.robustness.webhooks import SMALL_BODY_LIMIT, Keys, Wire, gateway_settings, stored
from tests.sims.sendgrid import SendGridSim
from tests.sims.slack import SlackSim
from tests.sims.telegram import TelegramSim
from tests.sims.twilio import TwilioSim


def fuzz_settings(max_examples: int) -> settings:
    """Many examples against one gateway per test function (hence the fixture health check);
    the same examples on every CI run, fresh ones on a developer's machine
    (SWITCHBOARD_FUZZ_SCALE=10 runs ten times as many)."""
    scale = float(os.environ.get("SWITCHBOARD_FUZZ_SCALE", "1"))
    return settings(
        max_examples=max(1, int(max_examples * scale)),
        deadline=None,
        database=None,
        derandomize=bool(os.environ.get("CI")),
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


async def send(client: Client, wire: Wire) -> tuple[int, str]:
    """WIRE as it is: no Content-Type is added when it has none."""
    headers = dict(wire.headers)
    response = await client.request(
        wire.method,
        wire.path,
        data=wire.body,
        headers=headers,
        skip_auto_headers=() if "Content-Type" in headers else ("Content-Type",),
    )
    return response.status, (await response.read()).decode("utf-8", "replace")


@dataclass
class Running:
    """A running gateway over the seeded workspace, and what a correct sender holds."""

    client: Client
    db: Database
    keys: Keys
    revoked_key: str
    facts: Facts
    workspace_id: str
    initial: dict[str, int]


async def seed(db: Database) -> tuple[Any, Keys, str, Facts]:
    """The demo workspace, an API key and a revoked one, a media file to link to."""
    async with db.session() as session:
        seeded = await seed_workspace(session, now=utcnow() - timedelta(minutes=1))
        key = await directory.create_api_key(session, seeded.workspace_id, name="robustness")
        revoked = await directory.create_api_key(session, seeded.workspace_id, name="old")
        await directory.revoke_api_key(session, seeded.workspace_id, revoked.id, actor="system")
        assist_id = await session.scalar(
            select(Assist.id).where(Assist.workspace_id == seeded.workspace_id).limit(1)
        )
        media = MediaStore.add(
            session,
            workspace_id=seeded.workspace_id,
            filename="chart.png",
            content_type="image/png",
            data=b"\x89PNG robustness",
        )
    assert assist_id is not None
    facts = Facts(
        member_ids=tuple(seeded.member_ids.values()), assist_id=assist_id, media_id=media.id
    )
    return seeded, Keys(api_key=key.secret), revoked.secret, facts


@pytest.fixture
async def gateway(
    make_client: ClientFactory,
    db: Database,
    slack_sim: SlackSim,
    telegram_sim: TelegramSim,
    twilio_sim: TwilioSim,
    sendgrid_sim: SendGridSim,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Running]:
    """Every channel on over the seeded workspace. Afterwards every task the test got accepted
    has finished without failing, and nothing logged a traceback."""
    caplog.set_level(logging.WARNING)
    seeded, keys, revoked, facts = await seed(db)
    client = await make_client(
        **gateway_settings(
            slack=slack_sim, telegram=telegram_sim, twilio=twilio_sim, sendgrid=sendgrid_sim
        ),
        SWITCHBOARD_MAX_BODY_BYTES=SMALL_BODY_LIMIT,
    )
    yield Running(client, db, keys, revoked, facts, seeded.workspace_id, await stored(db))

    async def finished() -> bool:
        async with db.session() as session:
            busy = await session.scalar(
                select(func.count())
                .select_from(TaskRow)
                .where(TaskRow.status.in_(("queued", "running")))
            )
        return busy == 0

    await wait_until(finished, timeout=60, message="every accepted task processed")
    async with db.session() as session:
        failed = list(
            await session.execute(
                select(TaskRow.channel, TaskRow.text, TaskRow.error).where(
                    TaskRow.status == "failed"
                )
            )
        )
    assert failed == [], f"tasks failed in the pipeline: {failed}"
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert crashes == [], "\n".join(r.getMessage() for r in crashes)
