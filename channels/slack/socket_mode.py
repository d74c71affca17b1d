"""Slack Socket Mode: events, interactivity and slash commands over a WebSocket the gateway
opens (apps.connections.open with the app-level token), for a gateway without a public URL.

The guarantees are those of `POST /slack/events`: each envelope is handed to the same receive
path (parse, draft, journal commit) and acknowledged only once its task is committed; one that
is not acknowledged (the commit failed, the gateway is stopping, the connection dropped) is
delivered again by Slack, and the journal's dedupe key (the event id, the action or the
trigger id) makes the redelivery the same task, so there is exactly one reply.

Every node may hold a connection: Slack spreads envelopes over up to 10 connections per app,
and the journal makes a redelivery to another node safe, so no leader is needed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Protocol

import aiohttp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from channels.errors import ChannelRejected
from config.logging import sdk_logger

log = logging.getLogger("switchboard.slack.socket")

# Envelope types carrying what the HTTP route receives.
HANDLED = frozenset({"events_api", "interactive", "slash_commands"})
# apps.connections.open errors no retry can fix: the app token is wrong or revoked.
REFUSED = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "not_allowed_token_type",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
    }
)
MAX_RETRY_DELAY = 60.0


class Receive(Protocol):
    """The channel's way in for a payload (SlackChannel.receive_payload)."""

    async def __call__(self, payload: object, *, retry: str | None) -> BoltResponse | None: ...


def ack_payload(answer: BoltResponse | None) -> dict[str, Any] | None:
    """The acknowledgement's payload for an answer, as bolt's own Socket Mode adapter makes it
    (a slash command's JSON answer is shown to its sender)."""
    if answer is None or not answer.body:
        return None
    content_type = answer.headers.get("content-type", [""])[0]
    if content_type.startswith("application/json") or answer.body.startswith("{"):
        payload = json.loads(answer.body)
        return payload if isinstance(payload, dict) else {"text": answer.body}
    return {"text": answer.body}


class SocketMode:
    """One Socket Mode connection for this node, reconnecting as Slack asks (`disconnect`
    messages, closed sockets, failed pings) through slack_sdk's aiohttp SocketModeClient."""

    def __init__(
        self,
        receive: Receive,
        *,
        app_token: str,
        api_url: str,
        ping_interval: float = 5.0,
        retry_delay: float = 1.0,
    ) -> None:
        self._receive = receive
        self._app_token = app_token
        self._api_url = api_url
        self._ping_interval = ping_interval
        self._retry_delay = retry_delay
        self._client: SocketModeClient | None = None
        self._connector: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._closing = False

    @property
    def closing(self) -> bool:
        """Stopping: new envelopes are left unacknowledged for Slack to deliver elsewhere."""
        return self._closing

    async def start(self) -> None:
        """Connect in the background: start-up never waits on Slack."""
        sdk_log = log.getChild("sdk")
        # The SDK logs every received message at DEBUG: customer text stays out of the logs.
        sdk_log.setLevel(max(logging.INFO, log.getEffectiveLevel()))
        self._client = SocketModeClient(
            self._app_token,
            logger=sdk_log,
            web_client=AsyncWebClient(
                base_url=self._api_url, retry_handlers=[], logger=sdk_logger(log, "web")
            ),
            ping_interval=self._ping_interval,
        )
        self._client.socket_mode_request_listeners.append(self._on_request)
        self._connector = asyncio.create_task(self._connect(), name="slack-socket-mode")
        log.info("slack: Socket Mode on (SLACK_APP_TOKEN); connecting via %s", self._api_url)

    async def stop(self, grace: float = 5.0) -> None:
        """Take no new envelope (Slack redelivers what is not acknowledged), let those being
        committed finish and be acknowledged for up to GRACE seconds, then disconnect."""
        self._closing = True
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
            self._connector = None
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=grace)
        if self._client is not None:
            await self._client.close()
            self._client = None
        log.info("slack: Socket Mode connection closed")

    async def _connect(self) -> None:
        """Ask for a WebSocket URL until Slack gives one (backing off; giving up only when the
        token is refused), then let the SDK connect and keep the connection."""
        client = self._client
        assert client is not None
        delay = self._retry_delay
        while True:
            try:
                client.wss_uri = await client.issue_new_wss_url()
                break
            except SlackApiError as exc:
                code = exc.response.get("error") if exc.response is not None else None
                if code in REFUSED:
                    log.error(
                        "slack: SLACK_APP_TOKEN was refused by apps.connections.open (%s): "
                        "Socket Mode stays off until it is replaced and the gateway restarted",
                        code,
                    )
                    return
                log.warning("slack: apps.connections.open failed (%s); retrying", code)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("slack: apps.connections.open unreachable (%s); retrying", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)
        await client.connect()

    async def _on_request(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        if self._closing:
            return  # not acknowledged: Slack delivers it again, to this node or another
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self._handle(client, req)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def _handle(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        if req.type not in HANDLED:
            log.info("slack: Socket Mode envelope of type %s acknowledged, not acted on", req.type)
            await self._ack(client, req, None)
            return
        retry = str(req.retry_attempt) if req.retry_attempt else None
        try:
            answer = await self._receive(req.payload, retry=retry)
        except ChannelRejected as exc:
            if exc.status >= 500:
                log.info(
                    "slack: %s envelope %s not acknowledged (%s): Slack delivers it again",
                    req.type,
                    req.envelope_id,
                    exc.message,
                )
                return
            # Malformed: delivering it again would not mend it.
            log.warning(
                "slack: %s envelope %s refused and acknowledged: %s",
                req.type,
                req.envelope_id,
                exc.message,
            )
            await self._ack(client, req, None)
            return
        except Exception:
            log.exception(
                "slack: %s envelope %s not taken; Slack delivers it again",
                req.type,
                req.envelope_id,
            )
            return
        await self._ack(client, req, ack_payload(answer))

    async def _ack(
        self,
        client: AsyncBaseSocketModeClient,
        req: SocketModeRequest,
        payload: dict[str, Any] | None,
    ) -> None:
        try:
            await client.send_socket_mode_response(
                SocketModeResponse(envelope_id=req.envelope_id, payload=payload)
            )
        except (ConnectionError, aiohttp.ClientError, RuntimeError, AttributeError) as exc:
            # (AttributeError: the SDK has no current session between two connections.)
            # Committed but not acknowledged: the redelivery is deduplicated by the journal.
            log.info(
                "slack: acknowledgement of %s lost with the connection (%s); its redelivery "
                "will be recognised",
                req.envelope_id,
                exc,
            )
