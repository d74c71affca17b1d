"""The words of a conversation with the AI agent: what customers say, recognised (asking for a
person, yes, no, never mind, greetings, thanks, a name given when asked), and text cut short."""

from __future__ import annotations

import re

from core.assists.details import EMAIL
from core.assists.knowledge import STOPWORDS

_PERSON = (
    r"(?:human(?:\s+being)?s?|person|people|agent|someone|somebody|representative|rep|operator|"
    r"supervisor|manager|staff|employee|team\s?member|support\s+team|the\s+team|"
    r"customer\s+(?:service|support|care))"
)
_ASKS_FOR_PERSON = re.compile(
    "|".join(
        (
            rf"\b(?:talk|speak|chat)\s+(?:to|with)\b(?:\s+[\w']+){{0,3}}?\s+{_PERSON}\b",
            rf"\b(?:connect|transfer|put|pass|hand|forward|escalate)\s+(?:me|this|it)\b"
            rf"(?:\s+[\w']+){{0,4}}?\s+{_PERSON}\b",
            r"\b(?:get|give|want|need|request|prefer|like)\s+(?:me\s+)?(?:to\s+)?(?:a|an|some)?\s*"
            r"(?:real|live|actual|proper)?\s*(?:human|person|agent|representative|operator|"
            r"supervisor|manager)\b",
            r"\b(?:live|real|actual)\s+(?:agent|person|human|people|operator|representative|"
            r"support|chat)\b",
            r"\bhuman\s+being\b|\ba\s+human\b|\bhuman,?\s+please\b",
            r"^\W*(?:human|agent|representative|operator|person|escalate)\W*(?:please)?\W*$",
            r"\bcustomer\s+(?:service|support|care)\b",
            r"\brepresentative\b",
            r"\bescalate\b",
            r"\b(?:not|no\s+more|stop|enough)\s+(?:talking\s+to\s+)?(?:a|the|this|your)?\s*"
            r"(?:bot|robot|machine|chatbot)s?\b",
            # Spanish, German, French, Portuguese, Italian
            r"\bhablar\s+con\s+(?:una?\s+)?(?:persona|humano|agente|alguien|representante)\b",
            r"\bmit\s+(?:einem|einer)\s+(?:menschen|mitarbeiter(?:in)?|berater(?:in)?|person)\b",
            r"\bparler\s+(?:à|a|avec)\s+(?:un|une|quelqu'un|quelqu\u2019un)\b",
            r"\bfalar\s+com\s+(?:uma?\s+)?(?:pessoa|humano|atendente|algu[eé]m)\b",
            r"\bparlare\s+con\s+(?:una?\s+)?(?:persona|operatore|umano|qualcuno)\b",
        )
    ),
    re.IGNORECASE | re.MULTILINE,
)
YES = re.compile(
    r"^\W*(?:confirm(?:ed)?|yes|yep|yeah|yup|y|correct|that'?s (?:right|correct)|ok|okay|sure|"
    r"send(?: it)?|go ahead|please do|all good|looks good)\b(?![@.]\w)",
    re.IGNORECASE,
)
_YES_NO_WORDS = frozenset(
    "confirm confirmed yes yep yeah yup y correct ok okay sure no nope nah wrong right".split()
)
NO = re.compile(
    r"^\W*(?:no|nope|nah|wrong|incorrect|not right|change(?: it)?|edit)\b", re.IGNORECASE
)
CANCEL = re.compile(
    r"^\W*(?:never\s?mind|nevermind|forget it|don'?t bother|no need|abort|stop(?: that)?|"
    r"cancel(?: that| it)?)\W*$",
    re.IGNORECASE,
)
GREETING = re.compile(
    r"^\W*(?:hi|hello|hey|hiya|howdy|good (?:morning|afternoon|evening)|hi there|hello there)"
    r"\W*$",
    re.IGNORECASE,
)
THANKS = re.compile(
    r"^\W*(?:thanks|thank you|thx|ty|cheers|great|perfect|ok|okay|got it|awesome|that helps|"
    r"that helped)(?:\s+(?:so much|very much|a lot|again))?\W*$",
    re.IGNORECASE,
)
NAME_PREFIX = re.compile(
    r"^(?:my name is|my name's|name is|i am|i'm|im|this is|it's|its|name:?|call me)\s+",
    re.IGNORECASE,
)
_NAME_WORD = re.compile(r"[^\W\d_][\w'\u2019.-]*")


def asks_for_person(text: str) -> bool:
    """Whether TEXT asks to talk to a person ("live agent", "customer service", "a human"...)."""
    return bool(_ASKS_FOR_PERSON.search(text))


def parse_name(text: str) -> str | None:
    """The name in a reply to "What's your name?", or None when it does not look like one."""
    value = EMAIL.sub(" ", text).strip()
    value = NAME_PREFIX.sub("", value.strip(" .!?")).strip()
    value = re.split(r"[,;\n]|\s+(?:and|email|e-mail)\b", value, maxsplit=1)[0].strip(" .!?-")
    words = value.split()
    if not 1 <= len(words) <= 4 or len(value) > 60:
        return None
    if not all(_NAME_WORD.fullmatch(word) for word in words):
        return None
    if words[0].lower().strip("'") in _YES_NO_WORDS or CANCEL.match(value):
        return None
    if asks_for_person(value) or any(w.lower() in STOPWORDS for w in words):
        return None
    return " ".join(w[:1].upper() + w[1:] if w.islower() else w for w in words)


def first_name_of(name: str | None) -> str:
    return name.split()[0] if name else ""


def cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
