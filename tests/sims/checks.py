"""One simulator answering each provider's connection-test endpoint (the call
`core.integrations.checks` makes) in the provider's documented shape: 200 for the credentials
in `GOOD`, 401 (400 for the OAuth2 token endpoints, as Help Scout and RingCentral answer)
otherwise. Point an account at it with `api_url=sim.url`."""

from __future__ import annotations

import base64
from typing import Any, ClassVar

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.sims.base import Simulator

__all__ = ["VONAGE_KEY", "ChecksSim"]


def _pem_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


# The Vonage application's private key (the simulator holds its public half).
VONAGE_KEY = _pem_key()


class ChecksSim(Simulator):
    """Every provider's cheap authenticated endpoint, on one loopback server."""

    name: ClassVar[str] = "checks"

    GOOD: ClassVar[dict[str, dict[str, str]]] = {
        "zendesk": {"subdomain": "acme", "email": "ops@acme.example", "api_token": "zd-tok-good"},
        "freshdesk": {"domain": "acme.freshdesk.com", "api_key": "fd-key-good"},
        "intercom": {"access_token": "ic-token-good"},
        "helpscout": {"client_id": "hs-client", "client_secret": "hs-secret-good"},
        "happyfox": {"subdomain": "acme", "api_key": "hf-key-good", "auth_code": "hf-code-good"},
        "twilio": {
            "account_sid": "AC" + "1" * 32,
            "auth_token": "tw-token-good",
            "phone_number": "+15550001111",
        },
        "dialpad": {
            "api_key": "dp-key-good",
            "phone_number": "+15550002222",
            "target_type": "user",
            "target_id": "42",
        },
        "ringcentral": {
            "client_id": "rc-client",
            "client_secret": "rc-secret-good",
            "jwt": "rc-user-jwt-good",
            "extension_id": "101",
        },
        "aircall": {
            "api_id": "ac-id",
            "api_token": "ac-token-good",
            "phone_number": "+15550003333",
        },
        "quo": {"api_key": "quo-key-good", "phone_number": "+15550004444"},
        "vonage": {"application_id": "8f2c0a4e-app", "private_key": VONAGE_KEY},
    }

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/api/v2/users/me.json", self._zendesk)
        router.add_get("/api/v2/agents/me", self._freshdesk)
        router.add_get("/me", self._intercom)
        router.add_post("/v2/oauth2/token", self._helpscout)
        router.add_get("/api/1.1/json/categories/", self._happyfox)
        router.add_get("/2010-04-01/Accounts/{sid}.json", self._twilio_account)
        router.add_get("/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json", self._twilio_numbers)
        router.add_get("/api/v2/company", self._dialpad)
        router.add_post("/restapi/oauth/token", self._ringcentral)
        router.add_get("/v1/ping", self._aircall)
        router.add_get("/v1/phone-numbers", self._quo)
        router.add_get("/v1/calls", self._vonage)

    @staticmethod
    def _basic(request: web.Request) -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return user, password

    @staticmethod
    def _denied(message: str = "Unauthorized", status: int = 401) -> web.Response:
        return web.json_response({"error": message}, status=status)

    async def _zendesk(self, request: web.Request) -> web.Response:
        good = self.GOOD["zendesk"]
        if self._basic(request) != (f"{good['email']}/token", good["api_token"]):
            return self._denied("Couldn't authenticate you")
        user = {"id": 361, "name": "Ops Agent", "email": good["email"], "role": "admin"}
        return web.json_response({"user": user})

    async def _freshdesk(self, request: web.Request) -> web.Response:
        if self._basic(request) != (self.GOOD["freshdesk"]["api_key"], "X"):
            return self._denied("You have to be logged in to perform this action.")
        return web.json_response({"id": 77, "contact": {"name": "Desk Agent", "active": True}})

    async def _intercom(self, request: web.Request) -> web.Response:
        if (
            request.headers.get("Authorization")
            != f"Bearer {self.GOOD['intercom']['access_token']}"
        ):
            body: dict[str, Any] = {
                "type": "error.list",
                "errors": [{"code": "unauthorized", "message": "Access Token Invalid"}],
            }
            return web.json_response(body, status=401)
        return web.json_response({"type": "admin", "id": "9", "app": {"name": "Acme"}})

    async def _helpscout(self, request: web.Request) -> web.Response:
        form = await request.post()
        good = self.GOOD["helpscout"]
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_id") != good["client_id"]
            or form.get("client_secret") != good["client_secret"]
        ):
            return self._denied("invalid_client", status=401)
        return web.json_response(
            {"token_type": "bearer", "access_token": "hs-access", "expires_in": 172800}
        )

    async def _happyfox(self, request: web.Request) -> web.Response:
        good = self.GOOD["happyfox"]
        if self._basic(request) != (good["api_key"], good["auth_code"]):
            return self._denied("Authentication failed")
        return web.json_response([{"id": 1, "name": "Support"}, {"id": 2, "name": "Billing"}])

    def _twilio_ok(self, request: web.Request) -> bool:
        good = self.GOOD["twilio"]
        return request.match_info["sid"] == good["account_sid"] and self._basic(request) == (
            good["account_sid"],
            good["auth_token"],
        )

    async def _twilio_account(self, request: web.Request) -> web.Response:
        if not self._twilio_ok(request):
            return web.json_response(
                {"code": 20003, "message": "Authenticate", "status": 401}, status=401
            )
        return web.json_response(
            {"sid": request.match_info["sid"], "friendly_name": "Acme", "status": "active"}
        )

    async def _twilio_numbers(self, request: web.Request) -> web.Response:
        if not self._twilio_ok(request):
            return web.json_response(
                {"code": 20003, "message": "Authenticate", "status": 401}, status=401
            )
        number = self.GOOD["twilio"]["phone_number"]
        wanted = request.query.get("PhoneNumber")
        numbers = [{"sid": "PN" + "2" * 32, "phone_number": number}]
        return web.json_response(
            {"incoming_phone_numbers": [n for n in numbers if wanted in (None, number)]}
        )

    async def _dialpad(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.GOOD['dialpad']['api_key']}":
            return self._denied("invalid api key")
        return web.json_response({"id": "5", "name": "Acme Inc", "domain": "acme.example"})

    async def _ringcentral(self, request: web.Request) -> web.Response:
        good = self.GOOD["ringcentral"]
        form = await request.post()
        if self._basic(request) != (good["client_id"], good["client_secret"]):
            return self._denied("invalid_client", status=401)
        if (
            form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer"
            or form.get("assertion") != good["jwt"]
        ):
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Invalid token"}, status=400
            )
        return web.json_response(
            {"access_token": "rc-access", "token_type": "bearer", "expires_in": 3600}
        )

    async def _aircall(self, request: web.Request) -> web.Response:
        good = self.GOOD["aircall"]
        if self._basic(request) != (good["api_id"], good["api_token"]):
            return self._denied("Unauthorized")
        return web.json_response({"ping": "pong"})

    async def _quo(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != self.GOOD["quo"]["api_key"]:
            return self._denied("Unauthorized")
        number = self.GOOD["quo"]["phone_number"]
        return web.json_response({"data": [{"id": "PN1", "number": number}], "totalItems": 1})

    async def _vonage(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        public = serialization.load_pem_private_key(VONAGE_KEY.encode(), None).public_key()
        try:
            claims = jwt.decode(header.removeprefix("Bearer "), public, algorithms=["RS256"])  # type: ignore[arg-type]
        except jwt.PyJWTError:
            return self._denied("Invalid Token")
        if claims.get("application_id") != self.GOOD["vonage"]["application_id"]:
            return self._denied("Invalid Token")
        return web.json_response(
            {"count": 0, "page_size": 1, "record_index": 0, "_embedded": {"calls": []}}
        )
