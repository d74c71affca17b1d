"""Inbound Parse posts built the way SendGrid builds them, from real-format emails.

`tests/channels/data/*.eml` are replies as Gmail and Outlook write them (quoted history, a
signature, quoted-printable UTF-8 and Windows-1252, an 8-bit Shift_JIS body, a PDF attached),
with `{{PLACEHOLDERS}}` in their headers for what each test decides (the address replied to,
the thread). `inbound_parse` turns one into SendGrid's multipart/form-data post: boundary
`xYzZY`, CRLF line ends, the fields in SendGrid's order, text fields in the email's own charset
with `charsets` naming it, attachments as `attachmentN` files with `attachment-info`; with
`raw=True` the whole MIME message in the `email` field instead.
"""

from __future__ import annotations

import base64
import email.header
import email.parser
import email.policy
import email.utils
import json
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

DATA = Path(__file__).parent / "data"
BOUNDARY = "xYzZY"
INBOUND_USER = "parse"
INBOUND_PASSWORD = "inbound-secret-0123456789"


def basic_auth(user: str = INBOUND_USER, password: str = INBOUND_PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def encoded_address(name: str, address: str, charset: str = "utf-8") -> str:
    """A From/To header value with a non-ASCII display name as an RFC 2047 encoded word."""
    if name.isascii():
        return email.utils.formataddr((name, address))
    return f"{email.header.Header(name, charset).encode()} <{address}>"


def encoded_subject(subject: str, charset: str = "utf-8") -> str:
    return subject if subject.isascii() else email.header.Header(subject, charset).encode()


def eml(
    name: str,
    *,
    sender: str,
    to: str,
    subject: str,
    message_id: str,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    charset: str = "utf-8",
    sender_name: str = "",
) -> bytes:
    """A fixture email with its placeholders filled; header lines whose value is None go."""
    values = {
        "FROM": encoded_address(sender_name, sender, charset) if sender_name else sender,
        "FROM_ADDRESS": sender,
        "TO": to,
        "SUBJECT": encoded_subject(subject, charset),
        "MESSAGE_ID": message_id,
        "IN_REPLY_TO": in_reply_to,
        "REFERENCES": " ".join(references) if references else None,
    }
    raw = (DATA / name).read_bytes()
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = []
    for line in head.split(b"\r\n"):
        keep = True
        for key, value in values.items():
            marker = f"{{{{{key}}}}}".encode()
            if marker in line:
                if value is None:
                    keep = False
                else:
                    line = line.replace(marker, value.encode("ascii"))
        if keep:
            lines.append(line)
    return b"\r\n".join(lines) + sep + body


@dataclass(frozen=True)
class Post:
    """A ready Inbound Parse post."""

    body: bytes
    content_type: str

    def headers(self, auth: dict[str, str] | None = None) -> dict[str, str]:
        return {"Content-Type": self.content_type, **(basic_auth() if auth is None else auth)}


def _field(name: str, value: bytes, *, filename: str | None = None, ctype: str = "") -> bytes:
    disposition = f'Content-Disposition: form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = disposition + (f"\r\nContent-Type: {ctype}" if ctype else "")
    return f"--{BOUNDARY}\r\n{head}\r\n\r\n".encode() + value + b"\r\n"


def form(fields: list[tuple[str, bytes]], files: list[tuple[str, str, str, bytes]] = ()) -> Post:
    """A multipart body from FIELDS and FILES (name, filename, content type, data)."""
    body = b"".join(_field(name, value) for name, value in fields)
    body += b"".join(_field(n, data, filename=f, ctype=t) for n, f, t, data in files)
    body += f"--{BOUNDARY}--\r\n".encode()
    return Post(body, f"multipart/form-data; boundary={BOUNDARY}")


def _dkim(message: EmailMessage) -> str:
    signature = str(message.get("DKIM-Signature", ""))
    for item in signature.replace("\r\n", " ").split(";"):
        key, _, value = item.strip().partition("=")
        if key == "d":
            return f"{{@{value.strip()} : pass}}"
    return "none"


def inbound_parse(
    raw_email: bytes,
    *,
    envelope_to: list[str],
    envelope_from: str | None = None,
    spf: str = "pass",
    dkim: str | None = None,
    raw: bool = False,
) -> Post:
    """SendGrid's post for RAW_EMAIL, delivered to ENVELOPE_TO."""
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw_email)
    assert isinstance(message, EmailMessage)
    sender = email.utils.parseaddr(str(message["From"]))[1]
    envelope = json.dumps({"to": envelope_to, "from": envelope_from or sender}).encode()
    dkim_value = (dkim if dkim is not None else _dkim(message)).encode()
    common_tail = [
        ("envelope", envelope),
        ("subject", str(message["Subject"] or "").encode()),
        ("spam_score", b"0.1"),
    ]
    if raw:
        fields = [
            ("dkim", dkim_value),
            ("email", raw_email),
            ("to", str(message["To"] or "").encode()),
            ("from", str(message["From"] or "").encode()),
            ("sender_ip", b"209.85.128.45"),
            *common_tail,
            ("charsets", json.dumps({"to": "UTF-8", "subject": "UTF-8", "from": "UTF-8"}).encode()),
            ("SPF", spf.encode()),
        ]
        return form(fields)
    header_block = raw_email.partition(b"\r\n\r\n")[0] + b"\r\n"
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    charsets = {"to": "UTF-8", "filename": "UTF-8", "subject": "UTF-8", "from": "UTF-8"}
    fields = [("headers", header_block), ("dkim", dkim_value)]
    attachments = [
        part
        for part in message.walk()
        if not part.is_multipart() and part is not text_part and part is not html_part
    ]
    info: dict[str, dict[str, str]] = {}
    content_ids: dict[str, str] = {}
    files = []
    for n, part in enumerate(attachments, start=1):
        key = f"attachment{n}"
        filename = part.get_filename() or f"part{n}"
        meta = {"filename": filename, "name": filename, "type": part.get_content_type()}
        if part.get("Content-ID"):
            cid = str(part["Content-ID"]).strip("<> ")
            meta["content-id"] = cid
            content_ids[cid] = key
        info[key] = meta
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        files.append((key, filename, part.get_content_type(), payload))
    if content_ids:
        fields.append(("content-ids", json.dumps(content_ids).encode()))
    fields.append(("to", str(message["To"] or "").encode()))
    if html_part is not None:
        html_bytes = html_part.get_payload(decode=True)
        assert isinstance(html_bytes, bytes)
        fields.append(("html", html_bytes))
        charsets["html"] = html_part.get_content_charset() or "UTF-8"
    fields.append(("from", str(message["From"] or "").encode()))
    if text_part is not None:
        text_bytes = text_part.get_payload(decode=True)
        assert isinstance(text_bytes, bytes)
        fields.append(("text", text_bytes))
        charsets["text"] = text_part.get_content_charset() or "UTF-8"
    fields.append(("sender_ip", b"209.85.128.45"))
    tail = [
        *common_tail,
        ("attachments", str(len(files)).encode()),
    ]
    if info:
        tail.append(("attachment-info", json.dumps(info).encode()))
    tail += [("charsets", json.dumps(charsets).encode()), ("SPF", spf.encode())]
    post = form(fields + tail, files)
    return post


def simple_email(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    message_id: str,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    """A plain UTF-8 email (a manager writing from their own mail client)."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Tue, 12 Mar 2024 09:00:00 +0000"
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    for name, value in (extra_headers or {}).items():
        message[name] = value
    message.set_content(text)
    return message.as_bytes()
