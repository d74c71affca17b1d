"""Provider credentials at rest: authenticated encryption (Fernet: AES-128-CBC with an
HMAC-SHA256 tag, from `cryptography`, the maintained reference implementation) under a key
derived from SWITCHBOARD_SECRET_KEY with HKDF-SHA256. Rotation: set the new secret and keep the
old one in SWITCHBOARD_SECRET_KEY_PREVIOUS (comma-separated, newest first); every stored value
still decrypts, new values are encrypted under the new key, and `python main.py secrets
rotate` re-encrypts the stored ones so the old secret can be dropped.

A value that was tampered with, or encrypted under a secret no longer configured, raises
`VaultError` with a message that names the fix, never the secret or the value."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from config import Settings

# Bound into the derived key: the same secret signs media links and CSAT surveys elsewhere,
# and a key derived for another purpose must never open these.
_INFO = b"switchboard stored provider credentials v1"
_SALT = b"switchboard-credentials"


class VaultError(RuntimeError):
    """Credentials cannot be encrypted or read back; the message says what to set."""


def _fernet(secret: str) -> Fernet:
    if not secret:
        raise VaultError("SWITCHBOARD_SECRET_KEY is empty")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


class Vault:
    """Encrypts and decrypts credential mappings (JSON) under the current secret; reads
    values encrypted under the previous ones too."""

    def __init__(self, secret: str | None, previous: Iterable[str] = ()) -> None:
        if not secret:
            raise VaultError(
                "SWITCHBOARD_SECRET_KEY is not set: provider credentials are stored encrypted "
                "with it, so set it (any long random string) before connecting integrations"
            )
        self._current = _fernet(secret)
        self._all = MultiFernet([self._current, *(_fernet(p) for p in previous if p)])

    def seal(self, credentials: Mapping[str, Any]) -> str:
        """CREDENTIALS as a token that only this secret (or its successors) opens."""
        body = json.dumps(dict(credentials), separators=(",", ":"), sort_keys=True)
        return self._current.encrypt(body.encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        try:
            body = self._all.decrypt(token.encode())
        except InvalidToken as exc:
            raise VaultError(
                "stored credentials cannot be decrypted: they were encrypted under a "
                "SWITCHBOARD_SECRET_KEY that is no longer configured (put the old one in "
                "SWITCHBOARD_SECRET_KEY_PREVIOUS) or were altered"
            ) from exc
        value = json.loads(body)
        if not isinstance(value, dict):
            raise VaultError("stored credentials are not an object")
        return value

    def rotate(self, token: str) -> str:
        """TOKEN re-encrypted under the current secret (unchanged content)."""
        try:
            return self._all.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise VaultError("stored credentials cannot be decrypted to rotate them") from exc


def vault_of(settings: Settings) -> Vault:
    """The vault of SETTINGS' secrets. Raises VaultError without SWITCHBOARD_SECRET_KEY."""
    secret = settings.switchboard_secret_key
    previous = settings.switchboard_secret_key_previous
    return Vault(
        secret.get_secret_value() if secret is not None else None,
        [p.strip() for p in previous.get_secret_value().split(",")] if previous else (),
    )


def mask(value: str) -> str:
    """How a saved secret is shown back: never more than its last four characters, and
    nothing of a short one."""
    value = str(value)
    if len(value) <= 8:
        return "••••"
    return "••••" + value[-4:]
