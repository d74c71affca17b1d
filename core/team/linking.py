"""Link codes: a member is shown a short-lived 6-digit code (console profile, CLI) and sends
"link 123456" from Slack, Telegram, SMS or WhatsApp; that chat identity is then theirs.

A code is single use, lasts `CODE_LIFETIME`, and only a keyed hash of it is stored (HMAC with
`SWITCHBOARD_SECRET_KEY` where it is set: without the key, the hashes of a copied database
cannot be reversed by trying all million codes). Wrong, used and expired codes are counted in
the database per sender and per workspace, so guessing is throttled on every node: with
`MAX_FAILURES_PER_WORKSPACE` guesses per `THROTTLE_WINDOW`, finding one live code among a
million takes months, while it lives ten minutes.

Redeeming runs in the task's own transaction (the pipeline's), so a redelivered or retried
message links once and is answered once: the journal's dedupe key and the claim fence see to
the first, the single transaction to the second.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from core.team.directory import (
    Conflict,
    DirectoryError,
    audit,
    link_identity,
    normalize_address,
)
from core.team.identity import Principal
from core.team.slack_email import SlackEmailLinker, VerifiedEmails
from models.deliverable import Deliverable
from models.task import Task
from storage.linking import LinkAttempt, LinkCode
from storage.models import Member

CODE_LIFETIME = timedelta(minutes=10)
# Dead codes are kept a day, so "expired" and "used already" can be told apart from a typo.
KEEP_DEAD = timedelta(days=1)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_SENDER = 5
MAX_FAILURES_PER_WORKSPACE = 30
# The channels a code is sent from, and how a reply names the identity linked.
LINK_CHANNELS: dict[str, str] = {
    "slack": "Slack account",
    "telegram": "Telegram account",
    "sms": "phone number",
    "whatsapp": "WhatsApp number",
}
# The whole message, nothing else: "link 123456" (any case, digits optionally split 3+3).
# ASCII digits only: \d would take any script's digits.
_REQUEST = re.compile(r"\s*link\s+([0-9]{3})[ -]?([0-9]{3})\s*", re.IGNORECASE)
_FALLBACK_KEY = b"switchboard link codes"


def parse_request(text: str) -> str | None:
    """The code in TEXT when the whole message is a link request, else None."""
    if len(text) > 40:
        return None
    match = _REQUEST.fullmatch(text)
    return match.group(1) + match.group(2) if match else None


def link_secret(settings: Settings) -> bytes | None:
    """The key link codes are hashed with: SWITCHBOARD_SECRET_KEY, when set."""
    key = settings.switchboard_secret_key
    return key.get_secret_value().encode() if key is not None else None


def code_digest(secret: bytes | None, workspace_id: str, code: str) -> str:
    return hmac.new(
        secret or _FALLBACK_KEY, f"{workspace_id}:{code}".encode(), hashlib.sha256
    ).hexdigest()


def instruction(code: str, channels: list[str]) -> str:
    """What the member is told to do with CODE, naming the chat channels that are on."""
    if not channels:
        return (
            "No chat channel (Slack, Telegram, SMS or WhatsApp) is set up on this gateway yet, "
            "so there is nowhere to send the code from."
        )
    names = channels[0] if len(channels) == 1 else ", ".join(channels[:-1]) + " or " + channels[-1]
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    return (
        f"Send “link {code}” from {names} to link that account to you. The code works once, "
        f"for {minutes} minutes."
    )


@dataclass(frozen=True)
class IssuedCode:
    """A new code: shown once, never stored."""

    code: str
    expires_at: datetime
    member_name: str
    member_email: str | None


async def issue_code(
    session: AsyncSession,
    member: Member,
    *,
    secret: bytes | None,
    now: datetime,
    actor: str,
) -> IssuedCode:
    """A new link code for MEMBER (their earlier unused codes stop working), audited."""
    if member.status != "active":
        raise DirectoryError(f"{member.name} is not an active member")
    await session.execute(
        delete(LinkCode).where(LinkCode.member_id == member.id, LinkCode.used_at.is_(None))
    )
    await session.execute(
        delete(LinkCode).where(
            LinkCode.workspace_id == member.workspace_id, LinkCode.expires_at < now - KEEP_DEAD
        )
    )
    while True:
        # One code per workspace hash (the unique constraint): a clash with another code
        # kept for the day is simply drawn again.
        code = f"{secrets.randbelow(1_000_000):06d}"
        digest = code_digest(secret, member.workspace_id, code)
        taken = await session.scalar(
            select(LinkCode.id).where(
                LinkCode.workspace_id == member.workspace_id, LinkCode.code_hash == digest
            )
        )
        if taken is None:
            break
    expires = now + CODE_LIFETIME
    session.add(
        LinkCode(
            workspace_id=member.workspace_id,
            member_id=member.id,
            code_hash=digest,
            created_by=actor,
            created_at=now,
            expires_at=expires,
        )
    )
    await audit(session, member.workspace_id, actor, "link_code.issue", member.id)
    await session.flush()
    return IssuedCode(code, expires, member.name, member.email)


# --- redeeming -------------------------------------------------------------------------------


def _refusal(text: str) -> Deliverable:
    return Deliverable(kind="error", text=text)


def _who(member: Member) -> str:
    return f"{member.name} ({member.email})" if member.email else member.name


async def _failures(session: AsyncSession, since: datetime, *conditions: Any) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(LinkAttempt)
        .where(LinkAttempt.created_at > since, *conditions)
    )
    return int(count or 0)


async def _throttled(
    session: AsyncSession, workspace_id: str, channel: str, address: str, now: datetime
) -> str | None:
    """Why this sender may not try a code now, or None."""
    since = now - THROTTLE_WINDOW
    minutes = int(THROTTLE_WINDOW.total_seconds() // 60)
    sender = await _failures(
        session,
        since,
        LinkAttempt.workspace_id == workspace_id,
        LinkAttempt.channel == channel,
        LinkAttempt.address == address,
    )
    if sender >= MAX_FAILURES_PER_SENDER:
        return f"Too many wrong link codes from here. Wait {minutes} minutes, then try again."
    if await _failures(session, since, LinkAttempt.workspace_id == workspace_id) >= (
        MAX_FAILURES_PER_WORKSPACE
    ):
        return (
            f"Too many wrong link codes were tried lately. Wait {minutes} minutes, then try again."
        )
    return None


class _AlreadyLinked(Exception):
    """The identity is another member's: the savepoint (and the code's use) is undone."""


async def redeem(
    session: AsyncSession,
    task: Task,
    principal: Principal,
    code: str,
    *,
    secret: bytes | None,
    now: datetime,
) -> Deliverable:
    """The one reply to "link CODE" from TASK's sender: the identity linked to the code's
    member (the code used, audited), or why not (nothing linked). Never moves an identity
    that is already a member's."""
    channel = task.sender.channel
    label = LINK_CHANNELS[channel]
    workspace_id = principal.workspace_id
    try:
        address = normalize_address(channel, task.sender.address)
    except DirectoryError:
        return _refusal(f"This {label} cannot be linked to a member.")
    throttled = await _throttled(session, workspace_id, channel, address, now)
    if throttled is not None:
        return _refusal(throttled)
    row = await session.scalar(
        select(LinkCode).where(
            LinkCode.workspace_id == workspace_id,
            LinkCode.code_hash == code_digest(secret, workspace_id, code),
        )
    )
    member = await session.get(Member, row.member_id) if row is not None else None
    problem = None
    if row is None or member is None or member.status != "active":
        problem = (
            "That link code is not right, so nothing was linked. Check the 6 digits, or get a "
            "new code on your profile page in the console."
        )
    elif row.used_at is not None:
        problem = (
            "That link code has been used already, so nothing was linked. Get a new one on "
            "your profile page in the console."
        )
    elif row.expires_at <= now:
        minutes = int(CODE_LIFETIME.total_seconds() // 60)
        problem = (
            f"That link code has expired (codes work for {minutes} minutes), so nothing was "
            "linked. Get a new one on your profile page in the console."
        )
    if problem is not None or row is None or member is None:
        # Counted for the throttle; those out of its window count no more and are dropped.
        await session.execute(
            delete(LinkAttempt).where(
                LinkAttempt.workspace_id == workspace_id,
                LinkAttempt.created_at <= now - THROTTLE_WINDOW,
            )
        )
        session.add(
            LinkAttempt(workspace_id=workspace_id, channel=channel, address=address, created_at=now)
        )
        return _refusal(problem or "")
    if principal.member_id == member.id:
        return Deliverable(text=f"This {label} is already linked to you: {_who(member)}.")
    another = (
        f"This {label} is linked to another member of the team already, so it was not linked "
        f"to {member.name}. Ask an owner or admin to unlink it first."
    )
    if principal.is_member:
        return _refusal(another)
    try:
        async with session.begin_nested():
            used = await session.execute(
                update(LinkCode)
                .where(LinkCode.id == row.id, LinkCode.used_at.is_(None))
                .values(used_at=now, used_channel=channel)
            )
            if cast("CursorResult[Any]", used).rowcount != 1:
                # Another message took it between our read and this write.
                return _refusal(
                    "That link code has been used already, so nothing was linked. Get a new "
                    "one on your profile page in the console."
                )
            try:
                await link_identity(session, member, channel, address)
            except Conflict as exc:
                raise _AlreadyLinked from exc
    except _AlreadyLinked:
        return _refusal(another)
    await audit(
        session,
        workspace_id,
        f"member:{member.id}",
        "identity.link",
        member.id,
        {"channel": channel, "method": "link_code"},
    )
    return Deliverable(text=f"Linked this {label} to {_who(member)}.")


# --- the pipeline's entry ----------------------------------------------------------------


class AccountLinking:
    """What the pipeline asks before anything else of a message: is it "link <code>" (then
    that is its one reply), and is an unknown Slack user a member by their verified email.
    Built once by the composition root; holds only the email cache."""

    def __init__(
        self, *, secret: bytes | None = None, slack_emails: VerifiedEmails | None = None
    ) -> None:
        self._secret = secret
        self._slack = SlackEmailLinker(slack_emails) if slack_emails is not None else None

    @staticmethod
    def _chat_message(task: Task) -> bool:
        return task.kind in ("message", "command") and task.sender.channel in LINK_CHANNELS

    async def answer(
        self, session: AsyncSession, task: Task, principal: Principal, now: datetime
    ) -> Deliverable | None:
        """The reply to a link request, or None when TASK is not one. Only the exact form
        "link NNNNNN" is taken from anyone not known: any other text goes on as before."""
        if not self._chat_message(task):
            return None
        code = parse_request(task.text)
        if code is None:
            return None
        return await redeem(session, task, principal, code, secret=self._secret, now=now)

    async def principal(self, session: AsyncSession, task: Task, principal: Principal) -> Principal:
        """PRINCIPAL, or the member an unknown Slack user is by their verified email."""
        if self._slack is None or principal.is_member or not self._chat_message(task):
            return principal
        return await self._slack.link(session, task, principal)
