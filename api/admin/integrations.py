"""`/api/v1/integrations`: the workspace's connected provider accounts (help desks to import
from, telephony lines): list, connect, change, test and remove. Credentials go in and never
come back out: answers carry only the masked `settings`."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from api.admin.auth import Caller
from api.admin.models import Page
from api.admin.pagination import Order, page_items
from api.admin.params import query_of
from api.http import Input, json_ok, problem, read_json
from api.state import Gateway
from core.integrations import accounts, manage
from core.integrations.providers import PROVIDERS
from core.integrations.vault import VaultError
from storage.types import utcnow

CREDENTIALS = (
    "The provider's credential fields (see DESIGN: zendesk subdomain, email, api_token; "
    "twilio account_sid, auth_token, phone_number; ...), each text; any may carry api_url, "
    "which replaces the provider's base URL"
)


class LastCheckOut(BaseModel):
    ok: bool | None
    message: str | None
    at: str


class IntegrationOut(BaseModel):
    id: str
    provider: str
    kind: str = Field(description="helpdesk or telephony")
    label: str
    enabled: bool
    settings: dict[str, str] = Field(description="plain fields as saved, secrets masked")
    last_test: LastCheckOut | None
    webhook_url: str | None = Field(
        description="for a telephony line, where its provider posts events (paste it at "
        "Twilio and Vonage; the others are registered automatically)"
    )
    warning: str | None = Field(
        None,
        description="for a line, why its provider's set-up does not work (its webhook could "
        "not be registered: save the line to try again); null when it works",
    )
    created_at: str
    updated_at: str


class IntegrationConnected(IntegrationOut):
    notice: str | None = Field(None, description="what the provider's set-up asks of you")


class IntegrationIn(Input):
    provider: str = Field(max_length=40)
    label: str | None = Field(None, max_length=120)
    credentials: dict[str, Any] = Field(description=CREDENTIALS)


class IntegrationPatch(Input):
    """Omit a field to keep it; a secret left out (or blank) keeps its saved value."""

    label: str | None = Field(None, max_length=120)
    enabled: bool | None = Field(None, strict=True)
    credentials: dict[str, Any] | None = Field(None, description=CREDENTIALS)


class CheckOut(BaseModel):
    ok: bool
    message: str


def _no_secret(exc: VaultError) -> web.HTTPException:
    # The gateway cannot store or read credentials: the request conflicts with how the server
    # is set up (a 409, not a 5xx: nothing failed), and the message says what to set.
    return problem(409, str(exc))


ORDER = Order("integrations", ("str", "datetime", "str"))


async def list_integrations(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """By provider, then oldest first; `?provider=`, `?kind=`, `?enabled=`."""
    q = query_of(request)
    async with gw.db.session() as session:
        rows = await accounts.list_accounts(session, who.workspace_id, provider=q.get("provider"))
    if "enabled" in q:
        rows = [row for row in rows if bool(row.enabled) == q["enabled"]]
    if "kind" in q:
        rows = [row for row in rows if PROVIDERS[row.provider].kind == q["kind"]]
    found = page_items(request, rows, ORDER, lambda r: (r.provider, r.created_at, r.id))
    items = [manage.shown(gw.settings, row) for row in found.items]
    return json_ok({"items": items, "next_cursor": found.next_cursor})


async def connect_integration(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    body = await read_json(request, IntegrationIn)
    try:
        done = await manage.connect(
            gw.db,
            gw.settings,
            who.workspace_id,
            provider=body.provider,
            label=body.label,
            credentials=body.credentials,
            actor=who.actor,
            now=utcnow(),
        )
    except VaultError as exc:
        raise _no_secret(exc) from exc
    return json_ok({**done.account, "notice": done.notice}, status=201)


async def get_integration(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        row = await accounts.get_account(
            session, who.workspace_id, request.match_info["integration_id"]
        )
        return json_ok(manage.shown(gw.settings, row))


async def patch_integration(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    body = await read_json(request, IntegrationPatch)
    try:
        shown = await manage.change(
            gw.db,
            gw.settings,
            who.workspace_id,
            request.match_info["integration_id"],
            label=body.label,
            enabled=body.enabled,
            credentials=body.credentials,
            actor=who.actor,
            now=utcnow(),
        )
    except VaultError as exc:
        raise _no_secret(exc) from exc
    return json_ok(shown)


async def delete_integration(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    account_id = request.match_info["integration_id"]
    try:
        removed = await manage.remove(
            gw.db, gw.settings, who.workspace_id, account_id, actor=who.actor, now=utcnow()
        )
    except VaultError as exc:
        raise _no_secret(exc) from exc
    if removed.notice:
        # Removed, but the provider could not undo the line's set-up: said, not hidden.
        return json_ok({"id": account_id, "removed": True, "notice": removed.notice})
    return web.Response(status=204)


async def test_integration(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    try:
        ok, message = await manage.run_check(
            gw.db, gw.settings, who.workspace_id, request.match_info["integration_id"], now=utcnow()
        )
    except VaultError as exc:
        raise _no_secret(exc) from exc
    return json_ok(CheckOut(ok=ok, message=message))


PageOut = Page[IntegrationOut]
