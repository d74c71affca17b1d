"""Reading Postmark's inbound webhook JSON into the same `InboundEmail` as Inbound Parse.

Postmark posts one JSON object per email: `From`/`FromName`/`FromFull`, `To`/`ToFull`,
`Cc`/`CcFull`, `OriginalRecipient` (the envelope recipient), `Subject`, `Date`, `MessageID`
(Postmark's own id, not the email's), `TextBody`, `HtmlBody`, `StrippedTextReply`, `Headers`
(`[{"Name", "Value"}]`, where the email's own Message-ID, In-Reply-To, References,
Received-SPF and Authentication-Results are) and `Attachments` (`[{"Name", "Content"
(base64), "ContentType", "ContentLength", "ContentID"}]`). The fields are mapped directly
(rather than rebuilding an RFC 822 message) and handed to `inbound.assemble`, so threading,
dedupe and the reply cut are the SendGrid path's. Our own reply cut is used rather than
`StrippedTextReply`, which Postmark fills only for some clients: one rule for every path.
Who sent it is vouched for by Postmark's `Received-SPF` alone (aligned on its envelope-from):
Postmark gives no DKIM result, and an Authentication-Results in the post is the sender's word.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from channels.email.inbound import (
    InboundAttachment,
    InboundEmail,
    MalformedEmail,
    MessageParts,
    assemble,
    keep_attachment,
    parse_addresses,
    parse_sender,
)

_ENVELOPE_FROM = re.compile(r"\benvelope-from=<?([^\s;<>]+@[^\s;<>]+)>?", re.IGNORECASE)
_JOINED = frozenset(("authentication-results", "arc-authentication-results"))
_CANONICAL = {
    "message-id": "Message-ID",
    "in-reply-to": "In-Reply-To",
    "references": "References",
    "subject": "Subject",
    "from": "From",
    "to": "To",
    "cc": "Cc",
    "date": "Date",
    "authentication-results": "Authentication-Results",
    "auto-submitted": "Auto-Submitted",
    "precedence": "Precedence",
    "received-spf": "Received-SPF",
}


def parse_postmark(body: bytes) -> InboundEmail:
    """The email a Postmark inbound webhook post carries.

    Raises:
        MalformedEmail: not a JSON object, fields of the wrong type, bad base64, or no usable
            From address.
    """
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedEmail("the body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise MalformedEmail("the body must be a JSON object")
    headers = _headers(payload.get("Headers"))
    subject = _text(payload, "Subject") or headers.get("Subject", "")
    sender = _sender(payload, headers)
    to = _recipients(payload, "To", headers)
    cc = _recipients(payload, "Cc", headers)
    if "Date" not in headers and _text(payload, "Date"):
        headers["Date"] = _text(payload, "Date")
    if "Message-ID" not in headers and _text(payload, "MessageID"):
        # Without its own Message-ID the email is still deduplicated on Postmark's id, which
        # a redelivery of the same email keeps.
        headers["Message-ID"] = f"<{_text(payload, 'MessageID')}@inbound.postmarkapp.com>"
    attachments: list[InboundAttachment] = []
    skipped: list[str] = []
    for item in _attachments(payload.get("Attachments")):
        keep_attachment(attachments, skipped, item)
    original = parse_addresses(_text(payload, "OriginalRecipient"))
    spf, envelope_from = _received_spf(headers.get("Received-SPF", ""))
    # Postmark reports SPF (its Received-SPF, on top) but no DKIM result of its own: an
    # Authentication-Results in the post came with the email and proves nothing.
    for name in [n for n in headers if n.lower() in _JOINED]:
        del headers[name]
    parts = MessageParts(
        headers=headers,
        text=_text(payload, "TextBody"),
        html=_text(payload, "HtmlBody"),
        attachments=attachments,
        skipped=skipped,
        subject=subject,
        sender=sender,
        to=to,
        cc=cc,
    )
    return assemble(parts, envelope_to=original, envelope_from=envelope_from, spf=spf)


def _received_spf(value: str) -> tuple[str, str | None]:
    """(result, envelope sender) of Postmark's `Received-SPF: Pass (...) identity=mailfrom;
    client-ip=...; envelope-from=jane@example.com; ...`; ("none", None) without one."""
    result = value.strip().split(" ", 1)[0].lower()
    sender = _ENVELOPE_FROM.search(value)
    return (result or "none"), (sender.group(1).lower() if sender else None)


def _text(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedEmail(f"{name} must be a string")
    return value


def _headers(value: Any) -> dict[str, str]:
    """Header name -> value (the first of a repeated one; Authentication-Results joined)."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise MalformedEmail("Headers must be a list of {Name, Value}")
    found: dict[str, str] = {}
    for item in value:
        if not isinstance(item, dict):
            raise MalformedEmail("Headers must be a list of {Name, Value}")
        name, text = item.get("Name"), item.get("Value")
        if not isinstance(name, str) or not isinstance(text, str) or not name.strip():
            raise MalformedEmail("each header needs a Name and a Value string")
        title = _CANONICAL.get(name.strip().lower(), name.strip())
        if title in found:
            if title.lower() in _JOINED:
                found[title] += "; " + text
            continue
        found[title] = text
    return found


def _full(value: Any, name: str) -> list[tuple[str, str]]:
    """(name, address) pairs of a `...Full` field: one object (From) or a list (To, Cc)."""
    items = value if isinstance(value, list) else [value]
    pairs = []
    for item in items:
        if not isinstance(item, dict):
            raise MalformedEmail(f"{name}Full must hold {{Email, Name}} objects")
        address, shown = item.get("Email"), item.get("Name")
        if not isinstance(address, str) or (shown is not None and not isinstance(shown, str)):
            raise MalformedEmail(f"{name}Full must hold {{Email, Name}} strings")
        pairs.append(((shown or "").strip(), address.strip().lower()))
    return pairs


def _sender(payload: dict[str, Any], headers: dict[str, str]) -> tuple[str, str]:
    full = payload.get("FromFull")
    if full:
        pairs = _full(full, "From")
        if pairs and "@" in pairs[0][1]:
            return pairs[0]
    name, address = parse_sender(_text(payload, "From") or headers.get("From", ""))
    return (_text(payload, "FromName").strip() or name), address


def _recipients(payload: dict[str, Any], name: str, headers: dict[str, str]) -> list[str]:
    full = payload.get(f"{name}Full")
    if full:
        found: list[str] = []
        for _, address in _full(full, name):
            if "@" in address and address not in found:
                found.append(address)
        return found
    return parse_addresses(_text(payload, name) or headers.get(name, ""))


def _attachments(value: Any) -> list[InboundAttachment]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedEmail("Attachments must be a list")
    found = []
    for item in value:
        if not isinstance(item, dict):
            raise MalformedEmail("each attachment must be an object")
        content = item.get("Content")
        if not isinstance(content, str):
            raise MalformedEmail("each attachment needs its Content (base64)")
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedEmail("an attachment's Content is not valid base64") from exc
        filename = item.get("Name")
        content_type = item.get("ContentType")
        content_id = item.get("ContentID")
        found.append(
            InboundAttachment(
                filename=(filename if isinstance(filename, str) and filename else "attachment")[
                    :200
                ],
                content_type=(
                    content_type
                    if isinstance(content_type, str) and content_type
                    else "application/octet-stream"
                )[:100],
                data=data,
                content_id=(
                    content_id.strip().strip("<>")
                    if isinstance(content_id, str) and content_id.strip()
                    else None
                ),
            )
        )
    return found
