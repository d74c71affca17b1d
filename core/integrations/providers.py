"""The providers an account can be connected for, with the credential fields each takes
(DESIGN's names), which of them are secret (stored only encrypted, shown back masked), and
whether the provider is a help desk to import from or a telephony line."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Literal

Kind = Literal["helpdesk", "telephony"]


@dataclass(frozen=True)
class Field:
    name: str
    title: str
    secret: bool = False
    required: bool = True
    choices: tuple[str, ...] = ()
    multiline: bool = False


@dataclass(frozen=True)
class Provider:
    name: str
    title: str
    kind: Kind
    fields: tuple[Field, ...]
    # Tickets one import run takes at most (help desks).
    per_run: int = 200

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


# Every account may also carry `api_url`: the provider's base URL replaced (self-hosted
# instances, and the tests' simulators).
API_URL = Field("api_url", "API base URL (optional)", required=False)

PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "zendesk",
            "Zendesk",
            "helpdesk",
            (
                Field("subdomain", "Subdomain"),
                Field("email", "Agent email"),
                Field("api_token", "API token", secret=True),
            ),
        ),
        Provider(
            "freshdesk",
            "Freshdesk",
            "helpdesk",
            (Field("domain", "Domain"), Field("api_key", "API key", secret=True)),
            per_run=300,
        ),
        Provider(
            "intercom",
            "Intercom",
            "helpdesk",
            (Field("access_token", "Access token", secret=True),),
        ),
        Provider(
            "helpscout",
            "Help Scout",
            "helpdesk",
            (
                Field("client_id", "App client ID"),
                Field("client_secret", "App client secret", secret=True),
            ),
        ),
        Provider(
            "happyfox",
            "HappyFox",
            "helpdesk",
            (
                Field("subdomain", "Subdomain"),
                Field("api_key", "API key", secret=True),
                Field("auth_code", "Auth code", secret=True),
            ),
        ),
        Provider(
            "twilio",
            "Twilio",
            "telephony",
            (
                Field("account_sid", "Account SID"),
                Field("auth_token", "Auth token", secret=True),
                Field("phone_number", "Phone number"),
            ),
        ),
        Provider(
            "dialpad",
            "Dialpad",
            "telephony",
            (
                Field("api_key", "API key", secret=True),
                Field("phone_number", "Phone number"),
                Field(
                    "target_type",
                    "Target type",
                    choices=("user", "call_center", "department"),
                ),
                Field("target_id", "Target ID"),
            ),
        ),
        Provider(
            "ringcentral",
            "RingCentral",
            "telephony",
            (
                Field("client_id", "Client ID"),
                Field("client_secret", "Client secret", secret=True),
                Field("jwt", "User JWT", secret=True, multiline=True),
                Field("extension_id", "Extension ID"),
            ),
        ),
        Provider(
            "aircall",
            "Aircall",
            "telephony",
            (
                Field("api_id", "API ID"),
                Field("api_token", "API token", secret=True),
                Field("phone_number", "Phone number"),
            ),
        ),
        Provider(
            "quo",
            "Quo",
            "telephony",
            (
                Field("api_key", "API key", secret=True),
                Field("phone_number", "Phone number (optional filter)", required=False),
            ),
        ),
        Provider(
            "vonage",
            "Vonage",
            "telephony",
            (
                Field("application_id", "Application ID"),
                Field("private_key", "Private key", secret=True, multiline=True),
                Field(
                    "signature_secret",
                    "Signature secret (optional)",
                    secret=True,
                    required=False,
                ),
            ),
        ),
    )
}
IMPORT_SOURCES = tuple(p.name for p in PROVIDERS.values() if p.kind == "helpdesk")
TELEPHONY = tuple(p.name for p in PROVIDERS.values() if p.kind == "telephony")


def fields_of(provider: Provider) -> tuple[Field, ...]:
    """PROVIDER's fields, `api_url` last."""
    return (*provider.fields, API_URL)


def basic_auth(user: str, password: str) -> dict[str, str]:
    """The Authorization header of HTTP Basic auth, which most of these providers take
    (aiohttp deprecates its `BasicAuth` objects)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
