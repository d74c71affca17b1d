"""Personal data removed from text before it becomes training data: card numbers, bank
accounts (IBAN), emails, order and account numbers, street addresses and postcodes (US, UK,
Canada, Ireland, Australia, the Netherlands and continental Europe), phone numbers (national
and international) and names.

Two maintained libraries do what regular expressions do badly: `phonenumbers` (Google's
libphonenumber metadata) finds international numbers with their extensions in free text, and
`schwifty` validates an IBAN's check digits and its length and format for its country, so that a
product code shaped like one survives. The rest are patterns; `bench/personal_data.py`
measures them on a corpus (tests/core/personal_data_corpus.py)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import phonenumbers

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
_PO_BOX = re.compile(r"\b(?:P\.?\s?O\.?\s+Box|Postfach|Boîte postale|BP)\s+\d[\d ]*\d\b", re.I)
_POSTCODES = (
    re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2}\b"),  # UK
    re.compile(r"\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s?\d[ABCEGHJ-NPRSTV-Z]\d\b"),  # Canada
    re.compile(r"\b[AC-FHKNPRTV-Y]\d[\dW]\s?[\dAC-FHKNPRTV-Y]{4}\b"),  # Ireland (Eircode)
    re.compile(r"\b(?:NSW|VIC|QLD|WA|SA|TAS|ACT|NT)\s\d{4}\b"),  # Australia
    re.compile(r"\b[1-9]\d{3}\s?(?!SA|SD|SS)[A-Z]{2}\b(?=\s+[A-Z][a-z])"),  # the Netherlands
    # Continental Europe: four or five digits before the town, after a comma or a street.
    re.compile(r"(?<=,\s)\d{4,5}(?=\s+[A-ZÀ-Ý][a-zà-ÿß-]+)"),
)
# Whatever follows "postcode", "ZIP", "PLZ": the next code-like word.
_POSTCODE_WORD = re.compile(
    r"\b((?:post(?:al)?\s?code|zip(?:\s?code)?|plz|code postal|eircode)\b\s*(?:is|:)?\s*)"
    r"((?=[\w -]*\d)[A-Z0-9]{2,8}(?:[ -][A-Z0-9]{3,4})?)\b",
    re.I,
)
_ZIP_AFTER_STATE = re.compile(r"\b([A-Z]{2})\s(\d{5}(?:-\d{4})?)\b")
# Continental streets: "Hauptstraße 5", "8 rue de Rivoli", "Via Roma 12", "Calle Mayor 3".
_EUROPEAN_STREET = re.compile(
    r"\b[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm)\s+\d{1,4}[a-z]?\b"
    r"|\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|chemin|allée|"
    r"impasse|quai|route)\s+(?:(?:de|du|des|la|le|l'|d')\s*)*[A-ZÀ-Ý][\w'-]+"
    r"|\b(?:via|viale|piazza|calle|avenida|plaza|rua)\s+[A-ZÀ-Ý][\w'-]+(?:\s+[A-ZÀ-Ý][\w'-]+)?"
    r",?\s+\d{1,4}\b",
    re.I,
)
# An IBAN's shape (two letters, two check digits, 11 to 30 letters and digits, grouped in
# fours or not); schwifty says whether it is one.
_IBAN_SHAPE = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]){11,30}\b")
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


@functools.lru_cache(maxsize=1)
def _iban_class() -> type:
    # Imported when text holds something shaped like an IBAN: its country tables are large.
    from schwifty import IBAN

    return IBAN


def _iban(match: re.Match[str]) -> str:
    value = match.group()
    # The shape may run on into the next word or number: try the longest valid prefix.
    compact = value.replace(" ", "")
    iban = _iban_class()
    for end in range(len(compact), 14, -1):
        try:
            iban(compact[:end])
        except ValueError:
            continue
        # Give back what followed the account (spaces counted in the original).
        taken = 0
        for index, char in enumerate(value):
            taken += char != " "
            if taken == end:
                return "[bank account]" + value[index + 1 :]
    return value


def _international_numbers(text: str, region: str | None) -> str:
    """Phone numbers that libphonenumber finds (international ones always; national ones
    of REGION when given), with their extensions, replaced by [phone]."""
    if not any(ch.isdigit() for ch in text):
        return text
    if "00" in text:  # "0044 20 7946 0958": the international prefix written out
        text = re.sub(r"(?<![\w+])00(?=[1-9]\d[\d\s().-]{6,}\d)", "+", text)
    spans = [
        (m.start, m.end)
        for m in phonenumbers.PhoneNumberMatcher(
            text, region or "ZZ", leniency=phonenumbers.Leniency.POSSIBLE
        )
    ]
    for start, end in reversed(spans):
        text = text[:start] + "[phone]" + text[end:]
    return text


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


def strip_personal_data(text: str, names: Iterable[str] = (), *, region: str | None = None) -> str:
    """TEXT without personal data: card numbers, IBANs, emails, order/invoice/tracking/account
    numbers, street addresses and postcodes, phone numbers (national ones of REGION, an ISO
    country code, as well), and NAMES (whole and each given or family name), replaced by
    [card number], [bank account], [email], [order number], [address], [phone], [name]."""
    text = _IBAN_SHAPE.sub(_iban, text)
    text = _CARD_ENDING.sub(lambda m: f"{m.group(1)}[card number]", text)
    text = _CARD.sub(_card, text)
    text = EMAIL.sub("[email]", text)
    text = _ORDER_HASH.sub("[order number]", text)
    text = _ORDER_WORD.sub(_identifier, text)
    text = _PO_BOX.sub("[address]", text)
    text = _ADDRESS.sub("[address]", text)
    text = _EUROPEAN_STREET.sub("[address]", text)
    text = _POSTCODE_WORD.sub(lambda m: f"{m.group(1)}[address]", text)
    for pattern in _POSTCODES:
        text = pattern.sub("[address]", text)
    text = _ZIP_AFTER_STATE.sub("[address]", text)
    text = _international_numbers(text, region)
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
