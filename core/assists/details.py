"""Identifiers in a customer's words: emails, phone numbers, order, invoice, tracking, account
and ticket numbers, earlier assist references and card endings."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w/#-])\+?\(?\d[\d\s().-]{5,}\d(?![\w/-])")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
AMOUNT = re.compile(r"\d+[.,]\d{2}$")
_IDENTIFIERS: Sequence[tuple[str, re.Pattern[str]]] = (
    (
        "order_number",
        re.compile(
            r"\border\s*(?:no\.?|number|num\.?|nr\.?|id|ref\.?)?\s*[:#]?\s*"
            r"(#?[A-Z]{0,4}-?\d[\w-]{2,})",
            re.I,
        ),
    ),
    ("order_number", re.compile(r"(?<![\w&])#(\d{3,})\b")),
    (
        "invoice_number",
        re.compile(
            r"\binvoice\s*(?:no\.?|number|nr\.?|#)?\s*[:#]?\s*(#?[A-Z]{0,4}-?\d[\w-]{2,})", re.I
        ),
    ),
    (
        "tracking_number",
        re.compile(r"\btracking\s*(?:no\.?|number|code|id|#)?\s*[:#]?\s*([A-Z0-9]{8,})", re.I),
    ),
    ("tracking_number", re.compile(r"\b(1Z[0-9A-Z]{16})\b")),
    (
        "account_id",
        re.compile(r"\baccount\s*(?:no\.?|number|id|#)\s*[:#]?\s*([A-Z0-9][\w-]{3,})", re.I),
    ),
    ("ticket", re.compile(r"\b(?:ticket|case)\s*(?:no\.?|number|#)?\s*[:#]?\s*(\d{3,})", re.I)),
    ("previous_assist", re.compile(r"\b(A-\d{3,})\b")),
    ("card_last4", re.compile(r"\bcard\s+ending\s+(?:in|with)\s+(\d{4})\b", re.I)),
)


def _phones(text: str, taken: Iterable[str] = ()) -> list[str]:
    found = []
    skip = [t.strip("#") for t in taken]
    for match in PHONE.finditer(text):
        value = match.group().strip()
        digits = re.sub(r"\D", "", value)
        if not 7 <= len(digits) <= 15 or ISO_DATE.fullmatch(value) or AMOUNT.search(value):
            continue
        if any(digits == re.sub(r"\D", "", s) for s in skip):
            continue
        found.append(value)
    return found


def extract_details(text: str) -> dict[str, str]:
    """Emails, phone numbers, order, invoice, tracking, account and ticket numbers, earlier
    assist references and card endings found in TEXT (several of one kind joined by ", ")."""
    details: dict[str, list[str]] = {}

    def add(kind: str, value: str) -> None:
        values = details.setdefault(kind, [])
        if value.lower() not in (v.lower() for v in values):
            values.append(value)

    for email in EMAIL.findall(text):
        add("email", email.lower())
    identifiers: list[str] = []
    for kind, pattern in _IDENTIFIERS:
        for match in pattern.finditer(text):
            value = match.group(1)
            if kind == "order_number":
                value = "#" + value.lstrip("#")
            add(kind, value)
            identifiers.append(value)
    for phone in _phones(EMAIL.sub(" ", text), identifiers):
        add("phone", phone)
    return {kind: ", ".join(values) for kind, values in details.items()}
