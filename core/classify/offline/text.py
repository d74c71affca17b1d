"""Request text into aligned, normalized tokens: sign-offs dropped, typos, numbers, refs fixed."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from rapidfuzz import process
from rapidfuzz.distance import OSA

from core.classify.offline.lexicon import COMMON_WORDS, CONTRACTIONS, SHORTHAND, TENS, UNITS


class Token(NamedTuple):
    """One normalized word; `start`/`end` locate its source in the cleaned request text.

    A named tuple rather than a frozen dataclass: as immutable, and a request makes dozens of
    them, which a tuple builds in a third of the time.
    """

    norm: str
    start: int
    end: int
    kind: str  # word | num | ref | email | url | phone | time | punct | nl
    cap: bool = False  # written with a capital, not at a sentence start: likely a name


# --- clean-up of greetings, sign-offs and signatures --------------------------------------------

_SIGNOFF = (
    r"(?:thanks(?:\s+(?:a\s+lot|so\s+much|again|in\s+advance|heaps))?|"
    r"thank\s+you(?:\s+(?:so\s+much|very\s+much|in\s+advance))?|many\s+thanks|cheers|"
    r"best(?:\s+(?:regards|wishes))?|kind\s+regards|warm\s+regards|regards|sincerely|"
    r"all\s+the\s+best|thx|ty|much\s+appreciated|appreciate\s+it|talk\s+soon|have\s+a\s+(?:good|"
    r"great|nice)\s+(?:day|one|weekend))"
)
_GREETING = (
    r"(?:hi|hello|hey|hiya|heya|howdy|yo|dear|greetings|morning|afternoon|evening|"
    r"good\s+(?:morning|afternoon|evening|day))"
)
_LEADING_GREETING_RE = re.compile(
    rf"^\s*{_GREETING}\b(?:[ \t,]+(?:there|all|team|everyone|folks|guys|y'all|again))?"
    r"(?:[ \t]+[A-Z][\w'-]*){0,2}\s*[,!.:;\n\u2014-]+\s*",
    re.I,
)
_BARE_GREETING_RE = re.compile(rf"^\s*{_GREETING}\b(?:\s+there)?\s+(?=\S)", re.I)
_SIGNOFF_RE = re.compile(
    rf"(?:^|(?<=[.!?,;\n]))\s*{_SIGNOFF}\b(?=\s*(?:[,!.\n\u2014-]|$|[A-Z][a-z]+\W*$))", re.I
)
_SENT_FROM_RE = re.compile(r"\bsent\s+from\s+my\s+\w+(?:\s+\w+)?\s*$", re.I)
_DASH_NAME_RE = re.compile(r"\s+(?:--?|\u2014|~)\s*[A-Z][\w.]*(?:\s+[A-Z][\w.]*)?\s*$")
_SUBJECT_RE = re.compile(r"^\s*(?:subject|re|fwd?)\s*:\s*", re.I)
_GREETING_LINE_RE = re.compile(rf"^\s*{_GREETING}\b[^\n]{{0,40}}$", re.I)
_SIGNOFF_LINE_RE = re.compile(rf"^\s*(?:{_SIGNOFF}\b[\s\w,.!'-]{{0,40}}|--\s*|\u2014\s*)$", re.I)
# Words that, after a sign-off, show the text goes on with a request rather than a signature.
_REQUEST_WORD_RE = re.compile(
    r"\b(?:assign|close|resolve|mark|set|schedule|send|show|list|reply|add|invite|revoke|create|"
    r"remove|delete|approve|reject|undo|restore|import|cancel|stop|turn|move|change|update|what|"
    r"how|who|which|can you|could you|please|also)\b",
    re.I,
)


def clean(text: str) -> str:
    """Drop greetings, sign-offs, signatures and subject labels; keep the request itself."""
    text = (
        text.replace("\u2019", "'")
        .replace("\u2018", "'")
        .replace("\u201c", '"')
        .replace("\u201d", '"')
        .replace("\r\n", "\n")
        .replace("\r", "\n")
    )
    lines = [ln.strip() for ln in text.split("\n")]
    lines = [ln for ln in lines if ln]
    if len(lines) > 1:
        body = [ln for ln in lines if not _SUBJECT_RE.match(ln)]
        # A subject line only repeats the body's request; keep it only when it is all we have.
        lines = body or [_SUBJECT_RE.sub("", lines[0])]
        if len(lines) > 1 and _GREETING_LINE_RE.match(lines[0]) and len(lines[0].split()) <= 5:
            lines = lines[1:]
        for i, line in enumerate(lines[1:], start=1):
            if _SIGNOFF_LINE_RE.match(line) and len(line.split()) <= 6:
                lines = lines[:i]
                break
    elif lines:
        lines = [_SUBJECT_RE.sub("", lines[0])]
    text = "\n".join(lines)
    text = _SENT_FROM_RE.sub("", text)
    stripped = _LEADING_GREETING_RE.sub("", text, count=1)
    if stripped == text:
        stripped = _BARE_GREETING_RE.sub("", text, count=1)
    text = stripped
    for match in _SIGNOFF_RE.finditer(text):
        rest = text[match.end() :]
        if len(rest.split()) <= 15 and not _REQUEST_WORD_RE.search(rest) and "?" not in rest:
            text = text[: match.start()]
            break
    text = _DASH_NAME_RE.sub("", text)
    return text.strip()


# --- tokens -------------------------------------------------------------------------------------

_TLDS = "com|org|net|io|co|ai|dev|app|help|info|biz|us|uk|de|fr|eu|ca|au|shop|store|site"
# The lookaheads only say early what the email and the bare-domain URL need (an "@", a "."
# after the run of letters): every word is tried as both first, and most have neither.
_TOKEN_RE = re.compile(
    r"(?P<email>(?=[A-Za-z0-9._%+-]*@)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
    r"\.[A-Za-z]{2,})|"
    r"(?P<url>(?:https?://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]"
    rf"|(?=[A-Za-z0-9-]*\.)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:{_TLDS})"
    r"(?:/[^\s<>\"']*[^\s<>\"'.,;:!?)\]])?(?![\w@.]))"
    r"|(?P<phone>\+\d[\d ().-]{6,}\d|\(\d{3}\)\s?\d{3}[ .-]\d{4}|\b\d{3}[.-]\d{3}[.-]\d{4}\b)|"
    r"(?P<time>\b\d{1,2}[:.][0-5]\d(?![\d:]|\.\d))|(?P<word>[A-Za-z0-9]+(?:'[A-Za-z]+|"
    r"[&/-][A-Za-z0-9]+)*'?)|(?P<nl>\n)|(?P<punct>[^\sA-Za-z0-9])"
)
_REF_WORD_RE = re.compile(r"^a-?(\d{1,9})$")
_JOINER_RE = re.compile(r"[-/&]")
_NUM_SUFFIX_RE = re.compile(r"^(\d{1,4})(am|pm|a|p|d|days|w|wks|weeks|h|hrs|st|nd|rd|th)$")
# Words that may introduce an assist number; those in _SHORT_REF_LEAD need three digits or more.
_REF_LEAD = frozenset({"a", "assist", "ticket", "case", "#"})
_SHORT_REF_LEAD = frozenset({"a", "ticket", "case", "#"})
# "this one", "no one": the word, not the number.
_ONE_AS_WORD_AFTER = frozenset(
    {
        "this",
        "that",
        "which",
        "the",
        "any",
        "every",
        "each",
        "some",
        "no",
        "another",
        "other",
        "last",
        "first",
        "new",
        "only",
        "someone",
        "anyone",
    }
)
_REF_JOINERS = frozenset({"-", "dash", "hyphen", "number", "no", "#", "num"})
# After these words a bare "#123" is an id of another kind, not an assist.
_ID_CONTEXT = frozenset(
    {
        "suggestion",
        "snapshot",
        "backup",
        "qa",
        "pair",
        "faq",
        "proposal",
        "schedule",
        "yes",
        "no",
        "approve",
        "reject",
        "confirm",
        "key",
        "version",
        "id",
    }
)
_SHORT_TARGETS = frozenset(
    {
        "csat",
        "undo",
        "note",
        "list",
        "show",
        "send",
        "mark",
        "sync",
        "team",
        "help",
        "open",
        "tone",
        "call",
        "text",
        "mail",
        "week",
        "slack",
        "close",
        "sms",
        "roi",
        "qa",
        "faq",
        "kb",
        "pdf",
        "csv",
        "xlsx",
        "api",
        "key",
        "keys",
        "make",
        "move",
        "stop",
        "turn",
        "noon",
        "high",
        "last",
        "this",
        "days",
        "done",
        "zero",
        "four",
        "five",
        "nine",
        "month",
    }
)
_THREE_LETTER_TARGETS = ("week", "last", "this", "csat", "open", "show", "high")
_SENTENCE_END = frozenset({".", "!", "?", "\n", ";", ":"})


class Normalizer:
    """Tokenizes cleaned text and normalizes it; holds the typo vocabulary, built once."""

    def __init__(self, vocabulary: Iterable[str], stems: Iterable[str] = ()) -> None:
        words = set(vocabulary) | set(UNITS) | set(TENS) | {"hundred", "thousand"}
        # Short targets are where false corrections come from ("ahead" → "head"); only a few
        # short domain words are worth fixing. Regex stems ("escalat") are never targets.
        targets = {w for w in words if len(w) >= 5} | (_SHORT_TARGETS & words)
        self._vocab: list[str] = sorted(targets)
        expansions = {w for v in SHORTHAND.values() for w in v.split()}
        self._known = (
            frozenset(words)
            | frozenset(stems)
            | COMMON_WORDS
            | set(SHORTHAND)
            | expansions
            | set(CONTRACTIONS)
        )
        self._typo_cache: dict[str, str] = {}

    # A per-word cache keeps repeated requests fast and corrections deterministic.
    def correct(self, word: str) -> str:
        """The vocabulary word WORD is a likely typo of, or WORD itself."""
        if word in self._known or len(word) < 3 or not word.isalpha():
            return word
        cached = self._typo_cache.get(word)
        if cached is not None:
            return cached
        cutoff = 1 if len(word) <= 7 else 2
        # Three-letter words only ever mean one of a few frequent ones ("wek", "lst").
        choices = self._vocab if len(word) > 3 else _THREE_LETTER_TARGETS
        found = process.extract(word, choices, scorer=OSA.distance, score_cutoff=cutoff, limit=8)
        fixed = word
        if found:
            best = min(d for _, d, _ in found)
            letters = sorted(word)
            # Among equally near words prefer a transposition ("assing" → "assign"), then the
            # same first letter, then the same length.
            fixed = min(
                (c for c, d, _ in found if d == best),
                key=lambda c: (sorted(c) != letters, c[0] != word[0], abs(len(c) - len(word)), c),
            )
        if len(self._typo_cache) < 50_000:
            self._typo_cache[word] = fixed
        return fixed

    def tokenize(self, text: str) -> list[Token]:
        """Normalized tokens of cleaned TEXT (spans index into TEXT)."""
        raw: list[Token] = []
        prev_end_sentence = True
        for m in _TOKEN_RE.finditer(text):
            kind = m.lastgroup or "punct"
            value = m.group()
            start, end = m.span()
            if kind == "word":
                cap = value[0].isupper() and not value.isupper() and not prev_end_sentence
                raw.extend(self._word(value, start, end, cap))
            elif kind == "url":
                url = value if value.lower().startswith("http") else f"https://{value}"
                raw.append(Token(url, start, end, "url"))
            elif kind == "email":
                raw.append(Token(value.lower(), start, end, "email"))
            elif kind == "phone":
                digits = re.sub(r"[^\d+]", "", value)
                raw.append(Token(digits, start, end, "phone"))
            elif kind == "time":
                raw.append(Token(value.replace(".", ":"), start, end, "time"))
            elif kind == "nl":
                raw.append(Token("\n", start, end, "nl"))
            else:
                raw.append(Token(value, start, end, "punct"))
            prev_end_sentence = value in _SENTENCE_END
        return self._merge_refs(self._merge_numbers(_merge_phrases(raw)))

    def _word(self, value: str, start: int, end: int, cap: bool) -> list[Token]:
        word = value.lower().rstrip("'")
        if word.endswith("'s") and word not in CONTRACTIONS:
            word = word[:-2]
        # Most words are letters only: no reference, number or joined parts to look for.
        plain = word.isalpha()
        ref = None if plain else _REF_WORD_RE.match(word)
        if ref and ("-" in word or len(ref.group(1)) >= 3):
            return [Token(f"a-{int(ref.group(1))}", start, end, "ref")]
        if word in CONTRACTIONS:
            return [Token(w, start, end, "word") for w in CONTRACTIONS[word].split()]
        if word in SHORTHAND:
            return [Token(w, start, end, "word", cap) for w in SHORTHAND[word].split()]
        if plain:
            return [Token(word if cap else self.correct(word), start, end, "word", cap)]
        suffixed = _NUM_SUFFIX_RE.match(word)
        if suffixed:
            number, unit = suffixed.groups()
            unit = {
                "a": "am",
                "p": "pm",
                "d": "days",
                "w": "weeks",
                "wks": "weeks",
                "h": "hours",
                "hrs": "hours",
            }.get(unit, unit)
            tokens = [Token(number, start, end, "num")]
            if unit not in {"st", "nd", "rd", "th"}:
                tokens.append(Token(unit, start, end, "word"))
            return tokens
        if word.isdigit():
            return [Token(word, start, end, "num")]
        parts = _JOINER_RE.split(word) if _JOINER_RE.search(word) else [word]
        out: list[Token] = []
        for part in parts:
            if not part:
                continue
            part = SHORTHAND.get(part, part)
            for piece in part.split():
                if piece.isdigit():
                    out.append(Token(piece, start, end, "num"))
                else:
                    fixed = piece if cap else self.correct(piece)
                    out.append(Token(fixed, start, end, "word", cap))
        return out

    @staticmethod
    def _merge_numbers(tokens: list[Token]) -> list[Token]:
        """Spoken numbers into digits: "forty two" → 42, "one oh four" → 1 0 4, "a . m ." → am."""
        # Each merge starts at a number word or follows a number or a time; most requests have
        # none, and are passed back as they came.
        if not any(t.norm in _NUMBER_WORDS or t.kind in _NUMBER_KINDS for t in tokens):
            return tokens
        out: list[Token] = []
        i = 0
        n = len(tokens)
        while i < n:
            tok = tokens[i]
            # Only a number word starts a spoken number (see `_cardinal`).
            value, j = _cardinal(tokens, i) if tok.norm in _NUMBER_WORDS else (None, i)
            if value is not None and not (
                tok.norm == "one" and out and out[-1].norm in _ONE_AS_WORD_AFTER
            ):
                out.append(Token(str(value), tok.start, tokens[j - 1].end, "num"))
                i = j
                continue
            # "oh" / "o" between digits is a spoken zero ("one oh four two").
            if (
                tok.norm in {"oh", "o"}
                and out
                and out[-1].kind == "num"
                and i + 1 < n
                and (tokens[i + 1].kind == "num" or tokens[i + 1].norm in UNITS)
            ):
                out.append(Token("0", tok.start, tok.end, "num"))
                i += 1
                continue
            # "a.m." / "a m" after a number is the am marker, not the article.
            if tok.norm in {"a", "p"} and out and out[-1].kind in {"num", "time"}:
                k = i + 1
                if k < n and tokens[k].norm == ".":
                    k += 1
                if k < n and tokens[k].norm == "m":
                    k += 1
                    if k < n and tokens[k].norm == "." and tokens[k].start == tokens[k - 1].end:
                        k += 1
                    out.append(Token(f"{tok.norm}m", tok.start, tokens[k - 1].end, "word"))
                    i = k
                    continue
            out.append(tok)
            i += 1
        return out

    @staticmethod
    def _merge_refs(tokens: list[Token]) -> list[Token]:
        """Assist references in any spelling ("a 1042", "assist ten forty two") into "a-1042"."""
        if _REF_LEAD.isdisjoint(t.norm for t in tokens):
            return tokens  # no word that leads a reference
        out: list[Token] = []
        i = 0
        n = len(tokens)
        while i < n:
            tok = tokens[i]
            lead = tok.norm in _REF_LEAD and not (
                tok.norm == "#" and out and out[-1].norm in _ID_CONTEXT
            )
            if lead:
                j = i + 1
                while j < n and tokens[j].norm in _REF_JOINERS:
                    j += 1
                k = j
                digits = ""
                while k < n and tokens[k].kind == "num" and len(digits) < 9:
                    digits += tokens[k].norm
                    k += 1
                # "a 12" is an article and a number; "a 1042 2" is not one spoken number.
                short = tok.norm in _SHORT_REF_LEAD
                spoken = k - j == 1 or all(len(t.norm) <= 2 for t in tokens[j:k])
                if digits and spoken and (len(digits) >= 3 or not short):
                    out.append(Token(f"a-{int(digits)}", tok.start, tokens[k - 1].end, "ref"))
                    i = k
                    continue
            out.append(tok)
            i += 1
        return out


# Phrases whose "and" must not split the request ("remove question and answer pair 6").
_PHRASES: dict[tuple[str, ...], str] = {
    ("q", "and", "a"): "qa",
    ("q", "&", "a"): "qa",
    ("question", "and", "answer"): "qa",
    ("questions", "and", "answers"): "qa",
    ("question", "answer"): "qa",
}
_PHRASE_FIRST = frozenset(p[0] for p in _PHRASES)
_NUMBER_WORDS = frozenset(UNITS) | frozenset(TENS)
_NUMBER_KINDS = frozenset({"num", "time"})


def _merge_phrases(tokens: list[Token]) -> list[Token]:
    if _PHRASE_FIRST.isdisjoint(t.norm for t in tokens):
        return tokens  # no word that starts a phrase
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        if tokens[i].norm in _PHRASE_FIRST:
            for phrase, joined in _PHRASES.items():
                j = i + len(phrase)
                if tuple(t.norm for t in tokens[i:j]) == phrase:
                    out.append(Token(joined, tokens[i].start, tokens[j - 1].end, "word"))
                    i = j
                    break
            else:
                out.append(tokens[i])
                i += 1
            continue
        out.append(tokens[i])
        i += 1
    return out


def _cardinal(tokens: list[Token], i: int) -> tuple[int | None, int]:
    """Parse a spoken cardinal starting at I; returns (value, next index) or (None, I)."""
    n = len(tokens)
    total = 0
    current: int | None = None
    j = i
    while j < n:
        word = tokens[j].norm
        if word in TENS and current is None:
            current = TENS[word]
            if j + 1 < n and tokens[j + 1].norm in UNITS and 0 < UNITS[tokens[j + 1].norm] < 10:
                current += UNITS[tokens[j + 1].norm]
                j += 1
        elif word in UNITS and current is None:
            current = UNITS[word]
        elif word == "hundred" and (current is not None or (j > i and tokens[j - 1].norm == "a")):
            current = (current or 1) * 100
            if j + 1 < n and tokens[j + 1].norm == "and":
                j += 1
            nxt, k = _cardinal(tokens, j + 1)
            if nxt is not None and nxt < 100:
                current += nxt
                j = k - 1
        elif word == "thousand" and current is not None:
            total += current * 1000
            current = None
            if j + 1 < n and tokens[j + 1].norm == "and":
                j += 1
        else:
            break
        j += 1
        # Two bare numbers in a row ("ten forty", "one zero") stay separate tokens.
        if current is not None and j < n and (tokens[j].norm in UNITS or tokens[j].norm in TENS):
            break
    if j == i or (current is None and total == 0):
        return None, i
    return total + (current or 0), j
