"""Reading SendGrid Inbound Parse posts into one frozen `InboundEmail`.

Inbound Parse posts `multipart/form-data` in one of two modes:
- parsed (the default): fields `headers` (the raw header block), `text`, `html`, `from`, `to`,
  `cc`, `subject`, `envelope` (JSON: `to` list, `from`), `charsets` (JSON: the charset of each
  text field), `SPF`, `dkim`, `attachments` (a count), `attachment-info` (JSON per file) and
  the files `attachment1`..`attachmentN`;
- raw ("POST the raw, full MIME message"): the whole message in the `email` field, beside
  `envelope`, `charsets`, `SPF` and `dkim`.
Each text field is decoded with the charset `charsets` names for it (SendGrid does not put it on
the part). Headers are read with the standard library's `email` package (`policy.default`).
Quoted history and signatures are cut from the text with `mail-parser-reply`.
"""

from __future__ import annotations

import codecs
import email.parser
import email.policy
import email.utils
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from email.message import EmailMessage, Message
from html.parser import HTMLParser
from typing import Any, TypedDict

from mailparser_reply import EmailReplyParser

from models.email_threads import message_ids, thread_root
from models.task import without_nul

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # each; larger ones are listed but not kept
MAX_ATTACHMENTS = 20
MAX_TEXT_CHARS = 200_000  # what a task or an assist event keeps of a body
# Languages whose "On ... wrote:" / "Von: ... Gesendet:" headers and signatures are recognised.
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pl", "sv", "da", "cs", "ja", "ko", "zh"]
_ATTACHMENT_FIELD = re.compile(r"^attachment(\d{1,4})$")
_AUTH_RESULT = re.compile(r"\b(spf|dkim)\s*=\s*([a-z]+)([^;]*)", re.IGNORECASE)
_HEADER_DOMAIN = re.compile(r"\bheader\.[di]\s*=\s*@?([a-z0-9.-]+)", re.IGNORECASE)
_DKIM_FIELD = re.compile(r"@?([a-z0-9.-]+\.[a-z]{2,})\s*:\s*([a-z]+)", re.IGNORECASE)


class MalformedEmail(ValueError):
    """The post is not an Inbound Parse payload we can read; the message says why (a 400)."""


@dataclass(frozen=True, slots=True)
class FormPart:
    """One field of the multipart form: its bytes as sent, undecoded."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str = "text/plain"


@dataclass(frozen=True, slots=True)
class InboundAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None  # set for inline images (`cid:` in the HTML)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class InboundEmail:
    """One email as received; addresses lower-cased, Message-IDs with their brackets."""

    from_address: str
    from_name: str
    subject: str
    text: str  # the whole plain-text body (from the HTML when there is no text part)
    html: str
    reply_text: str  # the new part only: quoted history and signature cut
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    envelope_to: tuple[str, ...]
    envelope_from: str | None
    spf: str | None  # pass, fail, softfail, neutral, none, ...
    dkim: tuple[tuple[str, str], ...]  # (signing domain, result)
    attachments: tuple[InboundAttachment, ...] = ()
    skipped: tuple[str, ...] = ()  # attachments refused (too large, too many)
    raw_mode: bool = False
    date: str | None = None
    auto_submitted: bool = False  # an auto-reply or bounce: never answered
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def external_id(self) -> str:
        """The dedupe key: the Message-ID, or a hash of the message when it has none."""
        if self.message_id and len(self.message_id) <= 200:
            return self.message_id
        digest = hashlib.sha256()
        for part in (self.message_id or "", self.from_address, self.subject, self.text, self.html):
            digest.update(part.encode("utf-8", "replace") + b"\x00")
        for attachment in self.attachments:
            digest.update(hashlib.sha256(attachment.data).digest())
        return f"sha256:{digest.hexdigest()}"

    @property
    def thread_key(self) -> str:
        return thread_root(self.message_id, self.in_reply_to, self.references) or (self.external_id)

    @property
    def recipients(self) -> tuple[str, ...]:
        """Where it was delivered: the envelope, else the To and Cc headers."""
        return self.envelope_to or (*self.to, *self.cc)

    @property
    def thread_ids(self) -> list[str]:
        """Every Message-ID this email answers: In-Reply-To first, then References, newest
        first (the nearest ancestor is the best match)."""
        found = [self.in_reply_to] if self.in_reply_to else []
        for item in reversed(self.references):
            if item not in found:
                found.append(item)
        return found

    @property
    def dkim_result(self) -> str | None:
        if not self.dkim:
            return None
        if any(result == "pass" for _, result in self.dkim):
            return "pass"
        return self.dkim[0][1]

    @property
    def from_domain(self) -> str:
        return self.from_address.rpartition("@")[2]

    @property
    def authenticated(self) -> bool | None:
        """DMARC-style: SPF passed for an envelope sender of the From domain, or a DKIM
        signature of the From domain passed. None when the post carries no results at all."""
        if self.spf is None and not self.dkim:
            return None
        if any(res == "pass" and _aligned(dom, self.from_domain) for dom, res in self.dkim):
            return True
        if self.spf == "pass":
            sender_domain = (self.envelope_from or "").rpartition("@")[2].lower()
            return not sender_domain or _aligned(sender_domain, self.from_domain)
        return False


def _aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment: the same domain, or one a subdomain of the other."""
    domain, from_domain = domain.lower().strip("."), from_domain.lower().strip(".")
    return (
        domain == from_domain
        or domain.endswith("." + from_domain)
        or from_domain.endswith("." + domain)
    )


# ---------------------------------------------------------------------------- the form


def parse_form(content_type: str, body: bytes) -> dict[str, FormPart]:
    """The fields of a multipart/form-data body by name (the first of a repeated name).

    Raises:
        MalformedEmail: not multipart/form-data, no boundary, or no fields.
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind != "multipart/form-data":
        raise MalformedEmail(f"expected multipart/form-data, got {kind or 'no content type'}")
    if "boundary=" not in content_type.lower():
        raise MalformedEmail("the multipart body has no boundary")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise MalformedEmail("the multipart body could not be read")
    fields: dict[str, FormPart] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        fields.setdefault(
            _fix_8bit(name),
            FormPart(
                name=_fix_8bit(name),
                data=data,
                filename=_fix_8bit(filename) if filename else None,
                content_type=part.get_content_type(),
            ),
        )
    if not fields:
        raise MalformedEmail("the multipart body has no fields")
    return fields


def _fix_8bit(value: str) -> str:
    """Raw UTF-8 in a part header (RFC 7578 allows it) arrives surrogate-escaped."""
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return value.encode("utf-8", "surrogateescape").decode("latin-1")


def _codec(charset: str | None) -> str:
    if not charset:
        return "utf-8"
    try:
        return codecs.lookup(charset.strip().strip('"')).name
    except LookupError:
        return "utf-8"


def _decoded(fields: Mapping[str, FormPart], name: str, charsets: Mapping[str, str]) -> str:
    part = fields.get(name)
    if part is None:
        return ""
    return part.data.decode(_codec(charsets.get(name)), "replace")


def _json_field(fields: Mapping[str, FormPart], name: str) -> Any:
    part = fields.get(name)
    if part is None or not part.data.strip():
        return None
    try:
        return json.loads(part.data.decode("utf-8", "replace"))
    except ValueError as exc:
        raise MalformedEmail(f"the {name} field is not valid JSON") from exc


# ---------------------------------------------------------------------------- the email


def parse_inbound(fields: Mapping[str, FormPart]) -> InboundEmail:
    """The email an Inbound Parse post carries, in either mode.

    Raises:
        MalformedEmail: required fields missing or unreadable (no usable From address).
    """
    charsets_value = _json_field(fields, "charsets") or {}
    charsets = (
        {str(k): str(v) for k, v in charsets_value.items()}
        if isinstance(charsets_value, dict)
        else {}
    )
    envelope = _json_field(fields, "envelope")
    if envelope is not None and not isinstance(envelope, dict):
        raise MalformedEmail("the envelope field must be a JSON object")
    envelope_to, envelope_from = _envelope(envelope or {})
    spf = _decoded(fields, "SPF", charsets).strip().lower() or None
    dkim = _dkim_field(_decoded(fields, "dkim", charsets))
    try:
        if "email" in fields:
            mail = _raw_mode(fields["email"].data)
        elif "headers" in fields or "from" in fields:
            mail = _parsed_mode(fields, charsets)
        else:
            raise MalformedEmail("neither the email field (raw mode) nor headers/from are present")
    except MalformedEmail:
        raise
    except (LookupError, ValueError, TypeError, AttributeError, IndexError) as exc:
        # The email package's header parser has raised on odd input before: a bad email,
        # not a server error.
        raise MalformedEmail(f"the message could not be parsed: {type(exc).__name__}") from exc
    return assemble(
        mail,
        envelope_to=envelope_to,
        envelope_from=envelope_from,
        spf=spf,
        dkim=dkim,
        raw_mode="email" in fields,
    )


def assemble(
    mail: MessageParts,
    *,
    envelope_to: Sequence[str] = (),
    envelope_from: str | None = None,
    spf: str | None = None,
    dkim: Sequence[tuple[str, str]] = (),
    raw_mode: bool = False,
) -> InboundEmail:
    """The `InboundEmail` of MAIL, whichever way it arrived (Inbound Parse, Postmark's JSON, an
    IMAP fetch): the same checks and the same threading ids for every path.

    Raises:
        MalformedEmail: no usable From address.
    """
    dkim = list(dkim)
    headers, text, html = mail.headers, mail.text, mail.html
    auth = _authentication_results(headers)
    from_name, from_address = mail.sender
    if "@" not in from_address or len(from_address) > 320:
        raise MalformedEmail("the message has no usable From address")
    if spf is None:
        spf = auth.get("spf")
    if not dkim and "dkim" in auth:
        dkim = auth["dkim"]
    references = tuple(message_ids(headers.get("References")))
    reply_to_ids = message_ids(headers.get("In-Reply-To"))
    own_ids = message_ids(headers.get("Message-ID"))
    if not text.strip() and html.strip():
        text = html_to_text(html)
    text = text.replace("\r\n", "\n").replace("\r", "\n")[:MAX_TEXT_CHARS]
    return _without_nul(
        InboundEmail(
            from_address=from_address,
            from_name=from_name,
            subject=mail.subject.strip()[:998],
            text=text,
            html=html[: MAX_TEXT_CHARS * 2],
            reply_text=strip_reply(text),
            message_id=own_ids[0] if own_ids else None,
            in_reply_to=reply_to_ids[-1] if reply_to_ids else None,
            references=references,
            to=tuple(mail.to),
            cc=tuple(mail.cc),
            envelope_to=tuple(envelope_to),
            envelope_from=envelope_from,
            spf=spf,
            dkim=tuple(dkim),
            attachments=tuple(mail.attachments),
            skipped=tuple(mail.skipped),
            raw_mode=raw_mode,
            date=headers.get("Date"),
            auto_submitted=_is_automatic(headers),
            headers=headers,
        )
    )


def _without_nul(mail: InboundEmail) -> InboundEmail:
    """MAIL without NUL characters in any of its text: nobody writes one, and PostgreSQL
    cannot store it (attachments keep their bytes; their names lose it too)."""
    values = {
        f.name: without_nul(getattr(mail, f.name)) for f in fields(mail) if f.name != "attachments"
    }
    values["attachments"] = tuple(
        replace(
            a,
            filename=without_nul(a.filename),
            content_type=without_nul(a.content_type),
            content_id=without_nul(a.content_id),
        )
        for a in mail.attachments
    )
    return InboundEmail(**values)


@dataclass(frozen=True, slots=True)
class MessageParts:
    """What a delivery path yields before the common checks (`assemble`)."""

    headers: dict[str, str]
    text: str
    html: str
    attachments: list[InboundAttachment]
    skipped: list[str]
    subject: str
    sender: tuple[str, str]  # (display name, address)
    to: list[str]
    cc: list[str]


def _parsed_mode(fields: Mapping[str, FormPart], charsets: Mapping[str, str]) -> MessageParts:
    header_block = fields["headers"].data if "headers" in fields else b""
    parsed = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(
        header_block.rstrip(b"\r\n") + b"\r\n\r\n"
    )
    headers = header_map(parsed)
    subject = _decoded(fields, "subject", charsets) or headers.get("Subject", "")
    sender_field = _decoded(fields, "from", charsets) or headers.get("From", "")
    to = parse_addresses(_decoded(fields, "to", charsets) or headers.get("To", ""))
    cc = parse_addresses(_decoded(fields, "cc", charsets) or headers.get("Cc", ""))
    text = _decoded(fields, "text", charsets)
    html = _decoded(fields, "html", charsets)
    info = _json_field(fields, "attachment-info")
    info = info if isinstance(info, dict) else {}
    content_ids = _json_field(fields, "content-ids")
    by_field = (
        {str(v): str(k) for k, v in content_ids.items()} if isinstance(content_ids, dict) else {}
    )
    numbered = sorted(
        (int(m.group(1)), part)
        for name, part in fields.items()
        if (m := _ATTACHMENT_FIELD.match(name))
    )
    attachments: list[InboundAttachment] = []
    skipped: list[str] = []
    for _, part in numbered:
        meta = info.get(part.name)
        meta = meta if isinstance(meta, dict) else {}
        filename = str(meta.get("filename") or meta.get("name") or part.filename or part.name)
        content_type = str(meta.get("type") or part.content_type or "application/octet-stream")
        content_id = meta.get("content-id") or by_field.get(part.name)
        keep_attachment(
            attachments,
            skipped,
            InboundAttachment(
                filename=filename[:200],
                content_type=content_type[:100],
                data=part.data,
                content_id=str(content_id).strip("<>") if content_id else None,
            ),
        )
    return MessageParts(
        headers, text, html, attachments, skipped, subject, parse_sender(sender_field), to, cc
    )


def _raw_mode(raw: bytes) -> MessageParts:
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    headers = header_map(message)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    text = _part_text(text_part) if text_part is not None else ""
    html = _part_text(html_part) if html_part is not None else ""
    attachments: list[InboundAttachment] = []
    skipped: list[str] = []
    for part in message.walk():
        if part.is_multipart() or part is text_part or part is html_part:
            continue
        filename = part.get_filename()
        disposition = part.get_content_disposition()
        if filename is None and disposition is None and part.get_content_maintype() == "text":
            continue
        payload = part.get_payload(decode=True)
        content_id = part.get("Content-ID")
        keep_attachment(
            attachments,
            skipped,
            InboundAttachment(
                filename=(filename or f"part-{len(attachments) + 1}")[:200],
                content_type=part.get_content_type()[:100],
                data=payload if isinstance(payload, bytes) else b"",
                content_id=str(content_id).strip().strip("<>") if content_id else None,
            ),
        )
    return MessageParts(
        headers,
        text,
        html,
        attachments,
        skipped,
        headers.get("Subject", ""),
        parse_sender(headers.get("From", "")),
        parse_addresses(headers.get("To", "")),
        parse_addresses(headers.get("Cc", "")),
    )


def _part_text(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, UnicodeError, AssertionError):
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        return data.decode(_codec(part.get_content_charset()), "replace")
    return content if isinstance(content, str) else ""


def keep_attachment(
    kept: list[InboundAttachment], skipped: list[str], item: InboundAttachment
) -> None:
    if item.size > MAX_ATTACHMENT_BYTES:
        skipped.append(f"{item.filename} ({item.size} bytes, over {MAX_ATTACHMENT_BYTES})")
    elif len(kept) >= MAX_ATTACHMENTS:
        skipped.append(f"{item.filename} (more than {MAX_ATTACHMENTS} attachments)")
    else:
        kept.append(item)


def header_map(message: Message) -> dict[str, str]:
    """Header name -> decoded value (the first of a repeated header; Authentication-Results
    and Received joined, as several hops each add one)."""
    found: dict[str, str] = {}
    for name in message.keys():  # noqa: SIM118 - a Message is no dict
        title = name.strip()
        if title in found:
            if title.lower() in ("authentication-results", "arc-authentication-results"):
                found[title] += "; " + _header_value(message, title, last=True)
            continue
        found[title] = _header_value(message, title)
    canonical = {
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
    }
    for name in list(found):
        wanted = canonical.get(name.lower())
        if wanted is not None and wanted not in found:
            found[wanted] = found[name]
    return found


def _header_value(message: Message, name: str, *, last: bool = False) -> str:
    values = message.get_all(name) or []
    if not values:
        return ""
    value = values[-1] if last else values[0]
    try:
        return str(value)
    except (ValueError, TypeError, AttributeError, IndexError, LookupError):
        return ""


def parse_sender(value: str) -> tuple[str, str]:
    name, address = email.utils.parseaddr(value)
    return name.strip(), address.strip().lower()


def parse_addresses(value: str) -> list[str]:
    found = []
    for _, address in email.utils.getaddresses([value]):
        address = address.strip().lower()
        if "@" in address and address not in found:
            found.append(address)
    return found


def _envelope(envelope: Mapping[str, Any]) -> tuple[list[str], str | None]:
    to_value = envelope.get("to") or []
    if isinstance(to_value, str):
        to_value = [to_value]
    if not isinstance(to_value, list):
        raise MalformedEmail("envelope.to must be a list of addresses")
    recipients = []
    for item in to_value:
        address = email.utils.parseaddr(str(item))[1].strip().lower()
        if "@" in address and address not in recipients:
            recipients.append(address)
    sender = envelope.get("from")
    sender_address = email.utils.parseaddr(str(sender))[1].strip().lower() if sender else ""
    return recipients, sender_address or None


def _dkim_field(value: str) -> list[tuple[str, str]]:
    """SendGrid's `dkim` field: "{@example.com : pass}", several separated by commas."""
    return [(domain.lower(), result.lower()) for domain, result in _DKIM_FIELD.findall(value)]


class _AuthenticationResults(TypedDict, total=False):
    spf: str
    dkim: list[tuple[str, str]]


def _authentication_results(headers: Mapping[str, str]) -> _AuthenticationResults:
    """SPF and DKIM results from Authentication-Results (RFC 8601)."""
    found: _AuthenticationResults = {}
    value = headers.get("Authentication-Results", "")
    dkim: list[tuple[str, str]] = []
    for method, result, rest in _AUTH_RESULT.findall(value):
        if method.lower() == "spf":
            found.setdefault("spf", result.lower())
        else:
            domain = _HEADER_DOMAIN.search(rest)
            dkim.append((domain.group(1).lower() if domain else "", result.lower()))
    if dkim:
        found["dkim"] = dkim
    return found


def _is_automatic(headers: Mapping[str, str]) -> bool:
    """Auto-replies, bounces and list traffic (RFC 3834): recorded, never answered."""
    auto = headers.get("Auto-Submitted", "").strip().lower()
    precedence = headers.get("Precedence", "").strip().lower()
    return (auto not in ("", "no")) or precedence in ("bulk", "junk", "auto_reply")


# ---------------------------------------------------------------------------- bodies


def strip_reply(text: str) -> str:
    """The new part of a reply: quoted history ("On ... wrote:", Outlook's "From: ... Sent:"
    block, "-----Original Message-----", ">" quotes) and the signature cut off. The whole
    text when nothing but a quote or signature would be left."""
    if not text.strip():
        return ""
    parser = EmailReplyParser(languages=list(REPLY_LANGUAGES))
    message = parser.read(text)
    latest = message.replies[0].body if message.replies else ""
    # Lines quoted with ">" at the end that no header introduced.
    lines = latest.splitlines()
    while lines and (lines[-1].startswith(">") or not lines[-1].strip()):
        lines.pop()
    latest = "\n".join(lines).strip()
    return latest or text.strip()


class _TextExtractor(HTMLParser):
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"}
    )
    _SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: Sequence[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "blockquote":
            self.parts.append("\n> ")
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Readable text of an HTML-only email (tags dropped, blocks on their own lines)."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    text = "".join(extractor.parts)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def parse_message(raw: bytes) -> InboundEmail:
    """A whole RFC 822 message as fetched from a mailbox (IMAP): raw mode without a form.

    No provider vouches for the sender here, so SPF and DKIM are read from the topmost
    Authentication-Results only (the one the mailbox's own server prepended: any below it came
    with the message and prove nothing), and without one the email counts as unauthenticated
    (a member's address then runs nothing).

    Raises:
        MalformedEmail: the message cannot be read or has no usable From address.
    """
    try:
        parts = _raw_mode(raw)
        topmost = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
        first = _header_value(topmost, "Authentication-Results")
    except (LookupError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise MalformedEmail(f"the message could not be parsed: {type(exc).__name__}") from exc
    headers = {k: v for k, v in parts.headers.items() if k.lower() != "authentication-results"}
    if first:
        headers["Authentication-Results"] = first
    found = _authentication_results(headers)
    return assemble(
        replace(parts, headers=headers),
        spf=found.get("spf", "none"),
        dkim=found.get("dkim", []),
        raw_mode=True,
    )
