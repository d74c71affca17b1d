"""The admin API fuzzed against its own OpenAPI document (schemathesis): every operation,
with valid and invalid bodies, random ids and the workspace's real ones, with a valid key.
No 5xx; every status, content type and body as the document says."""

from __future__ import annotations

import asyncio
import os
import traceback
from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from core.team import directory
from storage.db import Database
from storage.domain import AiAgent, Assist, Proposal
from storage.models import ChannelIdentity, Member, OutboxRow
from tests.api import ClientFactory
from tests.factories import make_live_world, make_outbox_row, make_task_row
from tests.integrations.importing import make_import_world
from tests.robustness.conftest import seed
from tests.robustness.webhooks import stored

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
SCALE = float(os.environ.get("SWITCHBOARD_FUZZ_SCALE", "1"))
RANDOM_IDS = int(4 * SCALE)  # examples per operation with generated path ids (mostly 404)
REAL_IDS = int(6 * SCALE)  # ... with the ids of rows that exist
INVALID = int(3 * SCALE)  # ... with bodies and parameters that break the document
# Ids that str.isdigit() takes for numbers and int() does not, and other edge cases.
TRAP_IDS = ("A-\u00b2", "A-\uff11", "A-99999999999999999999", "\u00b2", "-1", " ", "%25")
# Channel addresses that look numeric to str.isdigit() but are not what int() reads back.
TRAP_ADDRESSES = [
    {"channel": "telegram", "address": "-\u00b2"},
    {"channel": "telegram", "address": "--5"},
    {"channel": "telegram", "address": "\u0661\u0662"},
    {"channel": "sms", "address": "+1555\uff10100001"},
    {"channel": "slack", "address": "U\u00b2ABC"},
]
TRAP_BODIES = {
    "POST /api/v1/members/{member_id}/identities": TRAP_ADDRESSES,
    "POST /api/v1/members": [
        {"name": "Trap", "role": "support", "identities": [trap]} for trap in TRAP_ADDRESSES
    ],
}


async def _real_ids(db: Database, workspace_id: str) -> dict[str, str]:
    """An existing row for every path parameter (an extra API key to revoke, not ours)."""
    async with db.session() as session:
        spare = await directory.create_api_key(session, workspace_id, name="spare")
        member = await session.scalar(
            select(Member).where(
                Member.workspace_id == workspace_id, Member.email == "maria@demo.example"
            )
        )
        assert member is not None
        identity = await session.scalar(
            select(ChannelIdentity.id).where(ChannelIdentity.member_id == member.id)
        )
        number = await session.scalar(
            select(Assist.number).where(Assist.workspace_id == workspace_id).limit(1)
        )
        proposal = await session.scalar(
            select(Proposal.id).where(Proposal.workspace_id == workspace_id).limit(1)
        )
        removable = await session.scalar(
            select(Member.id).where(
                Member.workspace_id == workspace_id, Member.email == "sam@demo.example"
            )
        )
        agent = await session.scalar(
            select(AiAgent.id).where(AiAgent.workspace_id == workspace_id).limit(1)
        )
        task = await make_task_row(session, workspace_id, member.id)
        dead = await make_outbox_row(session, workspace_id, member.id, task_id=task.id)
        outbox = await session.scalar(select(OutboxRow.id).where(OutboxRow.id == dead.id))
        live = await make_live_world(session, workspace_id, member.id, str(agent))
        imports = await make_import_world(session, workspace_id)
    return {
        # A help desk sealed under a secret the fuzzed gateway lacks: its changes answer the
        # documented 409, and imports start on it.
        **imports,
        "group_id": live.group_id,
        "conversation_id": live.conversation_id,
        "session_id": live.session_id,
        "workspace_id": workspace_id,
        "member_id": member.id,
        "removable_member_id": str(removable),
        "identity_id": str(identity),
        "key_id": spare.id,
        "ref": f"A-{number}",
        "proposal_id": str(proposal or "none"),
        "task_id": task.id,
        "outbox_id": str(outbox),
        "agent_id": str(agent),
    }


def _fuzz(schema: Any, base_url: str, key: str, ids: dict[str, str]) -> list[str]:
    """Run every operation's examples; the failures (each shrunk by Hypothesis), as text."""
    failures: list[str] = []
    auth = {"Authorization": f"Bearer {key}"}
    for result in schema.get_all_operations():
        operation = result.ok()
        names = [p.name for p in operation.path_parameters]
        own = {name: ids[name] for name in names}
        if operation.label == "DELETE /api/v1/members/{member_id}":
            own["member_id"] = ids["removable_member_id"]  # not the one whose identities go
        plans: list[tuple[int, Any]] = [(RANDOM_IDS, operation.as_strategy(headers=auth))]
        if operation.body or operation.query:
            # A body or query parameters can be invalid; path ids are any string.
            negative = operation.as_strategy(schemathesis.GenerationMode.NEGATIVE, headers=auth)
            plans.append((INVALID, negative))
        if names:
            plans.append((REAL_IDS, operation.as_strategy(headers=auth, path_parameters=own)))
            # Reads suffice for the traps: every route parses its ids the way its GET does.
            for trap in TRAP_IDS if operation.method.upper() == "GET" else ():
                ids_ = {name: trap for name in names}
                plans.append((1, operation.as_strategy(headers=auth, path_parameters=ids_)))
        else:
            plans[0] = (RANDOM_IDS + REAL_IDS, plans[0][1])
        for body in TRAP_BODIES.get(operation.label, []):
            plans.append((1, operation.as_strategy(headers=auth, path_parameters=own, body=body)))
        for examples, strategy in plans:
            if examples < 1:
                continue
            try:
                _run(strategy, examples, lambda case: _call(case, base_url, auth))
            except Exception as exc:  # collected: every operation gets its turn
                failures.append(f"{operation.label}: {''.join(traceback.format_exception(exc))}")
    return failures


def _call(case: Any, base_url: str, auth: dict[str, str]) -> None:
    response = case.call(base_url=base_url, headers=auth, timeout=30)
    case.validate_response(response, checks=CHECKS, headers=auth)


def _run(strategy: Any, examples: int, test: Callable[[Any], None]) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=bool(os.environ.get("CI")),
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        test(case)

    run()


async def test_the_admin_api_answers_as_its_openapi_document_says(
    make_client: ClientFactory, db: Database
) -> None:
    seeded, keys, _revoked, _facts = await seed(db)
    ids = await _real_ids(db, seeded.workspace_id)
    client = await make_client()
    document = await (await client.get("/api/v1/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    base_url = str(client.make_url("")).rstrip("/")

    # schemathesis calls with requests (blocking): from a thread, while this loop serves.
    failures = await asyncio.to_thread(_fuzz, schema, base_url, keys.api_key, ids)

    assert failures == [], "\n\n".join(failures)


async def test_channel_addresses_that_only_look_numeric_are_refused(
    make_client: ClientFactory, db: Database
) -> None:
    _seeded, keys, _revoked, facts = await seed(db)
    client = await make_client()
    auth = {"Authorization": f"Bearer {keys.api_key}"}
    member = facts.member_ids[-1]
    before = await stored(db)

    answers = [
        await client.post(f"/api/v1/members/{member}/identities", json=trap, headers=auth)
        for trap in TRAP_ADDRESSES
    ]

    assert [a.status for a in answers] == [400] * len(TRAP_ADDRESSES)
    assert await stored(db) == before
