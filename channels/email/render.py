"""Deliverables as email: a plain-text part (the deliverable's complete text) and an HTML part
(escaped; cards as a table, lists as bullets, proposals with their changes side by side and
the code to reply with), charts drawn as PNG and shown inline (`cid:`), files attached."""

from __future__ import annotations

import hashlib
import html
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from channels.email.message import OutgoingAttachment, OutgoingEmail
from core.assists.email_identity import EmailIdentity
from delivery import charts
from delivery.errors import BadRequest
from delivery.media import MediaFile
from delivery.render import media_of
from models.deliverable import Deliverable

SUBJECT_LIMIT = 120
_FONT = "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif"


@dataclass(frozen=True, slots=True)
class Envelope:
    """The headers the sender decided: subject and thread."""

    subject: str
    message_id: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    reply_to: str | None = None


MediaLoader = Callable[[str], Awaitable[MediaFile | None]]


def default_subject(deliverable: Deliverable) -> str:
    """A subject for an email that starts a thread: the title, else the first line."""
    proposal = deliverable.data.get("proposal")
    if deliverable.kind == "proposal" and isinstance(proposal, dict):
        summary = str(proposal.get("summary") or "a change")
        status = proposal.get("status")
        if status not in (None, "pending"):
            return _clip(f"Proposal {status}: {summary}")
        return _clip(f"Approval needed (code {proposal.get('code')}): {summary}")
    if deliverable.title:
        return _clip(deliverable.title)
    first = next((line for line in deliverable.text.splitlines() if line.strip()), "")
    return _clip(first) or "Switchboard"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 1].rstrip() + "…"


async def render_email(
    deliverable: Deliverable,
    to: str,
    envelope: Envelope,
    identity: EmailIdentity,
    *,
    load_media: MediaLoader,
    inline_images: bool = True,
) -> OutgoingEmail:
    """The email for DELIVERABLE.

    Raises:
        BadRequest: the deliverable's file expired before it could be sent.
    """
    attachments: list[OutgoingAttachment] = []
    images: list[tuple[str, str]] = []  # (content id, alt text) shown in the HTML
    attached_names: list[str] = []
    chart = await charts.draw_deliverable_chart(deliverable)
    media = media_of(deliverable)
    if media is not None:
        found = await load_media(str(media["id"]))
        if found is None:
            raise BadRequest(
                f"the file {media.get('filename') or media['id']!r} expired before it could be sent"
            )
        chart_like = found.content_type.startswith("image/")
        cid = _content_id(found.filename, found.data, identity.domain)
        if chart_like and inline_images:
            attachments.append(
                OutgoingAttachment(found.filename, found.content_type, found.data, cid)
            )
            images.append((cid, deliverable.title or found.filename))
        else:
            attachments.append(OutgoingAttachment(found.filename, found.content_type, found.data))
            attached_names.append(found.filename)
    if chart is not None:
        filename = "chart.png"
        cid = _content_id(filename, chart, identity.domain)
        if inline_images:
            attachments.append(OutgoingAttachment(filename, "image/png", chart, cid))
            images.append((cid, deliverable.title or "chart"))
        else:
            attachments.append(OutgoingAttachment(filename, "image/png", chart))
            attached_names.append(filename)
    return OutgoingEmail(
        sender=identity.sender,
        sender_name=identity.sender_name,
        to=to,
        subject=envelope.subject,
        text=text_body(deliverable, attached_names),
        html=html_body(deliverable, images, attached_names),
        message_id=envelope.message_id,
        in_reply_to=envelope.in_reply_to,
        references=envelope.references,
        reply_to=envelope.reply_to,
        attachments=tuple(attachments),
    )


def _content_id(filename: str, data: bytes, domain: str) -> str:
    digest = hashlib.sha256(data).hexdigest()[:16]
    stem = "".join(c for c in filename.rsplit(".", 1)[0] if c.isalnum())[:20] or "image"
    return f"{stem}.{digest}@{domain}"


def text_body(deliverable: Deliverable, attached: Sequence[str] = ()) -> str:
    parts = [deliverable.text.strip()]
    if attached:
        parts.append("Attached: " + ", ".join(attached))
    return "\n\n".join(p for p in parts if p) + "\n"


def _paragraphs(text: str) -> str:
    blocks = [b.strip("\n") for b in text.strip().split("\n\n") if b.strip()]
    return "".join(
        f'<p style="margin:0 0 12px">{html.escape(b).replace(chr(10), "<br>")}</p>' for b in blocks
    )


def _table(rows: Sequence[Sequence[str]], header: Sequence[str] = ()) -> str:
    cell = 'style="padding:6px 10px;border-bottom:1px solid #e3e6ea;text-align:left"'
    head = (
        "<tr>" + "".join(f"<th {cell}>{html.escape(h)}</th>" for h in header) + "</tr>"
        if header
        else ""
    )
    body = "".join(
        "<tr>" + "".join(f"<td {cell}>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f'<table style="border-collapse:collapse;margin:0 0 12px">{head}{body}</table>'


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ", ".join(_shown(v) for v in value) or "-"
    return str(value)


def html_body(
    deliverable: Deliverable,
    images: Sequence[tuple[str, str]] = (),
    attached: Sequence[str] = (),
) -> str:
    """The HTML part: every value escaped; nothing the deliverable says is markup."""
    sections: list[str] = []
    if deliverable.title:
        sections.append(f'<h2 style="margin:0 0 12px">{html.escape(deliverable.title)}</h2>')
    proposal = deliverable.data.get("proposal")
    if deliverable.kind == "proposal" and isinstance(proposal, dict):
        sections.append(_proposal_html(deliverable, proposal))
    else:
        if deliverable.fields:
            sections.append(_table([(f.label, f.value) for f in deliverable.fields]))
        if deliverable.kind == "list" and deliverable.items:
            lead = deliverable.text.strip().split("\n", 1)[0]
            sections.append(_paragraphs(lead))
            items = "".join(f"<li>{html.escape(i)}</li>" for i in deliverable.items)
            sections.append(f'<ul style="margin:0 0 12px">{items}</ul>')
        else:
            style = "color:#b42318" if deliverable.kind == "error" else ""
            sections.append(f'<div style="{style}">{_paragraphs(deliverable.text)}</div>')
    for cid, alt in images:
        sections.append(
            f'<p><img src="cid:{html.escape(cid)}" alt="{html.escape(alt)}" '
            'style="max-width:100%;height:auto" width="640"></p>'
        )
    if attached:
        names = ", ".join(html.escape(n) for n in attached)
        sections.append(f'<p style="color:#555">Attached: {names}</p>')
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        f'<body style="{_FONT};font-size:14px;color:#1d2125;line-height:1.45">'
        + "".join(sections)
        + '<p style="color:#8a9099;font-size:12px;margin-top:24px">Sent by Switchboard</p>'
        "</body></html>"
    )


def _proposal_html(deliverable: Deliverable, proposal: dict[str, Any]) -> str:
    parts = [_paragraphs(f"Proposed: {proposal.get('summary', '')}")]
    count = proposal.get("estimated_count")
    if count is not None:
        parts.append(_paragraphs(f"This will touch {count} item(s)."))
    changes = [c for c in proposal.get("changes") or [] if isinstance(c, dict)]
    if changes:
        rows = [
            (_shown(c.get("label")), _shown(c.get("before")), _shown(c.get("after")))
            for c in changes[:50]
        ]
        parts.append(_table(rows, header=("Change", "Now", "Proposed")))
        if len(changes) > 50:
            parts.append(_paragraphs(f"… and {len(changes) - 50} more changes."))
    status = proposal.get("status")
    code = html.escape(str(proposal.get("code", "")))
    if status in (None, "pending"):
        parts.append(
            '<p style="margin:16px 0;padding:12px;background:#f3f6fa;border-radius:6px">'
            f"Reply <b>approve {code}</b> to go ahead or <b>reject {code}</b> to cancel "
            "(expires in 24 hours).</p>"
        )
    else:
        parts.append(_paragraphs(deliverable.text))
    return "".join(parts)
