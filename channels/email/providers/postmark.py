"""Postmark through its official async SDK (`postmark-python`), pointed at POSTMARK_API_URL.

The SDK retries 429s, 5xx and timeouts itself (tenacity) unless told otherwise: `retries=0`,
so one `send` is one POST /email and the outbox alone decides when to try again.
"""

from __future__ import annotations

import base64

import postmark
from postmark.exceptions import (
    InactiveRecipientException,
    InvalidAPIKeyException,
    InvalidEmailException,
    PostmarkAPIException,
    PostmarkException,
    RateLimitException,
    TimeoutException,
)

from channels.email.message import OutgoingEmail
from channels.email.providers import API_TIMEOUT
from delivery.errors import (
    BadRequest,
    DeliveryError,
    Forbidden,
    InvalidRecipient,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    from_http_status,
)
from models.deliverable import Receipt

DEFAULT_RETRY_AFTER = 5.0  # Postmark's 429 carries no Retry-After the SDK keeps


def build_email(mail: OutgoingEmail) -> postmark.Email:
    return postmark.Email(
        sender=mail.from_header,
        to=mail.to,
        subject=mail.subject,
        text_body=mail.text,
        html_body=mail.html,
        reply_to=mail.reply_to,
        headers=[postmark.Header(name=k, value=v) for k, v in mail.thread_headers.items()],
        attachments=[
            postmark.Attachment(
                name=item.filename,
                content=base64.b64encode(item.data).decode(),
                content_type=item.content_type,
                content_id=f"cid:{item.content_id}" if item.content_id else None,
            )
            for item in mail.attachments
        ],
        message_stream="outbound",
    )


def map_error(exc: PostmarkException) -> DeliveryError:
    message = f"postmark /email: {exc.message}"
    if isinstance(exc, TimeoutException):
        return ProviderTimeout(message)
    if isinstance(exc, InvalidEmailException):
        return BadRequest(message)
    if isinstance(exc, RateLimitException):
        return RateLimited(message, retry_after=DEFAULT_RETRY_AFTER)
    if isinstance(exc, InvalidAPIKeyException):
        return Forbidden(message)
    if isinstance(exc, InactiveRecipientException):
        return InvalidRecipient(message)
    if isinstance(exc, PostmarkAPIException):
        # The SDK's base class allows no status; its API exceptions are always built with one.
        assert exc.http_status is not None
        return from_http_status(exc.http_status, message)
    # No HTTP answer at all (connection refused, reset): the SDK wraps httpx's error.
    return ProviderUnavailable(message)


class PostmarkProvider:
    name = "postmark"
    inline_images = True

    def __init__(self, server_token: str, api_url: str) -> None:
        self._client = postmark.ServerClient(
            server_token, retries=0, timeout=API_TIMEOUT, base_url=api_url.rstrip("/")
        )

    async def send(self, mail: OutgoingEmail) -> Receipt:
        """One POST /email.

        Raises:
            DeliveryError: RateLimited, ProviderUnavailable, ProviderTimeout, Forbidden,
                InvalidRecipient (inactive recipient), BadRequest.
        """
        try:
            response = await self._client.outbound.send(build_email(mail))
        except PostmarkException as exc:
            raise map_error(exc) from exc
        if response.error_code != 0:
            raise BadRequest(f"postmark /email: [{response.error_code}] {response.message}")
        return Receipt(provider_message_id=response.message_id, status="sent")

    async def close(self) -> None:
        await self._client.close()
