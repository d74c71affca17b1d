"""Telephony providers that throttle, fail and page: registering a line waits out a 429's
Retry-After (bounded) and succeeds; a provider that keeps throttling or fails is said in a
sentence the member can act on and leaves nothing half-made at the provider; the webhooks an
earlier attempt left at the line's URL are found on every page and replaced; a number is
looked for on every page of Quo's list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.integrations.lines import common
from core.integrations.lines import connect_line as register
from core.integrations.vault import vault_of
from storage.integrations import IntegrationAccount
from storage.types import utcnow
from tests.integrations.telephony_helpers import (
    PUBLIC_BASE_URL,
    Client,
    ClientFactory,
    Line,
    connect_line,
    gateway_client,
)
from tests.sims.aircall import AircallSim
from tests.sims.base import Simulator
from tests.sims.dialpad import DialpadSim
from tests.sims.quo import QuoSim
from tests.sims.ringcentral import RingCentralSim


def _dialpad(sim: Any) -> dict[str, str]:
    return {
        "api_key": sim.api_key,
        "phone_number": "+15550103030",
        "target_type": "call_center",
        "target_id": "5550001",
        "api_url": sim.url,
    }


def _aircall(sim: Any) -> dict[str, str]:
    return {
        "api_id": sim.api_id,
        "api_token": sim.api_token,
        "phone_number": "+15550104040",
        "api_url": sim.url,
    }


def _quo(sim: Any) -> dict[str, str]:
    return {"api_key": sim.api_key, "api_url": sim.url}


def _ringcentral(sim: Any) -> dict[str, str]:
    return {
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "jwt": sim.jwt,
        "extension_id": "101",
        "api_url": sim.url,
    }


# provider: (simulator, credentials, the registration's path, what it registered)
PROVIDERS: dict[str, tuple[type[Simulator], Callable[[Any], dict[str, str]], str, str]] = {
    "dialpad": (DialpadSim, _dialpad, "/api/v2/webhooks", "webhooks"),
    "aircall": (AircallSim, _aircall, "/v1/webhooks", "webhooks"),
    "quo": (QuoSim, _quo, "/v1/webhooks/calls", "webhooks"),
    "ringcentral": (RingCentralSim, _ringcentral, "/restapi/v1.0/subscription", "subscriptions"),
}


async def _connect(client: Client, provider: str, sim: Any) -> Line:
    if provider == "ringcentral":  # its handshake reaches the gateway under test
        local = str(client.make_url("")).rstrip("/")
        sim.reach = lambda url: url.replace(PUBLIC_BASE_URL, local)
    return await connect_line(client, provider, PROVIDERS[provider][1](sim), label="Acme")


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The Retry-After waits the line set-up asked for (none really waited)."""
    asked: list[float] = []

    async def sleep(seconds: float) -> None:
        asked.append(seconds)

    monkeypatch.setattr(common, "sleep", sleep)
    return asked


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
async def test_registration_waits_out_a_throttled_provider_and_succeeds(
    make_client: ClientFactory, waits: list[float], provider: str
) -> None:
    make, _, path, registered = PROVIDERS[provider]
    async with make() as sim:
        client = await gateway_client(make_client)
        sim.throttle(retry_after=3, times=2, path=path)
        line = await _connect(client, provider, sim)
        assert line.sentence is None, line.sentence
        assert waits == [3, 3]
        assert len(getattr(sim, registered)) == (2 if provider == "quo" else 1)
        assert "warning" not in ((await line.account()).state or {})


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
async def test_a_provider_that_keeps_throttling_is_said_and_nothing_is_half_made(
    make_client: ClientFactory, waits: list[float], provider: str
) -> None:
    make, _, path, registered = PROVIDERS[provider]
    async with make() as sim:
        client = await gateway_client(make_client)
        sim.throttle(retry_after=600, times=None, path=path)
        line = await _connect(client, provider, sim)
        assert line.sentence is not None
        assert "voicemails will not arrive" in line.sentence
        assert "rate limiting" in line.sentence and "try again" in line.sentence
        assert waits == []  # ten minutes is not waited with the member watching
        assert getattr(sim, registered) == {}
        state = (await line.account()).state
        assert set(state) == {"warning", "warning_at", "setup_failed"}


async def test_a_failure_after_the_first_step_takes_down_what_was_made(
    make_client: ClientFactory,
) -> None:
    async with QuoSim() as quo, DialpadSim() as dialpad:
        client = await gateway_client(make_client)
        quo.fail(500, times=None, path="/v1/webhooks/call-transcripts")
        line = await _connect(client, "quo", quo)
        assert line.sentence is not None and "Quo failed (500)" in line.sentence
        assert quo.webhooks == {}
        assert set((await line.account()).state) == {"warning", "warning_at", "setup_failed"}

        dialpad.fail(500, times=None, path="/subscriptions/call")
        line = await _connect(client, "dialpad", dialpad)
        assert line.sentence is not None and "Dialpad failed (500)" in line.sentence
        assert dialpad.webhooks == {} and dialpad.subscriptions == {}


async def test_refused_credentials_are_said_as_such(make_client: ClientFactory) -> None:
    async with AircallSim() as sim:
        client = await gateway_client(make_client)
        sim.forbid(times=None, path="/v1/webhooks")
        line = await _connect(client, "aircall", sim)
        assert line.sentence is not None
        assert "Aircall refused the credentials (403)" in line.sentence
        assert sim.webhooks == {}


async def _register_again(line: Line) -> str | None:
    """Registration run again for the same line (as after an interrupted attempt)."""
    vault = vault_of(line.gateway.settings)
    async with line.gateway.db.session() as session:
        account = await session.get(IntegrationAccount, line.account_id)
        assert account is not None
        return await register(vault, account, base_url=PUBLIC_BASE_URL, now=utcnow())


async def test_aircall_webhooks_left_at_the_line_are_found_on_every_page_and_replaced(
    make_client: ClientFactory,
) -> None:
    async with AircallSim() as sim:
        client = await gateway_client(make_client)
        line = await _connect(client, "aircall", sim)
        for n in range(120):
            sim.add_webhook(f"https://elsewhere.example/hooks/{n}")
        sim.reset()
        assert await _register_again(line) is None
        pages = [r.query.get("page", "1") for r in sim.calls("/v1/webhooks", method="GET")]
        assert pages == ["1", "2", "3"]
        ours = [h for h in sim.webhooks.values() if h["url"] == line.url]
        assert len(ours) == 1 and len(sim.webhooks) == 121
        assert (await line.account()).state["webhook_id"] == ours[0]["webhook_id"]


async def test_dialpad_webhooks_left_at_the_line_are_found_on_every_page_and_replaced(
    make_client: ClientFactory,
) -> None:
    async with DialpadSim() as sim:
        client = await gateway_client(make_client)
        line = await _connect(client, "dialpad", sim)
        for n in range(150):
            sim.add_webhook(f"https://elsewhere.example/hooks/{n}")
        # The line's webhook now sits on the second page.
        first = next(k for k, h in sim.webhooks.items() if h["hook_url"] == line.url)
        sim.webhooks[first] = sim.webhooks.pop(first)
        sim.reset()
        assert await _register_again(line) is None
        listed = sim.calls("/api/v2/webhooks", method="GET")
        assert [bool(r.query.get("cursor")) for r in listed] == [False, True]
        ours = [h for h in sim.webhooks.values() if h["hook_url"] == line.url]
        assert len(ours) == 1 and len(sim.webhooks) == 151
        assert first not in sim.webhooks


async def test_quo_number_is_found_on_a_later_page(make_client: ClientFactory) -> None:
    numbers = {"PNa": "+15550100001", "PNb": "+15550100002", "PNc": "+15550100003"}
    async with QuoSim(numbers=numbers) as sim:
        sim.page_size = 1
        client = await gateway_client(make_client)
        line = await connect_line(
            client, "quo", {**_quo(sim), "phone_number": "+15550100003"}, label="Acme"
        )
        assert line.sentence is None, line.sentence
        assert [h["resourceIds"] for h in sim.webhooks.values()] == [["PNc"], ["PNc"]]
        assert len(sim.calls("/v1/phone-numbers")) == 3


async def test_ringcentral_subscription_left_at_the_line_is_replaced(
    make_client: ClientFactory,
) -> None:
    async with RingCentralSim() as sim:
        client = await gateway_client(make_client)
        line = await _connect(client, "ringcentral", sim)
        [old] = sim.subscriptions
        assert await _register_again(line) is None
        [new] = sim.subscriptions
        assert new != old
        assert (await line.account()).state["subscription_id"] == new
