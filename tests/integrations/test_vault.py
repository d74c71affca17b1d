"""Stored credentials: encrypted under a key derived from SWITCHBOARD_SECRET_KEY, readable
after the secret is rotated (the old one kept as previous), and refused, with a message that
names the fix and no secret, when altered or encrypted under a secret no longer configured."""

from __future__ import annotations

import pytest

from core.integrations.vault import Vault, VaultError, mask, vault_of
from tests.conftest import make_settings

CREDENTIALS = {"subdomain": "acme", "email": "ops@acme.example", "api_token": "zd-TOKEN-123456"}


def test_sealed_credentials_hold_no_clear_text_and_open_again() -> None:
    vault = Vault("first secret")
    token = vault.seal(CREDENTIALS)
    for value in CREDENTIALS.values():
        assert value not in token
    assert vault.open(token) == CREDENTIALS
    assert vault.seal(CREDENTIALS) != token  # a fresh IV each time


def test_rotation_keeps_old_values_readable_and_rewrites_them_under_the_new_secret() -> None:
    old = Vault("first secret").seal(CREDENTIALS)
    rotated = Vault("second secret", ["first secret"])
    assert rotated.open(old) == CREDENTIALS
    again = rotated.rotate(old)
    assert Vault("second secret").open(again) == CREDENTIALS  # the old secret can go
    with pytest.raises(VaultError, match="SWITCHBOARD_SECRET_KEY_PREVIOUS"):
        Vault("second secret").open(old)


def test_an_altered_token_is_refused_without_saying_what_it_held() -> None:
    vault = Vault("first secret")
    token = vault.seal(CREDENTIALS)
    altered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(VaultError) as refused:
        vault.open(altered)
    assert "zd-TOKEN" not in str(refused.value) and "first secret" not in str(refused.value)


def test_no_secret_no_vault_and_the_settings_name_the_previous_ones() -> None:
    with pytest.raises(VaultError, match="SWITCHBOARD_SECRET_KEY is not set"):
        Vault(None)
    old = Vault("one").seal(CREDENTIALS)
    settings = make_settings(
        "sqlite+aiosqlite:///x.db",
        SWITCHBOARD_SECRET_KEY="three",
        SWITCHBOARD_SECRET_KEY_PREVIOUS="two, one",
    )
    assert vault_of(settings).open(old) == CREDENTIALS


@pytest.mark.parametrize(
    ("value", "shown"), [("zd-TOKEN-123456", "••••3456"), ("short", "••••"), ("", "••••")]
)
def test_secrets_are_shown_back_masked(value: str, shown: str) -> None:
    assert mask(value) == shown
