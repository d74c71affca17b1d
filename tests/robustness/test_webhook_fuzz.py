"""Every webhook route fed malformed, truncated, oversized and wrongly encoded bodies, signed
wrongly or not at all: never a 5xx, and a request that is not correctly signed stores
nothing. Signed correctly over a garbage body: a 4xx or a harmless 2xx, never a 5xx (and the
fixture checks that whatever was accepted was processed without failing)."""

from __future__ import annotations

from hypothesis import event, given
from hypothesis import strategies as st

from tests.robustness.conftest import Running, fuzz_settings, send
from tests.robustness.strategies import mutated, other_bodies, wires
from tests.robustness.webhooks import defects, sign, spoil, stored


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
