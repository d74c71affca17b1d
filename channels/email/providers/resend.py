"""Resend through its documented HTTP API (POST /emails) with aiohttp.

Resend's Python SDK keeps its API key and base URL in module globals (`resend.api_key`,
`resend.api_url`), one configuration per process, and opens a new HTTP client per request;
the API itself is one JSON POST, so we call it directly with the gateway's HTTP client.
The Idempotency-Key is the Message-ID: a retry after a lost answer is not sent twice.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp

from channels.email.message import OutgoingEmail
from channels.email.providers import API_TIMEOUT
from delivery.errors import (
    BadRequest,
    ProviderTimeout,
    ProviderUnavailable,
    from_http_status,
    parse_retry_after,
)
from models.deliverable import Receipt


def build_body(mail: OutgoingEmail) -> dict[str, Any]:
    attachments = []
    for item in mail.attachments:
        attachment: dict[str, Any] = {
            "filename": item.filename,
            "content": base64.b64encode(item.data).decode(),
            "content_type": item.content_type,
        }
        if item.content_id:
            attachment["content_id"] = item.content_id
        attachments.append(attachment)
    body: dict[str, Any] = {
        "from": mail.from_header,
        "to": [mail.to],
        "subject": mail.subject,
        "text": mail.text,
        "html": mail.html,
        "headers": mail.thread_headers,
    }
    if mail.reply_to:
        body["reply_to"] = mail.reply_to
    if attachments:
        body["attachments"] = attachments
    return body


class ResendProvider:
    name = "resend"
    inline_images = True

    def __init__(self, api_key: str, api_url: str) -> None:
        self._api_key = api_key
        self._url = api_url.rstrip("/") + "/emails"
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=API_TIMEOUT))
        return self._session

    async def send(self, mail: OutgoingEmail) -> Receipt:
        """One POST /emails.

        Raises:
            DeliveryError: RateLimited (429, Retry-After honoured), ProviderUnavailable,
                ProviderTimeout, Forbidden (401/403), InvalidRecipient, BadRequest.
        """
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Idempotency-Key": mail.message_id.strip("<>")[:256],
            "User-Agent": "switchboard",
        }
        try:
            async with self._client().post(
                self._url, json=build_body(mail), headers=headers
            ) as response:
                status = response.status
                wait = parse_retry_after(response.headers.get("Retry-After"))
                try:
                    data = await response.json(content_type=None)
                except ValueError:
                    data = None
        except TimeoutError as exc:
            raise ProviderTimeout("resend /emails: no answer in time") from exc
        except aiohttp.ClientError as exc:
            raise ProviderUnavailable(f"resend /emails: {type(exc).__name__}") from exc
        if status >= 400:
            detail = data.get("message") if isinstance(data, dict) else None
            raise from_http_status(
                status, f"resend /emails: HTTP {status}" + (f": {detail}" if detail else ""), wait
            )
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise (ProviderUnavailable if status >= 300 else BadRequest)(
                f"resend /emails: HTTP {status} without an email id"
            )
        return Receipt(provider_message_id=data["id"], status="sent")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            # Let the connector's transports close before the loop goes (aiohttp's advice).
            await asyncio.sleep(0)
