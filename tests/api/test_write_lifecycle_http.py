"""Every write tool's lifecycle through the whole gateway over HTTP: members ask and approve
through the `web` channel, an unlinked SMS number tries to approve through the inbound journal,
and an administrator follows proposals, the audit trail and the snapshots through the admin API.

Time passing is the database moving: an expiry or a snapshot's time is set back, never slept."""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from api.state import GATEWAY
from cli.seed import Seeded, seed_workspace
from core.approvals.proposals import (
    AT_EXECUTION,
    CREATE,
    ENTITIES,
    Change,
    apply_changes,
    field_value,
    key_value,
    proposal_changes,
)
from core.classify.backend import OfflineBackend
from core.team.identity import Principal
from models.classification import Classification, ToolCall
from models.task import Approval, Route, Sender, Task
from storage.db import Database
from storage.domain import Proposal, Snapshot
from storage.models import ApiKey, OutboxRow
from storage.types import new_id, utcnow
from tests.api import Client, ClientFactory, finished_task
from tests.factories import make_api_key
from tests.write_cases import CASES, Setup

OWNER, MANAGER = "olivia@demo.example", "tom@demo.example"
STRANGER = "+15557770000"  # no member has this number: a customer
REQUEST = "please do the write under test"


@functools.cache
def _offline() -> OfflineBackend:
    return OfflineBackend()  # compiles its patterns: once per run


class RequestThenOffline:
    """The write under test for REQUEST (its arguments come from the shared cases); every other
    text ("approve 1234", "undo", "restore snapshot 7") goes to the offline classifier."""

    def __init__(self, tool: str, args: dict[str, Any]) -> None:
        self._offline = _offline()
        self._call = ToolCall(tool=tool, args=args)

    async def classify(self, text: str, principal: Principal, now: datetime) -> Classification:
        if text == REQUEST:
            return Classification(calls=(self._call,))
        return await self._offline.classify(text, principal, now)


class Gateway:
    """One running gateway, its seeded workspace and an admin API key."""

    def __init__(self, client: Client, db: Database, seeded: Seeded, key: str) -> None:
        self.client, self.db, self.seeded = client, db, seeded
        self.auth = {"Authorization": f"Bearer {key}"}

    async def say(self, member: str, text: str) -> dict[str, Any]:
        """Post TEXT as MEMBER through the web channel; the one reply, once delivered."""
        response = await self.client.post(
            "/api/v1/messages", json={"member": member, "text": text}, headers=self.auth
        )
        assert response.status == 202, await response.text()
        task = await finished_task(self.client, (await response.json())["task_id"], **self.auth)
        (reply,) = task["replies"]
        return dict(reply)

    async def admin(self, path: str) -> Any:
        response = await self.client.get(f"/api/v1/{path}", headers=self.auth)
        assert response.status == 200, await response.text()
        return await response.json()

    async def proposal(self, proposal_id: str) -> dict[str, Any]:
        return dict(await self.admin(f"proposals/{proposal_id}"))

    async def audit(self, action: str, target: str) -> list[dict[str, Any]]:
        items = (await self.admin("audit?limit=1000"))["items"]
        return [e for e in items if e["action"] == action and e["target"] == target]

    async def snapshot(self, snapshot_id: int) -> dict[str, Any]:
        items = (await self.admin("snapshots?limit=500"))["items"]
        (found,) = [s for s in items if s["id"] == snapshot_id]
        return dict(found)

    async def propose(self, tool: str) -> dict[str, Any]:
        reply = await self.say(OWNER, REQUEST)
        assert reply["kind"] == "proposal", reply["text"]
        proposal: dict[str, Any] = reply["proposal"]
        assert set(proposal) >= {"id", "code", "changes", "estimated_count", "status"}
        assert proposal["status"] == "pending" and proposal["code"].isdigit()
        assert proposal["changes"] or tool == "send_broadcast", reply["text"]
        for change in proposal["changes"]:
            assert {"label", "before", "after"} <= set(change)
            assert f"{change['label']}:" in reply["text"]  # side by side in the text too
        if tool == "bulk_update_assists":
            count = proposal["estimated_count"]
            assert count and count == len(proposal["changes"])
            assert f"This will touch {count} item(s)." in reply["text"]
        assert f"approve {proposal['code']}" in reply["text"]
        return proposal

    async def move(self, model: Any, key: Any, **values: Any) -> None:
        async with self.db.session() as session:
            await session.execute(update(model).where(model.id == key).values(**values))

    async def planned(self, proposal_id: str) -> list[Change]:
        async with self.db.session() as session:
            row = await session.get(Proposal, proposal_id)
            assert row is not None
            return proposal_changes(row)

    async def snapshot_of(self, proposal_id: str) -> Snapshot:
        async with self.db.session() as session:
            rows = list(
                await session.scalars(select(Snapshot).where(Snapshot.proposal_id == proposal_id))
            )
        assert len(rows) == 1, f"{len(rows)} snapshots for one proposal"
        return rows[0]

    async def state(self, changes: list[Change]) -> list[Any]:
        """Each change's row as it is now: whether it exists (row changes) or the field's value."""
        ws = self.seeded.workspace_id
        found: list[Any] = []
        async with self.db.session() as session:
            for change in changes:
                model = ENTITIES[change.entity]
                row = await session.scalar(
                    select(model).where(
                        model.id == key_value(model, change.key),  # type: ignore[attr-defined]
                        model.workspace_id == ws,  # type: ignore[attr-defined]
                    )
                )
                if change.field == CREATE:
                    found.append(row is not None)
                else:
                    assert row is not None, change.label
                    found.append(field_value(row, change.field))
        return found

    async def assert_state(self, changes: list[Change], side: str) -> None:
        """The domain rows hold each change's `before` or `after` value."""
        wanted: list[Any] = []
        for change in changes:
            value = getattr(change, side)
            wanted.append(value is not None if change.field == CREATE else value)
        now = await self.state(changes)
        for change, have, want in zip(changes, now, wanted, strict=True):
            assert _matches(have, want), f"{change.label}: {have!r}, expected {side} {want!r}"

    async def make_stale(self, change: Change) -> Change:
        """Someone changes the row between proposal and approval; returns that change."""
        if change.field == CREATE and change.before is None:
            meanwhile = change.at(utcnow())  # the same row appears meanwhile
        elif change.field == CREATE:
            meanwhile = change.model_copy(update={"after": None})  # the row goes meanwhile
        else:
            meanwhile = change.model_copy(update={"after": _another_value(change)})
        await self.apply(meanwhile)
        return meanwhile

    async def apply(self, change: Change) -> None:
        async with self.db.session() as session:
            await apply_changes(session, self.seeded.workspace_id, [change])


def _matches(have: Any, want: Any) -> bool:
    """HAVE is WANT, where a value planned as "the moment of approval" is any time."""
    if want == AT_EXECUTION:
        return isinstance(have, str) and datetime.fromisoformat(have) is not None
    if isinstance(want, dict) and isinstance(have, dict):
        return have.keys() == want.keys() and all(_matches(have[k], want[k]) for k in want)
    return bool(have == want)


def _another_value(change: Change) -> Any:
    """A value of the field's type that differs from the one the proposal was made against."""
    before = change.before
    if "." in change.field:  # a key of a JSON column
        return "changed meanwhile" if before != "changed meanwhile" else "changed again"
    column = ENTITIES[change.entity].__table__.c[change.field]  # type: ignore[attr-defined]
    try:
        kind = column.type.python_type
    except NotImplementedError:  # JSON
        kind = type(before)
    if kind is datetime:
        return (utcnow() - timedelta(days=400)).isoformat()
    if kind is bool:
        return not before
    if kind is int:
        return (before or 0) + 1
    if kind is list:
        return [*(before or []), "changed meanwhile"]
    width = getattr(column.type, "length", None) or 100
    return next(v[:width] for v in ("changed meanwhile", "other") if v[:width] != before)


async def approve_from_unlinked_sms(gw: Gateway, code: str) -> str:
    """ "YES 1234" from a number no member holds, as the SMS adapter commits it to the journal."""
    gateway = gw.client.app[GATEWAY]
    task = Task(
        id=new_id(),
        workspace_id=gw.seeded.workspace_id,
        channel="sms",
        external_id=f"SM{new_id()}",
        sender=Sender(channel="sms", address=STRANGER),
        conversation=f"sms:{STRANGER}",
        text=f"YES {code}",
        received_at=utcnow(),
        reply_route=Route(channel="sms", address=STRANGER),
        kind="approval",
        approval=Approval(decision="approve", code=code),
    )
    accepted = await gateway.ingest(task)
    body = await finished_task(gw.client, accepted.task_id, **gw.auth)
    (reply,) = body["replies"]
    assert (reply["channel"], reply["address"]) == ("sms", STRANGER)
    return str(reply["text"])


async def start(
    db: Database, make_client: ClientFactory, tool: str, args: dict[str, Any], setup: Setup
) -> Gateway:
    now = utcnow()
    async with db.session() as session:
        seeded = await seed_workspace(session, now=now - timedelta(minutes=1))
        key = await make_api_key(session, seeded.workspace_id, name="auditor")
    await setup(db, seeded, now - timedelta(minutes=1))
    client = await make_client(build={"classifier": RequestThenOffline(tool, args)})
    return Gateway(client, db, seeded, key.secret)


@pytest.mark.parametrize(("tool", "args", "setup", "reversible"), CASES, ids=[c[0] for c in CASES])
async def test_write_tool_lifecycle_over_http(
    db: Database,
    make_client: ClientFactory,
    tool: str,
    args: dict[str, Any],
    setup: Setup,
    reversible: bool,
) -> None:
    gw = await start(db, make_client, tool, args, setup)
    owner_id = gw.seeded.member_ids[OWNER]

    # 1. A proposal with before/after; the admin API shows the same, pending; nothing changed.
    first = await gw.propose(tool)
    shown = await gw.proposal(first["id"])
    assert (shown["status"], shown["requester_id"]) == ("pending", owner_id)
    assert shown["changes"] == first["changes"]
    assert shown["estimated_count"] == first["estimated_count"]
    planned = await gw.planned(first["id"])
    await gw.assert_state(planned, "before")

    # 2. Another member may not approve; an unlinked number may not either.
    other = await gw.say(MANAGER, f"approve {first['code']}")
    assert "Only the person who asked, or an owner or admin" in other["text"]
    stranger = await approve_from_unlinked_sms(gw, first["code"])
    assert "not linked to a member of the team" in stranger
    assert (await gw.proposal(first["id"]))["status"] == "pending"
    await gw.assert_state(planned, "before")

    # 3. Expiry: a day later the code no longer works.
    await gw.move(Proposal, first["id"], expires_at=utcnow() - timedelta(seconds=1))
    late = await gw.say(OWNER, f"approve {first['code']}")
    assert "has expired" in late["text"]
    assert (await gw.proposal(first["id"]))["status"] == "expired"
    await gw.assert_state(planned, "before")

    # 4. Stale value: the row changes between proposal and approval; nothing is executed.
    if planned:  # a broadcast changes no row: there is no current value to go stale
        stale = await gw.propose(tool)
        stale_plan = await gw.planned(stale["id"])
        meanwhile = await gw.make_stale(stale_plan[0])
        stopped = await gw.say(OWNER, f"approve {stale['code']}")
        assert stopped["text"].startswith("Stopped, nothing was changed:"), stopped["text"]
        assert (await gw.proposal(stale["id"]))["status"] == "stale"
        assert len(await gw.audit("proposal.stale", stale["id"])) == 1
        await gw.assert_state([meanwhile], "after")  # the other person's change stands
        await gw.assert_state(stale_plan[1:], "before")
        async with db.session() as session:
            snapshots = select(func.count()).where(Snapshot.proposal_id == stale["id"])
            assert await session.scalar(snapshots) == 0
        await gw.apply(meanwhile.inverse())

    # 5. The requester approves twice at once: it executes once.
    second = await gw.propose(tool)
    plan = await gw.planned(second["id"])
    answers = await asyncio.gather(
        gw.say(OWNER, f"approve {second['code']}"), gw.say(OWNER, f"yes {second['code']}")
    )
    done = [a["text"] for a in answers if a["text"].startswith("Done:")]
    assert len(done) == 1, [a["text"] for a in answers]
    assert any("already" in a["text"] for a in answers), [a["text"] for a in answers]
    executed = await gw.proposal(second["id"])
    assert (executed["status"], executed["decided_by"]) == ("executed", owner_id)
    snap = await gw.snapshot_of(second["id"])
    (entry,) = await gw.audit("proposal.execute", second["id"])
    assert (entry["actor"], entry["details"]["snapshot_id"]) == (f"member:{owner_id}", snap.id)
    assert entry["details"]["tools"] == [tool]
    listed = await gw.snapshot(snap.id)
    assert (listed["proposal_id"], listed["reversible"]) == (second["id"], reversible)
    await gw.assert_state(plan, "after")

    if not reversible:
        # Something was sent out: neither undo nor restore can call it back.
        undo = await gw.say(OWNER, "undo")
        assert "cannot be undone" in undo["text"]
        restore = await gw.say(OWNER, f"restore snapshot {snap.id}")
        assert "cannot be restored" in restore["text"]
        await gw.assert_state(plan, "after")
        return

    # 6. Undo within 30 seconds puts every row back.
    executed_changes = [Change.model_validate(c) for c in snap.before]
    undo = await gw.say(OWNER, "undo")
    assert undo["text"].startswith("Undone:"), undo["text"]
    await gw.assert_state(executed_changes, "before")
    assert (await gw.snapshot(snap.id))["undone_at"] is not None
    assert len(await gw.audit("snapshot.undo", str(snap.id))) == 1

    # 7. The same write again; after 30 seconds undo is refused and changes nothing.
    third = await gw.propose(tool)
    approved = await gw.say(OWNER, f"approve {third['code']}")
    assert approved["text"].startswith("Done:"), approved["text"]
    snap = await gw.snapshot_of(third["id"])
    executed_changes = [Change.model_validate(c) for c in snap.before]
    await gw.move(Snapshot, snap.id, created_at=utcnow() - timedelta(seconds=31))
    refused = await gw.say(OWNER, "undo")
    assert refused["text"].startswith("Undo works for 30 seconds"), refused["text"]
    assert f"restore snapshot {snap.id}" in refused["text"]
    await gw.assert_state(executed_changes, "after")

    # 8. Beyond the plan's retention (enterprise: 90 days) restore is refused with the reason.
    await gw.move(Snapshot, snap.id, created_at=utcnow() - timedelta(days=91))
    old = await gw.say(OWNER, f"restore snapshot {snap.id}")
    assert "the enterprise plan keeps snapshots for 90 days" in old["text"], old["text"]
    await gw.assert_state(executed_changes, "after")

    # 9. Within it, restore is itself a proposal, and approving it brings the before-state back.
    await gw.move(Snapshot, snap.id, created_at=utcnow() - timedelta(days=89))
    restore = await gw.say(OWNER, f"restore snapshot {snap.id}")
    assert restore["kind"] == "proposal", restore["text"]
    assert all(c["label"].endswith("(restore)") for c in restore["proposal"]["changes"])
    await gw.assert_state(executed_changes, "after")
    restored = await gw.say(OWNER, f"approve {restore['proposal']['code']}")
    assert restored["text"].startswith(f"Done: restore snapshot {snap.id}"), restored["text"]
    await gw.assert_state(executed_changes, "before")
    assert (await gw.snapshot(snap.id))["restored_at"] is not None
    assert len(await gw.audit("proposal.execute", restore["proposal"]["id"])) == 1


async def test_a_revoked_key_stops_working_at_approval_not_at_the_request(
    db: Database, make_client: ClientFactory
) -> None:
    async with db.session() as session:
        seeded = await seed_workspace(session, now=utcnow() - timedelta(minutes=1))
        admin = await make_api_key(session, seeded.workspace_id, name="auditor")
        ci = await make_api_key(session, seeded.workspace_id, name="ci")
    client = await make_client(
        build={"classifier": RequestThenOffline("revoke_api_key", {"name": "ci"})}
    )
    gw = Gateway(client, db, seeded, admin.secret)
    ci_auth = {"Authorization": f"Bearer {ci.secret}"}

    proposal = await gw.propose("revoke_api_key")
    assert proposal["changes"] == [
        {"label": 'API key "ci"', "field": "revoked_at", "before": "active", "after": "revoked"}
    ]
    # Approved ten hours after it was asked: the key works all that time.
    asked_at = utcnow() - timedelta(hours=10)
    await gw.move(Proposal, proposal["id"], created_at=asked_at)
    assert (await client.get("/api/v1/workspaces", headers=ci_auth)).status == 200

    approved = await gw.say(OWNER, f"approve {proposal['code']}")
    assert approved["text"].startswith('Done: revoke API key "ci"'), approved["text"]

    decided = await gw.proposal(proposal["id"])
    async with db.session() as session:
        key = await session.get(ApiKey, ci.id)
        assert key is not None
    assert key.revoked_at is not None
    assert key.revoked_at == datetime.fromisoformat(decided["decided_at"])
    assert key.revoked_at - asked_at >= timedelta(hours=10)
    listed = {k["id"]: k["revoked_at"] for k in (await gw.admin("apikeys"))["items"]}
    assert datetime.fromisoformat(listed[ci.id]) == key.revoked_at
    assert (await client.get("/api/v1/workspaces", headers=ci_auth)).status == 401

    # Undone within 30 seconds: the key works again.
    undone = await gw.say(OWNER, "undo")
    assert undone["text"].startswith("Undone:"), undone["text"]
    assert (await client.get("/api/v1/workspaces", headers=ci_auth)).status == 200


async def test_a_key_created_in_chat_is_revealed_once_through_the_admin_api(
    db: Database, make_client: ClientFactory
) -> None:
    async with db.session() as session:
        seeded = await seed_workspace(session, now=utcnow() - timedelta(minutes=1))
        admin = await make_api_key(session, seeded.workspace_id, name="auditor")
    client = await make_client(
        build={"classifier": RequestThenOffline("create_api_key", {"name": "zapier"})}
    )
    gw = Gateway(client, db, seeded, admin.secret)

    asked = await gw.say(OWNER, REQUEST)
    proposal = asked["proposal"]
    approved = await gw.say(OWNER, f"approve {proposal['code']}")
    assert approved["text"].startswith('Done: create API key "zapier"'), approved["text"]
    (key,) = [k for k in (await gw.admin("apikeys"))["items"] if k["name"] == "zapier"]
    assert f"/api/v1/apikeys/{key['id']}/reveal" in asked["text"]

    revealed = await client.post(f"/api/v1/apikeys/{key['id']}/reveal", headers=gw.auth)
    assert revealed.status == 201, await revealed.text()
    secret = (await revealed.json())["key"]
    auth = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/v1/workspaces", headers=auth)).status == 200
    again = await client.post(f"/api/v1/apikeys/{key['id']}/reveal", headers=gw.auth)
    assert again.status == 409
    async with db.session() as session:
        sent = [row.deliverable.get("text", "") for row in await session.scalars(select(OutboxRow))]
    assert sent and not any(secret in text for text in sent)
