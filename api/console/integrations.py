"""The Integrations page (owners and admins): the connected accounts (help desks, telephony
lines) with their masked settings and last test, a form per provider to connect one, and
Test connection, Turn on/off, Edit and Remove. Credentials are typed only here; a saved secret
is never put back into a page (its field stays blank: "leave blank to keep"). A help desk
starts an import here and shows its last run, whose counts integrations.js follows through
`/console/integrations/imports/{id}`; a line shows its provider set-up's warning, and a
RingCentral line can renew its subscription by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from api.console.actions import Form, execute_own_click, read_form, text_field
from api.console.scripted import require_json
from api.console.session import ConsoleError, check_csrf, page, require
from api.http import problem
from api.state import GATEWAY, Gateway
from core.integrations import accounts, imports, manage
from core.integrations.providers import PROVIDERS, Provider, fields_of
from core.integrations.vault import VaultError, vault_of
from core.team.directory import Conflict, DirectoryError, NotFound
from core.team.signin import SignedIn
from core.tools.writes.integrations import account_toggle_draft
from storage.types import utcnow

NO_SECRET = (
    "Integrations are off on this gateway: SWITCHBOARD_SECRET_KEY is not set. Credentials are "
    "stored encrypted with it, so set it (any long random string, e.g. the output of "
    '`python -c "import secrets; print(secrets.token_urlsafe(48))"`) in the gateway\'s '
    "environment or .env and restart it; then connect accounts here."
)
FAILED = "failed: "  # a notice that reports a failure (shown as an error)
KIND_TITLES = {"helpdesk": "Help desks (import tickets)", "telephony": "Phone lines (voicemail)"}


def _when(value: datetime | str | None) -> str | None:
    """A moment as the page shows it (UTC, to the second); None stays None."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return None if value is None else f"{value:%Y-%m-%d %H:%M:%S} UTC"


def run_json(run: Any) -> dict[str, Any]:
    """An import run as the page and its poller show it: the API's fields and its times."""
    return imports.import_json(run) | {
        "started_at": _when(run.started_at),
        "finished_at": _when(run.finished_at),
        "going": run.status in imports.GOING,
    }


def _sentence(exc: Exception) -> str:
    said = str(exc)
    return said[:1].upper() + said[1:]


def _secret_ready(gw: Gateway) -> bool:
    try:
        vault_of(gw.settings)
    except VaultError:
        return False
    return True


def _credentials(form: Form, provider: Provider) -> dict[str, str]:
    """The provider's fields as posted (blank ones included: the core decides what they mean)."""
    values = {}
    for field in fields_of(provider):
        raw = form.get(field.name, "")
        if isinstance(raw, str):
            values[field.name] = raw if field.multiline else raw.strip()
    return values


async def _page(
    request: web.Request,
    who: SignedIn,
    *,
    status: int = 200,
    error: str | None = None,
    error_for: str | None = None,
    notice: str | None = None,
    typed: dict[str, str] | None = None,
    confirm_remove: dict[str, Any] | None = None,
) -> web.Response:
    gw = request.app[GATEWAY]
    async with gw.db.session() as session:
        rows = await accounts.list_accounts(session, who.workspace_id)
        shown = [manage.shown(gw.settings, row) for row in rows]
        last = {
            account.id: run_json(run)
            for run, account in await imports.last_imports(session, who.workspace_id)
        }
    for row, item in zip(rows, shown, strict=True):
        state = row.state or {}
        item["last_import"] = last.get(row.id)
        item["warning_at"] = _when(state.get("warning_at"))
        item["expires_at"] = _when(state.get("expires_at"))
        item["title"] = PROVIDERS[item["provider"]].title
        item["paste_webhook"] = item["provider"] in manage.PASTE_WEBHOOK
        item["fields"] = fields_of(PROVIDERS[item["provider"]])
    groups = [
        (title, [p for p in PROVIDERS.values() if p.kind == kind])
        for kind, title in KIND_TITLES.items()
    ]
    response = page(
        request,
        "integrations.html",
        who,
        title="Integrations",
        accounts=shown,
        groups=groups,
        fields_of=fields_of,
        ready=_secret_ready(gw),
        no_secret=NO_SECRET,
        public_base_url_set=gw.settings.public_base_url is not None,
        base_url=gw.settings.base_url,
        error=error,
        error_for=error_for,
        notice=notice,
        # What the member typed into a refused form, secrets left out: shown back to fix.
        typed=typed or {},
        confirm_remove=confirm_remove,
    )
    response.set_status(status)
    return response


async def _notice(gw: Gateway, who: SignedIn, query: Any) -> str | None:
    """The line after a change (Post/Redirect/Get), from our own rows, never URL text."""
    if "removed" in query:
        return "The account is removed; its credentials are deleted."
    for key in ("tested", "switched", "saved", "importing", "renewed"):
        ref = query.get(key)
        if not ref:
            continue
        async with gw.db.session() as session:
            try:
                account = await accounts.get_account(session, who.workspace_id, ref)
            except NotFound:
                return None
            name = f"{PROVIDERS[account.provider].title} · {account.label}"
            if key == "tested" and account.last_test_at is not None:
                verdict = "works" if account.last_test_ok else "failed"
                return f"Test connection of {name} {verdict}: {account.last_test_message}"
            if key == "switched":
                return f"{name} is {'on' if account.enabled else 'off'}."
            if key == "saved":
                return f"{name} is saved."
            if key == "importing":
                return (
                    f"The import from {name} has started: its open and pending tickets become "
                    "assists, and the counts below follow it."
                )
            if key == "renewed":
                warning = (account.state or {}).get("warning")
                if warning:
                    return f"{FAILED}Renewing the subscription of {name} failed. {warning}"
                expires = _when((account.state or {}).get("expires_at"))
                return f"The subscription of {name} is renewed" + (
                    f" until {expires}." if expires else "."
                )
    return None


async def integrations_page(request: web.Request) -> web.Response:
    who = await require(request, "integrations")
    gw = request.app[GATEWAY]
    said = await _notice(gw, who, request.query)
    if said is not None and said.startswith(FAILED):
        return await _page(request, who, error=said.removeprefix(FAILED))
    return await _page(request, who, notice=said)


async def _posted(request: web.Request) -> tuple[SignedIn, Form]:
    who = await require(request, "integrations")
    form = await read_form(request)
    check_csrf(request, who, form)
    return who, form


async def connect(request: web.Request) -> web.Response:
    who, form = await _posted(request)
    gw = request.app[GATEWAY]
    name = text_field(form, "provider", 40)
    provider = PROVIDERS.get(name)
    if provider is None:
        raise ConsoleError(400, "Unknown provider", "Choose one of the providers on the page.")
    credentials = _credentials(form, provider)
    label = text_field(form, "label", 200)
    typed = {f.name: credentials.get(f.name, "") for f in fields_of(provider) if not f.secret} | {
        "label": label
    }
    try:
        done = await manage.connect(
            gw.db,
            gw.settings,
            who.workspace_id,
            provider=name,
            label=label,
            credentials=credentials,
            actor=f"member:{who.member_id}",
            now=utcnow(),
        )
    except VaultError:
        return await _page(request, who, status=409, error=NO_SECRET, error_for=name)
    except DirectoryError as exc:
        return await _page(
            request,
            who,
            status=400,
            error=f"{exc}. Nothing was saved.",
            error_for=name,
            typed=typed,
        )
    account = done.account
    said = f"{provider.title} · {account['label']} is connected."
    if account.get("warning"):
        said = f"{provider.title} · {account['label']} is saved, but it does not work yet."
    if account["webhook_url"] and name in manage.PASTE_WEBHOOK:
        said += (
            f" Paste its webhook URL into {provider.title} ({account['webhook_url']}): "
            f"{provider.title} does not let us register it for you."
        )
    if done.notice:
        said += f" {done.notice}"
    said += " Test connection checks the credentials with the provider."
    return await _page(request, who, notice=said)


async def check_account(request: web.Request) -> web.Response:
    who, _ = await _posted(request)
    gw = request.app[GATEWAY]
    account_id = request.match_info["account_id"]
    try:
        await manage.run_check(gw.db, gw.settings, who.workspace_id, account_id, now=utcnow())
    except VaultError:
        return await _page(request, who, status=409, error=NO_SECRET)
    except NotFound as exc:
        raise ConsoleError(404, "No such account", str(exc)) from exc
    raise web.HTTPFound(f"/console/integrations?tested={account_id}#account-{account_id}")


async def switch(request: web.Request) -> web.Response:
    """Turn on or off: the member's click on the row showing the state is the approval,
    executed as a proposal like "turn off the Dialpad line" in chat (history, undo)."""
    who, form = await _posted(request)
    gw = request.app[GATEWAY]
    account_id = request.match_info["account_id"]
    wanted = text_field(form, "enabled", 5)
    if wanted not in ("on", "off"):
        raise ConsoleError(400, "Bad request", "Turn the account on or off; nothing was changed.")
    error = None
    async with gw.db.session() as session:
        try:
            account = await accounts.get_account(session, who.workspace_id, account_id)
        except NotFound as exc:
            raise ConsoleError(404, "No such account", str(exc)) from exc
        draft = account_toggle_draft(account, wanted == "on")
        if not isinstance(draft, list):
            decision = await execute_own_click(session, gw, who, draft, now=utcnow())
            if not decision.executed:
                error = decision.message
    if error is not None:
        return await _page(request, who, status=409, error=error)
    raise web.HTTPFound(f"/console/integrations?switched={account_id}#account-{account_id}")


async def save(request: web.Request) -> web.Response:
    """Edit: the label and credentials; a secret left blank keeps its saved value."""
    who, form = await _posted(request)
    gw = request.app[GATEWAY]
    account_id = request.match_info["account_id"]
    async with gw.db.session() as session:
        try:
            account = await accounts.get_account(session, who.workspace_id, account_id)
        except NotFound as exc:
            raise ConsoleError(404, "No such account", str(exc)) from exc
        provider = PROVIDERS[account.provider]
    try:
        await manage.change(
            gw.db,
            gw.settings,
            who.workspace_id,
            account_id,
            label=text_field(form, "label", 200),
            credentials=_credentials(form, provider),
            actor=f"member:{who.member_id}",
            now=utcnow(),
        )
    except VaultError:
        return await _page(request, who, status=409, error=NO_SECRET)
    except NotFound as exc:
        raise ConsoleError(404, "No such account", str(exc)) from exc
    except DirectoryError as exc:
        return await _page(request, who, status=400, error=f"{exc}. Nothing was changed.")
    raise web.HTTPFound(f"/console/integrations?saved={account_id}#account-{account_id}")


async def remove(request: web.Request) -> web.Response:
    """Remove after a confirmation step (a second form on its own page, no script needed)."""
    who, form = await _posted(request)
    gw = request.app[GATEWAY]
    account_id = request.match_info["account_id"]
    if text_field(form, "confirm", 5) != "yes":
        async with gw.db.session() as session:
            try:
                account = await accounts.get_account(session, who.workspace_id, account_id)
            except NotFound as exc:
                raise ConsoleError(404, "No such account", str(exc)) from exc
            target = {
                "id": account.id,
                "title": PROVIDERS[account.provider].title,
                "label": account.label,
                "kind": PROVIDERS[account.provider].kind,
            }
        return await _page(request, who, confirm_remove=target)
    try:
        removed = await manage.remove(
            gw.db,
            gw.settings,
            who.workspace_id,
            account_id,
            actor=f"member:{who.member_id}",
            now=utcnow(),
        )
    except VaultError:
        return await _page(request, who, status=409, error=NO_SECRET)
    except NotFound as exc:
        raise ConsoleError(404, "No such account", str(exc)) from exc
    if removed.notice:
        said = f"{removed.label} is removed; its credentials are deleted. {removed.notice}"
        return await _page(request, who, error=said)
    raise web.HTTPFound("/console/integrations?removed=1")


async def start_import(request: web.Request) -> web.Response:
    """Import open and pending tickets: one run per account at a time (a second start while
    one goes shows that run, nothing new is queued); the import worker does it."""
    who, _ = await _posted(request)
    gw = request.app[GATEWAY]
    account_id = request.match_info["account_id"]
    try:
        async with gw.db.writing(), gw.db.session() as session:
            account = await accounts.get_account(session, who.workspace_id, account_id)
            await imports.start_import(session, account, f"member:{who.member_id}", utcnow())
    except NotFound as exc:
        raise ConsoleError(404, "No such account", str(exc)) from exc
    except Conflict as exc:
        said = f"{_sentence(exc)}. Nothing new was started."
        return await _page(request, who, status=409, error=said)
    except DirectoryError as exc:
        said = f"{_sentence(exc)}. Nothing was started."
        return await _page(request, who, status=400, error=said)
    if gw.imports is not None:
        gw.imports.wake()
    raise web.HTTPFound(f"/console/integrations?importing={account_id}#account-{account_id}")


async def import_state(request: web.Request) -> web.Response:
    """The run's status and counts for integrations.js (JSON, this workspace's runs only)."""
    who = await require_json(request, "integrations")
    gw = request.app[GATEWAY]
    async with gw.db.session() as session:
        try:
            run = await imports.get_import(session, who.workspace_id, request.match_info["run_id"])
        except NotFound as exc:
            raise problem(404, str(exc)) from exc
        return web.json_response(run_json(run))


async def renew(request: web.Request) -> web.Response:
    """Renew a RingCentral line's subscription now; the outcome is the line's own state
    (a failure stays as its warning until a renewal works)."""
    who, _ = await _posted(request)
    gw = request.app[GATEWAY]
    account_id = request.match_info["account_id"]
    try:
        await manage.renew(gw.db, gw.settings, who.workspace_id, account_id, now=utcnow())
    except VaultError:
        return await _page(request, who, status=409, error=NO_SECRET)
    except NotFound as exc:
        raise ConsoleError(404, "No such account", str(exc)) from exc
    except DirectoryError as exc:
        return await _page(request, who, status=400, error=f"{exc}. Nothing was changed.")
    raise web.HTTPFound(f"/console/integrations?renewed={account_id}#account-{account_id}")


def setup(app: web.Application) -> None:
    app.router.add_get("/console/integrations", integrations_page)
    app.router.add_post("/console/integrations", connect)
    app.router.add_post("/console/integrations/{account_id}", save)
    app.router.add_post("/console/integrations/{account_id}/test", check_account)
    app.router.add_post("/console/integrations/{account_id}/enabled", switch)
    app.router.add_post("/console/integrations/{account_id}/remove", remove)
    app.router.add_post("/console/integrations/{account_id}/imports", start_import)
    app.router.add_post("/console/integrations/{account_id}/renew", renew)
    app.router.add_get("/console/integrations/imports/{run_id}", import_state)
