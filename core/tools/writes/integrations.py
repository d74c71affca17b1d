"""Integration write tools: turn one on or off, start an import from a connected help desk."""

from __future__ import annotations

import re

from pydantic import BaseModel
from sqlalchemy import select

from core.approvals.proposals import AT_EXECUTION, Draft
from core.integrations import accounts
from core.integrations.accounts import list_accounts
from core.integrations.imports import running_import
from core.integrations.providers import IMPORT_SOURCES, PROVIDERS
from core.tools import args as a
from core.tools.registry import ToolContext, error_reply
from core.tools.writes.drafting import create_row, set_field, stable_id
from models.deliverable import Deliverable
from storage.domain import Integration
from storage.integrations import IntegrationAccount
from storage.types import new_id

# Everything toggle_integration may create (the help desks no longer imported from included).
KNOWN_INTEGRATIONS = frozenset(IMPORT_SOURCES) | {
    "gorgias",
    "front",
    "hubspot",
    "kustomer",
    "slack",
    "telegram",
    "twilio",
    "sms",
    "whatsapp",
    "voice",
    "email",
    "sendgrid",
    "elevenlabs",
    "shopify",
    "stripe",
    "salesforce",
    "jira",
    "webhooks",
}


def _integration_name(value: str) -> str:
    return re.sub(r"[\s_-]+", "", value.strip().lower())


async def _integration(ctx: ToolContext, name: str) -> Integration | None:
    return await ctx.session.scalar(
        select(Integration).where(
            Integration.workspace_id == ctx.principal.workspace_id, Integration.name == name
        )
    )


def _account_name(account: IntegrationAccount) -> str:
    title = PROVIDERS[account.provider].title
    return title if account.label == title else f"{title} {account.label}"


def _matching_accounts(accounts: list[IntegrationAccount], asked: str) -> list[IntegrationAccount]:
    """The connected accounts ASKED names: by provider ("dialpad", "the Dialpad line") or by
    label ("Support line"), exact matches before partial ones."""
    wanted = _integration_name(re.sub(r"\b(?:the|our|line|account|number)\b", " ", asked))
    if not wanted:
        return []
    exact = [
        acc
        for acc in accounts
        if wanted
        in (acc.provider, _integration_name(acc.label), _integration_name(_account_name(acc)))
    ]
    if exact:
        return exact
    return [
        acc
        for acc in accounts
        if len(wanted) >= 3 and (wanted in _integration_name(acc.label) or acc.provider in wanted)
    ]


def account_toggle_draft(account: IntegrationAccount, enabled: bool) -> list[Deliverable] | Draft:
    """Turning ACCOUNT on or off, as a proposal (the chat's and the console's click alike);
    a sentence when it is that way already."""
    name = _account_name(account)
    state = "on" if enabled else "off"
    if account.enabled == enabled:
        return [Deliverable(text=f"{name} is already {state}.")]
    was = "on" if account.enabled else "off"
    changes = (
        set_field("integration_account", account, "enabled", enabled, name, (was, state)),
        set_field(
            "integration_account",
            account,
            "updated_at",
            AT_EXECUTION,
            f"{name} last changed",
            (f"{account.updated_at:%d %b %H:%M}", "now"),
        ),
    )
    kind = "line" if PROVIDERS[account.provider].kind == "telephony" else "account"
    notice = (
        f"While it is off, this {kind}'s events are refused and it imports nothing; its "
        "credentials stay saved."
        if not enabled
        else None
    )
    return Draft(
        tool="toggle_integration", summary=f"turn {name} {state}", changes=changes, notice=notice
    )


async def toggle_integration(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    """Turn a connected account (matched by provider or label) on or off; without one, the
    workspace's switch of that name (a channel, a legacy integration)."""
    assert isinstance(args, a.ToggleIntegrationArgs)
    connected = await accounts.list_accounts(ctx.session, ctx.principal.workspace_id)
    matches = _matching_accounts(connected, args.integration)
    if len(matches) == 1:
        return account_toggle_draft(matches[0], args.enabled)
    if matches:
        state = "on" if args.enabled else "off"
        options = "; ".join(f"{_account_name(m)} ({'on' if m.enabled else 'off'})" for m in matches)
        return [
            Deliverable(
                text=f"Which one should I turn {state}? {len(matches)} accounts match "
                f"{args.integration!r}: {options}. Name it by its label, like "
                f'"turn {state} {matches[0].label}".'
            )
        ]
    name = _integration_name(args.integration)
    state = "on" if args.enabled else "off"
    row = await _integration(ctx, name)
    if row is not None:
        if row.enabled == args.enabled:
            return [Deliverable(text=f"{name} is already {state}.")]
        was = "on" if row.enabled else "off"
        changes = (
            set_field("integration", row, "enabled", args.enabled, name, (was, state)),
            set_field(
                "integration",
                row,
                "updated_at",
                AT_EXECUTION,
                f"{name} last changed",
                (f"{row.updated_at:%d %b %H:%M}", "now"),
            ),
        )
        return Draft(tool="toggle_integration", summary=f"turn {name} {state}", changes=changes)
    if name not in KNOWN_INTEGRATIONS:
        return error_reply(
            f"I don't know an integration called {args.integration}. Known: "
            + ", ".join(sorted(KNOWN_INTEGRATIONS))
            + "."
        )
    created = {
        "id": stable_id("integration", ctx.principal.workspace_id, name),
        "workspace_id": ctx.principal.workspace_id,
        "name": name,
        "enabled": args.enabled,
        "settings": {},
        "updated_at": AT_EXECUTION,
    }
    return Draft(
        tool="toggle_integration",
        summary=f"turn {name} {state}",
        changes=(create_row("integration", created, f"{name}", state),),
        notice=(
            f"{name} has not been set up before; its credentials are entered on the console's "
            f"Integrations page ({ctx.links.console_or_path('integrations')}), never in chat."
        ),
    )


async def run_import(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    """Propose a real import run on each connected, enabled account of the source: approval
    queues it (the `imports` row) and a node's import worker runs it in the background."""
    assert isinstance(args, a.RunImportArgs)
    source = _integration_name(args.source)
    if source not in IMPORT_SOURCES:
        return error_reply(
            f"I can't import from {args.source}; sources: "
            + ", ".join(sorted(IMPORT_SOURCES))
            + "."
        )
    provider = PROVIDERS[source]
    page = ctx.links.console_or_path("integrations")
    if args.records in ("contacts", "articles", "macros") or args.status == "closed":
        return error_reply(
            f"Imports bring {provider.title}'s open and pending tickets, each with its whole "
            "conversation, as assists; nothing else is imported."
        )
    connected = await list_accounts(ctx.session, ctx.principal.workspace_id, provider=source)
    if not connected:
        return error_reply(
            f"{provider.title} is not connected. Connect it on the console's Integrations page "
            f"({page}); credentials are entered there, never in chat. Then ask again."
        )
    enabled = [account for account in connected if account.enabled]
    if not enabled:
        return error_reply(
            f"{provider.title} ({', '.join(x.label for x in connected)}) is turned off: turn "
            "it on first, then ask again."
        )
    changes = []
    for account in enabled:
        going = await running_import(ctx.session, account.id)
        if going is not None:
            return error_reply(
                f"An import from {account.label} is already {going.status}: "
                f"{going.imported} imported, {going.skipped} skipped so far. Its progress is "
                f"on the console's Integrations page ({page})."
            )
        run = {
            "id": new_id(),
            "workspace_id": ctx.principal.workspace_id,
            "account_id": account.id,
            "status": "queued",
            "imported": 0,
            "skipped": 0,
            "cursor": {},
            "requested_by": f"member:{ctx.principal.member_id}",
            "created_at": AT_EXECUTION,
            "updated_at": AT_EXECUTION,
        }
        changes.append(
            create_row("import", run, f"{account.label} import", "queued: open and pending tickets")
        )
    labels = ", ".join(f'"{account.label}"' for account in enabled)
    return Draft(
        tool="run_import",
        summary=f"import open and pending tickets from {provider.title}",
        changes=tuple(changes),
        reversible=False,
        notice=(
            f"Approving starts the import in the background: up to {provider.per_run} open "
            f"and pending tickets a run, each as an assist labelled {labels}; the next run "
            "continues where it stopped and skips what is already here. Follow its imported "
            f"and skipped counts on the console's Integrations page ({page}), or ask me how "
            "the import is going."
        ),
    )


HANDLERS = {
    "toggle_integration": toggle_integration,
    "run_import": run_import,
}
