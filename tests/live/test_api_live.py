"""The admin API's live operator routes with an API key (the workspace's administrator):
operator groups, who is live, live sessions, the live settings, member scopes and agents'
live routing. Bad input is a 400 (a clash 409) that changes nothing; with the feature off the
routes answer 403 saying how to turn it on; another workspace's rows are 404."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.domain import Conversation
from storage.live import LiveSession, OperatorPresence
from storage.models import OutboxRow
from tests.api import ClientFactory, start_gateway
from tests.live import answer, go_live_by_chat, live_rows, world

GROUPS = "/api/v1/operator-groups"


async def test_operator_groups_are_created_read_changed_and_deleted(
    make_client: ClientFactory, db: Database
) -> None:
    acme = await world(db)
    client = await start_gateway(make_client)

    made = await answer(
        await client.post(
            GROUPS,
            json={
                "name": "  Sales  ",
                "description": "Quotes and upgrades",
                "workflows": [acme.agent_id],
                "members": [acme.pat_id],
            },
            headers=acme.auth,
        ),
        201,
    )
    assert made["name"] == "Sales"
    assert made["description"] == "Quotes and upgrades"
    assert made["workflows"] == [{"id": acme.agent_id, "name": "Acme Assistant"}]
    assert [m["id"] for m in made["members"]] == [acme.pat_id]
    assert made["members"][0]["name"] == "Pat"

    listed = await answer(await client.get(GROUPS, headers=acme.auth), 200)
    assert [g["id"] for g in listed["items"]] == [acme.live.group_id, made["id"]]  # by name
    one = await answer(await client.get(f"{GROUPS}/{made['id']}", headers=acme.auth), 200)
    assert one == made

    changed = await answer(
        await client.patch(
            f"{GROUPS}/{made['id']}",
            json={"name": "Sales EU", "members": [], "description": None},
            headers=acme.auth,
        ),
        200,
    )
    assert (changed["name"], changed["members"], changed["description"]) == ("Sales EU", [], "")
    assert changed["workflows"] == made["workflows"]  # not given: kept

    await answer(await client.delete(f"{GROUPS}/{made['id']}", headers=acme.auth), 204)
    await answer(await client.get(f"{GROUPS}/{made['id']}", headers=acme.auth), 404)
    listed = await answer(await client.get(GROUPS, headers=acme.auth), 200)
    assert [g["id"] for g in listed["items"]] == [acme.live.group_id]


@pytest.mark.parametrize(
    ("method", "body", "status"),
    [
        ("POST", {"name": ""}, 400),
        ("POST", {"description": "no name"}, 400),
        ("POST", {"name": "Sales", "workflows": ["no-such-agent"]}, 400),
        ("POST", {"name": "Sales", "members": ["no-such-member"]}, 400),
        ("POST", {"name": "Sales", "workflows": "all"}, 400),
        ("POST", {"name": "Sales", "colour": "red"}, 400),
        ("POST", {"name": "x" * 121}, 400),
        ("POST", {"name": "{existing}"}, 409),
        ("POST", {"name": "{existing_upper}"}, 409),
        ("PATCH", {"name": None}, 400),
        ("PATCH", {"workflows": ["no-such-agent"]}, 400),
        ("PATCH", {"members": None}, 400),
    ],
)
async def test_bad_group_input_changes_nothing(
    make_client: ClientFactory, db: Database, method: str, body: dict[str, object], status: int
) -> None:
    acme = await world(db)
    client = await start_gateway(make_client)
    group = await answer(await client.get(f"{GROUPS}/{acme.live.group_id}", headers=acme.auth), 200)
    names = {"{existing}": group["name"], "{existing_upper}": group["name"].upper()}
    body = {k: names.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    path = GROUPS if method == "POST" else f"{GROUPS}/{acme.live.group_id}"
    before = await live_rows(db, acme.workspace_id)

    refused = await answer(await client.request(method, path, json=body, headers=acme.auth), status)

    assert refused["message"]
    assert await live_rows(db, acme.workspace_id) == before


async def test_presence_lists_who_is_live_with_their_sessions(
    make_client: ClientFactory, db: Database
) -> None:
    acme = await world(db)
    client = await start_gateway(make_client)
    nobody = await answer(await client.get("/api/v1/presence", headers=acme.auth), 200)
    assert nobody == {"items": [], "next_cursor": None}

    await go_live_by_chat(db, acme.workspace_id, acme.pat_id)
    live = await answer(await client.get("/api/v1/presence", headers=acme.auth), 200)

    (pat,) = live["items"]
    assert pat["member_id"] == acme.pat_id and pat["name"] == "Pat"
    assert pat["workflows"] == [{"id": acme.agent_id, "name": "Acme Assistant"}]
    assert pat["via"] == "chat"
    assert pat["active_sessions"] == 1  # the seeded session Pat holds
    await answer(await client.get("/api/v1/presence?member=x", headers=acme.auth), 400)


async def test_live_sessions_list_and_read_with_their_messages(
    make_client: ClientFactory, db: Database
) -> None:
    acme = await world(db)
    client = await start_gateway(make_client)

    active = await answer(
        await client.get("/api/v1/live-sessions?status=active", headers=acme.auth), 200
    )
    ended = await answer(
        await client.get("/api/v1/live-sessions?status=completed", headers=acme.auth), 200
    )
    one = await answer(
        await client.get(f"/api/v1/live-sessions/{acme.live.session_id}", headers=acme.auth), 200
    )

    (listed,) = active["items"]
    assert listed["id"] == acme.live.session_id
    assert (listed["status"], listed["operator_id"]) == ("active", acme.pat_id)
    assert listed["conversation_id"] == acme.live.conversation_id
    assert ended == {"items": [], "next_cursor": None}
    assert {k: v for k, v in one.items() if k != "messages"} == listed
    assert [(m["seq"], m["author"], m["text"]) for m in one["messages"]] == [
        (1, "customer", "Hi"),
        (2, "member", "Hello, Pat here."),
    ]
    assert one["messages"][1]["member_id"] == acme.pat_id
    for bad in ("?status=done", "?limit=0", "?limit=201", "?operator=x"):
        await answer(await client.get(f"/api/v1/live-sessions{bad}", headers=acme.auth), 400)
    await answer(await client.get("/api/v1/live-sessions/nope", headers=acme.auth), 404)


async def test_with_the_operator_feature_off_its_routes_answer_403_saying_how_to_turn_it_on(
    make_client: ClientFactory, db: Database
) -> None:
    acme = await world(db, features=False)
    client = await start_gateway(make_client)
    before = await live_rows(db, acme.workspace_id)
    calls = [
        ("GET", GROUPS, None),
        ("POST", GROUPS, {"name": "Sales"}),
        ("GET", f"{GROUPS}/{acme.live.group_id}", None),
        ("PATCH", f"{GROUPS}/{acme.live.group_id}", {"name": "Other"}),
        ("DELETE", f"{GROUPS}/{acme.live.group_id}", None),
        ("GET", "/api/v1/presence", None),
        ("GET", "/api/v1/live-sessions", None),
        ("GET", f"/api/v1/live-sessions/{acme.live.session_id}", None),
    ]

    for method, path, body in calls:
        refused = await answer(
            await client.request(method, path, json=body, headers=acme.auth), 403
        )
        assert "Live Operator Mode is off" in refused["message"], path
        assert '"operator": true' in refused["message"]
        assert "PATCH /api/v1/live/settings" in refused["message"]

    assert await live_rows(db, acme.workspace_id) == before
    # The settings and the record of conversations stay reachable.
    settings = await answer(await client.get("/api/v1/live/settings", headers=acme.auth), 200)
    assert settings["features"] == {"operator": False, "presence": False}
    listed = await answer(await client.get("/api/v1/conversations", headers=acme.auth), 200)
    assert [c["id"] for c in listed["items"]] == [acme.live.conversation_id]

    # Operator on, presence off: the groups answer, who is live does not.
    await answer(
        await client.patch(
            "/api/v1/live/settings", json={"features": {"operator": True}}, headers=acme.auth
        ),
        200,
    )
    await answer(await client.get(GROUPS, headers=acme.auth), 200)
    refused = await answer(await client.get("/api/v1/presence", headers=acme.auth), 403)
    assert "Live presence is off" in refused["message"]
    assert '"presence": true' in refused["message"]


async def test_settings_turn_features_on_and_set_role_scopes(
    make_client: ClientFactory, db: Database
) -> None:
    acme = await world(db, features=False)
    client = await start_gateway(make_client)
    both = ["operator:read", "operator:write"]

    start = await answer(await client.get("/api/v1/live/settings", headers=acme.auth), 200)
    changed = await answer(
        await client.patch(
            "/api/v1/live/settings",
            json={
                "features": {"operator": True, "presence": True},
                "role_scopes": {"support": ["operator:read"]},
            },
            headers=acme.auth,
        ),
        200,
    )
    again = await answer(await client.get("/api/v1/live/settings", headers=acme.auth), 200)

    assert start == {
        "features": {"operator": False, "presence": False},
        "role_scopes": {"owner": both, "admin": both, "manager": both, "support": both},
    }
    assert (
        changed
        == again
        == {
            "features": {"operator": True, "presence": True},
            "role_scopes": {
                "owner": both,
                "admin": both,
                "manager": both,
                "support": ["operator:read"],
            },
        }
    )
    pat = await answer(await client.get(f"/api/v1/members/{acme.pat_id}", headers=acme.auth), 200)
    assert pat["scopes"] == ["operator:read"]


@pytest.mark.parametrize(
    "body",
    [
        # presence needs operator: the role scopes given beside it are not applied either
        {"features": {"presence": True}, "role_scopes": {"support": []}},
        {"features": {"operator": "yes"}},
        {"features": {"operator": True, "chat": True}},
        {"role_scopes": {"support": ["operator:admin"]}},
        {"role_scopes": {"robot": ["operator:read"]}},
        {"role_scopes": {"support": "operator:read"}},
        {"flags": {"operator": True}},
    ],
)
async def test_bad_settings_change_nothing(
    make_client: ClientFactory, db: Database, body: dict[str, object]
) -> None:
    acme = await world(db, features=False)
    client = await start_gateway(make_client)
    before = await live_rows(db, acme.workspace_id)

    refused = await answer(
        await client.patch("/api/v1/live/settings", json=body, headers=acme.auth), 400
    )

    assert refused["message"]
    assert await live_rows(db, acme.workspace_id) == before


async def test_turning_the_operator_feature_off_ends_presence_and_hands_sessions_to_the_ai(
    make_client: ClientFactory, db: Database
) -> None:
    acme = await world(db)
    await go_live_by_chat(db, acme.workspace_id, acme.pat_id)
    client = await start_gateway(make_client)

    off = await answer(
        await client.patch(
            "/api/v1/live/settings", json={"features": {"operator": False}}, headers=acme.auth
        ),
        200,
    )

    assert off["features"] == {"operator": False, "presence": False}
    async with db.session() as session:
        live = await session.get(LiveSession, acme.live.session_id)
        conversation = await session.get(Conversation, acme.live.conversation_id)
        presence = await session.scalar(
            select(OperatorPresence).where(OperatorPresence.workspace_id == acme.workspace_id)
        )
        told = list(
            await session.scalars(
                select(OutboxRow).where(OutboxRow.workspace_id == acme.workspace_id)
            )
        )
    assert live is not None and live.status == "ai"
    assert conversation is not None and conversation.live_session_id is None
    assert presence is None
    # The customer Pat was talking to hears that the AI has them again.
    assert [(r.channel, r.address) for r in told] == [("sms", "+15550109999")]
    await answer(await client.get("/api/v1/presence", headers=acme.auth), 403)


async def test_member_scopes_are_granted_and_shown(
    make_client: ClientFactory, db: Database
) -> None:
    acme = await world(db)
    client = await start_gateway(make_client)
    await answer(
        await client.patch(
            "/api/v1/live/settings", json={"role_scopes": {"support": []}}, headers=acme.auth
        ),
        200,
    )
    narrowed = await answer(
        await client.get(f"/api/v1/members/{acme.pat_id}", headers=acme.auth), 200
    )

    granted = await answer(
        await client.patch(
            f"/api/v1/members/{acme.pat_id}",
            json={"scopes": ["operator:write", "operator:read"]},
            headers=acme.auth,
        ),
        200,
    )
    listed = await answer(await client.get("/api/v1/members", headers=acme.auth), 200)
    before = await live_rows(db, acme.workspace_id)
    for bad in (["operator:admin"], "operator:read", None, ["operator:read"] * 3):
        await answer(
            await client.patch(
                f"/api/v1/members/{acme.pat_id}", json={"scopes": bad}, headers=acme.auth
            ),
            400,
        )

    assert narrowed["scopes"] == []
    assert granted["scopes"] == ["operator:read", "operator:write"]
    assert [m["scopes"] for m in listed["items"] if m["id"] == acme.pat_id] == [
        ["operator:read", "operator:write"]
    ]
    assert await live_rows(db, acme.workspace_id) == before
    revoked = await answer(
        await client.patch(
            f"/api/v1/members/{acme.pat_id}", json={"scopes": []}, headers=acme.auth
        ),
        200,
    )
    assert revoked["scopes"] == []


async def test_agents_take_and_show_live_routing(make_client: ClientFactory, db: Database) -> None:
    acme = await world(db)
    client = await start_gateway(make_client)

    made = await answer(
        await client.post(
            "/api/v1/agents",
            json={"name": "Billing", "channels": ["whatsapp"], "live_routing": True},
            headers=acme.auth,
        ),
        201,
    )
    default = await answer(
        await client.get(f"/api/v1/agents/{acme.agent_id}", headers=acme.auth), 200
    )
    off = await answer(
        await client.patch(
            f"/api/v1/agents/{made['id']}", json={"live_routing": False}, headers=acme.auth
        ),
        200,
    )
    on = await answer(
        await client.patch(
            f"/api/v1/agents/{acme.agent_id}", json={"live_routing": True}, headers=acme.auth
        ),
        200,
    )
    for bad in ("yes", 1, None):
        await answer(
            await client.patch(
                f"/api/v1/agents/{made['id']}", json={"live_routing": bad}, headers=acme.auth
            ),
            400,
        )
    again = await answer(await client.get(f"/api/v1/agents/{made['id']}", headers=acme.auth), 200)

    assert made["live_routing"] is True
    assert default["live_routing"] is False
    assert off["live_routing"] is False and on["live_routing"] is True
    assert again == off


async def test_another_workspaces_live_rows_are_404_and_untouched(
    make_client: ClientFactory, db: Database
) -> None:
    acme = await world(db, "Acme")
    other = await world(db, "Globex")
    client = await start_gateway(make_client)
    before = await live_rows(db, acme.workspace_id)
    theirs = [
        ("GET", f"{GROUPS}/{acme.live.group_id}", None),
        ("PATCH", f"{GROUPS}/{acme.live.group_id}", {"name": "Mine now"}),
        ("DELETE", f"{GROUPS}/{acme.live.group_id}", None),
        ("GET", f"/api/v1/live-sessions/{acme.live.session_id}", None),
        ("GET", f"/api/v1/conversations/{acme.live.conversation_id}", None),
        ("PATCH", f"/api/v1/members/{acme.pat_id}", {"scopes": ["operator:read"]}),
    ]

    for method, path, body in theirs:
        await answer(await client.request(method, path, json=body, headers=other.auth), 404)
    # Acme's agent and member cannot join Globex's groups either.
    for field, value in (("workflows", acme.agent_id), ("members", acme.pat_id)):
        await answer(
            await client.post(GROUPS, json={"name": "Poach", field: [value]}, headers=other.auth),
            400,
        )
    groups = await answer(await client.get(GROUPS, headers=other.auth), 200)
    live_sessions = await answer(await client.get("/api/v1/live-sessions", headers=other.auth), 200)
    conversations = await answer(await client.get("/api/v1/conversations", headers=other.auth), 200)

    assert [g["id"] for g in groups["items"]] == [other.live.group_id]
    assert [s["id"] for s in live_sessions["items"]] == [other.live.session_id]
    assert [c["id"] for c in conversations["items"]] == [other.live.conversation_id]
    assert await live_rows(db, acme.workspace_id) == before
