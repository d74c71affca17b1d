"""A clause of a request: normalized tokens, their joined text, and argument extractors over it."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from core.classify.offline.lexicon import COMMON_WORDS, words
from core.classify.offline.prefilter import required_starts, word_starts
from core.classify.offline.text import Token

# Patterns compiled through `rx` also seed the typo vocabulary (see `_rule_vocabulary`).
PATTERN_SOURCES: list[str] = []


class Text:
    """Normalized text the rule patterns read, with its words' beginnings for their pre-filter.

    The beginnings are worked out once and then serve every pattern tried on the text.
    """

    __slots__ = ("s", "starts")

    def __init__(self, s: str) -> None:
        self.s = s
        self.starts = word_starts(s)

    def lacks(self, needs: frozenset[str] | None) -> bool:
        """Whether the text holds none of NEEDS (see `needs_any`): no pattern can match it."""
        return needs is not None and needs.isdisjoint(self.starts)


class Rx:
    """A compiled pattern that is not run on a text lacking every word its matches must hold.

    Answers exactly as the compiled pattern would: `prefilter.required_starts` only names words
    without one of which no match exists.
    """

    __slots__ = ("needs", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)
        self.needs = required_starts(self.pattern)

    def search(self, t: Text, pos: int = 0) -> re.Match[str] | None:
        if self.needs is not None and self.needs.isdisjoint(t.starts):
            return None
        return self.pattern.search(t.s, pos)

    def match(self, t: Text, pos: int = 0) -> re.Match[str] | None:
        if self.needs is not None and self.needs.isdisjoint(t.starts):
            return None
        return self.pattern.match(t.s, pos)

    def finditer(self, t: Text, pos: int = 0) -> Iterator[re.Match[str]]:
        if self.needs is not None and self.needs.isdisjoint(t.starts):
            return iter(())
        return self.pattern.finditer(t.s, pos)


def rx(pattern: str) -> Rx:
    """Compile PATTERN and remember its source for the vocabulary."""
    PATTERN_SOURCES.append(pattern)
    return Rx(pattern)


def needs_any(patterns: Iterable[Rx]) -> frozenset[str] | None:
    """Words one of which a text holds if any of PATTERNS matches it; None if one may match any.

    For a table of patterns tried in turn, most often on a text that none of them matches.
    """
    found: set[str] = set()
    for pattern in patterns:
        if pattern.needs is None:
            return None
        found |= pattern.needs
    return frozenset(found)


@dataclass
class Context:
    """What earlier clauses of the same request said, for "it", "them" and "a new one"."""

    last_refs: list[str] = field(default_factory=list)
    last_tools: frozenset[str] = frozenset()


class Clause(Text):
    """A run of tokens; `s` is their normalized text, joined by single spaces."""

    __slots__ = ("_refs", "offsets", "source", "tokens")

    def __init__(self, source: str, tokens: Sequence[Token]) -> None:
        norms = [t.norm for t in tokens]
        super().__init__(" ".join(norms))
        self.source = source
        self.tokens = tokens
        offsets: list[int] = []
        pos = 0
        for norm in norms:
            offsets.append(pos)
            pos += len(norm) + 1
        self.offsets = offsets
        self._refs: tuple[str, ...] | None = None

    def index_at(self, pos: int) -> int:
        """Index of the token covering character POS of `s`."""
        return max(0, bisect_right(self.offsets, pos) - 1)

    def source_from(self, pos: int, end: int | None = None) -> str:
        """Source text from the token at POS of `s` (after the token before it) to END or the end.

        Starting after the previous token keeps dropped filler words ("please") in free text.
        """
        if not self.tokens or pos >= len(self.s):
            return ""
        i = self.index_at(pos)
        j = len(self.tokens) - 1 if end is None else self.index_at(max(pos, end - 1))
        begin = self.tokens[i - 1].end if i > 0 else self.tokens[i].start
        return self.source[begin : self.tokens[j].end]

    def source_of(self, pos: int, end: int) -> str:
        """Source text exactly covering the tokens of `s[pos:end]`."""
        i = self.index_at(pos)
        j = self.index_at(max(pos, end - 1))
        return self.source[self.tokens[i].start : self.tokens[j].end]

    def refs(self) -> list[str]:
        """Assist references, in order, without repeats, as A-1042 (a new list each call)."""
        if self._refs is None:
            seen: list[str] = []
            for tok in self.tokens:
                if tok.kind == "ref":
                    ref = "A-" + tok.norm[2:]
                    if ref not in seen:
                        seen.append(ref)
            # Most rules ask; callers may keep or change the list they get.
            self._refs = tuple(seen)
        return list(self._refs)

    def of_kind(self, kind: str) -> list[str]:
        return [t.norm for t in self.tokens if t.kind == kind]


# --- small vocabularies -------------------------------------------------------------------------

PRIORITY_MAP = {
    "lowest": "low",
    "low": "low",
    "minor": "low",
    "normal": "normal",
    "medium": "normal",
    "regular": "normal",
    "standard": "normal",
    "highest": "urgent",
    "higher": "high",
    "high": "high",
    "important": "high",
    "urgent": "urgent",
    "critical": "urgent",
    "emergency": "urgent",
    "p1": "urgent",
    "p2": "high",
    "p3": "normal",
    "p4": "low",
}
PRIORITY_RE = rx(
    r"\b(lowest|low|minor|normal|medium|regular|standard|highest|higher|high|important|urgent|"
    r"critical|emergency|p[1-4])\b"
)
STATUS_MAP = {
    "open": "open",
    "opened": "open",
    "unresolved": "open",
    "active": "open",
    "new": "open",
    "pending": "pending",
    "waiting": "pending",
    "on hold": "pending",
    "awaiting": "pending",
    "snoozed": "snoozed",
    "closed": "closed",
    "resolved": "closed",
    "solved": "closed",
    "done": "closed",
    "finished": "closed",
    "completed": "closed",
}
STATUS_RE = rx(
    r"\b(open|opened|unresolved|active|new|pending|waiting|on hold|awaiting|snoozed|closed|"
    r"resolved|solved|done|finished|completed)\b"
)
ROLE_MAP = {
    "owner": "owner",
    "owners": "owner",
    "admin": "admin",
    "admins": "admin",
    "administrator": "admin",
    "administrators": "admin",
    "manager": "manager",
    "managers": "manager",
    "support": "support",
    "supporter": "support",
    "agent": "support",
    "agents": "support",
}
ROLE_RE = rx(
    r"\b(owners?|admins?|administrators?|managers?|support(?: agents?)?|supporter|agents?)\b"
)

# Ordered: the first matching rule names the period; "past week" reads as a rolling 7 days.
_PERIOD_RULES: list[tuple[Rx, str]] = [
    (rx(r"\b(?:last|past|previous|prior) 24 hours\b"), "today"),
    (rx(r"\b(?:last|past|previous|prior|the) (?:7|seven) days\b"), "last_7_days"),
    (rx(r"\b(?:last|past|previous|prior|the) (?:30|31|thirty) days\b"), "last_30_days"),
    (rx(r"\b(?:last|past|previous|prior) 4 weeks\b|\bpast month\b"), "last_30_days"),
    (rx(r"\bpast week\b|\blast 1 week\b"), "last_7_days"),
    (rx(r"\btoday\b|\bso far today\b|\bthis (?:morning|afternoon|evening)\b|\btonight\b"), "today"),
    (rx(r"\byesterday\b|\blast night\b"), "yesterday"),
    (rx(r"\b(?:last|previous|prior) week\b|\bweek before\b"), "last_week"),
    (rx(r"\b(?:this|current) week\b|\bweek so far\b|\bweek to date\b|\bthis weeks\b"), "this_week"),
    (rx(r"\b(?:last|previous|prior) month\b"), "last_month"),
    (rx(r"\b(?:this|current) month\b|\bmonth to date\b|\bmonth so far\b"), "this_month"),
]
_N_DAYS_RE = rx(r"\b(?:last|past|previous|prior) (\d{1,3}) (days?|weeks?)\b")


_PERIOD_NEEDS = needs_any([*(p for p, _ in _PERIOD_RULES), _N_DAYS_RE])


def period(t: Text) -> str | None:
    """The reporting period named in T, or None."""
    if t.lacks(_PERIOD_NEEDS):
        return None
    best: tuple[int, str] | None = None
    for pattern, name in _PERIOD_RULES:
        m = pattern.search(t)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), name)
    m = _N_DAYS_RE.search(t)
    if m and (best is None or m.start() < best[0]):
        days = int(m.group(1)) * (7 if m.group(2).startswith("week") else 1)
        best = (m.start(), "today" if days <= 1 else "last_7_days" if days <= 7 else "last_30_days")
    return best[1] if best else None


METRIC_RULES: list[tuple[Rx, str]] = [
    (
        rx(
            r"\bfirst (?:response|reply|respond)(?: times?)?\b|\bresponse times?\b|"
            r"\breply times?\b|\btime to (?:first )?(?:response|reply|respond|answer)\b|"
            r"\bhow (?:fast|quick|quickly|long|soon)\b.*\b(?:respond|reply|answer|responding|"
            r"replying|answering|get back|pick up|first response)\b|\bresponse speed\b|"
            r"\bwait(?:ing)? times?\b|\bfrt\b"
        ),
        "first_response_time",
    ),
    (
        rx(
            r"\bescalation(?:s)?(?: rate)?\b|\bescalat(?:e|ed|ing)\b|\bhand ?offs?\b|"
            r"\bhandovers?\b|\btransfer rate\b|\bhanded (?:off|over)\b"
        ),
        "escalation_rate",
    ),
    (
        rx(
            r"\bresolution(?: rate)?\b|\bresol(?:ve|ved|ving) rate\b|\bsolve rate\b|"
            r"\bautomation rate\b|\bdeflection(?: rate)?\b|\bcontainment(?: rate)?\b|\bhow (?:many|"
            r"much|often)\b.*\b(?:resolve|resolved|solve|solved)\b|\bresolved by (?:the )?(?:ai|"
            r"agent|bot)\b|\bresolve rate\b"
        ),
        "resolution_rate",
    ),
    (
        rx(
            r"\bcsat\b|\bc sat\b|\bsee sat\b|\bsatisfaction\b|\bsatisfied\b|\bhappy are (?:our |"
            r"the )?customers\b|\bcustomers happy\b|\bratings?\b|\bnps\b|\bsat scores?\b|"
            r"\bhappiness\b"
        ),
        "csat",
    ),
    (
        rx(
            r"\bvolume\b|\bhow many (?:new )?(?:conversations|chats|messages|contacts|tickets|"
            r"requests|inquiries|enquiries|queries|calls|emails|customers|people)\b|"
            r"\bnumber of (?:conversations|chats|messages|contacts|tickets|requests|inquiries)\b|"
            r"\b(?:conversations|chats|messages|contacts|tickets|requests|inquiries) (?:came|come|"
            r"coming|did we get|did we have|have we had|we got)\b|\btraffic\b|\bhow busy (?:were|"
            r"was|are|is|have) (?:we|it|things|been)\b|\bconversation count\b|\bhow many came in\b"
        ),
        "volume",
    ),
]


_VOLUME_WORD_RE = rx(r"\bvolume\b|\btraffic\b|\bhow many (?:conversations|chats) (?:came|come)")


_METRIC_NEEDS = needs_any(p for p, _ in METRIC_RULES)


def metrics(t: Text) -> list[str]:
    """Metrics named in T, in order of mention, without repeats."""
    if t.lacks(_METRIC_NEEDS):
        return []
    found: list[tuple[int, str]] = []
    for pattern, name in METRIC_RULES:
        m = pattern.search(t)
        if m:
            found.append((m.start(), name))
    # "how many chats got handed off" counts escalations, not volume.
    if len(found) > 1 and not _VOLUME_WORD_RE.search(t):
        found = [f for f in found if f[1] != "volume"]
    out: list[str] = []
    for _, name in sorted(found):
        if name not in out:
            out.append(name)
    return out


_CH = (
    r"slack|telegram|sms|texts?|text messages?|whatsapp|whats app|what is app|email|e mail|mail|"
    r"emails|voice|phone call|phone|call"
)
CHANNEL_MAP = {
    "slack": "slack",
    "telegram": "telegram",
    "sms": "sms",
    "text": "sms",
    "texts": "sms",
    "text message": "sms",
    "text messages": "sms",
    "whatsapp": "whatsapp",
    "whats app": "whatsapp",
    "what is app": "whatsapp",
    "email": "email",
    "emails": "email",
    "e mail": "email",
    "mail": "email",
    "voice": "voice",
    "phone call": "voice",
    "phone": "voice",
    "call": "voice",
    "emailed": "email",
    "mailed": "email",
    "texted": "sms",
    "slacked": "slack",
    "whatsapped": "whatsapp",
    "telegrammed": "telegram",
    "called": "voice",
    "phoned": "voice",
}
_CHANNEL_DEST_RE = rx(
    rf"\b(?:on|to|via|through|over|by|in|using|into|as an?|as)\s+(?:my\s+|the\s+|a\s+|an\s+|our\s+"
    rf"|your\s+)?({_CH})\b"
)
_CHANNEL_VERB_RE = rx(
    r"\b(email|e mail|mail|text|sms|slack|whatsapp|telegram|call|phone|emailed|mailed|texted|"
    r"slacked|whatsapped|telegrammed|called|phoned)\s+(?:to\s+)?(?:me|us|it|that|this|them|those|"
    r"the)\b"
)
_CHANNEL_ANY_RE = rx(r"\b(slack|telegram|sms|whatsapp|whats app|email)\b")


def channel(t: Text, *, loose: bool = False) -> str | None:
    """The delivery channel T names ("on Slack", "email me"); LOOSE accepts a bare channel word."""
    hits: list[tuple[int, str]] = []
    for pattern in (_CHANNEL_DEST_RE, _CHANNEL_VERB_RE):
        for m in pattern.finditer(t):
            hits.append((m.start(1), m.group(1)))
    if not hits and loose:
        hits = [(m.start(1), m.group(1)) for m in _CHANNEL_ANY_RE.finditer(t)]
    if not hits:
        return None
    return CHANNEL_MAP[min(hits)[1]]


_TIME_RE = rx(
    r"(?:\b(?P<prep>at|@|by|around|about|to|for|from|until|till|before|after)\s+)?(?:(?P<noon>noon|"
    r"midday|lunchtime)|(?P<midnight>midnight)|(?P<half>half)\s+(?:past|"
    r"after)\s+(?P<hh1>\d{1,2})\b|(?P<quarter>quarter)\s+(?P<qdir>past|after|to|before|"
    r"till)\s+(?P<hh2>\d{1,2})\b|\b(?P<clock>\d{1,2}:\d{2})|\b(?P<mil>[01]\d|"
    r"2[0-3])(?P<milm>[0-5]\d)(?=\s+hours\b)|"
    r"\b(?P<hh>\d{1,2})(?:\s+(?P<mm>[0-5]\d)\b)?)(?:\s+(?P<ampm>am|pm|oclock|in the morning|"
    r"in the evening|at night|in the afternoon|tonight|this evening|hours))?"
)
_NOT_TIME_AFTER_RE = re.compile(
    r"^\s+(?:days?|weeks?|months?|hours?|minutes?|percent|%|assists?|tickets?|times|of|am i|st|nd|"
    r"rd|th)\b"
)


def clock_time(t: Text) -> str | None:
    """A time of day in T as 24-hour HH:MM ("8am" → 08:00, "half past 7 pm" → 19:30)."""
    for m in _TIME_RE.finditer(t):
        g = m.groupdict()
        if g["noon"]:
            return "12:00"
        if g["midnight"]:
            return "00:00"
        minute = 0
        explicit_24h = False
        if g["half"]:
            hour, minute = int(g["hh1"]), 30
        elif g["quarter"]:
            hour = int(g["hh2"])
            if g["qdir"] in {"to", "before", "till"}:
                hour, minute = (hour - 1) % 24, 45
            else:
                minute = 15
        elif g["clock"]:
            hh, mm = g["clock"].split(":")
            hour, minute = int(hh), int(mm)
            explicit_24h = hh.startswith("0") or hour >= 13
        elif g["mil"]:
            hour, minute, explicit_24h = int(g["mil"]), int(g["milm"]), True
        else:
            hour = int(g["hh"])
            minute = int(g["mm"]) if g["mm"] else 0
            if not (g["prep"] or g["ampm"] or g["mm"]):
                continue
            if _NOT_TIME_AFTER_RE.match(t.s[m.end() :]) and not g["ampm"]:
                continue
            if g["prep"] in {"for", "about", "after", "before", "from", "until", "till"} and not (
                g["ampm"] or g["mm"]
            ):
                continue
            explicit_24h = hour >= 13
        ampm = g["ampm"] or _day_part(t)
        if ampm in {
            "pm",
            "in the evening",
            "at night",
            "in the afternoon",
            "tonight",
            "this evening",
        }:
            if hour < 12:
                hour += 12
        elif ampm in {"am", "in the morning"}:
            if hour == 12:
                hour = 0
        elif ampm != "hours" and not explicit_24h and 1 <= hour <= 5:
            # A bare "at 4" for a briefing means the afternoon, not four in the morning.
            hour += 12
        if 0 <= hour <= 23 and 0 <= minute <= 59:
            return f"{hour:02d}:{minute:02d}"
    return None


_EVENING_RE = rx(r"\b(?:evenings?|nights?|afternoons?|tonight|pm)\b")
_MORNING_RE = rx(r"\bmornings?\b")


def _day_part(t: Text) -> str:
    """ "pm" or "am" when T says so elsewhere ("every sunday evening at 6"), else ""."""
    if _EVENING_RE.search(t):
        return "pm"
    if _MORNING_RE.search(t):
        return "am"
    return ""


_DAY_RE = rx(
    r"(?<!c )(?<!see )\b(mondays?|mon|tuesdays?|tues?|wednesdays?|weds?|thursdays?|thurs?|thu|"
    r"fridays?|fri|saturdays?|sat|sundays?|sun)\b"
)
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEK_DAYS = _DAY_NAMES
_WEEKDAYS_RE = rx(
    r"\bweekdays?\b|\bwork ?days\b|\bworking days\b|\bbusiness days\b|\bmon(?:day)? (?:to|through|"
    r"thru|until|till)? ?fri(?:day)?\b"
)
_WEEKENDS_RE = rx(r"\bweekends?\b")


def weekdays(t: Text) -> list[str] | None:
    """Days of the week T names, in week order, or None."""
    if _WEEKDAYS_RE.search(t):
        return list(_DAY_NAMES[:5])
    days = {d for d in _DAY_NAMES for m in _DAY_RE.finditer(t) if d.startswith(m.group(1)[:3])}
    if _WEEKENDS_RE.search(t):
        days |= {"saturday", "sunday"}
    return [d for d in _DAY_NAMES if d in days] or None


_FREQ_RULES: list[tuple[Rx, str]] = [
    (
        rx(r"\bmonthly\b|\b(?:every|each|once a) month\b|\bfirst of (?:the|each|every) month\b"),
        "monthly",
    ),
    (rx(r"\bweekdays?\b|\bwork ?days\b|\bworking days\b|\bbusiness days\b"), "weekdays"),
    (
        rx(
            r"\bdaily\b|\b(?:every|each) (?:day|morning|evening|night|afternoon)\b|\bnightly\b|"
            r"\bevery single day\b"
        ),
        "daily",
    ),
    (rx(r"\bweekly\b|\b(?:every|each|once a) week\b"), "weekly"),
]


def frequency(t: Text) -> str | None:
    for pattern, name in _FREQ_RULES:
        if pattern.search(t):
            return name
    return None


_ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "last": 31}
_DAY_OF_MONTH_RE = rx(
    r"\b(?:(?:on|to) )?the (?P<n>[1-9]|[12]\d|3[01]|first|second|third|last)(?: day)?"
    r"(?: of (?:the|each|every) month)?\b(?! (?:am|pm|oclock|hours|minutes|days|weeks)\b)"
)


def day_of_month(t: Text) -> int | None:
    """The day of the month T names for a monthly briefing ("on the 15th", "the first of each
    month", "on the last day": 31, which the scheduler takes as the month's last day)."""
    for m in _DAY_OF_MONTH_RE.finditer(t):
        n = m.group("n")
        said_month = "month" in m.group(0)
        if n.isdigit():
            if m.group(0).startswith(("on ", "to ")) or said_month:
                return int(n)
        elif said_month or (n == "last" and " day" in m.group(0)):
            return _ORDINAL_WORDS[n]
    return None


BRIEFING_RULES: list[tuple[Rx, str]] = [
    (
        rx(
            r"\b(?:weekly )?knowledge gaps?(?: (?:reports?|digests?|briefings?|summary|summaries|"
            r"updates?))?\b|\bgaps? (?:reports?|digests?|briefings?|summary|summaries|updates?)\b|"
            r"\bunanswered questions (?:reports?|digests?)\b"
        ),
        "weekly_knowledge_gaps",
    ),
    (
        rx(
            r"\b(?:monthly )?roi(?: (?:report|summary|digest|briefing|update))?\b|"
            r"\breturn on investment\b|\b(?:cost )?savings (?:report|summary)\b|"
            r"\bmonthly (?:report|summary|review|recap|briefing|digest|update|numbers)\b"
        ),
        "monthly_roi",
    ),
    (
        rx(
            r"\b(?:daily )?inbox (?:summary|summaries|digests?|briefings?|reports?|recaps?|"
            r"updates?|overview)\b|\bdaily (?:summary|summaries|digests?|briefings?|reports?|"
            r"recaps?|updates?|inbox|overview)\b|\bmorning (?:summary|summaries|digests?|"
            r"briefings?|reports?|recaps?|updates?)\b|\bsummary of (?:the |my |our )?inbox\b|"
            r"\bend of (?:the )?day (?:summary|report)\b"
        ),
        "daily_inbox_summary",
    ),
    (
        rx(
            r"\b(?:weekly )?performance (?:digests?|summary|summaries|briefings?|updates?|recaps?|"
            r"reports?)\b|\bweekly (?:digests?|performance|reports?|summary|summaries|briefings?|"
            r"recaps?|updates?|stats|numbers)\b|\bdigests?\b"
        ),
        "weekly_performance_digest",
    ),
    (rx(r"\bsummary\b|\bsummaries\b|\brecaps?\b"), "daily_inbox_summary"),
]


_BRIEFING_NEEDS = needs_any(p for p, _ in BRIEFING_RULES)


def briefing(t: Text) -> tuple[str, int, int] | None:
    """The briefing type T names, with the span naming it."""
    if t.lacks(_BRIEFING_NEEDS):
        return None
    for pattern, name in BRIEFING_RULES:
        m = pattern.search(t)
        if m:
            return name, m.start(), m.end()
    return None


_FORMAT_RE = rx(r"\b(pdf|p d f|xlsx|csv|c s v|sheets?)\b")


def report_format(t: Text) -> str | None:
    m = _FORMAT_RE.search(t)
    if not m:
        return None
    word = m.group(1).replace(" ", "")
    return "pdf" if word == "pdf" else "csv" if word == "csv" else "xlsx"


# Built on first use, one per WORDS; not through `rx`: they never seeded the vocabulary.
_NUMBER_AFTER_CACHE: dict[str, Rx] = {}


def number_pattern(words: str) -> Rx:
    """The pattern `number_after` reads the number after WORDS with."""
    pattern = _NUMBER_AFTER_CACHE.get(words)
    if pattern is None:
        pattern = Rx(rf"\b(?:{words})\s+(?:(?:number|no|num|id|#)\s*)*(?:#\s*)?(\d{{1,9}})\b")
        _NUMBER_AFTER_CACHE[words] = pattern
    return pattern


def number_after(t: Text, words: str) -> int | None:
    """The number right after one of WORDS (a regex alternation), e.g. "suggestion #12" → 12."""
    m = number_pattern(words).search(t)
    return int(m.group(1)) if m else None


_FIRST_NUMBER_RE = re.compile(r"(?<![\w:-])(\d{1,9})(?![\w:])")


def first_number(s: str) -> int | None:
    m = _FIRST_NUMBER_RE.search(s)
    return int(m.group(1)) if m else None


def days_from(amount: str, unit: str) -> int:
    n = 1 if amount in {"a", "an", "one"} else int(amount)
    if unit.startswith("week"):
        return n * 7
    if unit.startswith("month"):
        return n * 30
    if unit.startswith("hour"):
        return max(1, -(-n // 24))
    return n


_OLDER_RE = rx(
    r"\b(?:older than|more than|over|at least|longer than|beyond|untouched for|inactive for|"
    r"idle for|stale for|not updated (?:for|in)|not touched (?:for|in)|no activity (?:for|"
    r"in))\s+(\d+|an?|one)\s+(days?|weeks?|months?|hours?)\b|\b(\d+|an?)\s+(days?|weeks?|"
    r"months?)\s+old\b"
)


def older_than_days(t: Text) -> int | None:
    m = _OLDER_RE.search(t)
    if not m:
        return None
    if m.group(1):
        return days_from(m.group(1), m.group(2))
    return days_from(m.group(3), m.group(4))


# Words that end or cannot be a person's name in "assign A-1 to NAME".
NAME_STOP = words(
    """
    a an the it this that them those these him her me my myself us our and or then also now
    today tomorrow asap instead immediately right please as with for on in by at too priority
    urgent high low normal pending open closed is was be so someone somebody anyone everyone
    team queue inbox when once if after before but from of about all every each any one some
    their his its you your slack telegram sms whatsapp email voice text call
    """
)
PRONOUN_RE = rx(
    r"\b(?:it|this|that|this one|that one|this 1|that 1|the assist|that assist|this assist|"
    r"the same one|the ticket|this ticket|that ticket|the case)\b"
)
PLURAL_PRONOUN_RE = rx(r"\b(?:them|both|those|these|all of them|both of them)\b")


def member_at(c: Clause, pos: int) -> str | None:
    """The member named at character POS of `c.s` ("Maria", "Maria Lopez", "me"), or None."""
    if pos >= len(c.s):
        return None
    i = c.index_at(pos)
    tok = c.tokens[i]
    if tok.kind == "email":
        return tok.norm
    if tok.kind != "word" or not tok.norm[:1].isalpha():
        return None
    if tok.norm in {"me", "myself", "i"}:
        return "me"
    if tok.norm in NAME_STOP:
        return None
    j = i
    # A capitalized following word continues the name ("Maria Lopez"); lower case does not.
    while (
        j + 1 < len(c.tokens)
        and j - i < 2
        and c.tokens[j + 1].cap
        and c.tokens[j + 1].kind == "word"
        and c.tokens[j + 1].norm not in NAME_STOP
        and c.tokens[j].cap
    ):
        j += 1
    if j == i and not tok.cap and _lower_surname(c, i + 1):
        j += 1  # a transcript writes "maria lopez" in lower case
    name = c.source[tok.start : c.tokens[j].end].strip(" ,.;:!?'\"")
    return re.sub(r"'s$|'$", "", name)


def _lower_surname(c: Clause, i: int) -> bool:
    """Whether token I plausibly continues a lower-case name: an untouched, uncommon word."""
    if i >= len(c.tokens):
        return False
    tok = c.tokens[i]
    word = tok.norm
    return (
        tok.kind == "word"
        and word.isalpha()
        and len(word) > 1
        and c.source[tok.start : tok.end].lower() == word  # not a typo-corrected vocabulary word
        and word not in NAME_STOP
        and word not in COMMON_WORDS
        and word not in PRIORITY_MAP
        and word not in STATUS_MAP
        and word not in CHANNEL_MAP
        and word not in ROLE_MAP
        and not word.endswith("ly")
    )


_QUOTED_RE = re.compile(r"\"([^\"]+)\"|(?:^|(?<=[\s:(]))'(.+?)'(?=$|[\s.,!?;:)])")
_CONNECTOR_RE = re.compile(
    r"^\s*(?:(?:[,:;=\-]|\u2014)\s*)*(?:(?:and\s+)?(?:saying|say|said|to say|telling (?:them|him|"
    r"her|the customer)|tell (?:them|him|her|the customer)|let(?:ting)? (?:them|him|her|"
    r"the customer) know|letting them know|with the message|with the text|with the note|with|"
    r"that says|which says|that reads|reading|the message|message|note|to read|so it says|"
    r"so that it says|as follows|to|into|as|be)\b\s*(?:(?:[,:\-]|\u2014)\s*)*)?(?:that\b\s*)?"
)


def unquote(text: str) -> str:
    text = text.strip()
    for q in ('"', "'"):
        if len(text) >= 2 and text[0] == q and text[-1] == q:
            return text[1:-1].strip()
    if len(text) >= 3 and text[0] in "\"'" and text[-2] == text[0] and text[-1] in ".!?":
        return text[1:-2].strip()
    return text.rstrip(" ,;").strip()


def free_text(c: Clause, pos: int, *, connectors: bool = True) -> str | None:
    """Source text of the clause from POS of `c.s` on, connecting words and quotes trimmed."""
    if connectors:
        m = _CONNECTOR_RE.match(c.s[pos:])
        if m:
            pos += m.end()
    while pos < len(c.s) and c.s[pos] == " ":
        pos += 1
    if pos >= len(c.s):
        return None
    raw = c.source_from(pos).strip()
    quoted = _QUOTED_RE.search(raw)
    if quoted and quoted.start() <= 1:
        text = (quoted.group(1) or quoted.group(2) or "").strip()
    else:
        text = unquote(raw)
        text = text.rstrip(".").strip() if text.count(".") == 1 and text.endswith(".") else text
    # Punctuation alone ("reply to A-1 saying \"") is no message at all.
    return text if re.search(r"\w", text) else None


def quoted_text(c: Clause) -> str | None:
    raw = c.source_from(0)
    m = _QUOTED_RE.search(raw)
    return (m.group(1) or m.group(2)).strip() if m else None
