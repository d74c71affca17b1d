"""Integration read tools: `list_integrations` (the connected accounts and the workspace's
switches, never a credential) and `connect_integration` (where to connect one: the console's
form, since credentials are never typed into chat nor passed to the model)."""

from __future__ import annotations

import re

from pydantic import BaseModel
from sqlalchemy import select

from config.links import console_path
from core.integrations import accounts
from core.integrations.imports import import_lines
from core.integrations.providers import IMPORT_SOURCES, PROVIDERS
from core.llm.prompt import redact
from core.team import agents
from core.tools import args as a
from core.tools.registry import ToolContext, error_reply
from models.deliverable import Deliverable
from storage.domain import Integration
from storage.integrations import IntegrationAccount


def _key(value: str) -> str:
    return re.sub(r"[\s_-]+", "", value.strip().lower())


def _provider_named(value: str | None) -> str | None:
    if not value:
        return None
    key = _key(value)
    return next((name for name, p in PROVIDERS.items() if key in (name, _key(p.title))), None)


def _console_link(ctx: ToolContext, anchor: str | None) -> str:
    """The console's Integrations page (its form for ANCHOR), as a full URL under
    PUBLIC_BASE_URL or its path on the gateway."""
    page = ctx.links.console("integrations") or console_path("integrations")
    return f"{page}#{anchor}" if anchor else page


async def connect_integration(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.ConnectIntegrationArgs)
    provider = _provider_named(args.provider)
    if args.provider and provider is None:
        known = ", ".join(p.title for p in PROVIDERS.values())
        # Named back only when it reads as a name: a model may pass on whatever it was given.
        named = args.provider if re.fullmatch(r"[a-z][a-z .&-]{0,30}", args.provider) else "that"
        return error_reply(
            f"I can't connect {named}: the accounts I connect are {known}. Channels "
            "(Slack, Telegram, email) are set up by the gateway's administrator."
        )
    link = _console_link(ctx, provider)
    what = PROVIDERS[provider].title if provider else "an integration"
    if provider and PROVIDERS[provider].kind == "telephony":
        what += " line"
    elif provider:
        what += " account"
    fields = (
        ", ".join(f.title.lower() for f in PROVIDERS[provider].fields if f.required)
        if provider
        else None
    )
    text = (
        f"To connect {what}, open the console's Integrations page: {link}. Credentials are "
        "entered there, in the form, and stored encrypted; never type them into chat."
    )
    if fields:
        text += f" You will need: {fields}."
    if redact(ctx.task.text) != ctx.task.text:
        # The message itself looked like it carried a credential: say it was not used.
        text += (
            " Your message looked like it contained a credential: I did not use or keep it, "
            "and the AI did not see it. If it was real, consider rotating it at the provider."
        )
    return [
        Deliverable(
            kind="text",
            title="Connect an integration",
            text=text,
            data={"provider": provider, "link": link},
        )
    ]


def _account_line(account: IntegrationAccount) -> str:
    title = PROVIDERS[account.provider].title
    name = title if account.label == title else f"{title} · {account.label}"
    line = f"{name}: {'on' if account.enabled else 'off'}"
    if account.last_test_at is not None:
        line += " (last test: " + ("ok" if account.last_test_ok else "failed") + ")"
    return line


async def list_integrations(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.ListIntegrationsArgs)
    connected = await accounts.list_accounts(ctx.session, ctx.principal.workspace_id)
    rows = list(
        await ctx.session.scalars(
            select(Integration)
            .where(Integration.workspace_id == ctx.principal.workspace_id)
            .order_by(Integration.name)
        )
    )
    every = connected
    if args.integration:
        wanted = _key(args.integration)
        connected = [
            acc
            for acc in connected
            if wanted in (acc.provider, _key(PROVIDERS[acc.provider].title))
            or wanted in _key(acc.label)
        ]
        picked = [r for r in rows if r.name.lower() == wanted] or [
            r for r in rows if wanted in r.name.lower()
        ]
        if not picked and not connected:
            known = ", ".join(
                [_account_line(acc).split(":")[0] for acc in every] + [r.name for r in rows]
            )
            provider = _provider_named(args.integration)
            hint = (
                f" Connect it on the console: {_console_link(ctx, provider)}." if provider else ""
            )
            return error_reply(
                f"There is no integration called {args.integration} (known: "
                f"{known or 'none yet'}).{hint}"
            )
        rows = picked
    if not rows and not connected:
        return [
            Deliverable(
                text="No integrations are connected yet. Connect help desks and phone lines "
                f"on the console: {_console_link(ctx, None)}."
            )
        ]
    items = tuple(_account_line(acc) for acc in connected) + tuple(
        f"{r.name}: {'on' if r.enabled else 'off'}" for r in rows
    )
    off_accounts = [acc for acc in connected if not acc.enabled]
    off = [r for r in rows if not r.enabled]
    if off_accounts:
        advice = (
            f"{off_accounts[0].label} is off: say 'turn on {off_accounts[0].label}' to use it "
            "again."
        )
    elif off:
        advice = f"{off[0].name} is off: say 'turn on {off[0].name}' to connect it again."
    elif len(items) == 1:
        name = connected[0].label if connected else rows[0].name
        advice = f"{name} is on; say 'turn off {name}' to pause it."
    else:
        advice = "Everything is on; nothing to do."
    agent = await agents.first_agent(ctx.session, ctx.principal.workspace_id)
    channels = (
        f"\n{agent.name} answers customers on: {', '.join(map(str, agent.channels))}."
        if agent and agent.channels and not args.integration
        else ""
    )
    # Each help desk's last import, so "how did the Zendesk import go?" gets its counts.
    providers = sorted({acc.provider for acc in connected if acc.provider in IMPORT_SOURCES})
    runs = [
        line
        for provider in providers
        for line in await import_lines(ctx.session, ctx.principal.workspace_id, provider=provider)
    ]
    text = (
        "Integrations:\n"
        + "\n".join(f"- {i}" for i in items)
        + ("\nImports:\n" + "\n".join(f"- {r}" for r in runs) if runs else "")
        + channels
        + f"\nNext step: {advice}"
    )
    return [
        Deliverable(
            kind="list",
            title="Integrations",
            text=text,
            items=items,
            data={
                "integrations": {r.name: r.enabled for r in rows},
                # Provider, label and state only: never a credential, not even masked.
                "accounts": [
                    {
                        "id": acc.id,
                        "provider": acc.provider,
                        "label": acc.label,
                        "enabled": acc.enabled,
                    }
                    for acc in connected
                ],
                "suggestion": advice,
            },
        )
    ]


HANDLERS = {
    "list_integrations": list_integrations,
    "connect_integration": connect_integration,
}
