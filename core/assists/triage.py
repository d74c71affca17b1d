"""Triage of a customer's words: the priority their urgency signals, the category their
keywords, and short tags for filtering."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

CATEGORIES = ("billing", "refund", "technical", "shipping", "account", "other")
PRIORITIES = ("low", "normal", "high", "urgent")
Category = Literal["billing", "refund", "technical", "shipping", "account", "other"]
Priority = Literal["low", "normal", "high", "urgent"]
MAX_TAGS = 6


def _words(patterns: str) -> re.Pattern[str]:
    """Whole words or phrases, "|"-separated regular expressions, case-insensitive."""
    return re.compile(r"\b(?:" + patterns + r")\b", re.I)


_URGENT = _words(
    r"urgent(?:ly)?|asap|emergency|immediately|right now|critical|fraud(?:ulent)?|hacked|stolen|"
    r"unauthori[sz]ed|lawyer|legal action|chargeback|(?:security|data) breach"
)
_HIGH = _words(
    r"still (?:not|no|nothing|waiting|haven't|hasn't|can't)|again|"
    r"(?:second|third|2nd|3rd|fourth) time|"
    r"(?:several|many|two|three|four|five|\d+) (?:days|weeks) (?:ago|now|late)|frustrat\w*|angry|"
    r"furious|upset|unacceptable|ridiculous|terrible|worst|charged (?:twice|two times|double)|"
    r"double[- ]charged|"
    r"(?:can't|cannot|can not|unable to) (?:log ?in|sign ?in|access|use|pay|checkout|check out)|"
    r"not working|(?:is|are|went) down|cancel my (?:account|subscription|order|plan)"
)
_LOW = _words(
    r"no rush|not urgent|whenever|just (?:wondering|curious|a quick question)|"
    r"when you (?:get|have) (?:a chance|time)|low priority"
)
_CATEGORY_WORDS: Mapping[str, re.Pattern[str]] = {
    "refund": _words(r"refund\w*|money back|reimburs\w*|return (?:it|my|the)"),
    "billing": _words(
        r"bill\w*|invoice\w*|charg\w*|payment\w*|paid|pay|subscription\w*|plan|pric\w*|discount\w*|"
        r"coupon\w*|promo code|receipt\w*|credit card"
    ),
    "shipping": _words(
        r"ship\w*|deliver\w*|package\w*|parcel\w*|tracking|courier|arriv\w*|dispatch\w*|"
        r"lost in the post|damaged"
    ),
    "account": _words(
        r"account\w*|log ?in|sign ?in|log(?:ged)? out|password\w*|2fa|two-factor|username|profile|"
        r"verification code"
    ),
    "technical": _words(
        r"error\w*|bug\w*|crash\w*|broken|not working|doesn't work|does not work|app|website|site|"
        r"page|load\w*|glitch\w*|outage|install\w*|update|api|integration"
    ),
}
# Ties go to the earlier category: a refund of a charge is a refund, not billing.
_CATEGORY_ORDER = ("refund", "billing", "shipping", "account", "technical")


def priority_of(text: str) -> Priority:
    """Urgent, high, low or normal, from urgency signals in TEXT."""
    if _URGENT.search(text):
        return "urgent"
    if _HIGH.search(text) or text.count("!") >= 3:
        return "high"
    if _LOW.search(text):
        return "low"
    return "normal"


def category_of(text: str) -> Category:
    """The category with most keyword hits in TEXT ("other" when none)."""
    counts = {name: len(_CATEGORY_WORDS[name].findall(text)) for name in _CATEGORY_ORDER}
    best = max(_CATEGORY_ORDER, key=lambda name: (counts[name], -_CATEGORY_ORDER.index(name)))
    return best if counts[best] else "other"  # type: ignore[return-value]


_TAG_SIGNALS: Sequence[tuple[str, re.Pattern[str]]] = (
    ("refund-request", _words(r"refund\w*|money back")),
    ("double-charge", _words(r"charged (?:twice|two times|double)|double[- ]charged")),
    (
        "late-delivery",
        _words(
            r"late|(?:hasn't|has not|haven't|never|not yet) (?:arrived|come|been delivered)|"
            r"where is my (?:order|package|parcel)|still waiting"
        ),
    ),
    ("damaged-item", _words(r"damaged|arrived broken|broken on arrival")),
    ("login-issue", _words(r"log ?in|sign ?in|password\w*|2fa|locked out")),
    ("cancellation", _words(r"cancel\w*")),
    ("repeat-contact", _words(r"again|(?:second|third|2nd|3rd) time|still")),
    (
        "upset-customer",
        _words(r"angry|furious|unacceptable|ridiculous|terrible|worst"),
    ),
)


def tags_of(text: str, category: str, priority: str, reason_kind: str) -> list[str]:
    """Short labels for filtering: the category, what happened, and why it was escalated."""
    tags = [category] if category != "other" else []
    tags += [tag for tag, pattern in _TAG_SIGNALS if pattern.search(text)]
    if priority == "urgent":
        tags.append("urgent")
    tags.append("asked-for-person" if reason_kind == "requested" else "low-confidence")
    return list(dict.fromkeys(tags))[:MAX_TAGS]
