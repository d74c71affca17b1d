"""The live desk on the server: who may open and change what (roles, scopes, flags), CSRF on
every form, bad input refused with nothing changed, and the customer's text escaped."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from core.live import access
from storage.db import Database
from storage.live import ConversationMessage, LiveSession, OperatorGroup, OperatorPresence
from storage.models import Member, OutboxRow, Workspace
from tests.console.helpers import another_browser, csrf_of, origin, sign_in
from tests.console.live_helpers import go_live, is_live, live_team, offer, session_status
from tests.factories import make_member, make_tenant

# Every live route but the socket (tests/console/test_live_socket.py), with a method.
POSTS = (
    "/console/live/go-live",
    "/console/live/go-offline",
    "/console/live/settings",
    "/console/live/groups",
    "/console/live/sessions/{sid}/accept",
    "/console/live/sessions/{sid}/decline",
    "/console/live/sessions/{sid}/send",
    "/console/live/sessions/{sid}/transfer",
    "/console/live/sessions/{sid}/complete",
)
GETS = (
    "/console/live",
    "/console/live/state",
    "/console/live/groups",
    "/console/live/sessions/{sid}",
    "/console/live/sessions/{sid}/messages?after=0",
)


async def _member(db: Database, workspace_id: str, role: str, name: str) -> str:
    async with db.session() as session:
        return (await make_member(session, workspace_id, role=role, name=name)).id


async def _flags(db: Database, workspace_id: str) -> dict[str, bool]:
    async with db.session() as session:
        workspace = await session.get(Workspace, workspace_id)
        assert workspace is not None
        return access.features_of(workspace)


async def _count(db: Database, model: Any, **where: Any) -> int:
    async with db.session() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(await session.scalar(query) or 0)


async def test_without_a_session_every_route_sends_to_sign_in(
    make_client: Any, db: Database
) -> None:
    client = await make_client()
    for path in (*GETS, *POSTS):
        url = path.format(sid="x")
        response = await (client.get if path in GETS else client.post)(url, allow_redirects=False)
        assert response.status == 302, url
        assert response.headers["Location"].startswith("/console/login"), url


async def test_feature_off_says_so_and_names_who_turns_it_on(
    make_client: Any, db: Database
) -> None:
    tenant = await make_tenant(db, name="Olivia Owner")
    support = await _member(db, tenant.workspace_id, "support", "Sam Support")
    client = await make_client()
    csrf = await sign_in(client, db, support)
    html = await (await client.get("/console/live")).text()
    assert "Live Operator Mode is off" in html
    assert "Olivia Owner" in html  # who can turn it on
    assert 'action="/console/live/settings"' not in html
    assert '<a href="/console/live"' in html  # in the navigation
    # Everything else is refused while it is off, and nothing changes.
    for path in ("/console/live/groups",):
        assert (await client.get(path)).status == 403
    refused = await client.post(
        "/console/live/go-live",
        data={"csrf_token": csrf, "workflow": "x"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert refused.status == 403
    settings = await client.post(
        "/console/live/settings",
        data={"csrf_token": csrf, "operator": "on", "presence": "off"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert settings.status == 403
    assert await _flags(db, tenant.workspace_id) == {"operator": False, "presence": False}


async def test_an_owner_turns_the_flags_and_scopes_on_and_off(
    make_client: Any, db: Database
) -> None:
    tenant = await make_tenant(db)
    client = await make_client()
    csrf = await sign_in(client, db, tenant.member_id)
    html = await (await client.get("/console/live")).text()
    assert 'action="/console/live/settings"' in html
    url = "/console/live/settings"
    on = {"operator": "on", "presence": "on", "roles": "1", "scope_owner": access.SCOPES}
    no_token = await client.post(url, data=on, headers=origin(client), allow_redirects=False)
    assert no_token.status == 403
    for bad in (
        {"operator": "maybe", "presence": "off"},
        {"operator": "off", "presence": "on"},  # presence needs operator
        {"operator": "on", "presence": "on", "roles": "1", "scope_support": "operator:admin"},
    ):
        response = await client.post(
            url, data={"csrf_token": csrf, **bad}, headers=origin(client), allow_redirects=False
        )
        assert response.status == 400, bad
        assert await _flags(db, tenant.workspace_id) == {"operator": False, "presence": False}
    done = await client.post(
        url,
        data=[
            ("csrf_token", csrf),
            ("operator", "on"),
            ("presence", "on"),
            ("roles", "1"),
            ("scope_owner", "operator:read"),
            ("scope_owner", "operator:write"),
            ("scope_support", "operator:read"),
        ],
        headers=origin(client),
        allow_redirects=False,
    )
    assert done.status == 302
    assert await _flags(db, tenant.workspace_id) == {"operator": True, "presence": True}
    async with db.session() as session:
        workspace = await session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        assert access.role_scopes(workspace)["support"] == ["operator:read"]
        assert access.role_scopes(workspace)["admin"] == []  # unticked
    # Turning Live Operator Mode off takes the live operators offline.
    await live_team(db, tenant.workspace_id, [tenant.member_id])
    await go_live(db, tenant.workspace_id, tenant.member_id)
    off = await client.post(
        url,
        data={"csrf_token": csrf, "operator": "off", "presence": "off"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert off.status == 302
    assert not await is_live(db, tenant.member_id)
    assert await _flags(db, tenant.workspace_id) == {"operator": False, "presence": False}


async def test_scopes_decide_going_live_groups_and_the_dashboard(
    make_client: Any, db: Database
) -> None:
    tenant = await make_tenant(db)
    support = await _member(db, tenant.workspace_id, "support", "Sam Support")
    await live_team(db, tenant.workspace_id, [tenant.member_id, support], presence_on=False)
    async with db.session() as session:
        workspace = await session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        await access.set_role_scopes(session, workspace, "support", [], actor="test")
    client = await make_client()
    csrf = await sign_in(client, db, support)
    html = await (await client.get("/console/live")).text()
    assert "Go live" not in html
    assert "needs the operator:read scope" in html
    assert (await client.get("/console/live/groups")).status == 403
    for path, data in (
        ("/console/live/go-live", {"workflow": "x"}),
        ("/console/live/groups", {"name": "Sneaky"}),
    ):
        response = await client.post(
            path, data={"csrf_token": csrf, **data}, headers=origin(client), allow_redirects=False
        )
        assert response.status == 403, path
    assert await _count(db, OperatorGroup, workspace_id=tenant.workspace_id) == 1
    assert not await is_live(db, support)
    # The owner holds both scopes, but presence is off: no who-is-live list.
    owner = await make_client()
    await sign_in(owner, db, tenant.member_id)
    html = await (await owner.get("/console/live")).text()
    assert "Go live" in html
    assert "Live presence is off" in html
    assert 'id="operators"' not in html


async def test_going_live_and_offline(make_client: Any, db: Database) -> None:
    tenant = await make_tenant(db)
    team = await live_team(db, tenant.workspace_id, [tenant.member_id])
    client = await make_client()
    csrf = await sign_in(client, db, tenant.member_id)
    html = await (await client.get("/console/live")).text()
    assert f'name="workflow" value="{team.agent_id}"' in html
    url = "/console/live/go-live"
    no_token = await client.post(
        url, data={"workflow": team.agent_id}, headers=origin(client), allow_redirects=False
    )
    assert no_token.status == 403
    for bad in ({}, {"workflow": "not-an-agent-of-my-groups"}):
        response = await client.post(
            url, data={"csrf_token": csrf, **bad}, headers=origin(client), allow_redirects=False
        )
        assert response.status == 400, bad
        assert not await is_live(db, tenant.member_id)
    done = await client.post(
        url,
        data={"csrf_token": csrf, "workflow": team.agent_id},
        headers=origin(client),
        allow_redirects=False,
    )
    assert done.status == 302
    assert await is_live(db, tenant.member_id)
    page = await (await client.get("/console/live")).text()
    assert "You are live" in page and "Go offline" in page
    state = await (await client.get("/console/live/state")).json()
    assert [o["member_id"] for o in state["operators"]] == [tenant.member_id]
    offline = await client.post(
        "/console/live/go-offline",
        data={"csrf_token": csrf},
        headers=origin(client),
        allow_redirects=False,
    )
    assert offline.status == 302
    assert not await is_live(db, tenant.member_id)


async def test_groups_are_created_edited_and_deleted(make_client: Any, db: Database) -> None:
    tenant = await make_tenant(db)
    support = await _member(db, tenant.workspace_id, "support", "Sam Support")
    team = await live_team(db, tenant.workspace_id, [tenant.member_id])
    stranger = await make_tenant(db)
    client = await make_client()
    csrf = await sign_in(client, db, tenant.member_id)
    url = "/console/live/groups"
    for bad in (
        {"name": "  "},
        {"name": "Night shift", "workflow": "nope"},
        {"name": "Night shift", "member": stranger.member_id},  # another workspace's
        {"name": "x" * 121},
    ):
        response = await client.post(
            url, data={"csrf_token": csrf, **bad}, headers=origin(client), allow_redirects=False
        )
        assert response.status == 400, bad
    clash = await client.post(
        url,
        data={"csrf_token": csrf, "name": "billing DESK"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert clash.status == 409
    assert await _count(db, OperatorGroup, workspace_id=tenant.workspace_id) == 1
    made = await client.post(
        url,
        data=[
            ("csrf_token", csrf),
            ("name", "Night <shift>"),
            ("description", "after hours"),
            ("workflow", team.agent_id),
            ("member", support),
        ],
        headers=origin(client),
        allow_redirects=False,
    )
    assert made.status == 302
    async with db.session() as session:
        group = await session.scalar(
            select(OperatorGroup).where(OperatorGroup.name == "Night <shift>")
        )
        assert group is not None
        group_id = group.id
    listing = await (await client.get(url)).text()
    assert "Night &lt;shift&gt;" in listing and "Sam Support" in listing
    edit_page = await client.get(f"{url}/{group_id}")
    assert edit_page.status == 200
    assert (await client.get(f"{url}/nope")).status == 404
    edited = await client.post(
        f"{url}/{group_id}",
        data=[("csrf_token", csrf), ("name", "Nights"), ("member", tenant.member_id)],
        headers=origin(client),
        allow_redirects=False,
    )
    assert edited.status == 302
    listing = await (await client.get(url)).text()
    assert "Nights" in listing
    gone = await client.post(
        f"{url}/{group_id}/delete",
        data={"csrf_token": csrf},
        headers=origin(client),
        allow_redirects=False,
    )
    assert gone.status == 302
    assert await _count(db, OperatorGroup, workspace_id=tenant.workspace_id) == 1
    foreign = await client.post(
        f"{url}/{team.group_id}/delete", data={}, headers=origin(client), allow_redirects=False
    )
    assert foreign.status == 403  # no token
    assert await _count(db, OperatorGroup, workspace_id=tenant.workspace_id) == 1


async def test_an_offer_is_accepted_and_the_session_escapes_the_customer(
    make_client: Any, db: Database
) -> None:
    tenant = await make_tenant(db)
    other = await _member(db, tenant.workspace_id, "support", "Sam Support")
    team = await live_team(db, tenant.workspace_id, [tenant.member_id, other])
    await go_live(db, tenant.workspace_id, tenant.member_id)
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    sid = await offer(db, team, evil)
    client = await make_client()
    csrf = await sign_in(client, db, tenant.member_id)
    desk = await (await client.get("/console/live")).text()
    assert "&lt;script&gt;alert" in desk and "<script>alert" not in desk
    assert "Accept" in desk and "Decline" in desk
    state = await (await client.get("/console/live/state")).json()
    assert [o["id"] for o in state["offers"]] == [sid]
    assert state["offers"][0]["messages"][0]["text"] == evil  # JSON: the page sets textContent
    # Someone else cannot accept it; without the token nothing happens.
    async with another_browser(client) as sam:
        await sam.get(await _link(db, other))
        sam_csrf = csrf_of(await (await sam.get("/console/live")).text())
        taken = await sam.post(
            f"console/live/sessions/{sid}/accept",
            data={"csrf_token": sam_csrf},
            headers=origin(client),
            allow_redirects=False,
        )
        assert taken.status == 409
    no_token = await client.post(
        f"/console/live/sessions/{sid}/accept", headers=origin(client), allow_redirects=False
    )
    assert no_token.status == 403
    assert (await session_status(db, sid)).status == "offered"
    accepted = await client.post(
        f"/console/live/sessions/{sid}/accept",
        data={"csrf_token": csrf},
        headers=origin(client),
        allow_redirects=False,
    )
    assert accepted.status == 302
    assert accepted.headers["Location"] == f"/console/live/sessions/{sid}"
    html = await (await client.get(f"/console/live/sessions/{sid}")).text()
    assert "&lt;script&gt;alert" in html and "<script>alert" not in html
    assert "<img src=x" not in html
    assert '<label for="message">Message</label>' in html
    assert "+15550001111" in html  # the customer's address
    # A teammate with operator:read reads it (the dashboard links it); without it, 403.
    async with another_browser(client) as sam:
        await sam.get(await _link(db, other))
        shown = await sam.get(f"console/live/sessions/{sid}")
        assert shown.status == 200
        text = await shown.text()
        assert "holds this conversation" in text and 'id="send-form"' not in text
        async with db.session() as session:
            workspace = await session.get(Workspace, tenant.workspace_id)
            assert workspace is not None
            await access.set_role_scopes(session, workspace, "support", [], actor="test")
        assert (await sam.get(f"console/live/sessions/{sid}")).status == 403
        assert (await sam.get(f"console/live/sessions/{sid}/messages")).status == 403
    for path in ("/console/live/sessions/nope", "/console/live/sessions/nope/messages"):
        assert (await client.get(path)).status == 404
    assert (await client.get(f"/console/live/sessions/{sid}/messages?after=x")).status == 400


async def test_send_is_once_per_key_and_bad_messages_change_nothing(
    make_client: Any, db: Database
) -> None:
    tenant = await make_tenant(db)
    team = await live_team(db, tenant.workspace_id, [tenant.member_id])
    await go_live(db, tenant.workspace_id, tenant.member_id)
    sid = await offer(db, team, "Where is my refund?")
    client = await make_client()
    csrf = await sign_in(client, db, tenant.member_id)
    await client.post(
        f"/console/live/sessions/{sid}/accept",
        data={"csrf_token": csrf},
        headers=origin(client),
        allow_redirects=False,
    )
    url = f"/console/live/sessions/{sid}/send"
    json_headers = {**origin(client), "X-CSRF-Token": csrf, "Accept": "application/json"}
    before = await _count(db, OutboxRow, workspace_id=tenant.workspace_id)
    for bad in ({"text": "  ", "key": "k1"}, {"text": "hi", "key": ""}, {"text": "x" * 4001}):
        response = await client.post(url, json={"key": "k", **bad}, headers=json_headers)
        assert response.status == 400, bad
        assert "error" in await response.json()
    no_token = await client.post(
        url,
        json={"text": "hi", "key": "k2"},
        headers={**origin(client), "Accept": "application/json"},
    )
    assert no_token.status == 403
    assert await _count(db, OutboxRow, workspace_id=tenant.workspace_id) == before
    for _ in range(3):  # a double click and a retry
        sent = await client.post(
            url, json={"text": "It went out today.", "key": "k3"}, headers=json_headers
        )
        assert sent.status == 200
    assert await _count(db, OutboxRow, workspace_id=tenant.workspace_id) == before + 1
    assert await _count(db, ConversationMessage, author="member") == 1
    messages = await (await client.get(f"/console/live/sessions/{sid}/messages?after=0")).json()
    assert [m["author"] for m in messages["messages"]] == ["customer", "system", "member"]
    assert messages["messages"][-1]["text"] == "It went out today."
    seen = messages["messages"][1]["seq"]
    later = await (await client.get(f"/console/live/sessions/{sid}/messages?after={seen}")).json()
    assert [m["text"] for m in later["messages"]] == ["It went out today."]
    # Transfer needs a target; completing ends it, and the page is read-only.
    bad_transfer = await client.post(
        f"/console/live/sessions/{sid}/transfer",
        data={"csrf_token": csrf, "to": "member:nobody"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert bad_transfer.status == 404
    empty_transfer = await client.post(
        f"/console/live/sessions/{sid}/transfer",
        data={"csrf_token": csrf, "to": ""},
        headers=origin(client),
        allow_redirects=False,
    )
    assert empty_transfer.status == 400
    assert (await session_status(db, sid)).status == "active"
    done = await client.post(
        f"/console/live/sessions/{sid}/complete",
        data={"csrf_token": csrf},
        headers=origin(client),
        allow_redirects=False,
    )
    assert done.status == 302
    assert (await session_status(db, sid)).status == "completed"
    html = await (await client.get(f"/console/live/sessions/{sid}")).text()
    assert "read-only" in html and 'id="send-form"' not in html
    late = await client.post(url, json={"text": "one more", "key": "k4"}, headers=json_headers)
    assert late.status == 409


async def test_signing_out_takes_a_live_operator_offline_at_once(
    make_client: Any, db: Database
) -> None:
    tenant = await make_tenant(db)
    await live_team(db, tenant.workspace_id, [tenant.member_id])
    client = await make_client()
    for sign_out in ("/console/logout", "/console/profile/sign-out-everywhere"):
        csrf = await sign_in(client, db, tenant.member_id)
        await go_live(db, tenant.workspace_id, tenant.member_id)
        response = await client.post(
            sign_out, data={"csrf_token": csrf}, headers=origin(client), allow_redirects=False
        )
        assert response.status == 302, sign_out
        assert not await is_live(db, tenant.member_id), sign_out
    assert await _count(db, OperatorPresence) == 0
    assert await _count(db, LiveSession) == 0
    assert await _count(db, Member, workspace_id=tenant.workspace_id) == 1


async def _link(db: Database, member_id: str) -> str:
    from tests.console.helpers import link_for

    link = await link_for(db, member_id)
    return link.split("8080/", 1)[1]


async def test_an_owner_grants_one_member_a_scope_their_role_lacks(
    make_client: Any, db: Database
) -> None:
    tenant = await make_tenant(db)
    support = await _member(db, tenant.workspace_id, "support", "Sam Support")
    team = await live_team(db, tenant.workspace_id, [tenant.member_id, support])
    async with db.session() as session:
        workspace = await session.get(Workspace, tenant.workspace_id)
        assert workspace is not None
        await access.set_role_scopes(session, workspace, "support", [], actor="test")
    sam = await make_client()
    sam_csrf = await sign_in(sam, db, support)
    assert "Go live" not in await (await sam.get("/console/live")).text()

    owner = await make_client()
    csrf = await sign_in(owner, db, tenant.member_id)
    html = await (await owner.get("/console/live")).text()
    assert f'name="grant_{support}"' in html and "Sam Support" in html
    done = await owner.post(
        "/console/live/settings",
        data=[
            ("csrf_token", csrf),
            ("operator", "on"),
            ("presence", "on"),
            ("members", "1"),
            (f"grant_{support}", "operator:read"),
            (f"grant_{support}", "operator:write"),
        ],
        headers=origin(owner),
        allow_redirects=False,
    )
    assert done.status == 302
    async with db.session() as session:
        member = await session.get(Member, support)
        workspace = await session.get(Workspace, tenant.workspace_id)
        assert member is not None and workspace is not None
        assert member.scopes == ["operator:read", "operator:write"]
        assert access.role_scopes(workspace)["support"] == []  # the role is as it was
    assert "Go live" in await (await sam.get("/console/live")).text()
    went = await sam.post(
        "/console/live/go-live",
        data={"csrf_token": sam_csrf, "workflow": team.agent_id},
        headers=origin(sam),
        allow_redirects=False,
    )
    assert went.status == 302 and await is_live(db, support)
    # An unknown scope is refused and changes nothing.
    bad = await owner.post(
        "/console/live/settings",
        data={
            "csrf_token": csrf,
            "operator": "on",
            "presence": "on",
            "members": "1",
            f"grant_{support}": "operator:admin",
        },
        headers=origin(owner),
        allow_redirects=False,
    )
    assert bad.status == 400
    async with db.session() as session:
        member = await session.get(Member, support)
        assert member is not None and member.scopes == ["operator:read", "operator:write"]
