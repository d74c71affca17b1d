"""Personal data removed from text before it becomes training data: card numbers, emails,
order and account numbers, street addresses and postcodes, phone numbers and names."""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.assists.details import AMOUNT, EMAIL, ISO_DATE, PHONE

_CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
_CARD_ENDING = re.compile(r"\b(card\s+ending\s+(?:in|with)\s+)(\d{4})\b", re.I)
_ORDER_HASH = re.compile(r"(?<![\w&])#\s?[A-Z]{0,4}-?\d[\w-]{2,}", re.I)
_ORDER_WORD = re.compile(
    r"\b(order|invoice|tracking|account)(\s+(?:no\.?|number|nr\.?|id|code))?(\s*[:#]?\s*)"
    r"((?=[A-Z-]*\d)[A-Z0-9-]{4,})\b",
    re.I,
)
_STREET_SUFFIX = (
    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|"
    r"terrace|parkway|pkwy|square|sq|circle|cir|highway|hwy|close|crescent|gardens|strasse|"
    r"straße)"
)
_ADDRESS = re.compile(
    r"\b\d{1,5}[A-Z]?\s+(?:[A-Z][\w'.-]*\s+){1,4}" + _STREET_SUFFIX + r"\b\.?"
    r"(?:,?\s*(?:apt|apartment|suite|unit|flat|#)\.?\s*[\w-]+)?"
    r"(?:,\s*[A-Z][A-Za-z]+(?:\s[A-Z][A-Za-z]+)*)?"
    r"(?:,?\s*[A-Z]{2})?(?:\s+\d{5}(?:-\d{4})?)?",
    re.I,
)
_PO_BOX = re.compile(r"\bP\.?\s?O\.?\s+Box\s+\d+\b", re.I)
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b")  # UK
_ZIP_AFTER_STATE = re.compile(r"\b([A-Z]{2})\s(\d{5}(?:-\d{4})?)\b")
_SELF_NAMED = re.compile(
    r"\b(?i:my name is|my name's|i am|i'm|this is|name:)\s+"
    r"([A-Z][a-z'\u2019-]+(?:\s+[A-Z][a-z'\u2019-]+)?)"
)
_SIGNED = re.compile(
    r"^(?i:thanks|thank you|regards|best|cheers|best regards|kind regards|sincerely),?\s*\n"
    r"\s*([A-Z][a-z'\u2019-]+(?:\s+[A-Z][a-z'\u2019-]+)?)\s*$",
    re.M,
)
# Words that name no one even when a customer's "name" contains them ("Customer 4").
_NOT_NAMES = frozenset(
    (
        "customer client user support team the and service order mrs miss sir madam dear guest "
        "anonymous unknown"
    ).split()
)


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    if 13 <= len(digits) <= 19 and (_luhn(digits) or len(digits) == 16):
        return "[card number]"
    return match.group()


def _phone(match: re.Match[str]) -> str:
    value = match.group().strip()
    digits = sum(ch.isdigit() for ch in value)
    if 7 <= digits <= 15 and not ISO_DATE.fullmatch(value) and not AMOUNT.search(value):
        return "[phone]"
    return match.group()


def _identifier(match: re.Match[str]) -> str:
    word = match.group(1)
    kind = "order" if word.lower() in ("order", "invoice") else word.lower()
    return f"{word}{match.group(2) or ''} [{kind} number]"


def names_in(text: str) -> list[str]:
    """Names the text gives for its writer ("my name is Jane Roe", a "Thanks,\\nJane" sign-off)."""
    found = [m.group(1) for m in _SELF_NAMED.finditer(text)]
    found += [m.group(1) for m in _SIGNED.finditer(text)]
    return [n for n in found if n.split()[0].lower() not in _NOT_NAMES]


def strip_personal_data(text: str, names: Iterable[str] = ()) -> str:
    """TEXT without personal data: card numbers, emails, order/invoice/tracking/account numbers,
    street addresses and postcodes, phone numbers, and NAMES (whole and each given or family
    name), replaced by [card number], [email], [order number], [address], [phone], [name]."""
    text = _CARD_ENDING.sub(lambda m: f"{m.group(1)}[card number]", text)
    text = _CARD.sub(_card, text)
    text = EMAIL.sub("[email]", text)
    text = _ORDER_HASH.sub("[order number]", text)
    text = _ORDER_WORD.sub(_identifier, text)
    text = _PO_BOX.sub("[address]", text)
    text = _ADDRESS.sub("[address]", text)
    text = _POSTCODE.sub("[address]", text)
    text = _ZIP_AFTER_STATE.sub("[address]", text)
    text = PHONE.sub(_phone, text)
    wanted: list[str] = []
    for name in [*names, *names_in(text)]:
        name = " ".join(str(name).split())
        if len(name) < 2:
            continue
        wanted.append(name)
        wanted += [
            part
            for part in name.split()
            if len(part) >= 3 and part.isalpha() and part.lower() not in _NOT_NAMES
        ]
    for name in sorted(set(wanted), key=len, reverse=True):
        if name.lower() in _NOT_NAMES:
            continue
        text = re.sub(rf"(?<![\w\[]){re.escape(name)}(?![\w\]])", "[name]", text, flags=re.I)
    return re.sub(r"\[name\](?:\s+\[name\])+", "[name]", text)
