"""API key write tools, and the one-time reveal of a key's value through the admin API."""

from __future__ import annotations

import secrets

from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals.proposals import AT_EXECUTION, Draft
from core.team import directory
from core.tools import args as a
from core.tools.registry import ToolContext, error_reply
from core.tools.writes.drafting import create_row, set_field
from models.deliverable import Deliverable
from storage.models import ApiKey
from storage.types import new_id

# API keys created from chat. The key value must never pass through the AI, a proposal, a reply
# or a log, and a proposal is a static plan made before approval, so no usable secret can exist
# at draft time. Approval therefore creates a named key *without a value*: `prefix` holds the
# PENDING_REVEAL marker and `key_hash` an unmatchable placeholder (not hex, so no secret hashes
# to it): the key authenticates nothing. An admin then obtains the value exactly once through
# the admin API, which calls `reveal_api_key` to mint the secret, store its hash and return it.
PENDING_REVEAL = "pending"
_PLACEHOLDER_HASH = "pending-"


async def create_api_key(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.CreateApiKeyArgs)
    name = args.name or f"key {ctx.now:%Y-%m-%d %H:%M}"
    clash = await ctx.session.scalar(
        select(ApiKey).where(
            ApiKey.workspace_id == ctx.principal.workspace_id,
            func.lower(ApiKey.name) == name.lower(),
            ApiKey.revoked_at.is_(None),
        )
    )
    if clash is not None:
        return error_reply(
            f'An API key called "{clash.name}" exists already; choose another name or revoke '
            "that one first."
        )
    row = {
        "id": new_id(),
        "workspace_id": ctx.principal.workspace_id,
        "name": name,
        "prefix": PENDING_REVEAL,
        # Random, but never the hash of anything: no key value exists until reveal_api_key.
        "key_hash": _PLACEHOLDER_HASH + secrets.token_hex(28),
        "created_by": f"member:{ctx.principal.member_id}",
        "created_at": AT_EXECUTION,
        "last_used_at": None,
        "revoked_at": None,
    }
    return Draft(
        tool="create_api_key",
        summary=f'create API key "{name}" (its value is revealed once through the admin API)',
        changes=(
            create_row("api_key", row, f'API key "{name}"', "new key, value not yet revealed"),
        ),
        notice=(
            "Key values never pass through chat. After approval the key exists without a value; "
            f"an admin reveals it once with POST /api/v1/apikeys/{row['id']}/reveal."
        ),
    )


async def reveal_api_key(
    session: AsyncSession, workspace_id: str, key_id: str, *, actor: str
) -> directory.NewApiKey:
    """Mint the value of a key created through the operator and return it, exactly once.

    Raises directory.NotFound for an unknown key, directory.Conflict once it is revealed
    or revoked."""
    key = await session.scalar(
        select(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.workspace_id == workspace_id)
        .with_for_update()
    )
    if key is None:
        raise directory.NotFound(f"no API key {key_id!r}")
    if key.prefix != PENDING_REVEAL or key.revoked_at is not None:
        raise directory.Conflict("this key's value was already shown once, or the key is revoked")
    secret = directory.API_KEY_PREFIX + secrets.token_urlsafe(32)
    key.prefix = secret[:10]
    key.key_hash = directory.hash_api_key(secret)
    await session.flush()
    await directory.audit(
        session, workspace_id, actor, "apikey.reveal", key.id, {"prefix": key.prefix}
    )
    return directory.NewApiKey(
        id=key.id, workspace_id=workspace_id, prefix=key.prefix, secret=secret
    )


async def revoke_api_key(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.RevokeApiKeyArgs)
    wanted = args.name.strip().lower()
    keys = list(
        await ctx.session.scalars(
            select(ApiKey)
            .where(
                ApiKey.workspace_id == ctx.principal.workspace_id,
                ApiKey.revoked_at.is_(None),
                or_(func.lower(ApiKey.name) == wanted, func.lower(ApiKey.prefix) == wanted),
            )
            .order_by(ApiKey.created_at)
        )
    )
    if not keys:
        return error_reply(f'There is no active API key called "{args.name}".')
    if len(keys) > 1:
        options = ", ".join(f"{k.prefix} (created {k.created_at:%d %b %Y})" for k in keys)
        return [
            Deliverable(
                text=f'Several active API keys are called "{args.name}": {options}. Which one? '
                'Say "revoke API key" with its prefix.'
            )
        ]
    key = keys[0]
    return Draft(
        tool="revoke_api_key",
        summary=f'revoke API key "{key.name}" ({key.prefix})',
        changes=(
            set_field(
                "api_key",
                key,
                "revoked_at",
                AT_EXECUTION,
                f'API key "{key.name}"',
                ("active", "revoked"),
            ),
        ),
        notice="Anything using this key stops working as soon as it is revoked.",
    )


HANDLERS = {
    "create_api_key": create_api_key,
    "revoke_api_key": revoke_api_key,
}
