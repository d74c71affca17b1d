"""The Slack adapter: one webhook for events, interactivity and slash commands, answered once
the task is committed (well within Slack's 3 seconds), or the same payloads over Socket Mode
(SLACK_APP_TOKEN), acknowledged the same way through the same `receive`; replies through the
Web API."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
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
    Envelope,
    EventCallback,
    build_app,
    event_draft,
    parse,
    parse_payload,
    verify,
)
from channels.slack.sender import SlackSender
from channels.slack.socket_mode import SocketMode
from config import Settings
from config.logging import sdk_logger
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
        app_token = settings.slack_app_token
        self._app_token = app_token.get_secret_value() if app_token is not None else None
        self._socket: SocketMode | None = None
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
            logger=sdk_logger(log, "web"),
        )
        # Bolt gets a client without the token: it authorizes per request (inbound.build_app)
        # and its listeners make no calls.
        bolt_client = AsyncWebClient(
            base_url=self._api_url, session=self._session, retry_handlers=[]
        )
        self._app = build_app(self._token, bolt_client, sdk_logger(log, "bolt"))
        self._sender = SlackSender(self.client, context.media)
        events = (
            "events over Socket Mode (SLACK_APP_TOKEN), POST /slack/events answered too"
            if self._app_token
            else "events at POST /slack/events"
        )
        log.info("slack channel is on: %s; Web API at %s", events, self._api_url)

    async def open_socket_mode(self) -> None:
        """With SLACK_APP_TOKEN, start taking envelopes over Socket Mode; called once the
        journal commits (an envelope is acknowledged only after its task is committed)."""
        if self._app_token is None or self._socket is not None:
            return
        self._socket = SocketMode(
            self.receive_payload, app_token=self._app_token, api_url=self._api_url
        )
        await self._socket.start()

    async def close_socket_mode(self, grace: float = 5.0) -> None:
        """Stop taking envelopes (Slack redelivers the rest); those in flight are committed and
        acknowledged within GRACE seconds."""
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.stop(grace)

    async def stop(self) -> None:
        await self.close_socket_mode()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def senders(self) -> Mapping[str, Sender]:
        assert self._sender is not None, "start() first"
        return {"slack": self._sender}

    async def handle(self, inbound: InboundRequest) -> web.StreamResponse:
        """Verify and parse an HTTP request, then `receive` it.

        Raises:
            ChannelRejected: 401 (signature), 400 (malformed), 503 (shutting down: Slack retries).
        """
        verify(inbound, self._verifier)
        body, envelope = parse(inbound)
        answer = await self.receive(body, envelope, retry=inbound.headers.get("X-Slack-Retry-Num"))
        return web.Response(status=200) if answer is None else await to_aiohttp_response(answer)

    async def receive_payload(self, payload: object, *, retry: str | None) -> BoltResponse | None:
        """A Socket Mode envelope's payload, parsed as `parse` parses an HTTP body, then
        `receive`d: the same drafts, the same commit, the same answers.

        Raises:
            ChannelRejected: 400 (malformed), 503 (shutting down).
        """
        body, envelope = parse_payload(payload)
        return await self.receive(body, envelope, retry=retry)

    async def receive(
        self, body: dict[str, Any], envelope: Envelope, *, retry: str | None
    ) -> BoltResponse | None:
        """Turn a parsed payload into a draft (message events directly, the rest through
        bolt's dispatch), commit the task, and give the answer for Slack: None when there is
        nothing to say but "received".

        Raises:
            ChannelRejected: 400 (malformed), 503 (shutting down: Slack retries).
        """
        assert self._app is not None and self._context is not None, "start() first"
        if isinstance(envelope, EventCallback) and envelope.event.type in MESSAGE_EVENTS:
            draft = await event_draft(body, envelope)
            if draft is not None:
                await self._commit(draft, retry)
            return None
        context: dict[str, object] = {ENVELOPE: envelope, BOT_USER_IDS: ()}
        if isinstance(envelope, EventCallback):
            context[BOT_USER_IDS] = envelope.bot_user_ids
        # The body is handed over parsed: bolt's own parser takes any form body containing the
        # word "payload" for an interactivity payload. Bolt accepts a parsed body only in its
        # socket_mode; the mode otherwise changes nothing but skipping the signature check,
        # which verify() has done (over HTTP; Socket Mode needs none).
        request = AsyncBoltRequest(body=body, context=context, mode="socket_mode")
        response = await self._app.async_dispatch(request)
        if response.status == 400:
            raise ChannelRejected(400, response.body or "invalid request")
        if response.status >= 500:
            raise RuntimeError(f"slack listener failed with {response.status}: {response.body}")
        draft = request.context.get(DRAFT)
        if isinstance(draft, Draft) and not await self._commit(draft, retry):
            if draft.kind == "command":
                return BoltResponse(
                    status=200,
                    body=json.dumps({"response_type": "ephemeral", "text": NOT_CONNECTED}),
                    headers={"content-type": "application/json"},
                )
            return None
        if response.status == 404:
            return None  # an event or action we do not act on
        return response

    async def _commit(self, draft: Draft, retry: str | None) -> bool:
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
                retry or "-",
                accepted.task_id,
            )
        return True
