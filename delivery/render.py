"""Rendering helpers every channel shares: splitting long text within a provider's limit.

File deliverables (`kind="file"`) carry `data["media"] = {"id", "filename", "content_type",
"size", "expires_at"}`: the bytes are in the media store (`delivery.media`), uploaded by
channels that take files and linked (`/media/{token}`) by those that do not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from models.deliverable import Deliverable

# Boundaries tried in order: paragraph, line, sentence, word; a hard cut only as a last resort.
_BREAKS = ("\n\n", "\n", ". ", " ")


def split_text(text: str, limit: int, *, measure: Callable[[str], int] = len) -> list[str]:
    """Split TEXT into parts of at most LIMIT (as MEASURE counts: characters by default,
    UTF-16 units or SMS segments for others), at the most natural boundary that fits."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    text = text.strip()
    parts: list[str] = []
    while text:
        if measure(text) <= limit:
            parts.append(text)
            break
        cut = _longest_prefix(text, limit, measure)
        head = text[:cut]
        for mark in _BREAKS:
            at = head.rfind(mark)
            if at > cut // 3:  # do not make a tiny part just to break nicely
                head = text[: at + len(mark.rstrip(" ")) if mark != " " else at]
                break
        head = head.rstrip()
        if not head:
            head = text[:cut]
        parts.append(head)
        text = text[len(head) :].lstrip()
    return parts or [""]


def _longest_prefix(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """The longest prefix length whose measure fits LIMIT (binary search; measure grows)."""
    if measure is len:
        cut = limit
    else:
        low, high = 1, len(text)
        while low < high:
            mid = (low + high + 1) // 2
            if measure(text[:mid]) <= limit:
                low = mid
            else:
                high = mid - 1
        cut = low
    # Never split a surrogate pair or a combining sequence's base from its mark.
    while 0 < cut < len(text) and ("\udc00" <= text[cut] <= "\udfff" or _is_combining(text[cut])):
        cut -= 1
    return max(cut, 1)


def _is_combining(char: str) -> bool:
    import unicodedata

    return unicodedata.combining(char) > 0 or char in "\u200d\ufe0f"


def utf16_len(text: str) -> int:
    """Telegram and Slack count some limits in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def media_of(deliverable: Deliverable) -> dict[str, Any] | None:
    return media_in(deliverable.data)


def media_in(data: Any) -> dict[str, Any] | None:
    """The stored file a deliverable's DATA refers to (its `media`), or None."""
    media = data.get("media") if isinstance(data, dict) else None
    return media if isinstance(media, dict) and "id" in media else None
