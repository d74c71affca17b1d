"""Admin write tools (training, agent, team, API keys, schedules, integrations, broadcasts):
each plans its change as a Draft (a proposal); nothing changes until approval."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals.proposals import AT_EXECUTION, CREATE, Change, Draft, Message
from core.assists.history import training_pairs
from core.assists.personal_data import strip_personal_data
from core.schedules.timing import Timing, next_fire, zone
from core.team import directory
from core.team.members import MemberNotFound, find_by_name
from core.team.plans import SCHEDULE_QUOTAS
from core.tools import args as a
from core.tools.reads import load_assist
from core.tools.registry import ToolContext, error_reply
from models.deliverable import Deliverable
from storage.domain import (
    AiAgent,
    AssistEvent,
    Conversation,
    Customer,
    Integration,
    Invitation,
    Proposal,
    QaPair,
    Schedule,
    TrainingSource,
    TrainingSuggestion,
)
from storage.models import ApiKey, Base, ChannelIdentity, Member
from storage.types import new_id

# Recurring briefings per AI agent; None is unlimited.
BROADCAST_LIMIT = 1000
WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
BRIEFING_CHANNELS = ("slack", "telegram", "sms", "whatsapp", "email", "voice")
# The helpdesks an import can come from, and everything toggle_integration may create.
IMPORT_SOURCES = frozenset(
    {"zendesk", "intercom", "freshdesk", "gorgias", "helpscout", "front", "hubspot", "kustomer"}
)
KNOWN_INTEGRATIONS = IMPORT_SOURCES | {
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

# API keys created from chat. The key value must never pass through the AI, a proposal, a reply
# or a log, and a proposal is a static plan made before approval, so no usable secret can exist
# at draft time. Approval therefore creates a named key *without a value*: `prefix` holds the
# PENDING_REVEAL marker and `key_hash` an unmatchable placeholder (not hex, so no secret hashes
# to it): the key authenticates nothing. An admin then obtains the value exactly once through
# the admin API, which calls `reveal_api_key` to mint the secret, store its hash and return it.
PENDING_REVEAL = "pending"
_PLACEHOLDER_HASH = "pending-"


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _short(value: str, limit: int = 120) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _set(
    entity: str,
    row: Any,
    name: str,
    after: Any,
    label: str,
    shown: tuple[str, str] | None = None,
) -> Change:
    """A change of one field (`settings.x` for a key of a JSON column) from its current value."""
    head, _, rest = name.partition(".")
    current = getattr(row, head)
    before = (current or {}).get(rest) if rest else _iso(current)
    return Change(
        entity=entity,
        key=str(row.id),
        field=name,
        before=before,
        after=after,
        label=label,
        shown_before=shown[0] if shown else None,
        shown_after=shown[1] if shown else None,
    )


def _create(entity: str, row: dict[str, Any], label: str, shown: str) -> Change:
    return Change(
        entity=entity,
        key=str(row["id"]),
        field=CREATE,
        before=None,
        after=row,
        label=label,
        shown_before="—",
        shown_after=shown,
    )


def _stable_id(*parts: str) -> str:
    # For rows unique on a natural key (an invitation per email, an integration per name): two
    # pending proposals creating the same row share its id, so the second one to be approved
    # stops with "exists already" instead of tripping the unique constraint.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


async def _reserve_id(ctx: ToolContext, model: type[Base], entity: str) -> int:
    """An integer id for a row a proposal will create (its key must be known at draft time).

    PostgreSQL: `nextval` reserves it for good. SQLite (one node): one past the highest id in
    the table, in this workspace's pending proposals and in this request; a clash left over
    (another workspace on the same file) stops execution as stale, changing nothing."""
    session = ctx.session
    table = str(model.__tablename__)
    reserved: dict[str, int] = session.info.setdefault("admin_writes.reserved_ids", {})
    if session.get_bind().dialect.name == "postgresql":
        value = int(
            await session.scalar(
                text("SELECT nextval(pg_get_serial_sequence(:table, 'id'))"), {"table": table}
            )
        )
    else:
        column = model.__table__.c.id  # type: ignore[attr-defined]
        highest = int(await session.scalar(select(func.max(column))) or 0)
        value = max(highest, await _pending_max(session, ctx, entity), reserved.get(table, 0)) + 1
    reserved[table] = value
    return value


async def _pending_max(session: AsyncSession, ctx: ToolContext, entity: str) -> int:
    plans = await session.scalars(
        select(Proposal.changes).where(
            Proposal.workspace_id == ctx.principal.workspace_id, Proposal.status == "pending"
        )
    )
    keys = [
        int(change["key"])
        for plan in plans
        for part in plan
        for change in part.get("changes", [])
        if change.get("entity") == entity and change.get("field") == CREATE
    ]
    return max(keys, default=0)


async def _asker(ctx: ToolContext) -> Member:
    member = await ctx.session.get(Member, ctx.principal.member_id)
    assert member is not None, "write tools run for members only"
    return member


# --- training -------------------------------------------------------------------------------------


async def _qa_pair(ctx: ToolContext, qa_id: int) -> QaPair | None:
    return await ctx.session.scalar(
        select(QaPair).where(QaPair.workspace_id == ctx.principal.workspace_id, QaPair.id == qa_id)
    )


async def _new_qa(ctx: ToolContext, question: str, answer: str, source: str) -> dict[str, Any]:
    return {
        "id": await _reserve_id(ctx, QaPair, "qa_pair"),
        "workspace_id": ctx.principal.workspace_id,
        "question": question,
        "answer": answer,
        "source": source,
        "active": True,
        "created_at": AT_EXECUTION,
    }


async def approve_training_suggestion(
    ctx: ToolContext, args: BaseModel
) -> list[Deliverable] | Draft:
    assert isinstance(args, a.ApproveTrainingSuggestionArgs)
    suggestion = await ctx.session.scalar(
        select(TrainingSuggestion).where(
            TrainingSuggestion.workspace_id == ctx.principal.workspace_id,
            TrainingSuggestion.id == args.suggestion_id,
        )
    )
    if suggestion is None:
        return error_reply(f"There is no training suggestion {args.suggestion_id}.")
    if suggestion.status != "pending":
        return [
            Deliverable(text=f"Training suggestion {suggestion.id} is already {suggestion.status}.")
        ]
    status = _set(
        "training_suggestion",
        suggestion,
        "status",
        "approved",
        f"training suggestion {suggestion.id} status",
    )
    existing = await _qa_pair(ctx, suggestion.conflicts_with) if suggestion.conflicts_with else None
    if existing is not None and existing.active:
        # The suggestion answers a question the agent already knows: replace, never duplicate.
        return Draft(
            tool="approve_training_suggestion",
            summary=(
                f"approve training suggestion {suggestion.id}, replacing the answer of "
                f"Q&A {existing.id} (they conflict)"
            ),
            changes=(
                status,
                _set(
                    "qa_pair",
                    existing,
                    "answer",
                    suggestion.answer,
                    f"Q&A {existing.id} answer",
                ),
            ),
            notice=(
                f'This suggestion conflicts with Q&A {existing.id} ("{_short(existing.question)}")'
                ": approving replaces that answer instead of adding a second one."
            ),
        )
    row = await _new_qa(ctx, suggestion.question, suggestion.answer, "suggestion")
    return Draft(
        tool="approve_training_suggestion",
        summary=f"approve training suggestion {suggestion.id} as Q&A {row['id']}",
        changes=(
            status,
            _create(
                "qa_pair",
                row,
                f"new Q&A {row['id']}",
                f"{_short(row['question'], 60)} → {_short(row['answer'], 60)}",
            ),
        ),
    )


def _same_url(left: str, right: str) -> bool:
    def norm(url: str) -> str:
        scheme, _, rest = url.strip().partition("://")
        host, slash, path = rest.partition("/")
        return f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/")

    return norm(left) == norm(right)


async def add_training_source(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.AddTrainingSourceArgs)
    sources = await ctx.session.scalars(
        select(TrainingSource).where(
            TrainingSource.workspace_id == ctx.principal.workspace_id,
            TrainingSource.kind == "url",
        )
    )
    for source in sources:
        if source.url and _same_url(source.url, args.url):
            if source.active:
                return error_reply(
                    f"{args.url} is already a training source "
                    f'({source.id}, "{source.title or source.url}").'
                )
            return Draft(
                tool="add_training_source",
                summary=f"re-activate training source {source.id} ({source.url})",
                changes=(
                    _set(
                        "training_source",
                        source,
                        "active",
                        True,
                        f"training source {source.id} active",
                    ),
                ),
            )
    row = {
        "id": await _reserve_id(ctx, TrainingSource, "training_source"),
        "workspace_id": ctx.principal.workspace_id,
        "kind": "url",
        "title": args.title or args.url.split("://", 1)[1].split("/", 1)[0],
        "url": args.url,
        "content": None,
        "active": True,
        "created_at": AT_EXECUTION,
    }
    return Draft(
        tool="add_training_source",
        summary=f"add {args.url} as training source {row['id']}",
        changes=(_create("training_source", row, f"new training source {row['id']}", args.url),),
    )


async def edit_qa_pair(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.EditQaPairArgs)
    pair = await _qa_pair(ctx, args.qa_id)
    if pair is None:
        return error_reply(f"There is no Q&A {args.qa_id}.")
    if not pair.active:
        return error_reply(f"Q&A {pair.id} was removed; undo or restore that first to edit it.")
    changes = [
        _set("qa_pair", pair, name, value, f"Q&A {pair.id} {name}")
        for name, value in (("question", args.question), ("answer", args.answer))
        if value is not None and value != getattr(pair, name)
    ]
    if not changes:
        return [Deliverable(text=f"Q&A {pair.id} already says that.")]
    what = " and ".join(c.field for c in changes)
    return Draft(
        tool="edit_qa_pair", summary=f"edit the {what} of Q&A {pair.id}", changes=tuple(changes)
    )


async def remove_qa_pair(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.RemoveQaPairArgs)
    pair = await _qa_pair(ctx, args.qa_id)
    if pair is None:
        return error_reply(f"There is no Q&A {args.qa_id}.")
    if not pair.active:
        return [Deliverable(text=f"Q&A {pair.id} is already removed.")]
    # Soft removal: the row stays, so undo and restore bring back exactly what was there.
    return Draft(
        tool="remove_qa_pair",
        summary=f'remove Q&A {pair.id} ("{_short(pair.question, 60)}")',
        changes=(_set("qa_pair", pair, "active", False, f"Q&A {pair.id}", ("active", "removed")),),
    )


_EMAIL_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ORDER_HASH = re.compile(r"#\d{3,}\b")
_ORDER_WORD = re.compile(
    r"\b(order|invoice)(?:\s+(?:no\.?|number|nr\.?))?\s*:?\s+(\d{4,})\b", re.IGNORECASE
)
_PHONE_TEXT = re.compile(r"(?<![\w/-])\+?\(?\d[\d\s().-]{5,}\d(?![\w/-])")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _phone(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group())
    if 7 <= digits <= 15 and not _ISO_DATE.fullmatch(match.group().strip()):
        return "[phone]"
    return match.group()


def scrub_personal_data(value: str, names: Iterable[str] = ()) -> str:
    """VALUE without obvious personal data: emails, phone numbers, order numbers, NAMES."""
    value = _EMAIL_TEXT.sub("[email]", value)
    value = _ORDER_HASH.sub("[order number]", value)
    value = _ORDER_WORD.sub(lambda m: f"{m.group(1)} [order number]", value)
    value = _PHONE_TEXT.sub(_phone, value)
    for name in names:
        if len(name.strip()) >= 3:
            value = re.sub(rf"\b{re.escape(name.strip())}\b", "[name]", value, flags=re.I)
    return value


async def promote_assist_to_training(
    ctx: ToolContext, args: BaseModel
) -> list[Deliverable] | Draft:
    assert isinstance(args, a.PromoteAssistToTrainingArgs)
    assist = await load_assist(ctx, args.assist)
    if assist is None:
        return error_reply(f"There is no assist {args.assist}.")
    events = list(
        await ctx.session.scalars(
            select(AssistEvent)
            .where(AssistEvent.assist_id == assist.id)
            .order_by(AssistEvent.created_at, AssistEvent.id)
        )
    )
    if not any(e.kind == "reply" for e in events):
        return error_reply(
            f"{assist.ref} has no reply from the team yet, so there is no answer to learn from."
        )
    names = [str(assist.customer_details.get("name") or "")]
    if assist.customer_id:
        customer = await ctx.session.get(Customer, assist.customer_id)
        names.append((customer.name if customer else None) or "")
    # Each customer question with the team's reply to it, personal data stripped.
    pairs = [
        (strip_personal_data(q, names).strip(), strip_personal_data(a_, names).strip())
        for q, a_ in training_pairs(assist, events)
    ]
    if not pairs and assist.subject:
        last = next(e for e in reversed(events) if e.kind == "reply")
        pairs = [
            (
                strip_personal_data(assist.subject, names).strip(),
                strip_personal_data(last.body, names).strip(),
            )
        ]
    pairs = [(q, a_) for q, a_ in pairs if q and a_]
    if not pairs:
        return error_reply(f"{assist.ref} has no customer question to learn from.")
    existing = set(
        await ctx.session.scalars(
            select(func.lower(QaPair.question)).where(
                QaPair.workspace_id == ctx.principal.workspace_id, QaPair.active.is_(True)
            )
        )
    )
    fresh = [(q, a_) for q, a_ in dict(pairs).items() if q.lower() not in existing]
    if not fresh:
        duplicate = await ctx.session.scalar(
            select(QaPair.id).where(
                QaPair.workspace_id == ctx.principal.workspace_id,
                QaPair.active.is_(True),
                func.lower(QaPair.question) == pairs[0][0].lower(),
            )
        )
        return error_reply(
            f"Q&A {duplicate} already has that question; edit its answer instead (edit Q&A "
            f"{duplicate})."
        )
    rows = [await _new_qa(ctx, q, a_, f"assist:{assist.ref}") for q, a_ in fresh]
    shown = " ".join(
        f'Question: "{_short(row["question"], 200)}" Answer: "{_short(row["answer"], 300)}"'
        for row in rows
    )
    return Draft(
        tool="promote_assist_to_training",
        summary=f"turn {assist.ref} into Q&A {', '.join(str(row['id']) for row in rows)}",
        changes=tuple(
            _create(
                "qa_pair",
                row,
                f"new Q&A {row['id']} from {assist.ref}",
                f"{_short(row['question'], 60)} → {_short(row['answer'], 60)}",
            )
            for row in rows
        ),
        notice=(
            f"{shown} (names, emails, phone numbers, order and card numbers and addresses were "
            "removed)."
        ),
    )


# --- the AI agent ---------------------------------------------------------------------------------


async def _agent(ctx: ToolContext) -> AiAgent | None:
    return await ctx.session.scalar(
        select(AiAgent)
        .where(AiAgent.workspace_id == ctx.principal.workspace_id)
        .order_by(AiAgent.created_at, AiAgent.id)
        .limit(1)
    )


async def update_agent_config(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.UpdateAgentConfigArgs)
    agent = await _agent(ctx)
    if agent is None:
        return error_reply("This workspace has no AI agent to configure yet.")
    name = "name" if args.field == "name" else f"config.{args.field}"
    current = agent.name if args.field == "name" else agent.config.get(args.field)
    if current == args.value:
        return [Deliverable(text=f"{agent.name}'s {args.field.replace('_', ' ')} is already that.")]
    label = f"{agent.name} {args.field.replace('_', ' ')}"
    return Draft(
        tool="update_agent_config",
        summary=f"change {label}",
        changes=(_set("agent", agent, name, args.value, label),),
    )


# --- members --------------------------------------------------------------------------------------


async def invite_member(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.InviteMemberArgs)
    workspace_id = ctx.principal.workspace_id
    role = args.role or "support"
    if role == "owner" and ctx.principal.role != "owner":
        return error_reply("Only an owner can invite another owner.")
    member = await ctx.session.scalar(
        select(Member).where(Member.workspace_id == workspace_id, Member.email == args.email)
    )
    if member is not None:
        if member.status == "active":
            return error_reply(f"{args.email} is already a member ({member.name}, {member.role}).")
        return error_reply(
            f"{args.email} belongs to {member.name}, who was removed; to bring them back, "
            f'say "reactivate {member.name}".'
        )
    invitation = await ctx.session.scalar(
        select(Invitation).where(
            Invitation.workspace_id == workspace_id, Invitation.email == args.email
        )
    )
    summary = f"invite {args.email} as {role}"
    if invitation is None:
        row = {
            "id": _stable_id("invitation", workspace_id, args.email),
            "workspace_id": workspace_id,
            "email": args.email,
            "name": args.name,
            "role": role,
            "status": "pending",
            "invited_by": ctx.principal.member_id,
            "created_at": AT_EXECUTION,
        }
        shown = f"{args.email} as {role}"
        change = _create("invitation", row, f"invitation for {args.email}", shown)
        return Draft(tool="invite_member", summary=summary, changes=(change,))
    if invitation.status == "pending":
        return error_reply(
            f"{args.email} already has a pending invitation (as {invitation.role}); cancel it "
            "first to invite them with another role."
        )
    # One invitation row per email: an earlier cancelled one is renewed, not duplicated.
    label = f"invitation for {args.email}"
    changes = [_set("invitation", invitation, "status", "pending", f"{label} status")]
    if invitation.role != role:
        changes.append(_set("invitation", invitation, "role", role, f"{label} role"))
    if args.name and invitation.name != args.name:
        changes.append(_set("invitation", invitation, "name", args.name, f"{label} name"))
    if invitation.invited_by != ctx.principal.member_id:
        changes.append(
            _set(
                "invitation",
                invitation,
                "invited_by",
                ctx.principal.member_id,
                f"{label} invited by",
                ("someone else", ctx.principal.name or "you"),
            )
        )
    return Draft(tool="invite_member", summary=summary, changes=tuple(changes))


async def _member_for_update(ctx: ToolContext, args: a.UpdateMemberArgs) -> Member | str:
    try:
        return await find_by_name(ctx.session, ctx.principal, args.member)
    except MemberNotFound as exc:
        if not args.active:
            return str(exc)
        # Reactivation names someone no longer active, whom find_by_name does not see.
        wanted = args.member.strip().lower()
        removed = list(
            await ctx.session.scalars(
                select(Member).where(
                    Member.workspace_id == ctx.principal.workspace_id,
                    Member.status != "active",
                    or_(func.lower(Member.name) == wanted, Member.email == wanted),
                )
            )
        )
        return removed[0] if len(removed) == 1 else str(exc)


async def update_member(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.UpdateMemberArgs)
    found = await _member_for_update(ctx, args)
    if isinstance(found, str):
        return error_reply(found)
    member = found
    role = args.role or member.role
    status = member.status if args.active is None else ("active" if args.active else "removed")
    if (role, status) == (member.role, member.status):
        return [Deliverable(text=f"{member.name} is already {member.role} and {member.status}.")]
    if ctx.principal.role != "owner" and "owner" in (member.role, role):
        return error_reply("Only an owner can change an owner or make someone an owner.")
    stays_owner = role == "owner" and status == "active"
    if member.role == "owner" and member.status == "active" and not stays_owner:
        owners = await ctx.session.scalar(
            select(func.count())
            .select_from(Member)
            .where(
                Member.workspace_id == ctx.principal.workspace_id,
                Member.role == "owner",
                Member.status == "active",
            )
        )
        if (owners or 0) <= 1:
            return error_reply(
                f"{member.name} is the workspace's only owner; make someone else an owner first."
            )
    changes = []
    if role != member.role:
        changes.append(_set("member", member, "role", role, f"{member.name} role"))
    if status != member.status:
        changes.append(_set("member", member, "status", status, f"{member.name} status"))
    what = {
        "removed": f"remove {member.name} from the team",
        "active": f"reactivate {member.name}",
    }
    parts = [f"make {member.name} {role}"] if role != member.role else []
    if status != member.status:
        parts.append(what.get(status, f"set {member.name} {status}"))
    return Draft(tool="update_member", summary=" and ".join(parts), changes=tuple(changes))


async def cancel_invitation(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.CancelInvitationArgs)
    invitation = await ctx.session.scalar(
        select(Invitation).where(
            Invitation.workspace_id == ctx.principal.workspace_id,
            Invitation.email == args.email,
        )
    )
    if invitation is None or invitation.status != "pending":
        state = f" (it is {invitation.status})" if invitation is not None else ""
        return error_reply(f"There is no pending invitation for {args.email}{state}.")
    return Draft(
        tool="cancel_invitation",
        summary=f"cancel the invitation for {args.email}",
        changes=(
            _set(
                "invitation",
                invitation,
                "status",
                "cancelled",
                f"invitation for {args.email} status",
            ),
        ),
    )


# --- API keys -------------------------------------------------------------------------------------


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
        changes=(_create("api_key", row, f'API key "{name}"', "new key, value not yet revealed"),),
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
            _set(
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


# --- schedules ------------------------------------------------------------------------------------

_DEFAULT_FREQUENCY = {
    "daily_inbox_summary": "daily",
    "weekly_performance_digest": "weekly",
    "weekly_knowledge_gaps": "weekly",
    "monthly_roi": "monthly",
}


@dataclass(frozen=True)
class Cadence:
    frequency: str
    days: list[str]
    day_of_month: int | None


def _plan_timing(
    briefing_type: str,
    frequency: str | None,
    days: list[str] | None,
    current: list[str],
    day_of_month: int | None = None,
    current_day: int | None = None,
) -> Cadence | str:
    """The cadence from what was asked, or a message saying what does not fit."""
    if day_of_month is not None and frequency not in (None, "monthly"):
        return f"A day of the month goes with monthly briefings, not {frequency} ones."
    if frequency == "weekdays":  # "on weekdays" may come with the five days spelled out
        return Cadence("weekdays", list(WEEK[:5]), None)
    if days:
        if frequency not in (None, "weekly"):
            return f"Days go with weekly briefings, not {frequency} ones."
        return Cadence("weekly", sorted(set(days), key=WEEK.index), None)
    chosen = "monthly" if day_of_month is not None else frequency
    chosen = chosen or _DEFAULT_FREQUENCY.get(briefing_type, "weekly")
    if chosen == "weekly":
        kept = current if current and current != list(WEEK[:5]) else ["monday"]
        return Cadence(chosen, kept, None)
    if chosen == "monthly":
        return Cadence(chosen, [], day_of_month or current_day or 1)
    return Cadence(chosen, [], None)


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def cadence_text(cadence: Cadence, at: str) -> str:
    """ "every day at 08:00", "every Monday, Thursday at 09:00", "on the 15th of each month"."""
    if cadence.frequency == "monthly":
        day = cadence.day_of_month or 1
        when = f"on the {_ordinal(day)} of each month" + (
            " (or the month's last day)" if day > 28 else ""
        )
    else:
        when = {"daily": "every day", "weekdays": "on weekdays"}.get(
            cadence.frequency
        ) or "every " + ", ".join(d.capitalize() for d in cadence.days)
    return f"{when} at {at}"


def _describe(label: str, cadence: Cadence, at: str, channel: str) -> str:
    return f"{label} {cadence_text(cadence, at)} on {channel}"


def _label(schedule: Schedule) -> str:
    return str((schedule.params or {}).get("label") or schedule.briefing_type.replace("_", " "))


def _schedule_text(schedule: Schedule) -> str:
    cadence = Cadence(schedule.frequency, list(schedule.days), schedule.day_of_month)
    return _describe(_label(schedule), cadence, schedule.time, schedule.channel or "?")


def first_run(now: datetime, at: str, tz: str, cadence: Cadence) -> datetime:
    """When a briefing with this timing is first due after NOW, in its time zone."""
    timing = Timing(cadence.frequency, at, tz, tuple(cadence.days), cadence.day_of_month)
    first = next_fire(timing, now)
    assert first is not None, "a recurring timing always has a next time"
    return first.astimezone(zone(tz))


async def _address_for(
    ctx: ToolContext, member: Member, channel: str, given: str | None
) -> str | None:
    """Where a briefing on CHANNEL reaches MEMBER; raises DirectoryError for a bad address."""
    if given:
        if channel == "slack" and re.fullmatch(
            r"#?[a-z0-9][a-z0-9_-]{0,79}|[CGD][A-Z0-9]{2,}", given
        ):
            return given
        return directory.normalize_address(channel, given)
    if channel == "email" and member.email:
        return member.email
    phones = ("sms", "whatsapp", "voice")
    linked = await ctx.session.scalar(
        select(ChannelIdentity.address)
        .where(
            ChannelIdentity.member_id == member.id,
            ChannelIdentity.channel.in_(phones if channel in phones else (channel,)),
        )
        .limit(1)
    )
    if linked is not None:
        return linked
    route = ctx.task.reply_route
    if route.channel == channel:
        return route.address.removeprefix("whatsapp:")
    return None


async def _agent_schedules(ctx: ToolContext, agent_id: str | None) -> list[Schedule]:
    query = select(Schedule).where(
        Schedule.workspace_id == ctx.principal.workspace_id,
        Schedule.active.is_(True),
        Schedule.one_off_at.is_(None),
    )
    if agent_id is not None:
        # A schedule without an agent belongs to the workspace's (first) agent.
        query = query.where(or_(Schedule.agent_id == agent_id, Schedule.agent_id.is_(None)))
    return list(await ctx.session.scalars(query.order_by(Schedule.id)))


def _quota_refusal(ctx: ToolContext, taken: list[Schedule], agent: AiAgent | None) -> str | None:
    plan = ctx.principal.plan
    limit = SCHEDULE_QUOTAS.get(plan, 0)
    if limit is None or len(taken) < limit:
        return None
    mine = [s for s in taken if s.member_id == ctx.principal.member_id]
    if mine:
        listed = ", ".join(f"schedule {s.id}: {_label(s)} at {s.time}" for s in mine)
        free = f'Cancel one of yours to free a slot ({listed}), e.g. "cancel schedule {mine[0].id}"'
    else:
        free = "They belong to teammates: one of them can cancel one to free a slot"
    upgrade = "Enterprise" if plan == "pro" else "Pro (10) or Enterprise (unlimited)"
    whose = f" for {agent.name}" if agent is not None else ""
    return (
        f"Your {plan.capitalize()} plan allows {limit} recurring briefings per AI agent and "
        f"{len(taken)} are active{whose}. {free}, or upgrade to {upgrade}."
    )


async def _agents(ctx: ToolContext) -> list[AiAgent]:
    return list(
        await ctx.session.scalars(
            select(AiAgent)
            .where(AiAgent.workspace_id == ctx.principal.workspace_id)
            .order_by(AiAgent.created_at, AiAgent.id)
        )
    )


def _briefing_agent(
    agents: list[AiAgent], name: str | None, asked_from: str, channel: str | None
) -> AiAgent | str | None:
    """The AI agent a briefing is for: the one named, else the one connected to the channel
    the member is writing from, else the one connected to the channel named, else the first.
    A message (str) when the name matches no agent."""
    if name:
        wanted = name.strip().casefold()
        for agent in agents:
            if agent.name.casefold() == wanted:
                return agent
        # "the Support bot" for an agent called "Support Bot": the first word, if only one has it
        by_first = [a for a in agents if a.name.casefold().split()[:1] == wanted.split()[:1]]
        if len(by_first) == 1:
            return by_first[0]
        known = ", ".join(agent.name for agent in agents) or "none yet"
        return f'There is no AI agent called "{name}" (agents: {known}).'
    for wanted_channel in (asked_from, channel):
        for agent in agents:
            if wanted_channel and wanted_channel in (agent.channels or []):
                return agent
    return agents[0] if agents else None


async def _briefing_channel(
    ctx: ToolContext, member: Member, agent: AiAgent | None, several: bool, named: str | None
) -> str | None:
    """The channel named; else, where the team has several AI agents, the agent's own channel
    that reaches the member; else the member's default, the channel asked from, or email."""
    if named:
        return named
    came_from = ctx.task.reply_route.channel
    default = member.default_channel
    if several and agent is not None:
        connected = [c for c in agent.channels or [] if c in BRIEFING_CHANNELS]
        for channel in dict.fromkeys([came_from, default, *connected]):
            if channel in connected and await _address_for(ctx, member, channel, None):
                return channel
    for channel in (default, came_from):
        if channel in BRIEFING_CHANNELS:
            return channel
    return "email" if member.email else None


async def draft_schedule(
    ctx: ToolContext,
    *,
    briefing_type: str,
    frequency: str | None = None,
    days: list[str] | None = None,
    day_of_month: int | None = None,
    at: str | None = None,
    channel: str | None = None,
    address: str | None = None,
    agent_name: str | None = None,
    params: dict[str, Any] | None = None,
) -> list[Deliverable] | Draft:
    """A recurring schedule as a proposal, or the answer saying why not (quota, channel).

    Used by `schedule_briefing` and by learning mode (a report or bulk action made recurring,
    whose call and label travel in PARAMS)."""
    member = await _asker(ctx)
    agents = await _agents(ctx)
    agent = _briefing_agent(agents, agent_name, ctx.task.reply_route.channel, channel)
    if isinstance(agent, str):
        return error_reply(agent)
    taken = await _agent_schedules(ctx, agent.id if agent else None)
    refusal = _quota_refusal(ctx, taken, agent if len(agents) > 1 else None)
    if refusal:
        return error_reply(refusal)
    cadence = _plan_timing(briefing_type, frequency, days, [], day_of_month)
    if isinstance(cadence, str):
        return error_reply(cadence)
    channel = await _briefing_channel(ctx, member, agent, len(agents) > 1, channel)
    if channel is None:
        return error_reply(
            "Which channel should the briefing go to (Slack, email, SMS, Telegram...)?"
        )
    try:
        address = await _address_for(ctx, member, channel, address)
    except directory.DirectoryError as exc:
        return error_reply(f"I can't send briefings there: {exc}.")
    if address is None:
        return error_reply(
            f"I don't know your {channel} address: link it to your profile, or tell me where to "
            "send the briefing."
        )
    at = at or "08:00"
    tz = member.timezone or ctx.principal.timezone
    row = {
        "id": await _reserve_id(ctx, Schedule, "schedule"),
        "workspace_id": ctx.principal.workspace_id,
        "member_id": member.id,
        "agent_id": agent.id if agent else None,
        "briefing_type": briefing_type,
        "frequency": cadence.frequency,
        "days": cadence.days,
        "day_of_month": cadence.day_of_month,
        "time": at,
        "timezone": tz,
        "channel": channel,
        "address": address,
        "one_off_at": None,
        "params": params or {},
        "active": True,
        "last_run_at": None,
        # The scheduler computes the run times; the proposal only states the first one.
        "next_run_at": None,
        "created_at": AT_EXECUTION,
    }
    label = str((params or {}).get("label") or briefing_type.replace("_", " "))
    if agent is not None and len(agents) > 1:
        label = f"{label} for {agent.name}"
    described = _describe(label, cadence, at, channel)
    first = first_run(ctx.now, at, tz, cadence)
    return Draft(
        tool="schedule_briefing",
        summary=f"schedule {described} ({tz})",
        changes=(_create("schedule", row, f"new schedule {row['id']}", f"{described} ({tz})"),),
        notice=f"The first one is due {first:%a %d %b at %H:%M} ({tz}).",
    )


async def schedule_briefing(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.ScheduleBriefingArgs)
    return await draft_schedule(
        ctx,
        briefing_type=args.briefing_type,
        frequency=args.frequency,
        days=args.days,
        day_of_month=args.day_of_month,
        at=args.time,
        channel=args.channel,
        address=args.address,
        agent_name=args.agent,
    )


async def _my_schedule(
    ctx: ToolContext,
    briefing_type: str | None,
    schedule_id: int | None,
    *,
    recurring: bool = False,
) -> Schedule | list[Deliverable]:
    """The asker's one active schedule the arguments mean (RECURRING: no one-off follow-ups),
    or an answer asking which."""
    query = select(Schedule).where(
        Schedule.workspace_id == ctx.principal.workspace_id,
        Schedule.member_id == ctx.principal.member_id,
        Schedule.active.is_(True),
    )
    if recurring:
        query = query.where(Schedule.one_off_at.is_(None))
    if schedule_id is not None:
        query = query.where(Schedule.id == schedule_id)
    if briefing_type is not None:
        query = query.where(Schedule.briefing_type == briefing_type)
    found = list(await ctx.session.scalars(query.order_by(Schedule.id)))
    if len(found) == 1:
        return found[0]
    if not found:
        what = (
            f"schedule {schedule_id}"
            if schedule_id is not None
            else f"{briefing_type.replace('_', ' ')} briefing"
            if briefing_type
            else "scheduled briefing"
        )
        return error_reply(f"You have no active {what}.")
    options = "; ".join(f"schedule {s.id}: {_schedule_text(s)}" for s in found)
    return [Deliverable(text=f"Which one do you mean? {options}.")]


async def update_schedule(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.UpdateScheduleArgs)
    found = await _my_schedule(ctx, args.briefing_type, args.schedule_id, recurring=True)
    if isinstance(found, list):
        return found
    schedule = found
    if args.days is None and args.frequency is None and args.day_of_month is None:
        cadence = Cadence(schedule.frequency, list(schedule.days), schedule.day_of_month)
    else:
        timing = _plan_timing(
            schedule.briefing_type,
            args.frequency,
            args.days,
            list(schedule.days),
            args.day_of_month,
            schedule.day_of_month,
        )
        if isinstance(timing, str):
            return error_reply(timing)
        cadence = timing
    wanted: dict[str, Any] = {
        "frequency": cadence.frequency,
        "days": cadence.days,
        "day_of_month": cadence.day_of_month,
    }
    if args.time:
        wanted["time"] = args.time
    if args.channel and args.channel != schedule.channel:
        member = await _asker(ctx)
        address = await _address_for(ctx, member, args.channel, None)
        if address is None:
            return error_reply(
                f"I don't know your {args.channel} address; link it to your profile."
            )
        wanted["channel"] = args.channel
        wanted["address"] = address
    label = f"schedule {schedule.id} ({_label(schedule)})"
    changes = [
        _set("schedule", schedule, name, value, f"{label} {name.replace('_', ' ')}")
        for name, value in wanted.items()
        if getattr(schedule, name) != value
    ]
    if not changes:
        return [Deliverable(text=f"Schedule {schedule.id} already runs like that.")]
    described = _describe(
        _label(schedule),
        cadence,
        wanted.get("time", schedule.time),
        wanted.get("channel", schedule.channel or "?"),
    )
    return Draft(
        tool="update_schedule",
        summary=f"change schedule {schedule.id} to {described}",
        changes=tuple(changes),
    )


async def cancel_schedule(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.CancelScheduleArgs)
    found = await _my_schedule(ctx, args.briefing_type, args.schedule_id)
    if isinstance(found, list):
        return found
    schedule = found
    return Draft(
        tool="cancel_schedule",
        summary=f"stop schedule {schedule.id} ({_schedule_text(schedule)})",
        changes=(
            _set(
                "schedule",
                schedule,
                "active",
                False,
                f"schedule {schedule.id}",
                ("active", "stopped"),
            ),
        ),
    )


# --- integrations, imports, broadcasts ------------------------------------------------------------


def _integration_name(value: str) -> str:
    return re.sub(r"[\s_-]+", "", value.strip().lower())


async def _integration(ctx: ToolContext, name: str) -> Integration | None:
    return await ctx.session.scalar(
        select(Integration).where(
            Integration.workspace_id == ctx.principal.workspace_id, Integration.name == name
        )
    )


async def toggle_integration(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.ToggleIntegrationArgs)
    name = _integration_name(args.integration)
    state = "on" if args.enabled else "off"
    row = await _integration(ctx, name)
    if row is not None:
        if row.enabled == args.enabled:
            return [Deliverable(text=f"{name} is already {state}.")]
        was = "on" if row.enabled else "off"
        changes = (
            _set("integration", row, "enabled", args.enabled, name, (was, state)),
            _set(
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
        "id": _stable_id("integration", ctx.principal.workspace_id, name),
        "workspace_id": ctx.principal.workspace_id,
        "name": name,
        "enabled": args.enabled,
        "settings": {},
        "updated_at": AT_EXECUTION,
    }
    return Draft(
        tool="toggle_integration",
        summary=f"turn {name} {state}",
        changes=(_create("integration", created, f"{name}", state),),
        notice=f"{name} has not been set up before; its credentials are added in the dashboard.",
    )


async def run_import(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.RunImportArgs)
    source = _integration_name(args.source)
    if source not in IMPORT_SOURCES:
        return error_reply(
            f"I can't import from {args.source}; sources: "
            + ", ".join(sorted(IMPORT_SOURCES))
            + "."
        )
    integration = await _integration(ctx, source)
    if integration is None or not integration.enabled:
        return error_reply(
            f'{source} is not connected. Turn it on first ("turn on {source}"), then ask again.'
        )
    previous = integration.settings.get("last_import")
    if isinstance(previous, dict) and previous.get("status") in ("queued", "running"):
        return error_reply(
            f"An import from {source} is already {previous['status']} "
            f"(requested {previous.get('requested_at', '?')[:16].replace('T', ' ')})."
        )
    records = args.records or "tickets"
    job = {
        "records": records,
        "filter_status": args.status,
        "status": "queued",
        "requested_by": ctx.principal.member_id,
        "requested_at": AT_EXECUTION,
    }
    what = f"{args.status} {records}" if args.status else records
    # There is no import table: the request is recorded on the integration for the importer.
    return Draft(
        tool="run_import",
        summary=f"queue an import of {what} from {source}",
        changes=(
            _set(
                "integration",
                integration,
                "settings.last_import",
                job,
                f"{source} import",
                (
                    previous.get("status", "—") if isinstance(previous, dict) else "none",
                    f"queued: {what}",
                ),
            ),
        ),
        notice=(
            f"Approving queues the import; {source}'s importer runs it and records the result "
            "on the integration. Nothing is imported until then."
        ),
    )


async def _audience(ctx: ToolContext, audience: str) -> list[str]:
    """Distinct customer emails of AUDIENCE, in a stable order."""
    query = select(Customer.email).where(
        Customer.workspace_id == ctx.principal.workspace_id,
        Customer.email.is_not(None),
        Customer.email != "",
    )
    if audience != "all_customers":
        talked = select(Conversation.customer_id).where(
            Conversation.workspace_id == ctx.principal.workspace_id
        )
        if audience == "active_conversations":
            since = ctx.now - timedelta(hours=24)
            talked = talked.where(
                or_(Conversation.started_at >= since, Conversation.ended_at >= since)
            )
        else:  # website_visitors: customers who talked to the agent on the website
            talked = talked.where(Conversation.channel == "web")
        query = query.where(Customer.id.in_(talked))
    emails = {str(e).lower() for e in await ctx.session.scalars(query)}
    return sorted(emails)


async def send_broadcast(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.SendBroadcastArgs)
    if args.channel not in (None, "email"):
        return error_reply(
            "Broadcasts go by email only: SMS, WhatsApp and the other channels need each "
            "customer's consent to bulk messages, which is not recorded here."
        )
    audience = args.audience or "all_customers"
    recipients = await _audience(ctx, audience)
    shown = audience.replace("_", " ")
    if not recipients:
        return error_reply(f"No customers with an email address match {shown}.")
    if len(recipients) > BROADCAST_LIMIT:
        return error_reply(
            f"That would email {len(recipients)} customers ({shown}); one broadcast reaches at "
            f"most {BROADCAST_LIMIT}. Choose a narrower audience, such as active conversations."
        )
    subject = f"A message from {ctx.principal.workspace_name}"
    return Draft(
        tool="send_broadcast",
        summary=f"email {len(recipients)} customer(s) ({shown})",
        changes=(),
        estimated_count=len(recipients),
        reversible=False,
        messages=tuple(
            Message(channel="email", address=email, text=args.message, subject=subject)
            for email in recipients
        ),
        notice=(
            f'"{_short(args.message, 200)}" is emailed to {len(recipients)} customer(s) on '
            "approval. A broadcast cannot be undone."
        ),
    )


HANDLERS = {
    "approve_training_suggestion": approve_training_suggestion,
    "add_training_source": add_training_source,
    "edit_qa_pair": edit_qa_pair,
    "remove_qa_pair": remove_qa_pair,
    "promote_assist_to_training": promote_assist_to_training,
    "update_agent_config": update_agent_config,
    "invite_member": invite_member,
    "update_member": update_member,
    "cancel_invitation": cancel_invitation,
    "create_api_key": create_api_key,
    "revoke_api_key": revoke_api_key,
    "schedule_briefing": schedule_briefing,
    "update_schedule": update_schedule,
    "cancel_schedule": cancel_schedule,
    "toggle_integration": toggle_integration,
    "run_import": run_import,
    "send_broadcast": send_broadcast,
}
