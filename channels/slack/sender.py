"""Slack delivery: deliverables planned as Web API calls (one Op each) and made with the SDK's
AsyncWebClient; its errors mapped to the outbox's retryable and permanent ones."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from channels.slack.blocks import Message, escape, render, render_decided
from delivery.charts import deliverable_chart, draw_deliverable_chart
from delivery.errors import (
    BadRequest,
    DeliveryError,
    Forbidden,
    InvalidRecipient,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    from_http_status,
    parse_retry_after,
)
from delivery.media import MediaStore
from delivery.ratelimit import RateKey
from delivery.render import media_of
from delivery.senders import Op
from models.deliverable import Deliverable, Receipt
from models.task import Route

log = logging.getLogger(__name__)

INVALID_RECIPIENT = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "user_not_found",
        "user_not_visible",
        "cannot_dm_bot",
        "user_disabled",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "team_access_not_granted",
    }
)
FORBIDDEN = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "ekm_access_denied",
        "org_login_required",
        "access_denied",
    }
)
UNAVAILABLE = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_added_to_org"}
)
# chat.update cannot change the message any more: the outcome goes to the thread instead.
UNEDITABLE = frozenset(
    {"message_not_found", "cant_update_message", "edit_window_closed", "msg_too_long"}
)
DEFAULT_RETRY_AFTER = 1.0
# Every message the outbox posts carries its `<outbox id>:<part>` as message metadata, so a
# node taking over a dead node's reply can find out whether it was posted before posting it.
METADATA_EVENT = "switchboard_reply"
# How far back, and how many pages of a conversation, a look for such a message reads.
LOOKBACK_SECONDS = 60.0
LOOKUP_PAGES = 5


def map_error(method: str, exc: SlackApiError) -> DeliveryError:
    """The outbox's error for a failed Web API call (429 and `ok: false` alike)."""
    response = exc.response
    status = getattr(response, "status_code", None) or getattr(response, "status", None) or 200
    headers = getattr(response, "headers", None) or {}
    data = getattr(response, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    retry_after = parse_retry_after(headers.get("Retry-After"))
    message = f"slack {method}: {code or f'HTTP {status}'}"
    if status == 429 or code == "ratelimited":
        return RateLimited(message, retry_after=retry_after or DEFAULT_RETRY_AFTER)
    if code in INVALID_RECIPIENT:
        return InvalidRecipient(message)
    if code in FORBIDDEN:
        return Forbidden(message)
    if status >= 400:
        return from_http_status(status, message, retry_after)
    if code in UNAVAILABLE or not isinstance(data, dict):
        # A 200 that is not Slack's JSON is a proxy or outage page, not our mistake.
        return ProviderUnavailable(message, retry_after=retry_after)
    return BadRequest(message)


def _edit_handle(deliverable: Deliverable) -> Mapping[str, Any] | None:
    edit = deliverable.data.get("edit")
    if (
        isinstance(edit, Mapping)
        and isinstance(edit.get("channel"), str)
        and isinstance(edit.get("ts"), str)
    ):
        return edit
    return None


class SlackSender:
    """Block Kit messages in the route's thread, uploads with files_upload_v2, and cards
    updated in place (chat.update) once their proposal is decided."""

    def __init__(self, client: AsyncWebClient, media: MediaStore, *, team: str = "default") -> None:
        self._client = client
        self._media = media
        self._files_key: RateKey = ("slack.files", team)

    def plan(self, route: Route, deliverable: Deliverable) -> list[Op]:
        edit = _edit_handle(deliverable)
        if edit is not None:
            user = edit.get("user")
            first, *rest = render_decided(deliverable, user if isinstance(user, str) else None)
            channel = str(edit["channel"])
            update = Op(
                "update",
                {"channel": channel, "ts": str(edit["ts"]), **_message_args(first)},
                rate_keys=(("slack.channel", channel),),
            )
            return [update, *(self._post(route, m) for m in rest)]
        media = media_of(deliverable)
        if deliverable.kind == "file" and media is not None:
            return self._upload_plan(route, deliverable, media)
        ops = [self._post(route, m) for m in render(deliverable)]
        if deliverable_chart(deliverable) is not None:
            ops.append(self._chart_plan(route, deliverable))
        return ops

    def _chart_plan(self, route: Route, deliverable: Deliverable) -> Op:
        """The chart a metric card or topic list asks for, drawn when sent and uploaded into
        the same thread after the message (what the chart is drawn from travels with it)."""
        return Op(
            "chart",
            {
                "deliverable": deliverable.model_dump(
                    mode="json", include={"kind", "title", "text", "data"}
                ),
                "filename": "chart.png",
                "title": deliverable.title or "Chart",
            },
            rate_keys=(("slack.channel", route.address), self._files_key),
        )

    def _post(self, route: Route, message: Message) -> Op:
        return Op("post", _message_args(message), rate_keys=(("slack.channel", route.address),))

    def _upload_plan(
        self, route: Route, deliverable: Deliverable, media: Mapping[str, Any]
    ) -> list[Op]:
        comment = escape(deliverable.text.strip())
        ops: list[Op] = []
        if len(comment) > 3000:
            # Too long for a file comment: the text goes first as messages.
            ops = [
                self._post(route, m)
                for m in render(deliverable.model_copy(update={"kind": "text"}))
            ]
            comment = ""
        filename = str(media.get("filename") or "file")
        ops.append(
            Op(
                "upload",
                {
                    "media_id": str(media["id"]),
                    "filename": filename,
                    "title": deliverable.title or filename,
                    "initial_comment": comment,
                    # Images are described for screen readers (Slack's 1,000-character limit).
                    **(
                        {"alt_txt": deliverable.text.strip()[:1000]}
                        if str(media.get("content_type") or "").startswith("image/")
                        and deliverable.text.strip()
                        else {}
                    ),
                },
                rate_keys=(("slack.channel", route.address), self._files_key),
            )
        )
        return ops

    async def perform(self, route: Route, op: Op) -> Receipt:
        """Make OP's call.

        Raises:
            DeliveryError: RateLimited (429, with Retry-After), Forbidden, InvalidRecipient,
                BadRequest, ProviderUnavailable or ProviderTimeout.
        """
        method = {
            "post": "chat.postMessage",
            "update": "chat.update",
            "upload": "files_upload_v2",
            "chart": "files_upload_v2",
        }.get(op.action, op.action)
        try:
            if op.action == "post":
                return await self._post_message(route, op.payload, op.ref)
            if op.action == "update":
                return await self._update(route, op.payload, op.ref)
            if op.action == "upload":
                return await self._upload(route, op.payload)
            if op.action == "chart":
                return await self._upload_chart(route, op.payload)
            raise BadRequest(f"unknown slack operation {op.action!r}")
        except SlackApiError as exc:
            raise map_error(method, exc) from exc
        except TimeoutError as exc:
            raise ProviderTimeout(f"slack {method}: no answer in time") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise ProviderUnavailable(f"slack {method}: {type(exc).__name__}: {exc}") from exc
        except SlackClientError as exc:
            raise BadRequest(f"slack {method}: {exc}") from exc

    async def _post_message(self, route: Route, args: Mapping[str, Any], ref: str) -> Receipt:
        response = await self._client.chat_postMessage(
            channel=route.address,
            thread_ts=route.thread,
            unfurl_links=False,
            unfurl_media=False,
            metadata=(
                {"event_type": METADATA_EVENT, "event_payload": {"ref": ref}} if ref else None
            ),
            **args,
        )
        return Receipt(provider_message_id=response.get("ts"))

    async def find_sent(self, route: Route, op: Op, since: datetime) -> list[Receipt]:
        """The message OP posted, found by its metadata in the thread (conversations.replies)
        or the channel (conversations.history) since shortly before SINCE.

        Edits (chat.update) can be made twice without harm and uploads carry no metadata:
        both are made again. Without the history scopes (`channels:history`,
        `groups:history`, `im:history`) Slack cannot tell us, so the post is made again.
        """
        if op.action != "post" or not op.ref:
            return []
        oldest = f"{max(0.0, since.timestamp() - LOOKBACK_SECONDS):.6f}"
        try:
            channel = await self._conversation_id(route.address)
            cursor = None
            for _ in range(LOOKUP_PAGES):
                args: dict[str, Any] = {
                    "channel": channel,
                    "oldest": oldest,
                    "include_all_metadata": True,
                    "limit": 200,
                }
                if cursor:
                    args["cursor"] = cursor
                if route.thread:
                    page = await self._client.conversations_replies(ts=route.thread, **args)
                else:
                    page = await self._client.conversations_history(**args)
                for message in page.get("messages") or ():
                    if _ref_of(message) == op.ref and message.get("ts"):
                        return [Receipt(provider_message_id=str(message["ts"]))]
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except SlackApiError as exc:
            error = map_error("conversations.history", exc)
            if isinstance(error, Forbidden | InvalidRecipient):
                log.warning(
                    "slack: cannot look for an earlier post in %s (%s); posting again",
                    route.address,
                    error,
                )
                return []
            raise error from exc
        except TimeoutError as exc:
            raise ProviderTimeout("slack conversations.history: no answer in time") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise ProviderUnavailable(
                f"slack conversations.history: {type(exc).__name__}: {exc}"
            ) from exc
        return []

    async def _update(self, route: Route, payload: Mapping[str, Any], ref: str) -> Receipt:
        args = {k: v for k, v in payload.items() if k not in ("channel", "ts")}
        try:
            await self._client.chat_update(channel=payload["channel"], ts=payload["ts"], **args)
        except SlackApiError as exc:
            data = getattr(exc.response, "data", None)
            if not (isinstance(data, dict) and data.get("error") in UNEDITABLE):
                raise
            log.info(
                "slack card %s cannot be updated (%s): outcome posted instead",
                payload["ts"],
                data["error"],
            )
            return await self._post_message(route, args, ref)
        # No new message, so no new id: the card's own receipt already names this ts.
        return Receipt()

    async def _upload(self, route: Route, payload: Mapping[str, Any]) -> Receipt:
        media = await self._media.load(payload["media_id"])
        if media is None:
            raise BadRequest(f"the file {payload['filename']!r} expired before it could be sent")
        return await self._share(
            route,
            payload,
            media.data,
            initial_comment=payload["initial_comment"] or None,
            alt_txt=payload.get("alt_txt"),
        )

    async def _upload_chart(self, route: Route, payload: Mapping[str, Any]) -> Receipt:
        deliverable = Deliverable.model_validate(payload["deliverable"])
        png = await draw_deliverable_chart(deliverable)
        if png is None:  # a chart is an extra: the message already stands without it
            return Receipt()
        return await self._share(route, payload, png, alt_txt=f"Chart: {payload['title']}"[:1000])

    async def _share(
        self,
        route: Route,
        payload: Mapping[str, Any],
        content: bytes,
        *,
        initial_comment: str | None = None,
        alt_txt: str | None = None,
    ) -> Receipt:
        """CONTENT uploaded as PAYLOAD's filename and title into the route's conversation."""
        channel = await self._conversation_id(route.address)
        response = await self._client.files_upload_v2(
            channel=channel,
            thread_ts=route.thread,
            filename=payload["filename"],
            title=payload["title"],
            content=content,
            initial_comment=initial_comment,
            alt_txt=alt_txt,
        )
        uploaded = response.get("file") or {}
        return Receipt(
            provider_message_id=uploaded.get("id") if isinstance(uploaded, dict) else None
        )

    async def _conversation_id(self, address: str) -> str:
        """Uploads are shared to a conversation; a user id means the DM with that user."""
        if not address.startswith(("U", "W")):
            return address
        opened = await self._client.conversations_open(users=address)
        channel = opened.get("channel") or {}
        return (
            str(channel.get("id")) if isinstance(channel, dict) and channel.get("id") else address
        )


def _ref_of(message: Mapping[str, Any]) -> str | None:
    metadata = message.get("metadata")
    if not isinstance(metadata, Mapping) or metadata.get("event_type") != METADATA_EVENT:
        return None
    payload = metadata.get("event_payload")
    ref = payload.get("ref") if isinstance(payload, Mapping) else None
    return ref if isinstance(ref, str) else None


def _message_args(message: Message) -> dict[str, Any]:
    return {"text": message.text, "blocks": list(message.blocks)}
