"""Word beginnings a pattern's every match must contain, so most clauses skip most regex scans.

A clause is tried against some 150 patterns and nearly all of them fail. Most name words:
`\\b(?:restore|roll ?back|revert)\\b` cannot match a clause that has no word beginning "rest",
"roll" or "reve". `required_starts` reads such a set off the parsed pattern once, at import;
`word_starts` lists a text's words cut to their first four characters, once per clause; one set
test then rules the pattern out. The analysis is conservative: where it cannot be sure (a digit
class, a case-blind flag, a construct it does not know) it answers None and the pattern runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse
from typing import Any

# Words are compared on their first few characters: enough to tell most words apart, and a
# text's set stays one entry a word.
START_LENGTH = 4
# Past this many alternative beginnings the analysis gives up on a position (it stays sound).
_MAX_STATES = 256

_START_RE = re.compile(rf"\b\w{{1,{START_LENGTH}}}")
_WORD_CHAR_RE = re.compile(r"\w")
# Flags that change what a literal, ^ or \b means; a pattern with one is never pre-filtered.
_UNSAFE_FLAGS = re.IGNORECASE | re.ASCII | re.LOCALE | re.MULTILINE | re.VERBOSE

_C = sre_constants
_REPEATS = (_C.MAX_REPEAT, _C.MIN_REPEAT, getattr(_C, "POSSESSIVE_REPEAT", _C.MAX_REPEAT))
_WORD_START_AT = (_C.AT_BOUNDARY, _C.AT_BEGINNING, _C.AT_BEGINNING_STRING)
# After a word character these say the word has ended.
_WORD_END_AT = (_C.AT_BOUNDARY, _C.AT_END, _C.AT_END_STRING)

Items = Any  # a parsed (sub)pattern: a sequence of (opcode, argument) pairs


def word_starts(text: str) -> frozenset[str]:
    """Every run of word characters in TEXT, cut to its first START_LENGTH characters."""
    return frozenset(_START_RE.findall(text))


def required_starts(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Words (cut as `word_starts` cuts them) one of which every match of PATTERN holds, or None.

    When `word_starts(text)` has none of them, `pattern.search(text, pos)`, `.match` and
    `.finditer` find nothing: each of them begins a word inside the match, and `\\b` looks at
    the character before POS too, so a match from POS is a match in the whole text.
    """
    if pattern.flags & _UNSAFE_FLAGS:
        return None
    try:
        parsed = _plain(sre_parse.parse(pattern.pattern, pattern.flags))
    except re.error:
        return None
    # Nothing is known of the character before a match: its first word character may sit
    # inside a word ("a-\d+" matches in "ba-12"); only \b, ^ or a non-word character tell.
    found = _required(parsed, word_start=False)
    return frozenset(found) if found else None


def _plain(items: Any) -> list[tuple[Any, Any]]:
    """A parsed subpattern as a plain list, as are those nested in the items walked below."""
    out: list[tuple[Any, Any]] = []
    for op, av in items.data:
        if op is _C.SUBPATTERN:
            av = (av[0], av[1], av[2], _plain(av[3]))
        elif op is _C.BRANCH:
            av = (av[0], [_plain(b) for b in av[1]])
        elif op in _REPEATS:
            av = (av[0], av[1], _plain(av[2]))
        elif op in (_C.ASSERT, _C.ASSERT_NOT):
            av = (av[0], _plain(av[1]))
        out.append((op, av))
    return out


def _required(items: Items, *, word_start: bool) -> set[str] | None:
    """Cut words one of which every match of ITEMS begins at a word start, or None.

    WORD_START: whether a word character matched first would begin a word.
    """
    best: set[str] | None = None
    at_start = word_start
    for i, (op, av) in enumerate(items):
        if at_start:
            best = _better(best, _beginnings(items[i:]))
        if op is _C.SUBPATTERN:
            if av[1] or av[2]:  # inline flags
                return best
            best = _better(best, _required(av[3], word_start=at_start))
        elif op is _C.BRANCH:
            branches = [_required(b, word_start=at_start) for b in av[1]]
            if all(branches):
                best = _better(best, set().union(*branches))  # type: ignore[arg-type]
        elif op in _REPEATS and av[0] >= 1:
            best = _better(best, _required(av[2], word_start=at_start))
        at_start = _after(op, av, at_start)
    return best


def _better(a: set[str] | None, b: set[str] | None) -> set[str] | None:
    """The more selective of two sufficient sets: the longer shortest word, then the fewer."""
    if not b:
        return a
    if not a:
        return b
    return min(a, b, key=lambda s: (-min(len(x) for x in s), len(s)))


def _after(op: Any, av: Any, at_start: bool) -> bool:
    """Whether a word character right after this item (entered with AT_START) begins a word."""
    if op is _C.AT:
        return av in _WORD_START_AT
    if op in (_C.ASSERT, _C.ASSERT_NOT):
        return at_start  # zero width: changes nothing
    if _non_word(op, av):
        return True
    if op in _REPEATS:
        low, high, body = av
        once = _after_all(body, at_start)
        # A later round starts where the one before ended; a state that holds from True on
        # holds after any number of rounds.
        rounds = once and (high == 1 or _after_all(body, True))
        return rounds if low >= 1 else at_start and rounds
    if op is _C.SUBPATTERN and not (av[1] or av[2]):
        return _after_all(av[3], at_start)
    if op is _C.BRANCH:
        return all(_after_all(b, at_start) for b in av[1])
    return False


def _after_all(items: Items, at_start: bool) -> bool:
    for op, av in items:
        at_start = _after(op, av, at_start)
    return at_start


def _non_word(op: Any, av: Any) -> bool:
    """Whether the item consumes exactly one character that is never a word character."""
    if op is _C.LITERAL:
        return not _is_word(chr(av))
    if op is _C.IN:
        return all(
            (o is _C.LITERAL and not _is_word(chr(a)))
            or (o is _C.CATEGORY and a in (_C.CATEGORY_SPACE, _C.CATEGORY_NOT_WORD))
            for o, a in av
        )
    return False


# What is known of a word read so far.
_OPEN = 0  # it may go on with what follows
_WHOLE = 1  # it ended here, or is START_LENGTH long: usable as it is
_CUT = 2  # it may go on with characters not known here: usable only if long enough

State = tuple[str, int]


def _beginnings(items: Items) -> set[str] | None:
    """The word ITEMS must begin with, cut to START_LENGTH, as alternatives; None if unknown.

    A word shorter than START_LENGTH is usable only when it is seen to end (a non-word character
    or \\b follows): "to" in `\\bto\\s` is the cut word "to", but `\\bto` may be "toda".
    """
    states = _extend(items, {("", _OPEN)})
    if states is None:
        return None
    found: set[str] = set()
    # What follows ITEMS is not known here: a word still open may go on.
    for word, state in _cut(states):
        if not word or (state is not _WHOLE and len(word) < START_LENGTH):
            return None
        found.add(word)
    return found


def _extend(items: Items, states: set[State]) -> set[State] | None:
    """STATES grown by the characters ITEMS match next, as far as they are known; None when
    the alternatives grow past counting."""
    for op, av in items:
        open_states = {s for s in states if s[1] is _OPEN}
        if not open_states:
            return states
        grown = _step(op, av, open_states)
        if grown is None:
            return None
        states = (states - open_states) | grown
        if len(states) > _MAX_STATES:
            return None
    return states


def _step(op: Any, av: Any, states: set[State]) -> set[State] | None:
    """Open STATES after one item; an item not understood cuts them."""
    if op is _C.LITERAL:
        return _append(states, [chr(av)])
    if op is _C.IN:
        if _non_word(op, av):
            return _end(states)
        chars = _literal_chars(av)
        return _append(states, chars) if chars else _cut(states)
    if op is _C.AT:
        return _end(states) if av in _WORD_END_AT else _cut(states)
    if op in (_C.ASSERT, _C.ASSERT_NOT):
        return states  # zero width
    if op is _C.SUBPATTERN:
        return _cut(states) if av[1] or av[2] else _extend(av[3], states)
    if op is _C.BRANCH:
        out: set[State] = set()
        for branch in av[1]:
            grown = _extend(branch, states)
            if grown is None:
                return None
            out |= grown
        return out
    if op in _REPEATS:
        low, high, body = av
        once = _extend(body, states)
        if once is None:
            return None
        # Skipped, or matched once (what further rounds add is not read off).
        after = once if high == 1 else _cut(once)
        return after if low >= 1 else states | after
    return _cut(states)


def _literal_chars(av: Iterable[tuple[Any, Any]]) -> list[str] | None:
    """The characters of a small class of literals and ranges (`[sz]`, `[1-4]`), else None."""
    chars: list[str] = []
    for op, a in av:
        if op is _C.LITERAL:
            chars.append(chr(a))
        elif op is _C.RANGE and a[1] - a[0] < 10:
            chars.extend(chr(x) for x in range(a[0], a[1] + 1))
        else:
            return None
    return chars


def _append(states: set[State], chars: list[str]) -> set[State]:
    """Each state grown by each of CHARS; a non-word character ends the word."""
    out: set[State] = set()
    for word, _ in states:
        for ch in chars:
            if not _is_word(ch):
                out.add((word, _WHOLE))
            else:
                grown = word + ch
                out.add((grown, _WHOLE if len(grown) >= START_LENGTH else _OPEN))
    return out


def _end(states: set[State]) -> set[State]:
    """The words end here (a non-word character or \\b follows a word character)."""
    return {(word, _WHOLE if word else _CUT) for word, _ in states}


@cache
def _is_word(ch: str) -> bool:
    """Whether CH is a word character as `\\w` and `\\b` see it."""
    return _WORD_CHAR_RE.match(ch) is not None


def _cut(states: set[State]) -> set[State]:
    return {(w, _CUT if s is _OPEN else s) for w, s in states}
