"""Who a Slack user is, as Slack vouches for it: `users.info`'s confirmed email, for linking
an unknown user to the member with that email (core.team.slack_email).

Needs the app's `users:read` and `users:read.email` scopes; without the second Slack leaves
`profile.email` out (or answers `missing_scope`), and nobody is matched."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
from pydantic import BaseModel, ConfigDict, ValidationError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from channels.base import Channel
from channels.slack.channel import SlackChannel
from core.team.slack_email import LookupUnavailable

# users.info runs while a task is processed: a slow Slack must not hold it for long.
LOOKUP_TIMEOUT = 5.0
# Answers meaning "no such person here": a miss, not a failure.
NOT_A_USER = frozenset({"user_not_found", "user_not_visible", "account_inactive"})


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _Profile(_Model):
    email: str | None = None


class _User(_Model):
    id: str
    team_id: str | None = None
    deleted: bool = False
    is_bot: bool = False
    is_app_user: bool = False
    is_email_confirmed: bool = False
    profile: _Profile = _Profile()


class SlackDirectory:
    """`VerifiedEmails` over the Web API client the channel opened."""

    def __init__(self, client: AsyncWebClient, *, timeout: float = LOOKUP_TIMEOUT) -> None:
        self._client = client
        self._timeout = timeout

    async def verified_email(self, user_id: str, team_id: str | None) -> str | None:
        """USER_ID's confirmed email in lower case, or None (not a person of TEAM_ID, or no
        confirmed email shown to us). Raises LookupUnavailable."""
        try:
            response = await asyncio.wait_for(self._client.users_info(user=user_id), self._timeout)
        except SlackApiError as exc:
            data = getattr(exc.response, "data", None)
            error = data.get("error") if isinstance(data, dict) else None
            if error in NOT_A_USER:
                return None
            hint = " (the Slack app needs users:read.email)" if error == "missing_scope" else ""
            raise LookupUnavailable(f"users.info: {error or 'HTTP error'}{hint}") from exc
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise LookupUnavailable(f"users.info: {type(exc).__name__}") from exc
        try:
            user = _User.model_validate(response.get("user"))
        except ValidationError as exc:
            raise LookupUnavailable("users.info: an answer without a user object") from exc
        email = (user.profile.email or "").strip().lower()
        if (
            user.deleted
            or user.is_bot
            or user.is_app_user
            or not user.is_email_confirmed
            or "@" not in email
            # A Slack Connect guest from another organisation: their Slack vouches, not ours.
            or (team_id is not None and user.team_id is not None and user.team_id != team_id)
        ):
            return None
        return email


def directory_of(channels: Mapping[str, Channel]) -> SlackDirectory | None:
    """The directory of the running Slack channel, or None when Slack is off."""
    slack = channels.get("slack")
    if isinstance(slack, SlackChannel) and slack.client is not None:
        return SlackDirectory(slack.client)
    return None
