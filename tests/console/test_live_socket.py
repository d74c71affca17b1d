"""The live desk's WebSocket: its heartbeats hold a member's presence, a closed socket lets it
lapse after the presence timeout (the LiveSweeper), signing out ends it at once, live events
reach the member, and only the console's own pages may connect."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiohttp import WSServerHandshakeError

from api.state import GATEWAY
from storage.db import Database
from storage.live import OperatorPresence
from tests.console.helpers import origin, sign_in
from tests.console.live_helpers import go_live, is_live, live_team, offer
from tests.factories import make_tenant
from tests.helpers import wait_until

TIMEOUT = "2"  # seconds: SWITCHBOARD_LIVE_PRESENCE_TIMEOUT's least


async def _seen_at(db: Database, member_id: str) -> Any:
    async with db.session() as session:
        row = await session.get(OperatorPresence, member_id)
        return row.seen_at if row is not None else None


async def _next(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next message of KIND (others skipped), within the bounded receive timeout."""
    while True:
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        body = json.loads(message.data)
        if body["type"] == kind:
            return dict(body)


async def test_heartbeats_hold_presence_and_a_closed_socket_lapses(
    make_client: Any, db: Database
) -> None:
    tenant = await make_tenant(db)
    team = await live_team(db, tenant.workspace_id, [tenant.member_id])
    client = await make_client(SWITCHBOARD_LIVE_PRESENCE_TIMEOUT=TIMEOUT)
    await sign_in(client, db, tenant.member_id)
    await go_live(db, tenant.workspace_id, tenant.member_id)
    first = await _seen_at(db, tenant.member_id)
    ws = await client.ws_connect("/console/live/socket", headers=origin(client))
    assert (await _next(ws, "hello"))["heartbeat"] == 10.0
    # Heartbeats keep the member live past the timeout: each one refreshes seen_at.
    last = first
    for _ in range(4):
        await ws.send_str(json.dumps({"type": "heartbeat"}))
        assert (await _next(ws, "heartbeat"))["live"] is True
        seen = await _seen_at(db, tenant.member_id)
        assert seen is not None and seen >= last
        last = seen
    assert last > first
    # The member's events arrive over the socket: an offer for them.
    # (through the gateway's own engine: on SQLite its hub hears that engine's commits)
    sid = await offer(client.app[GATEWAY].db, team, "Can a person help me?")
    pushed = await _next(ws, "live_offer")
    assert pushed["session_id"] == sid
    # Nonsense is answered, never obeyed.
    await ws.send_str("not json")
    assert "heartbeat" in (await _next(ws, "error"))["error"]
    await ws.close()
    assert await is_live(db, tenant.member_id)  # a closed socket changes nothing at once...
    # ...the sweeper takes them off once the timeout passes without a heartbeat.
    await wait_until(
        lambda: _gone(db, tenant.member_id), timeout=10, message="presence did not lapse"
    )


async def _gone(db: Database, member_id: str) -> bool:
    return not await is_live(db, member_id)


async def test_signing_out_ends_presence_at_once_and_closes_the_socket(
    make_client: Any, db: Database
) -> None:
    tenant = await make_tenant(db)
    await live_team(db, tenant.workspace_id, [tenant.member_id])
    client = await make_client()
    csrf = await sign_in(client, db, tenant.member_id)
    await go_live(db, tenant.workspace_id, tenant.member_id)
    ws = await client.ws_connect("/console/live/socket", headers=origin(client))
    await _next(ws, "hello")
    response = await client.post(
        "/console/logout", data={"csrf_token": csrf}, headers=origin(client), allow_redirects=False
    )
    assert response.status == 302
    assert not await is_live(db, tenant.member_id)
    await _next(ws, "signed-out")
    closed = await ws.receive(timeout=5)
    assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


@pytest.mark.parametrize(
    "headers", [{"Origin": "https://evil.example"}, {}], ids=["cross-origin", "no-origin"]
)
async def test_other_origins_and_strangers_are_refused(
    make_client: Any, db: Database, headers: dict[str, str]
) -> None:
    tenant = await make_tenant(db)
    client = await make_client()
    with pytest.raises(WSServerHandshakeError) as anonymous:
        await client.ws_connect("/console/live/socket", headers=origin(client))
    assert anonymous.value.status == 401
    await sign_in(client, db, tenant.member_id)
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/console/live/socket", headers=headers)
    assert refused.value.status == 403
