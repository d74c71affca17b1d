"""One outgoing email, provider-neutral: what every provider adapter turns into its own call."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP


@dataclass(frozen=True, slots=True)
class OutgoingAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None  # an inline image, shown where the HTML says cid:<id>

    @property
    def inline(self) -> bool:
        return self.content_id is not None


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """A multipart/alternative email (plain text and HTML) with its thread headers."""

    sender: str  # address
    sender_name: str
    to: str
    subject: str
    text: str
    html: str
    message_id: str  # <...@domain>
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    reply_to: str | None = None
    attachments: tuple[OutgoingAttachment, ...] = ()

    @property
    def from_header(self) -> str:
        if not self.sender_name:
            return self.sender
        return email.utils.formataddr((self.sender_name, self.sender))

    @property
    def thread_headers(self) -> dict[str, str]:
        """Message-ID, In-Reply-To and References, as the providers take custom headers."""
        headers = {"Message-ID": self.message_id}
        if self.in_reply_to:
            headers["In-Reply-To"] = self.in_reply_to
        if self.references:
            headers["References"] = " ".join(self.references)
        return headers

    def mime(self) -> EmailMessage:
        """The whole message as MIME (for SMTP): mixed( related( alternative(text, html),
        inline images ), attachments ), each level only when needed."""
        message = EmailMessage(policy=SMTP)
        message["From"] = self.from_header
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
        for name, value in self.thread_headers.items():
            message[name] = value
        if self.reply_to:
            message["Reply-To"] = self.reply_to
        message["MIME-Version"] = "1.0"
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        inline = [a for a in self.attachments if a.inline]
        if inline:
            html_part = list(message.iter_parts())[1]
            for item in inline:
                maintype, _, subtype = item.content_type.partition("/")
                html_part.add_related(
                    item.data,
                    maintype=maintype,
                    subtype=subtype or "octet-stream",
                    cid=f"<{item.content_id}>",
                    filename=item.filename,
                    disposition="inline",
                )
        for item in self.attachments:
            if item.inline:
                continue
            maintype, _, subtype = item.content_type.partition("/")
            message.add_attachment(
                item.data,
                maintype=maintype,
                subtype=subtype or "octet-stream",
                filename=item.filename,
            )
        return message
