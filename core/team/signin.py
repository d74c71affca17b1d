"""Console sign-in: argon2id passwords, single-use links, revocable sessions, throttling.

Passwords are hashed with argon2-cffi's `PasswordHasher` (argon2id, its RFC 9106 low-memory
profile): a well-kept implementation with constant-time verification and parameters that can be
raised later (`check_needs_rehash`). Every token we hand out (session cookies, sign-in,
invitation and reset links) is 32 random bytes; only its SHA-256 is stored, so a copy of the
database signs nobody in. Single use and expiry are enforced by one conditional UPDATE, so two
nodes cannot both accept the same link.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from core.team.directory import audit
from storage.models import ConsoleSession, Member, OneTimeToken, SignInAttempt, Workspace
from storage.types import new_id

Purpose = Literal["signin", "invitation", "reset"]

SESSION_LIFETIME = timedelta(days=7)  # absolute: sign in again after a week
SESSION_IDLE = timedelta(hours=12)  # a console left alone overnight signs out
SEEN_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often
TOKEN_LIFETIME: dict[Purpose, timedelta] = {
    "signin": timedelta(minutes=30),
    "invitation": timedelta(days=7),
    "reset": timedelta(hours=1),
}
# Throttling, counted in the database so every node sees the same failures.
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20
MIN_PASSWORD = 10
MAX_PASSWORD = 200

_hasher = PasswordHasher()
# Verified against when no account matches, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class SignInError(Exception):
    """Sign-in refused; the message is safe to show (it never says whether an account exists)."""


class Throttled(SignInError):
    """Too many failed sign-ins for this account or from this address."""


class WeakPassword(ValueError):
    """The password does not meet the policy; the message says why."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_policy(password: str, *, email: str | None = None) -> None:
    """Raises WeakPassword unless PASSWORD is long enough and not the email itself."""
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"Use at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise WeakPassword(f"Use at most {MAX_PASSWORD} characters.")
    if email and password.strip().lower() == email.strip().lower():
        raise WeakPassword("The password cannot be your email address.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(hashed: str | None, password: str) -> bool:
    try:
        return _hasher.verify(hashed or _DUMMY_HASH, password) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


def set_password(member: Member, password: str) -> None:
    """Raises WeakPassword."""
    check_password_policy(password, email=member.email)
    member.password_hash = hash_password(password)


# --- one-time links ------------------------------------------------------------------------


async def issue_token(
    session: AsyncSession,
    workspace_id: str,
    purpose: Purpose,
    *,
    now: datetime,
    member_id: str | None = None,
    invitation_id: str | None = None,
) -> str:
    """A new single-use token for PURPOSE; the raw token is returned once, only its hash kept."""
    token = secrets.token_urlsafe(32)
    session.add(
        OneTimeToken(
            id=new_id(),
            workspace_id=workspace_id,
            purpose=purpose,
            token_hash=token_hash(token),
            member_id=member_id,
            invitation_id=invitation_id,
            created_at=now,
            expires_at=now + TOKEN_LIFETIME[purpose],
        )
    )
    await session.flush()
    return token


async def peek_token(
    session: AsyncSession, token: str, purpose: Purpose, *, now: datetime
) -> OneTimeToken | None:
    """The unused, unexpired token row for TOKEN, without using it (to show a form)."""
    if not token or len(token) > 100:
        return None
    row = await session.scalar(
        select(OneTimeToken).where(
            OneTimeToken.token_hash == token_hash(token), OneTimeToken.purpose == purpose
        )
    )
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    return row


async def use_token(
    session: AsyncSession, token: str, purpose: Purpose, *, now: datetime
) -> OneTimeToken | None:
    """Marks TOKEN used and returns its row, or None when it is unknown, used or expired.
    Of two requests racing with one link, exactly one gets the row."""
    row = await peek_token(session, token, purpose, now=now)
    if row is None:
        return None
    claimed = await session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == row.id, OneTimeToken.used_at.is_(None))
        .values(used_at=now)
    )
    if cast("CursorResult[Any]", claimed).rowcount != 1:
        return None
    return row


async def sign_in_link(
    session: AsyncSession, member: Member, base_url: str, *, now: datetime
) -> str:
    """A one-time sign-in link for MEMBER: `<base>/console/login/<token>`."""
    token = await issue_token(session, member.workspace_id, "signin", now=now, member_id=member.id)
    return f"{base_url.rstrip('/')}/console/login/{token}"


# --- sessions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    """A console session and who holds it."""

    session_id: str
    csrf_token: str
    member_id: str
    workspace_id: str
    name: str
    email: str | None
    role: str
    plan: str
    workspace_name: str
    timezone: str


@dataclass(frozen=True)
class NewSession:
    token: str  # the cookie's value, shown once
    signed_in: SignedIn


async def start_session(
    session: AsyncSession,
    member: Member,
    *,
    now: datetime,
    address: str | None,
    user_agent: str | None,
    method: str,
) -> NewSession:
    """A fresh session for MEMBER (a new token at every sign-in: no fixation), audited."""
    workspace = await session.get(Workspace, member.workspace_id)
    assert workspace is not None
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(
        id=new_id(),
        workspace_id=member.workspace_id,
        member_id=member.id,
        token_hash=token_hash(token),
        csrf_token=secrets.token_urlsafe(32),
        address=(address or "")[:64] or None,
        user_agent=(user_agent or "")[:300] or None,
        created_at=now,
        last_seen_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    session.add(row)
    member.last_sign_in_at = now
    await audit(
        session,
        member.workspace_id,
        f"member:{member.id}",
        "console.sign_in",
        target=member.email,
        details={"method": method, "address": address or ""},
    )
    return NewSession(token, _signed_in(row, member, workspace))


def _signed_in(row: ConsoleSession, member: Member, workspace: Workspace) -> SignedIn:
    return SignedIn(
        session_id=row.id,
        csrf_token=row.csrf_token,
        member_id=member.id,
        workspace_id=member.workspace_id,
        name=member.name,
        email=member.email,
        role=member.role,
        plan=workspace.plan,
        workspace_name=workspace.name,
        timezone=member.timezone or workspace.timezone or "UTC",
    )


async def authenticate(session: AsyncSession, token: str, *, now: datetime) -> SignedIn | None:
    """The live session TOKEN names, or None (unknown, revoked, expired, idle too long, or its
    member removed)."""
    if not token or len(token) > 100:
        return None
    found = (
        await session.execute(
            select(ConsoleSession, Member, Workspace)
            .join(Member, Member.id == ConsoleSession.member_id)
            .join(Workspace, Workspace.id == ConsoleSession.workspace_id)
            .where(ConsoleSession.token_hash == token_hash(token))
        )
    ).first()
    if found is None:
        return None
    row, member, workspace = found
    if (
        row.revoked_at is not None
        or row.expires_at <= now
        or row.last_seen_at + SESSION_IDLE <= now
        or member.status != "active"
        or member.workspace_id != row.workspace_id
    ):
        return None
    if now - row.last_seen_at >= SEEN_EVERY:
        row.last_seen_at = now
    return _signed_in(row, member, workspace)


async def end_session(session: AsyncSession, session_id: str, *, now: datetime) -> None:
    """Signs out: the cookie no longer works, on any node."""
    row = await session.get(ConsoleSession, session_id)
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at = now
    await audit(session, row.workspace_id, f"member:{row.member_id}", "console.sign_out")


async def end_member_sessions(
    session: AsyncSession, member_id: str, *, now: datetime, keep: str | None = None
) -> int:
    """Revokes every session of MEMBER (after a password change), except KEEP."""
    query = update(ConsoleSession).where(
        ConsoleSession.member_id == member_id, ConsoleSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(ConsoleSession.id != keep)
    result = await session.execute(query.values(revoked_at=now))
    return int(cast("CursorResult[Any]", result).rowcount or 0)


# --- password sign-in and throttling -------------------------------------------------------


async def _failures(session: AsyncSession, column: Any, value: str, since: datetime) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(SignInAttempt)
        .where(
            column == value, SignInAttempt.created_at > since, SignInAttempt.succeeded.is_(False)
        )
    )
    return int(count or 0)


async def check_throttle(session: AsyncSession, email: str, address: str, *, now: datetime) -> None:
    """Raises Throttled when this account or this address failed too often lately."""
    since = now - THROTTLE_WINDOW
    minutes = int(THROTTLE_WINDOW.total_seconds() // 60)
    if await _failures(session, SignInAttempt.email, email, since) >= MAX_FAILURES_PER_ACCOUNT:
        raise Throttled(
            f"Too many failed sign-ins for this account. Wait {minutes} minutes, or use "
            "“Email me a sign-in link”."
        )
    if await _failures(session, SignInAttempt.address, address, since) >= MAX_FAILURES_PER_ADDRESS:
        raise Throttled(f"Too many failed sign-ins from this address. Wait {minutes} minutes.")


async def sign_in_with_password(
    session: AsyncSession, email: str, password: str, *, address: str, now: datetime
) -> Member:
    """The member EMAIL and PASSWORD name. Raises Throttled or SignInError; every attempt is
    recorded (for throttling) and audited in the member's workspace when the account exists.
    The caller commits even on failure, so failures count."""
    email = email.strip().lower()[:320]
    address = address[:64]
    await check_throttle(session, email, address, now=now)
    candidates = list(
        await session.scalars(
            select(Member)
            .where(func.lower(Member.email) == email, Member.status == "active")
            .order_by(Member.created_at, Member.id)
        )
    )
    matched = next((m for m in candidates if _verify(m.password_hash, password)), None)
    if not candidates:
        _verify(None, password)  # the same time as a real check
    session.add(
        SignInAttempt(
            id=new_id(), email=email, address=address, succeeded=matched is not None, created_at=now
        )
    )
    if matched is None:
        for member in candidates:
            await audit(
                session,
                member.workspace_id,
                f"address:{address}",
                "console.sign_in_failed",
                target=email,
                details={"method": "password"},
            )
        raise SignInError("That email and password do not match an account.")
    if _hasher.check_needs_rehash(matched.password_hash or ""):
        matched.password_hash = hash_password(password)
    return matched


async def change_password(
    session: AsyncSession,
    member: Member,
    current: str,
    new: str,
    *,
    keep: str | None,
    address: str,
    now: datetime,
) -> int:
    """Sets MEMBER's password to NEW after checking CURRENT (not asked of a member who has none
    yet) and signs them out everywhere but the session KEEP; returns how many sessions ended.
    Raises Throttled or SignInError (a wrong current password, recorded and throttled like a
    failed sign-in: the caller commits even then) or WeakPassword."""
    email = (member.email or "").strip().lower()[:320]
    if member.password_hash is not None:
        await check_throttle(session, email, address[:64], now=now)
        if not _verify(member.password_hash, current):
            session.add(
                SignInAttempt(
                    id=new_id(), email=email, address=address[:64], succeeded=False, created_at=now
                )
            )
            await audit(
                session, member.workspace_id, f"member:{member.id}", "password.change_failed"
            )
            raise SignInError("Your current password is not right; nothing was changed.")
    check_password_policy(new, email=member.email)
    member.password_hash = hash_password(new)
    ended = await end_member_sessions(session, member.id, now=now, keep=keep)
    await audit(
        session,
        member.workspace_id,
        f"member:{member.id}",
        "password.change",
        target=member.email,
        details={"sessions_ended": ended},
    )
    return ended


async def member_for_link(session: AsyncSession, token: str, *, now: datetime) -> Member | None:
    """Uses a sign-in link; the active member it was made for, or None."""
    row = await use_token(session, token, "signin", now=now)
    if row is None or row.member_id is None:
        return None
    member = await session.get(Member, row.member_id)
    if member is None or member.status != "active" or member.workspace_id != row.workspace_id:
        return None
    return member


async def active_members_by_email(session: AsyncSession, email: str) -> list[Member]:
    return list(
        await session.scalars(
            select(Member)
            .where(func.lower(Member.email) == email.strip().lower(), Member.status == "active")
            .order_by(Member.created_at, Member.id)
        )
    )
