"""The Slack adapter: one webhook for events, interactivity and slash commands, answered once
the task is committed (well within Slack's 3 seconds); replies through the Web API."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from channels.base import ChannelContext, InboundRequest
from channels.errors import ChannelRejected
from channels.slack.inbound import (
    BOT_USER_IDS,
    DRAFT,
    ENVELOPE,
    MESSAGE_EVENTS,
    Draft,
    EventCallback,
    build_app,
    event_draft,
    parse,
    verify,
)
from channels.slack.sender import SlackSender
from config import Settings
from storage.types import utcnow

if TYPE_CHECKING:
    from delivery.senders import Sender

log = logging.getLogger("switchboard.slack")

# The Web API client's own deadline per call; the outbox retries what times out.
API_TIMEOUT = 20.0
NOT_CONNECTED = "This Slack workspace is not connected to Switchboard yet; ask your admin."


class SlackChannel:
    name = "slack"

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        assert settings.slack_bot_token is not None and settings.slack_signing_secret is not None
        self._token = settings.slack_bot_token.get_secret_value()
        self._verifier = SignatureVerifier(
            settings.slack_signing_secret.get_secret_value(), clock=clock or Clock()
        )
        self._api_url = str(settings.slack_api_url)
        self._context: ChannelContext | None = None
        self._session: aiohttp.ClientSession | None = None
        self._app: AsyncApp | None = None
        self._sender: SlackSender | None = None
        self.client: AsyncWebClient | None = None

    async def start(self, context: ChannelContext) -> None:
        """Open the Web API client; nothing is called yet (no auth.test), so start-up needs
        no network."""
        self._context = context
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=API_TIMEOUT))
        # retry_handlers=[]: the SDK would retry connection errors itself (and 429s if asked);
        # the outbox owns retries, so a reply is never sent twice by two layers retrying.
        self.client = AsyncWebClient(
            token=self._token,
            base_url=self._api_url,
            session=self._session,
            retry_handlers=[],
            logger=log.getChild("web"),
        )
        # Bolt gets a client without the token: it authorizes per request (inbound.build_app)
        # and its listeners make no calls.
        bolt_client = AsyncWebClient(
            base_url=self._api_url, session=self._session, retry_handlers=[]
        )
        self._app = build_app(self._token, bolt_client, log.getChild("bolt"))
        self._sender = SlackSender(self.client, context.media)
        log.info("slack channel is on: POST /slack/events; Web API at %s", self._api_url)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def senders(self) -> Mapping[str, Sender]:
        assert self._sender is not None, "start() first"
        return {"slack": self._sender}

    async def handle(self, inbound: InboundRequest) -> web.StreamResponse:
        """Verify, parse, turn it into a draft (message events directly, the rest through
        bolt's dispatch), commit the task, then answer.

        Raises:
            ChannelRejected: 401 (signature), 400 (malformed), 503 (shutting down: Slack retries).
        """
        assert self._app is not None and self._context is not None, "start() first"
        verify(inbound, self._verifier)
        body, envelope = parse(inbound)
        if isinstance(envelope, EventCallback) and envelope.event.type in MESSAGE_EVENTS:
            draft = await event_draft(body, envelope)
            if draft is not None:
                await self._commit(draft, inbound)
            return web.Response(status=200)
        context: dict[str, object] = {ENVELOPE: envelope, BOT_USER_IDS: ()}
        if isinstance(envelope, EventCallback):
            context[BOT_USER_IDS] = envelope.bot_user_ids
        # The body is handed over parsed: bolt's own parser takes any form body containing the
        # word "payload" for an interactivity payload. Bolt accepts a parsed body only in its
        # socket_mode; the mode otherwise changes nothing but skipping the signature check,
        # which verify() above has done.
        request = AsyncBoltRequest(
            body=body,
            headers={k.lower(): v for k, v in inbound.headers.items()},
            context=context,
            mode="socket_mode",
        )
        response = await self._app.async_dispatch(request)
        if response.status == 400:
            raise ChannelRejected(400, response.body or "invalid request")
        if response.status >= 500:
            raise RuntimeError(f"slack listener failed with {response.status}: {response.body}")
        draft = request.context.get(DRAFT)
        if isinstance(draft, Draft) and not await self._commit(draft, inbound):
            if draft.kind == "command":
                return web.json_response({"response_type": "ephemeral", "text": NOT_CONNECTED})
            return web.Response(status=200)
        if response.status == 404:
            return web.Response(status=200)  # an event or action we do not act on
        return await to_aiohttp_response(response)

    async def _commit(self, draft: Draft, inbound: InboundRequest) -> bool:
        """Ingest DRAFT in its team's workspace; False (dropped, logged) for an unknown team.

        Unknown teams are acknowledged anyway: Slack would otherwise retry for hours."""
        assert self._context is not None
        workspace_id = await self._context.workspace_for("slack", draft.team_id)
        if workspace_id is None:
            log.warning(
                "slack request from team %s dropped: no workspace is mapped to it",
                draft.team_id,
            )
            return False
        accepted = await self._context.ingest(draft.task(workspace_id, utcnow()))
        if not accepted.created:
            log.info(
                "slack %s %s is a redelivery (retry %s): already task %s",
                draft.kind,
                draft.external_id,
                inbound.headers.get("X-Slack-Retry-Num", "-"),
                accepted.task_id,
            )
        return True
