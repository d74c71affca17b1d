"""Text written for the ear: what a text-to-speech voice should read aloud.

Screens tolerate symbols a voice stumbles over. `for_the_ear` turns a reply's plain text into
sentences a listener follows: assist references in digit pairs ("A-1042" → "A 10 42"), clock
times and dates as people say them, percentages, ranges and units in words, no markup, links
or bullets. Numbers themselves stay digits: every voice reads "64.5" and "1,013" well.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
DAYS = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
UNITS = {
    "h": ("hour", "hours"),
    "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
    "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"),
    "s": ("second", "seconds"),
    "sec": ("second", "seconds"),
    "secs": ("second", "seconds"),
    "ms": ("millisecond", "milliseconds"),
    "d": ("day", "days"),
    "kb": ("kilobyte", "kilobytes"),
    "mb": ("megabyte", "megabytes"),
}
CURRENCIES = {"$": "dollars", "€": "euros", "£": "pounds"}
ABBREVIATIONS = {
    "e.g.": "for example",
    "i.e.": "that is",
    "etc.": "and so on",
    "vs.": "versus",
    "vs": "versus",
    "approx.": "about",
    "w/": "with",
}

_NUMBER = r"\d+(?:[.,]\d+)*"
_LINK = re.compile(r"\[([^\]]+)\]\((?:https?://|mailto:)[^)\s]+\)")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.I)
_EMAIL = re.compile(r"<?\b([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)\b>?")
_MARKUP = re.compile(r"(\*\*|__|\*|`+|~~)(?=\S)(.+?)(?<=\S)\1")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.M)
_BULLET = re.compile(r"^\s*(?:[-*•·‣▪]|\d{1,2}[.)])\s+", re.M)
_REFERENCE = re.compile(r"\b([A-Z])-(\d{1,8})\b")
_ISO_DATETIME = re.compile(
    r"\b(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?\b"
)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_TIME_RANGE = re.compile(r"\b(\d{1,2}):(\d{2})\s*[-\u2013]\s*(\d{1,2}):(\d{2})\b")
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b(?!:)(\s*[AaPp]\.?[Mm]\.?)?")
_DAY = r"(mon|tue|wed|thu|fri|sat|sun)\w*"
_DAY_RANGE = re.compile(rf"\b{_DAY}\s*[-\u2013]\s*{_DAY}\b", re.I)
_NUMBER_RANGE = re.compile(rf"\b({_NUMBER})\s*[-\u2013]\s*({_NUMBER})\b")
_PERCENT = re.compile(rf"([+-]?)({_NUMBER})\s*%")
_CURRENCY = re.compile(rf"([$€£])\s?({_NUMBER})(?:\s?(k|m|bn)\b)?", re.I)
_UNIT_NAMES = "|".join(sorted(UNITS, key=len, reverse=True))
_UNIT = re.compile(rf"\b({_NUMBER})\s?({_UNIT_NAMES})\b(?!\.\w)", re.I)
_PLURAL = re.compile(r"\b(\d+(?:[.,]\d+)?)\s+(\w+?)\(s\)", re.I)
_HASH_NUMBER = re.compile(r"#\s?(\d+)")
_BRACKETS = re.compile(r"[\[(]([^\[\]()]{1,80})[\])]")
_SYMBOLS = (
    ("→", " to "),
    ("->", " to "),
    ("=>", " to "),
    ("←", " from "),
    ("≈", " about "),
    ("~", " about "),
    ("≥", " at least "),
    ("≤", " at most "),
    (">=", " at least "),
    ("<=", " at most "),
    ("&", " and "),
    ("+", " plus "),
    ("=", " is "),
    ("—", ", "),
    ("\u2013", ", "),  # en dash
    (" - ", ", "),
    ("…", "."),
    ("|", ", "),
    (";", ","),
    ("_", " "),  # _emphasis_ and snake_case names alike
)
_WORD_SLASH = re.compile(r"\b([A-Za-z]{2,})/([A-Za-z]{2,})\b")
_QUOTES = re.compile(r"[\"“”«»]|(?<!\w)'|'(?!\w)")
_STRAY = re.compile(r"[^\w\s.,?!:'%-]", re.UNICODE)
_BARE_LABEL = re.compile(r"[\w' -]{1,40}:")


def reference(digits: str) -> str:
    """Digits of a reference as people read them: "1042" → "10 42", "1005" → "10 oh 5"."""
    if len(digits) == 4:
        head, tail = digits[:2], digits[2:]
        if tail == "00":
            return f"{int(head)} hundred"
        if tail[0] == "0":
            return f"{int(head)} oh {tail[1]}"
        return f"{int(head)} {tail}"
    if len(digits) <= 2:
        return digits
    return " ".join(digits)


def clock(hours: int, minutes: int, suffix: str | None = None) -> str:
    """ "08:00" → "8 AM", "17:30" → "5:30 PM", "00:00" → "midnight", "12:00" → "noon"."""
    if suffix:
        meridiem = "PM" if suffix.strip().lower().startswith("p") else "AM"
        hours %= 12
    else:
        if (hours, minutes) == (0, 0):
            return "midnight"
        if (hours, minutes) == (12, 0):
            return "noon"
        meridiem = "AM" if hours < 12 else "PM"
    shown = hours % 12 or 12
    return f"{shown} {meridiem}" if minutes == 0 else f"{shown}:{minutes:02d} {meridiem}"


def spoken_date(year: int, month: int, day: int, today: date | None = None) -> str:
    """ "November 17", with the year when it is not this year."""
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        return f"{year} {month} {day}"
    text = f"{MONTHS[month - 1]} {day}"
    if today is None or year != today.year:
        text += f", {year}"
    return text


def _plural(count: str, singular: str, plural: str) -> str:
    return singular if count in ("1", "1.0") else plural


def _sub(pattern: re.Pattern[str], text: str, replace: Callable[[re.Match[str]], str]) -> str:
    return pattern.sub(replace, text)


def _sentences(text: str) -> str:
    """One sentence per line: bullets and line breaks become full stops."""
    lines = []
    for raw in text.splitlines():
        line = _STRAY.sub(" ", raw).strip().rstrip(",;").strip()
        if not line or (_BARE_LABEL.fullmatch(line) and not _BARE_LABEL.fullmatch(raw.strip())):
            continue  # empty, or a label whose value was only symbols (a sparkline, say)
        if line[-1] not in ".?!:":
            line += "."
        elif line.endswith(":"):
            line = line[:-1] + "."
        lines.append(line)
    return " ".join(lines)


def for_the_ear(text: str, *, today: date | None = None) -> str:
    """TEXT rewritten to be read aloud (see the module docstring)."""
    text = _LINK.sub(r"\1", text)
    text = _URL.sub("a link", text)
    text = _EMAIL.sub(lambda m: f"{m[1]} at {m[2].replace('.', ' dot ')}", text)
    text = _HEADING.sub("", text)
    text = _BULLET.sub("", text)
    for _ in range(2):  # nested markup: **_x_**
        text = _MARKUP.sub(r"\2", text)
    text = _sub(
        _ISO_DATETIME,
        text,
        lambda m: (
            f"{spoken_date(int(m[1]), int(m[2]), int(m[3]), today)} at "
            f"{clock(int(m[4]), int(m[5]))}"
        ),
    )
    text = _sub(_ISO_DATE, text, lambda m: spoken_date(int(m[1]), int(m[2]), int(m[3]), today))
    text = _sub(
        _TIME_RANGE,
        text,
        lambda m: f"{clock(int(m[1]), int(m[2]))} to {clock(int(m[3]), int(m[4]))}",
    )
    text = _sub(_TIME, text, lambda m: clock(int(m[1]), int(m[2]), m[3]))
    text = _sub(_DAY_RANGE, text, lambda m: f"{DAYS[m[1].lower()]} to {DAYS[m[2].lower()]}")
    text = _sub(_REFERENCE, text, lambda m: f"{m[1]} {reference(m[2])}")
    text = _sub(_HASH_NUMBER, text, lambda m: f"number {m[1]}")
    text = _sub(
        _PERCENT,
        text,
        lambda m: ("plus " if m[1] == "+" else "minus " if m[1] == "-" else "") + f"{m[2]} percent",
    )
    text = _sub(_CURRENCY, text, _money)
    text = _sub(_NUMBER_RANGE, text, lambda m: f"{m[1]} to {m[2]}")
    text = _sub(_UNIT, text, lambda m: f"{m[1]} {_plural(m[1], *UNITS[m[2].lower()])}")
    text = _sub(_PLURAL, text, lambda m: f"{m[1]} {m[2]}{'' if m[1] == '1' else 's'}")
    text = text.replace("(s)", "s")
    for short, long in ABBREVIATIONS.items():
        text = re.sub(rf"(?<!\w){re.escape(short)}(?!\w)", long, text, flags=re.I)
    text = _sub(_BRACKETS, text, lambda m: f", {m[1].strip()},")
    for symbol, words in _SYMBOLS:
        text = text.replace(symbol, words)
    text = _WORD_SLASH.sub(r"\1 or \2", text)
    text = _QUOTES.sub("", text)
    return _tidy(_sentences(text))


def _money(match: re.Match[str]) -> str:
    scale = {"k": " thousand", "m": " million", "bn": " billion"}.get((match[3] or "").lower(), "")
    return f"{match[2]}{scale} {CURRENCIES[match[1]]}"


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([.,?!:])", r"\1", text)
    text = re.sub(r"([,:])(?:\s*[,:])+", r"\1", text)
    text = re.sub(r"[,:]\s*([.?!])", r"\1", text)
    text = re.sub(r"([.?!])(?:\s*[.,])+", r"\1", text)
    text = re.sub(r"(^|[.?!]\s)[,:]\s*", r"\1", text)
    return text.strip(" ,")


def count_words(text: str) -> int:
    return len(text.split())


def first_words(text: str, limit: int) -> str:
    """Whole sentences from the start of TEXT within LIMIT words (at least the first one,
    cut at LIMIT words if it alone is longer)."""
    sentences = re.split(r"(?<=[.?!])\s+", text.strip())
    taken: list[str] = []
    words = 0
    for sentence in sentences:
        size = count_words(sentence)
        if taken and words + size > limit:
            break
        if not taken and size > limit:
            return " ".join(sentence.split()[:limit]).rstrip(",:;") + "."
        taken.append(sentence)
        words += size
    return " ".join(taken)
