"""Postmark inbound webhook posts built from real-format emails, in the shape of Postmark's
documentation: `From`/`FromName`/`FromFull`, `To`/`ToFull`, `Cc`/`CcFull`,
`OriginalRecipient`, `Subject`, `MessageID` (Postmark's own id), `Date`, `TextBody`,
`HtmlBody`, `StrippedTextReply`, `Headers` (every header but the ones with their own field) and
`Attachments` with base64 `Content`."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import email.utils
import json
import uuid
from email.message import EmailMessage
from typing import Any

# Headers Postmark gives their own fields and leaves out of `Headers`.
_OWN_FIELDS = frozenset(("from", "to", "cc", "subject", "date"))


def _full(value: str) -> list[dict[str, str]]:
    return [
        {"Email": address, "Name": name, "MailboxHash": ""}
        for name, address in email.utils.getaddresses([value])
        if address
    ]


def postmark_payload(
    raw_email: bytes,
    *,
    original_recipient: str,
    spf: str = "Pass",
    envelope_from: str = "",
    postmark_id: str = "",
) -> dict[str, Any]:
    """Postmark's JSON for RAW_EMAIL delivered to ORIGINAL_RECIPIENT."""
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw_email)
    assert isinstance(message, EmailMessage)
    sender = _full(str(message["From"]))[0]
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    attachments = []
    for part in message.walk():
        if part.is_multipart() or part is text_part or part is html_part:
            continue
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        attachments.append(
            {
                "Name": part.get_filename() or "part",
                "Content": base64.b64encode(data).decode(),
                "ContentType": part.get_content_type(),
                "ContentLength": len(data),
                "ContentID": str(part.get("Content-ID") or "").strip("<> "),
            }
        )
    headers = [
        {"Name": name, "Value": str(value)}
        for name, value in message.items()
        if name.lower() not in _OWN_FIELDS
    ]
    spf_value = (
        f"{spf} (sender SPF authorized) identity=mailfrom; client-ip=209.85.160.180; "
        f"helo=mail.example; envelope-from={envelope_from or sender['Email']}; "
        f"receiver={original_recipient}"
    )
    headers.insert(0, {"Name": "Received-SPF", "Value": spf_value})
    return {
        "FromName": sender["Name"],
        "MessageStream": "inbound",
        "From": sender["Email"],
        "FromFull": sender,
        "To": str(message["To"] or ""),
        "ToFull": _full(str(message["To"] or "")),
        "Cc": str(message["Cc"] or ""),
        "CcFull": _full(str(message["Cc"] or "")),
        "Bcc": "",
        "BccFull": [],
        "OriginalRecipient": original_recipient,
        "Subject": str(message["Subject"] or ""),
        "MessageID": postmark_id or str(uuid.uuid4()),
        "ReplyTo": "",
        "MailboxHash": "",
        "Date": str(message["Date"] or ""),
        "TextBody": text_part.get_content() if text_part is not None else "",
        "HtmlBody": html_part.get_content() if html_part is not None else "",
        "StrippedTextReply": "",
        "Tag": "",
        "Headers": headers,
        "Attachments": attachments,
    }


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()
