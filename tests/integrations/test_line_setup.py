"""A line's set-up at its provider never holds a transaction: while Dialpad is slow to
register the webhook, other writes go through (SQLite's single writer included). A failed
registration leaves the line saved with its warning, and saving it registers it again (what
the failed attempt made undone first). A line removed while its webhook is being registered
leaves nothing at the provider, and a removal the provider cannot undo is said, not hidden."""

from __future__ import annotations

import asyncio
import html
from typing import Any

from sqlalchemy import select

from api.state import GATEWAY, Gateway
from core.integrations import hooks, manage
from core.team.directory import Conflict
from storage.integrations import IntegrationAccount
from storage.types import utcnow
from tests.console.helpers import origin, sign_in
from tests.factories import make_tenant
from tests.helpers import wait_until
from tests.integrations.telephony_helpers import PUBLIC_BASE_URL, ClientFactory, gateway_client
from tests.sims.dialpad import DialpadSim

# Bounds a write that must not wait for the provider (it takes milliseconds when it does not).
PROMPT = 5.0


def creds(sim: DialpadSim) -> dict[str, str]:
    return {
        "api_key": sim.api_key,
        "phone_number": "+15550103030",
        "target_type": "call_center",
        "target_id": "5550001",
        "api_url": sim.url,
    }


async def _connect(gw: Gateway, workspace_id: str, sim: DialpadSim) -> manage.Connected:
    return await manage.connect(
        gw.db,
        gw.settings,
        workspace_id,
        provider="dialpad",
        label="Acme Support",
        credentials=creds(sim),
        actor="test",
        now=utcnow(),
    )


async def _lines(gw: Gateway) -> list[IntegrationAccount]:
    async with gw.db.session() as session:
        return list(
            await session.scalars(
                select(IntegrationAccount).where(IntegrationAccount.provider == "dialpad")
            )
        )


async def test_other_writes_go_through_while_the_provider_registers_the_webhook(
    make_client: ClientFactory,
) -> None:
    async with DialpadSim() as sim:
        client = await gateway_client(make_client)
        gw: Gateway = client.server.app[GATEWAY]
        tenant = await make_tenant(gw.db)
        other = await make_tenant(gw.db)
        sim.stall(path="/api/v2/webhooks")
        connecting = asyncio.create_task(_connect(gw, tenant.workspace_id, sim))
        await wait_until(lambda: sim.stalled == 1)

        # Dialpad has not answered: another workspace connects a line, and the pending line
        # itself can be renamed, each promptly.
        twilio = await asyncio.wait_for(
            manage.connect(
                gw.db,
                gw.settings,
                other.workspace_id,
                provider="twilio",
                label="Other Support",
                credentials={
                    "account_sid": "AC" + "1" * 32,
                    "auth_token": "t" * 32,
                    "phone_number": "+15550109999",
                },
                actor="test",
                now=utcnow(),
            ),
            PROMPT,
        )
        assert twilio.account["label"] == "Other Support"
        [pending] = await _lines(gw)
        renamed = await asyncio.wait_for(
            manage.change(
                gw.db,
                gw.settings,
                tenant.workspace_id,
                pending.id,
                label="Acme Front Desk",
                actor="test",
                now=utcnow(),
            ),
            PROMPT,
        )
        assert renamed["label"] == "Acme Front Desk" and renamed["warning"] is None
        assert not connecting.done()

        sim.release_stalled()
        done = await asyncio.wait_for(connecting, PROMPT)
        assert done.notice is None and done.account["warning"] is None
        [hook] = sim.webhooks.values()
        assert hook["hook_url"] == f"{PUBLIC_BASE_URL}/telephony/dialpad/{pending.id}"
        assert len(sim.subscriptions) == 1
        [line] = await _lines(gw)
        # The registration's outcome is kept, and the rename made meanwhile too.
        assert line.label == "Acme Front Desk"
        assert line.state["webhook_id"] == hook["id"]
        assert hooks.REGISTERING not in line.state


async def test_a_line_removed_while_registering_leaves_nothing_at_the_provider(
    make_client: ClientFactory,
) -> None:
    async with DialpadSim() as sim:
        client = await gateway_client(make_client)
        gw: Gateway = client.server.app[GATEWAY]
        tenant = await make_tenant(gw.db)
        # The webhook is made, and the call subscription hangs.
        sim.stall(path="/api/v2/subscriptions/call")
        connecting = asyncio.create_task(_connect(gw, tenant.workspace_id, sim))
        await wait_until(lambda: sim.stalled == 1)
        assert len(sim.webhooks) == 1

        [pending] = await _lines(gw)
        removed = await asyncio.wait_for(
            manage.remove(
                gw.db, gw.settings, tenant.workspace_id, pending.id, actor="test", now=utcnow()
            ),
            PROMPT,
        )
        assert removed.label == "Acme Support" and removed.notice is None
        assert await _lines(gw) == []

        sim.release_stalled()
        try:
            await asyncio.wait_for(connecting, PROMPT)
        except Conflict as exc:
            assert "was removed while its webhook was being registered" in str(exc)
        else:
            raise AssertionError("connect did not say the line was removed meanwhile")
        # What the registration made is deleted again: no orphan webhook at Dialpad.
        assert sim.webhooks == {} and sim.subscriptions == {}
        assert await _lines(gw) == []


async def test_a_failed_registration_warns_and_saving_the_line_tries_again(
    make_client: ClientFactory,
) -> None:
    async with DialpadSim() as sim:
        client = await gateway_client(make_client)
        gw: Gateway = client.server.app[GATEWAY]
        tenant = await make_tenant(gw.db)
        sim.fail(status=403, times=1, path="/subscriptions/call")
        done = await _connect(gw, tenant.workspace_id, sim)
        assert done.notice is not None and "voicemails will not arrive" in done.notice
        assert "403" in done.notice and "save it" in done.notice
        assert done.account["warning"] is not None and "403" in done.account["warning"]
        [line] = await _lines(gw)
        assert line.state[hooks.SETUP_FAILED] is True
        # Nothing half-made stays at Dialpad: the webhook made before the refusal is gone.
        assert "webhook_id" not in line.state and sim.webhooks == {}

        # Saving the line (nothing changed) registers it again: Dialpad then has exactly one
        # webhook and one subscription.
        saved = await manage.change(
            gw.db, gw.settings, tenant.workspace_id, line.id, actor="test", now=utcnow()
        )
        assert saved["warning"] is None
        assert len(sim.webhooks) == 1 and len(sim.subscriptions) == 1
        [line] = await _lines(gw)
        assert hooks.SETUP_FAILED not in line.state and "warning" not in line.state

        # A working line is not registered again on save.
        calls = len(sim.requests)
        await manage.change(
            gw.db,
            gw.settings,
            tenant.workspace_id,
            line.id,
            label="Renamed",
            actor="t",
            now=utcnow(),
        )
        assert len(sim.requests) == calls


async def test_a_removal_the_provider_refuses_is_said_and_the_line_goes(
    make_client: ClientFactory,
) -> None:
    async with DialpadSim() as sim:
        client = await gateway_client(make_client)
        gw: Gateway = client.server.app[GATEWAY]
        tenant = await make_tenant(gw.db)
        done = await _connect(gw, tenant.workspace_id, sim)
        line_id = done.account["id"]
        sim.fail(status=503, times=None)

        answer = await client.delete(f"/api/v1/integrations/{line_id}", headers=tenant.auth)
        body: dict[str, Any] = await answer.json()
        assert answer.status == 200, body
        assert body["removed"] is True
        assert "Dialpad could not delete the line's webhook" in body["notice"]
        assert "503" in body["notice"] and "delete it in Dialpad yourself" in body["notice"]
        assert await _lines(gw) == []
        assert (
            await client.get(f"/api/v1/integrations/{line_id}", headers=tenant.auth)
        ).status == 404

        # Removing a line whose provider answers is a plain 204.
        sim.clear_faults()
        again = await _connect(gw, tenant.workspace_id, sim)
        answer = await client.delete(
            f"/api/v1/integrations/{again.account['id']}", headers=tenant.auth
        )
        assert answer.status == 204
        assert len(sim.webhooks) == 1  # the first line's, which Dialpad refused to delete


async def test_the_console_says_a_failed_registration_retries_on_save_and_a_refused_removal(
    make_client: ClientFactory,
) -> None:
    async with DialpadSim() as sim:
        # http: the test client keeps no Secure cookie.
        client = await make_client(
            PUBLIC_BASE_URL="http://gw.example", SWITCHBOARD_SECRET_KEY="k" * 40
        )
        gw: Gateway = client.server.app[GATEWAY]
        tenant = await make_tenant(gw.db)
        csrf = await sign_in(client, gw.db, tenant.member_id)

        async def post(path: str, **fields: str) -> tuple[int, str]:
            answer = await client.post(
                path,
                data={"csrf_token": csrf, **fields},
                headers=origin(client),
                allow_redirects=False,
            )
            if answer.status == 302:
                answer = await client.get(answer.headers["Location"])
            return answer.status, html.unescape(await answer.text())

        sim.fail(status=403, times=1, path="/api/v2/webhooks")
        status, page = await post(
            "/console/integrations", provider="dialpad", label="Acme Support", **creds(sim)
        )
        assert status == 200
        assert "Dialpad · Acme Support is saved, but it does not work yet." in page
        assert "voicemails will not arrive" in page and "save it (Edit, then Save)" in page
        assert 'class="line-warning"' in page
        [line] = await _lines(gw)
        assert sim.webhooks == {}

        # Edit, then Save (the secret left blank keeps it): registered this time.
        fields = {k: v for k, v in creds(sim).items() if k != "api_key"}
        status, page = await post(
            f"/console/integrations/{line.id}", label="Acme Support", **fields
        )
        assert status == 200 and "Dialpad · Acme Support is saved." in page
        assert 'class="line-warning"' not in page
        assert len(sim.webhooks) == 1 and len(sim.subscriptions) == 1

        # Dialpad refuses to delete the webhook: the line goes, and the page says what is left.
        sim.fail(status=500, times=None)
        status, page = await post(f"/console/integrations/{line.id}/remove", confirm="yes")
        assert status == 200
        assert "Acme Support is removed; its credentials are deleted." in page
        assert "Dialpad could not delete the line's webhook" in page
        assert await _lines(gw) == []
