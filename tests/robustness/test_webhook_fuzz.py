"""Every webhook route fed malformed, truncated, oversized and wrongly encoded bodies, signed
wrongly or not at all: never a 5xx, and a request that is not correctly signed stores
nothing. Signed correctly over a garbage body: a 4xx or a harmless 2xx, never a 5xx (and the
fixture checks that whatever was accepted was processed without failing). The telephony
route (`POST /telephony/{provider}/{integration_id}`) likewise, for a real connected line
of every provider: nothing unsigned stores a task, an assist or a telephony event."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from storage.db import Database
from tests.api import Client, ClientFactory
from tests.integrations.telephony_helpers import PUBLIC_BASE_URL as TELEPHONY_BASE_URL
from tests.integrations.telephony_helpers import connect_line, gateway_client
from tests.robustness.conftest import Running, fuzz_settings, send
from tests.robustness.strategies import mutated, other_bodies, phones, texts, wires
from tests.robustness.webhooks import (
    TELEPHONY_DEFECTS,
    TELEPHONY_PROVIDERS,
    TWILIO_LINE_ACCOUNT,
    TelephonyLine,
    Wire,
    defects,
    sign,
    spoil,
    stored,
    telephony_event,
    telephony_sign,
    telephony_spoil,
)
from tests.sims.aircall import AircallSim
from tests.sims.dialpad import DialpadSim
from tests.sims.quo import QuoSim
from tests.sims.ringcentral import RingCentralSim
from tests.sims.vonage import VonageSim

TWILIO_LINE_TOKEN = "line-auth-token-" + "3" * 16
VONAGE_LINE_SECRET = "vonage-line-signature-secret-0123456789"
DIALPAD = {"target_type": "call_center", "target_id": "5550001"}
RINGCENTRAL = {
    "client_id": "rc-client-0000",
    "client_secret": "rc-secret-0000",
    "jwt": "rc-user-jwt-0000",
    "extension_id": "101",
}


@fuzz_settings(max_examples=300)
@given(data=st.data())
async def test_a_request_not_correctly_signed_is_refused_and_stores_nothing(
    gateway: Running, data: st.DataObject
) -> None:
    family = data.draw(
        st.sampled_from(["slack", "telegram", "twilio", "elevenlabs", "basic", "bearer", "link"]),
        label="family",
    )
    defect = data.draw(st.sampled_from(defects(family)), label="defect")  # type: ignore[arg-type]
    wire = data.draw(wires(gateway.facts, family=family, link_defect=defect), label="request")
    wire = data.draw(mutated(wire), label="as sent")
    if wire.family != "link":
        other = data.draw(other_bodies, label="other body")
        wire = spoil(wire, defect, gateway.keys, other, revoked_key=gateway.revoked_key)

    status, text = await send(gateway.client, wire)
    event(f"{wire.route} {defect}: {status}")

    assert 400 <= status < 500, (status, text)
    assert await stored(gateway.db) == gateway.initial


@fuzz_settings(max_examples=300)
@given(data=st.data())
async def test_a_correctly_signed_garbage_body_never_gets_a_5xx(
    gateway: Running, data: st.DataObject
) -> None:
    wire = data.draw(wires(gateway.facts), label="request")
    wire = sign(data.draw(mutated(wire), label="as sent"), gateway.keys)

    status, text = await send(gateway.client, wire)
    event(f"{wire.route}: {status}")

    assert status < 500, (status, text)


# ---------------------------------------------------------------------------- telephony lines


@dataclass
class Lines:
    """A gateway with one connected line per telephony provider (registered at its
    simulator, so every route answers as for a real line, not with a 404)."""

    client: Client
    db: Database
    lines: dict[str, TelephonyLine]
    initial: dict[str, int]

    def other_secret(self, provider: str) -> str:
        """Another line's secret (the next provider's), for the "other_line" defect."""
        names = list(TELEPHONY_PROVIDERS)
        return self.lines[names[(names.index(provider) + 1) % len(names)]].secret


@pytest.fixture
async def telephony(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Lines]:
    caplog.set_level(logging.WARNING)
    async with (
        DialpadSim() as dialpad,
        AircallSim() as aircall,
        QuoSim() as quo,
        RingCentralSim() as ringcentral,
        VonageSim() as vonage,
    ):
        client = await gateway_client(make_client)
        local = str(client.make_url("")).rstrip("/")
        ringcentral.reach = lambda url: url.replace(TELEPHONY_BASE_URL, local)
        number = "+15550106060"
        connected: dict[str, TelephonyLine] = {}
        workspace_id = None
        for provider, credentials in (
            ("twilio", {"account_sid": TWILIO_LINE_ACCOUNT, "auth_token": TWILIO_LINE_TOKEN}),
            ("dialpad", {"api_key": dialpad.api_key, "api_url": dialpad.url, **DIALPAD}),
            ("aircall", {"api_id": aircall.api_id, "api_token": aircall.api_token}),
            ("quo", {"api_key": quo.api_key, "api_url": quo.url}),
            ("ringcentral", {**RINGCENTRAL, "api_url": ringcentral.url}),
            (
                "vonage",
                {
                    "application_id": vonage.application_id,
                    "private_key": vonage.private_key,
                    "signature_secret": VONAGE_LINE_SECRET,
                    "api_url": vonage.url,
                },
            ),
        ):
            if provider == "aircall":
                credentials["api_url"] = aircall.url
            if provider in ("twilio", "aircall", "dialpad"):
                credentials["phone_number"] = number
            line = await connect_line(
                client, provider, credentials, label=provider.title(), workspace_id=workspace_id
            )
            workspace_id = line.workspace_id
            assert line.sentence is None or provider in ("twilio", "vonage"), line.sentence
            secret = {
                "twilio": TWILIO_LINE_TOKEN,
                "dialpad": dialpad.secret_of(line.url) if provider == "dialpad" else "",
                "aircall": aircall.token_of(line.url) if provider == "aircall" else "",
                "quo": quo.key_for("call.completed") if provider == "quo" else "",
                "ringcentral": (
                    ringcentral.verification_token(line.url) if provider == "ringcentral" else ""
                ),
                "vonage": VONAGE_LINE_SECRET,
            }[provider]
            connected[provider] = TelephonyLine(
                provider,
                line.path,
                secret,
                number,
                application_id=vonage.application_id,
                api_url={"ringcentral": ringcentral.url, "vonage": vonage.url}.get(provider, ""),
            )
        db = line.gateway.db
        yield Lines(client, db, connected, await stored(db))
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert crashes == [], "\n".join(r.getMessage() for r in crashes)


@st.composite
def telephony_wires(draw: st.DrawFn, lines: Lines) -> tuple[TelephonyLine, Wire]:
    line = lines.lines[draw(st.sampled_from(TELEPHONY_PROVIDERS), label="provider")]
    values = {
        "call": draw(st.integers(1, 10**9)),
        "caller": draw(phones),
        "kind": draw(st.sampled_from(["voicemail", "transcript"])),
        "text": draw(texts) or "hello",
    }
    return line, telephony_event(line, values)


@fuzz_settings(max_examples=150)
@given(data=st.data())
async def test_a_telephony_event_not_signed_for_its_line_is_refused_and_stores_nothing(
    telephony: Lines, data: st.DataObject
) -> None:
    line, wire = data.draw(telephony_wires(telephony), label="request")
    wire = data.draw(mutated(wire), label="as sent")
    defect = data.draw(st.sampled_from(TELEPHONY_DEFECTS), label="defect")
    other = data.draw(other_bodies, label="other body")
    wire = telephony_spoil(wire, line, defect, other, telephony.other_secret(line.provider))

    before = await stored(telephony.db)
    status, text = await send(telephony.client, wire)
    event(f"{wire.route} {defect}: {status}")

    assert 400 <= status < 500, (status, text)
    assert await stored(telephony.db) == before == telephony.initial


@fuzz_settings(max_examples=150)
@given(data=st.data())
async def test_a_correctly_signed_telephony_event_never_gets_a_5xx(
    telephony: Lines, data: st.DataObject
) -> None:
    line, wire = data.draw(telephony_wires(telephony), label="request")
    wire = telephony_sign(data.draw(mutated(wire), label="as sent"), line)

    status, text = await send(telephony.client, wire)
    event(f"{wire.route}: {status}")

    assert status < 500, (status, text)
