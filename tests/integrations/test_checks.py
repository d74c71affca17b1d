"""Test connection: each provider's cheap authenticated call, against a simulator that answers
200 for the right credentials and refuses the others; the message names what to check and
never a credential."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import jwt
import pytest
import pytest_asyncio

from core.integrations.checks import CHECKS, check, vonage_jwt
from core.integrations.providers import PROVIDERS, fields_of
from tests.sims.checks import VONAGE_KEY, ChecksSim


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[ChecksSim]:
    async with ChecksSim() as running:
        yield running
    assert not running.handler_errors


def _secrets(provider: str, credentials: dict[str, str]) -> list[str]:
    spec = PROVIDERS[provider]
    return [credentials[f.name] for f in fields_of(spec) if f.secret and f.name in credentials]


def test_every_provider_has_a_check_and_simulated_credentials() -> None:
    assert set(CHECKS) == set(PROVIDERS) == set(ChecksSim.GOOD)


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
async def test_good_credentials_pass_and_wrong_ones_fail_without_echoing(
    sim: ChecksSim, provider: str
) -> None:
    good = {**ChecksSim.GOOD[provider], "api_url": sim.url}
    ok, message = await check(provider, good)
    assert ok, message
    assert PROVIDERS[provider].title in message
    assert len(sim.requests) >= 1

    secret_field = next(f.name for f in PROVIDERS[provider].fields if f.secret)
    wrong_value = "WRONG-" + "x9" * 12
    if provider == "vonage":
        # Another application's key: a valid key the provider does not know.
        from tests.sims.checks import _pem_key

        wrong_value = _pem_key()
    bad = {**good, secret_field: wrong_value}
    ok, message = await check(provider, bad)
    assert not ok
    assert PROVIDERS[provider].title in message
    for value in [*_secrets(provider, good), *_secrets(provider, bad)]:
        assert value not in message
        assert value[-12:] not in message


async def test_twilio_number_must_belong_to_the_account(sim: ChecksSim) -> None:
    creds = {**ChecksSim.GOOD["twilio"], "phone_number": "+15559990000", "api_url": sim.url}
    ok, message = await check("twilio", creds)
    assert not ok
    assert "+15559990000 is not one of this account's phone numbers" in message
    numbers = sim.calls("/IncomingPhoneNumbers.json")
    assert numbers[0].query["PhoneNumber"] == "+15559990000"


async def test_provider_failures_are_reported_not_raised(sim: ChecksSim) -> None:
    creds = {**ChecksSim.GOOD["zendesk"], "api_url": sim.url}
    sim.fail(500)
    ok, message = await check("zendesk", creds)
    assert (ok, message) == (False, "Zendesk answered HTTP 500: try again later")
    sim.throttle(retry_after=30)
    ok, message = await check("zendesk", creds)
    assert not ok and "rate limiting" in message
    sim.stall()
    ok, message = await check("zendesk", creds, limits=aiohttp.ClientTimeout(total=0.5))
    assert (ok, message) == (False, "Zendesk did not answer within 0.5 seconds")
    sim.release_stalled()


async def test_an_unreachable_provider_is_a_clear_failure() -> None:
    async with ChecksSim() as gone:
        url = gone.url
    ok, message = await check("aircall", {**ChecksSim.GOOD["aircall"], "api_url": url})
    assert not ok and message.startswith("Aircall could not be reached")
    assert ChecksSim.GOOD["aircall"]["api_token"] not in message


async def test_vonage_signs_an_application_jwt_and_refuses_a_non_key(sim: ChecksSim) -> None:
    token = vonage_jwt("app-1", VONAGE_KEY, now=1_700_000_000)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["application_id"] == "app-1" and claims["exp"] - claims["iat"] == 300
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    creds = {**ChecksSim.GOOD["vonage"], "private_key": "not a key", "api_url": sim.url}
    ok, message = await check("vonage", creds)
    assert not ok and "not a PEM RSA private key" in message
    assert sim.requests == ()  # nothing was sent with a key that is no key
