"""Customer satisfaction: signed one-click rating links, the closing email's survey, and the
rating kept on the assist's conversation (a low one flags the assist)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from config.links import console_path, console_url
from storage.domain import Assist, AssistEvent, Conversation
from storage.types import utcnow

NEGATIVE_CSAT = 2  # a rating at or below this (of 5) is flagged on the assist
NEGATIVE_LABEL = "negative-csat"
CSAT_TTL = timedelta(days=30)


def csat_key(secret: bytes) -> bytes:
    """The key CSAT links are signed with, derived from SWITCHBOARD_SECRET_KEY."""
    return hmac.new(secret, b"switchboard csat links v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _csat_signature(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest()[:18])


def csat_token(key: bytes, assist_id: str, expires_at: datetime) -> str:
    """A link token naming ASSIST_ID until EXPIRES_AT, signed with KEY."""
    body = f"{assist_id}.{int(expires_at.timestamp())}"
    return f"{body}.{_csat_signature(key, body)}"


def read_csat_token(key: bytes, token: str, now: datetime) -> str | None:
    """The assist id TOKEN names, or None when it is malformed, forged or expired."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 200:
        return None
    assist_id, expires, signature = parts
    # ASCII digits only (str.isdigit() also takes "²", which int() refuses), and the signature
    # is checked over the text as given: no date is built from an unverified number.
    if not re.fullmatch(r"[0-9a-f]{32}", assist_id) or not re.fullmatch(r"[0-9]{1,12}", expires):
        return None
    expected = _csat_signature(key, f"{assist_id}.{expires}")
    if not signature.isascii() or not hmac.compare_digest(expected, signature):
        return None
    if int(expires) < now.timestamp():
        return None
    return assist_id


@dataclass(frozen=True)
class CsatResult:
    assist: Assist
    rating: int
    negative: bool
    changed: bool  # False: the same rating again (a second click)


async def record_csat(
    session: AsyncSession, assist: Assist, rating: int, *, now: datetime | None = None
) -> CsatResult:
    """Keep the customer's RATING (1..5) of ASSIST on its conversation, which the metrics read
    (a conversation is opened for an assist that has none). A rating of 2 or less flags the
    assist: the `negative-csat` label, an unread flagged event the team sees.

    Raises:
        ValueError: RATING is outside 1..5.
    """
    if not 1 <= rating <= 5:
        raise ValueError("a rating is 1 to 5")
    now = now or utcnow()
    conversation = (
        await session.get(Conversation, assist.conversation_id) if assist.conversation_id else None
    )
    if conversation is None or conversation.workspace_id != assist.workspace_id:
        conversation = Conversation(
            workspace_id=assist.workspace_id,
            customer_id=assist.customer_id,
            channel="email",
            topic=assist.category,
            escalated=True,
            started_at=assist.created_at,
            ended_at=assist.closed_at or now,
        )
        session.add(conversation)
        await session.flush()
        assist.conversation_id = conversation.id
    previous = conversation.csat
    conversation.csat = rating
    negative = rating <= NEGATIVE_CSAT
    if previous == rating:
        return CsatResult(assist, rating, negative, changed=False)
    labels = [label for label in assist.labels if label != NEGATIVE_LABEL]
    if negative:
        labels.append(NEGATIVE_LABEL)
        assist.unread = True
    assist.labels = labels
    assist.updated_at = now
    said = f"The customer rated the help {rating}/5" + (
        f" (was {previous}/5)." if previous is not None else "."
    )
    session.add(
        AssistEvent(
            workspace_id=assist.workspace_id,
            assist_id=assist.id,
            kind="csat",
            author="customer",
            body=said + (" Negative: please follow up." if negative else ""),
            flagged=negative,
            created_at=now,
        )
    )
    return CsatResult(assist, rating, negative, changed=True)


@dataclass(frozen=True)
class Links:
    """Where the team and the customer are pointed: console pages (an assist, the inbox) and
    signed CSAT links, all under PUBLIC_BASE_URL. Without it there are no full links: each
    method answers None, and `*_pointer` sentences name the console page instead."""

    base_url: str | None = None
    csat_key: bytes | None = field(default=None, repr=False)
    # Where members open the console (invitation links): PUBLIC_BASE_URL or the listening address.
    console_base: str | None = None

    def console(self, page: str = "") -> str | None:
        """The console page PAGE (`"inbox"`, `"assists/A-1042"`, `"integrations"`...)."""
        return console_url(self.base_url, page)

    def assist(self, ref: str) -> str | None:
        """The assist's page in the console, `/console/assists/<ref>`."""
        return self.console(f"assists/{ref}")

    def inbox(self) -> str | None:
        return self.console("inbox")

    def console_or_path(self, page: str) -> str:
        """The page's full URL, or its path on the gateway when PUBLIC_BASE_URL is not set."""
        return self.console(page) or console_path(page)

    def assist_pointer(self, ref: str) -> str:
        """A sentence for the team saying where to open the assist REF."""
        url = self.assist(ref)
        if url:
            return f"Open it in the console: {url}"
        page = console_path(f"assists/{ref}")
        return f'Open it in the team console (page {page}), or ask the operator: "show {ref}".'

    def csat(self, assist_id: str, rating: int, now: datetime) -> str | None:
        if not self.base_url or self.csat_key is None:
            return None
        token = csat_token(self.csat_key, assist_id, now + CSAT_TTL)
        return f"{self.base_url.rstrip('/')}/csat/{token}?rating={rating}"

    def with_base(self, base_url: str | None) -> Links:
        return replace(self, base_url=base_url)

    @classmethod
    def from_settings(cls, settings: Settings) -> Links:
        """Links under PUBLIC_BASE_URL, CSAT links signed with SWITCHBOARD_SECRET_KEY."""
        secret = settings.switchboard_secret_key
        return cls(
            base_url=str(settings.public_base_url) if settings.public_base_url else None,
            csat_key=csat_key(secret.get_secret_value().encode()) if secret else None,
            console_base=settings.base_url,
        )


def csat_survey_text(assist: Assist, links: Links, now: datetime) -> str | None:
    """The closing email's survey: one link per rating; None when links cannot be signed."""
    options = [(5, "Great"), (4, "Good"), (3, "OK"), (2, "Poor"), (1, "Bad")]
    rows = []
    for rating, label in options:
        url = links.csat(assist.id, rating, now)
        if url is None:
            return None
        rows.append(f"{rating} - {label}: {url}")
    return "How did we do? One click rates our help:\n" + "\n".join(rows)
