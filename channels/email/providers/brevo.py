"""Brevo (formerly Sendinblue) through its official SDK's async client (`brevo-python`,
`AsyncBrevo`), pointed at BREVO_API_URL, its own retries off (`max_retries=0`).

Brevo's transactional API has no inline (`cid:`) attachments, so charts go as ordinary
attachments; its `headers` pass our thread headers, and `IdempotencyKey` (the Message-ID)
keeps a retry after a lost answer from sending twice.
"""

from __future__ import annotations

import base64

import httpx
from brevo import AsyncBrevo
from brevo.core.api_error import ApiError

from channels.email.message import OutgoingEmail
from channels.email.providers import API_TIMEOUT
from delivery.errors import (
    ProviderTimeout,
    ProviderUnavailable,
    from_http_status,
    parse_retry_after,
)
from models.deliverable import Receipt


class BrevoProvider:
    name = "brevo"
    inline_images = False

    def __init__(self, api_key: str, api_url: str) -> None:
        self._http = httpx.AsyncClient(timeout=API_TIMEOUT)
        self._client = AsyncBrevo(
            api_key=api_key,
            base_url=api_url.rstrip("/"),
            max_retries=0,
            httpx_client=self._http,
        )

    async def send(self, mail: OutgoingEmail) -> Receipt:
        """One POST /smtp/email.

        Raises:
            DeliveryError: RateLimited (429, Retry-After honoured), ProviderUnavailable,
                ProviderTimeout, Forbidden (401/403), InvalidRecipient, BadRequest.
        """
        sender: dict[str, str] = {"email": mail.sender}
        if mail.sender_name:
            sender["name"] = mail.sender_name
        headers = {**mail.thread_headers, "IdempotencyKey": mail.message_id.strip("<>")}
        try:
            response = await self._client.transactional_emails.send_transac_email(
                sender=sender,
                to=[{"email": mail.to}],
                subject=mail.subject,
                text_content=mail.text,
                html_content=mail.html,
                reply_to={"email": mail.reply_to} if mail.reply_to else None,
                headers=headers,
                attachment=[
                    {"name": item.filename, "content": base64.b64encode(item.data).decode()}
                    for item in mail.attachments
                ]
                or None,
            )
        except ApiError as exc:
            status = exc.status_code or 502
            body = exc.body if isinstance(exc.body, dict) else {}
            detail = body.get("message") or body.get("code") or ""
            wait = parse_retry_after((exc.headers or {}).get("retry-after"))
            raise from_http_status(
                status, f"brevo smtp/email: HTTP {status}" + (f": {detail}" if detail else ""), wait
            ) from exc
        except httpx.TimeoutException as exc:
            raise ProviderTimeout("brevo smtp/email: no answer in time") from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"brevo smtp/email: {type(exc).__name__}") from exc
        return Receipt(provider_message_id=response.message_id, status="sent")

    async def close(self) -> None:
        await self._http.aclose()
