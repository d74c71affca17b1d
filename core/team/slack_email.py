"""Linking an unknown Slack user by their verified email, where the workspace allows it
(`Workspace.slack_email_linking`, off by default): the email Slack confirmed for the user is
exactly one active member's, so that Slack user is that member.

Slack answers `users.info` with the profile's email only to apps holding `users:read.email`;
the channel (channels.slack.directory) gives it here only when the user is a person of the
same Slack team whose email is confirmed (`is_email_confirmed`). Answers are cached per user,
misses too, so a customer chatting in a shared channel does not cost a Web API call a message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.team.directory import Conflict, DirectoryError, audit, link_identity
from core.team.identity import Principal, resolve
from models.task import Task
from storage.models import Member, Workspace

log = logging.getLogger(__name__)

ANSWER_TTL = 3600.0  # an email (or its absence) is asked again after an hour
ERROR_TTL = 60.0  # a failed lookup is tried again after a minute
MAX_ENTRIES = 10_000


class LookupUnavailable(Exception):
    """The chat provider could not say (unreachable, throttled, a scope missing)."""


class VerifiedEmails(Protocol):
    """Who a chat user is, as the provider vouches for it."""

    async def verified_email(self, user_id: str, team_id: str | None) -> str | None:
        """USER_ID's confirmed email (lower case), or None: unknown, a bot, deleted, of
        another team, or unconfirmed. Raises LookupUnavailable."""
        ...


class EmailCache:
    """Answers per (workspace, user) for `ANSWER_TTL` seconds, failures for `ERROR_TTL`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, str | None]] = {}

    def get(self, key: tuple[str, str]) -> tuple[bool, str | None]:
        """(known, email): known is False when nothing fresh is cached for KEY."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < self._clock():
            self._entries.pop(key, None)
            return False, None
        return True, entry[1]

    def put(self, key: tuple[str, str], email: str | None, ttl: float) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            for stale in list(self._entries)[: MAX_ENTRIES // 10]:  # the oldest tenth
                del self._entries[stale]
        self._entries[key] = (self._clock() + ttl, email)


def _team_of(task: Task) -> str | None:
    """The Slack team the request came from (events and slash commands carry `team_id`)."""
    team = task.raw.get("team_id")
    return team if isinstance(team, str) else None


class SlackEmailLinker:
    """Links unknown Slack users to the one member whose email Slack confirmed for them."""

    def __init__(self, emails: VerifiedEmails, cache: EmailCache | None = None) -> None:
        self._emails = emails
        self._cache = cache or EmailCache()

    async def _email(self, workspace_id: str, user_id: str, team_id: str | None) -> str | None:
        key = (workspace_id, user_id)
        known, email = self._cache.get(key)
        if known:
            return email
        try:
            email = await self._emails.verified_email(user_id, team_id)
        except LookupUnavailable as exc:
            log.warning("slack users.info for an unlinked user failed: %s", exc)
            self._cache.put(key, None, ERROR_TTL)
            return None
        self._cache.put(key, email, ANSWER_TTL)
        return email

    async def link(self, session: AsyncSession, task: Task, principal: Principal) -> Principal:
        """PRINCIPAL (a customer on Slack) as the member their verified email names, linked
        and audited, when the workspace allows it; else PRINCIPAL unchanged."""
        if task.sender.channel != "slack" or principal.is_member:
            return principal
        allowed = await session.scalar(
            select(Workspace.slack_email_linking).where(Workspace.id == principal.workspace_id)
        )
        if not allowed:
            return principal
        email = await self._email(principal.workspace_id, task.sender.address, _team_of(task))
        if not email:
            return principal
        members = list(
            await session.scalars(
                select(Member)
                .where(
                    Member.workspace_id == principal.workspace_id,
                    Member.status == "active",
                    func.lower(Member.email) == email.lower(),
                )
                .limit(2)
            )
        )
        if len(members) != 1:
            return principal
        (member,) = members
        try:
            await link_identity(session, member, "slack", task.sender.address)
        except (Conflict, DirectoryError):
            return principal  # linked meanwhile, or not a Slack user id we can store
        await audit(
            session,
            principal.workspace_id,
            f"member:{member.id}",
            "identity.link",
            member.id,
            {"channel": "slack", "method": "verified_email"},
        )
        log.info("slack user linked to member %s by their verified email", member.id)
        return await resolve(session, task)
