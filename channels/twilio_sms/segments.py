"""SMS segments: GSM-7 or UCS-2 encoding, and how many segments a text costs.

A message whose every character is in the GSM 03.38 default alphabet (or its extension table,
which costs an escape septet more) is sent as GSM-7: 160 septets in one segment, 153 per
segment once concatenated (the rest holds the reassembly header). Any other character makes
the whole message UCS-2: 70 UTF-16 code units, 67 per concatenated segment. A two-unit
character (an escape pair, a surrogate pair) never straddles two segments: it moves whole to
the next, which is why the count fills segments greedily rather than dividing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# GSM 03.38 default alphabet (the escape code 0x1B left out) and extension table.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE = {"gsm7": 160, "ucs2": 70}
CONCATENATED = {"gsm7": 153, "ucs2": 67}

# What Twilio's Smart Encoding swaps for GSM-7 look-alikes, so one typographic character
# does not turn a whole message into UCS-2 (less than half the characters per segment).
_LOOKALIKES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u2022": "-",
        "\u2026": "...",
        "\u2192": "->",
        "\u2190": "<-",
        "\u00a0": " ",
        "\u2009": " ",
        "\u200b": "",
        "\u00ab": '"',
        "\u00bb": '"',
    }
)

Encoding = Literal["gsm7", "ucs2"]


@dataclass(frozen=True, slots=True)
class Segments:
    """How a text goes out: its encoding, its length in that encoding's units, its segments."""

    encoding: Encoding
    units: int
    count: int


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _weights(text: str, encoding: Encoding) -> list[int]:
    if encoding == "gsm7":
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def segments(text: str) -> Segments:
    """The encoding, units (septets or UTF-16 code units) and segment count of TEXT."""
    encoding: Encoding = "gsm7" if is_gsm7(text) else "ucs2"
    weights = _weights(text, encoding)
    units = sum(weights)
    if units == 0:
        return Segments(encoding, 0, 0)
    if units <= SINGLE[encoding]:
        return Segments(encoding, units, 1)
    size = CONCATENATED[encoding]
    count, used = 1, 0
    for weight in weights:
        if used + weight > size:
            count, used = count + 1, 0
        used += weight
    return Segments(encoding, units, count)


def segment_count(text: str) -> int:
    return segments(text).count


def gsm_friendly(text: str) -> str:
    """TEXT with typographic look-alikes replaced, when that makes it GSM-7; else unchanged."""
    swapped = text.translate(_LOOKALIKES)
    return swapped if is_gsm7(swapped) else text
