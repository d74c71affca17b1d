"""Workspaces, members, channel identities and API keys: repository functions on a session."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

import phonenumbers
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ApiKey, AuditEntry, ChannelIdentity, Member, Workspace, WorkspaceAddress
from storage.types import utcnow

PLANS = ("plus", "pro", "enterprise")
ROLES = ("owner", "admin", "manager", "support")
IDENTITY_CHANNELS = ("slack", "telegram", "sms", "whatsapp", "email", "voice")
# ASCII digits (\d takes any script's digits); \Z, since $ also matches before a final newline.
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}\Z")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
API_KEY_PREFIX = "sb_"


class DirectoryError(ValueError):
    """A request the directory cannot honour; the message is safe to show the caller."""


class NotFound(DirectoryError):
    pass


class Conflict(DirectoryError):
    pass


def phone_number(address: str, country: str | None = None) -> str:
    """ADDRESS as an E.164 number. With COUNTRY (the workspace's, ISO 3166 alpha-2), a
    number written the national way ("020 7946 0958" in GB) is read as one of that
    country's (libphonenumber's rules: trunk prefix, lengths); without one, the number must
    carry its country code. Raises DirectoryError."""
    number = address.strip().removeprefix("whatsapp:")
    compact = re.sub(r"[\s().-]", "", number)
    if _E164.match(compact):
        return compact
    if country and not compact.startswith("+"):
        try:
            parsed = phonenumbers.parse(number, country.upper())
        except phonenumbers.NumberParseException:
            parsed = None
        if (
            parsed is not None
            and phonenumbers.is_possible_number_with_reason(parsed)
            == phonenumbers.ValidationResult.IS_POSSIBLE
        ):
            formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            if _E164.match(formatted):
                return formatted
        raise DirectoryError(
            f"{address!r} is not a phone number in {country.upper()} nor one with its country "
            "code such as +15551234567"
        )
    raise DirectoryError(
        f"{address!r} is not a phone number with its country code (E.164) such as +15551234567 "
        "(set the workspace's country to write numbers the national way)"
    )


def normalize_address(channel: str, address: str, country: str | None = None) -> str:
    """One spelling per address so lookups match: lower-case email, E.164 numbers (national
    ones read as COUNTRY's, the workspace's country, when given)."""
    address = address.strip()
    if channel == "email":
        if not _EMAIL.match(address):
            raise DirectoryError(f"{address!r} is not an email address")
        return address.lower()
    if channel in ("sms", "voice", "whatsapp"):
        return phone_number(address, country)
    if channel == "telegram":
        # ASCII digits, one optional minus (groups are negative): what int() takes back.
        if not re.fullmatch(r"-?[0-9]{1,20}", address):
            raise DirectoryError(f"{address!r} is not a Telegram user id")
        return address
    if channel == "slack":
        if not re.fullmatch(r"[UW][A-Z0-9]{2,}", address):
            raise DirectoryError(f"{address!r} is not a Slack user id such as U024BE7LH")
        return address
    raise DirectoryError(f"unknown channel {channel!r}")


def country_code(value: str | None) -> str | None:
    """VALUE as an ISO 3166 alpha-2 country code that phone numbers are known for ("gb" ->
    "GB"); None for none; raises DirectoryError."""
    if value is None or not value.strip():
        return None
    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise DirectoryError(f"{value!r} is not a country code such as US, GB or DE")
    return code


async def create_workspace(
    session: AsyncSession,
    name: str,
    *,
    plan: str = "pro",
    timezone: str = "UTC",
    country: str | None = None,
) -> Workspace:
    name = name.strip()
    if not name:
        raise DirectoryError("a workspace needs a name")
    if plan not in PLANS:
        raise DirectoryError(f"plan must be one of {', '.join(PLANS)}")
    workspace = Workspace(name=name, plan=plan, timezone=timezone, country=country_code(country))
    session.add(workspace)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a workspace named {name!r} exists already") from exc
    await audit(session, workspace.id, "system", "workspace.create", workspace.id, {"name": name})
    return workspace


async def find_workspace(session: AsyncSession, ref: str) -> Workspace:
    """A workspace by id or name; raises NotFound."""
    row = await session.scalar(
        select(Workspace).where(or_(Workspace.id == ref, Workspace.name == ref))
    )
    if row is None:
        raise NotFound(f"no workspace {ref!r}")
    return row


async def add_member(
    session: AsyncSession,
    workspace_id: str,
    *,
    name: str,
    role: str,
    email: str | None = None,
    identities: dict[str, str] | None = None,
    actor: str = "system",
) -> Member:
    """Create a member and link their channel identities; raises DirectoryError or Conflict."""
    name = name.strip()
    if not name:
        raise DirectoryError("a member needs a name")
    if role not in ROLES:
        raise DirectoryError(f"role must be one of {', '.join(ROLES)}")
    if email is not None:
        email = normalize_address("email", email)
    member = Member(workspace_id=workspace_id, name=name, role=role, email=email)
    session.add(member)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a member with email {email!r} exists already") from exc
    links = dict(identities or {})
    if email is not None:
        links.setdefault("email", email)
    for channel, address in links.items():
        await link_identity(session, member, channel, address)
    await audit(session, workspace_id, actor, "member.add", member.id, {"role": role})
    return member


PHONE_CHANNELS = ("sms", "whatsapp", "voice")


async def link_identity(
    session: AsyncSession, member: Member, channel: str, address: str
) -> ChannelIdentity:
    """Link ADDRESS on CHANNEL to MEMBER (a phone number written the national way read as
    one of the workspace's country); raises DirectoryError or Conflict."""
    country = None
    if channel in PHONE_CHANNELS:
        workspace = await session.get(Workspace, member.workspace_id)
        country = workspace.country if workspace is not None else None
    address = normalize_address(channel, address, country)
    if channel in PHONE_CHANNELS:
        # One phone, one person: SMS, WhatsApp and voice resolve through any of them.
        holder = await session.scalar(
            select(ChannelIdentity.member_id).where(
                ChannelIdentity.workspace_id == member.workspace_id,
                ChannelIdentity.channel.in_(PHONE_CHANNELS),
                ChannelIdentity.address == address,
                ChannelIdentity.member_id != member.id,
            )
        )
        if holder is not None:
            raise Conflict(f"{address} is linked to another member")
    identity = ChannelIdentity(
        workspace_id=member.workspace_id, member_id=member.id, channel=channel, address=address
    )
    session.add(identity)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{channel} address {address} is linked to another member") from exc
    return identity


async def find_member(
    session: AsyncSession, ref: str, *, workspace_id: str | None = None
) -> Member:
    """A member by id or email (within a workspace if given); raises NotFound or Conflict."""
    query = select(Member).where(
        or_(Member.id == ref, Member.email == ref.strip().lower()), Member.status == "active"
    )
    if workspace_id is not None:
        query = query.where(Member.workspace_id == workspace_id)
    rows = list(await session.scalars(query.limit(2)))
    if not rows:
        raise NotFound(f"no member {ref!r}")
    if len(rows) > 1:
        raise Conflict(f"{ref!r} is a member of several workspaces; use the member id")
    return rows[0]


async def member_identities(session: AsyncSession, member_id: str) -> list[ChannelIdentity]:
    query = select(ChannelIdentity).where(ChannelIdentity.member_id == member_id)
    return list(await session.scalars(query.order_by(ChannelIdentity.channel)))


@dataclass(frozen=True)
class NewApiKey:
    """A freshly created key: `secret` is shown once and never stored."""

    id: str
    workspace_id: str
    prefix: str
    secret: str


def hash_api_key(secret: str) -> str:
    # Keys are 256-bit random strings, so a plain SHA-256 is enough (no need for a slow KDF).
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_api_key(
    session: AsyncSession, workspace_id: str, *, name: str = "", actor: str = "system"
) -> NewApiKey:
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        workspace_id=workspace_id,
        name=name,
        prefix=secret[:10],
        key_hash=hash_api_key(secret),
        created_by=actor,
    )
    session.add(key)
    await session.flush()
    await audit(session, workspace_id, actor, "apikey.create", key.id, {"prefix": key.prefix})
    return NewApiKey(id=key.id, workspace_id=workspace_id, prefix=key.prefix, secret=secret)


async def authenticate_api_key(session: AsyncSession, secret: str) -> ApiKey | None:
    """The live key matching SECRET, or None."""
    if not secret.startswith(API_KEY_PREFIX) or len(secret) > 200:
        return None
    key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(secret)))
    if key is None or key.revoked_at is not None:
        return None
    key.last_used_at = utcnow()
    return key


async def revoke_api_key(
    session: AsyncSession, workspace_id: str, key_id: str, *, actor: str
) -> ApiKey:
    key = await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.workspace_id == workspace_id)
    )
    if key is None:
        raise NotFound(f"no API key {key_id!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await audit(session, workspace_id, actor, "apikey.revoke", key.id, {"prefix": key.prefix})
    return key


async def route_workspace(session: AsyncSession, channel: str, address: str) -> str | None:
    """The workspace an inbound address belongs to; the only workspace if there is just one."""
    mapped = await session.scalar(
        select(WorkspaceAddress.workspace_id).where(
            WorkspaceAddress.channel == channel, WorkspaceAddress.address == address
        )
    )
    if mapped is not None:
        return mapped
    ids = list(await session.scalars(select(Workspace.id).limit(2)))
    return ids[0] if len(ids) == 1 else None


async def count_workspaces(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Workspace)) or 0)


async def audit(
    session: AsyncSession,
    workspace_id: str,
    actor: str,
    action: str,
    target: str | None = None,
    details: dict[str, object] | None = None,
) -> None:
    session.add(
        AuditEntry(
            workspace_id=workspace_id,
            actor=actor,
            action=action,
            target=target,
            details=details or {},
            created_at=utcnow(),
        )
    )


class TTLCache:
    """A small cache for lookups on the ingest path, where a database round trip per webhook
    would dominate. Entries live TTL seconds: the pipeline re-resolves identity when it
    processes the task, so a member removed meanwhile is still refused there."""

    def __init__(
        self, ttl: float = 5.0, maxsize: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._maxsize = maxsize
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._loading: dict[Hashable, asyncio.Future[Any]] = {}
        self._generation = 0  # bumped by clear(): a load begun before it is not cached

    async def get_or_load(self, key: Hashable, load: Callable[[], Awaitable[Any]]) -> Any | None:
        """The cached value for KEY, or what LOAD returns (cached unless None; its exception
        raised). Concurrent misses on one key share one LOAD: when an entry expires under
        load, one database round trip refills it instead of one per waiting request."""
        value = self.get(key)
        if value is not None:
            return value
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._load(key, load, self._generation))
            # Retrieved here too, in case every waiter went away before it failed.
            pending.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._loading[key] = pending
        # Shielded: one waiter going away (a client disconnecting) does not cancel the others'.
        return await asyncio.shield(pending)

    async def _load(
        self, key: Hashable, load: Callable[[], Awaitable[Any]], generation: int
    ) -> Any:
        try:
            value = await load()
            if value is not None and generation == self._generation:
                self.put(key, value)
            return value
        finally:
            if self._loading.get(key) is asyncio.current_task():
                del self._loading[key]

    def get(self, key: Hashable) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < self._clock():
            del self._entries[key]
            return None
        return value

    def put(self, key: Hashable, value: Any) -> None:
        if len(self._entries) >= self._maxsize:
            # Dicts keep insertion order: drop the oldest tenth in one go.
            for stale in list(self._entries)[: max(1, self._maxsize // 10)]:
                del self._entries[stale]
        self._entries[key] = (self._clock() + self._ttl, value)

    def clear(self) -> None:
        self._entries.clear()
        self._loading.clear()  # later misses load afresh
        self._generation += 1
