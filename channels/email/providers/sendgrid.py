"""SendGrid v3 through the official `sendgrid` SDK (`SENDGRID_API_URL` as its host).

The SDK is synchronous (urllib underneath), so each send runs in a worker thread; it never
retries by itself, so one `send` is one POST /v3/mail/send.
"""

from __future__ import annotations

import asyncio
import base64
import urllib.error

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Attachment,
    ContentId,
    Disposition,
    FileContent,
    FileName,
    FileType,
    From,
    Header,
    Mail,
    ReplyTo,
    To,
)

from channels.email.message import OutgoingEmail
from channels.email.providers import API_TIMEOUT
from delivery.errors import (
    BadRequest,
    DeliveryError,
    ProviderTimeout,
    ProviderUnavailable,
    from_http_status,
    parse_retry_after,
)
from models.deliverable import Receipt


def build_mail(mail: OutgoingEmail) -> Mail:
    """The SDK's Mail for MAIL: both bodies, Reply-To, thread headers, files and inline images."""
    message = Mail(
        from_email=From(mail.sender, mail.sender_name or None),
        to_emails=To(mail.to),
        subject=mail.subject,
        plain_text_content=mail.text,
        html_content=mail.html,
    )
    if mail.reply_to:
        message.reply_to = ReplyTo(mail.reply_to)
    for name, value in mail.thread_headers.items():
        message.header = Header(name, value)
    for item in mail.attachments:
        attachment = Attachment(
            file_content=FileContent(base64.b64encode(item.data).decode()),
            file_name=FileName(item.filename),
            file_type=FileType(item.content_type),
            disposition=Disposition("inline" if item.inline else "attachment"),
        )
        if item.content_id:
            attachment.content_id = ContentId(item.content_id)
        message.attachment = attachment
    return message


def map_error(exc: HTTPError) -> DeliveryError:
    headers = exc.headers or {}
    try:
        detail = "; ".join(str(e.get("message")) for e in exc.to_dict.get("errors", []))
    except (ValueError, AttributeError, TypeError):
        detail = ""
    message = f"sendgrid mail/send: HTTP {exc.status_code}" + (f": {detail}" if detail else "")
    return from_http_status(exc.status_code, message, parse_retry_after(headers.get("Retry-After")))


class SendGridProvider:
    name = "sendgrid"
    inline_images = True

    def __init__(self, api_key: str, api_url: str) -> None:
        self._client = SendGridAPIClient(api_key, host=api_url.rstrip("/"))
        self._client.client.timeout = API_TIMEOUT

    async def send(self, mail: OutgoingEmail) -> Receipt:
        """One POST /v3/mail/send.

        Raises:
            DeliveryError: RateLimited (429, Retry-After honoured), ProviderUnavailable (5xx,
                connection), ProviderTimeout, Forbidden (401/403), BadRequest (other 4xx).
        """
        body = build_mail(mail).get()
        try:
            response = await asyncio.to_thread(self._client.send, body)
        except HTTPError as exc:
            raise map_error(exc) from exc
        except TimeoutError as exc:
            raise ProviderTimeout("sendgrid mail/send: no answer in time") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise ProviderTimeout("sendgrid mail/send: no answer in time") from exc
            raise ProviderUnavailable(f"sendgrid mail/send: {exc.reason}") from exc
        except OSError as exc:
            raise ProviderUnavailable(f"sendgrid mail/send: {type(exc).__name__}") from exc
        if response.status_code not in (200, 202):
            raise BadRequest(f"sendgrid mail/send: unexpected HTTP {response.status_code}")
        return Receipt(provider_message_id=response.headers.get("X-Message-Id"), status="sent")

    async def close(self) -> None:
        return None
