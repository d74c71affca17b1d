"""The offline classifier's word pre-filter changes no answer: a pattern or a rule it skips on a
clause could not have matched or answered there (core/classify/offline/prefilter.py)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

import pytest

from bench.classify import CORPUS
from core.classify.offline import OfflineClassifier, rules
from core.classify.offline import classifier as offline_classifier
from core.classify.offline import clause as cl
from core.classify.offline.classifier import _pieces, _skip_fillers
from core.classify.offline.clause import Clause, Context, Rx, Text
from core.classify.offline.prefilter import required_starts, word_starts
from core.classify.offline.text import clean
from tests.core.test_offline_classifier import (
    COMPOUND,
    CONTROL,
    EDGES,
    EMAILS,
    LIVE,
    READS,
    SPOKEN,
    TYPOS_AND_SHORTHAND,
    WRITES,
)
from tests.core.test_snooze_phrasings import SNOOZES

# Requests written to sit at the edges of the pre-filter: words glued to others, cut short,
# capitalised, joined by underscores or hyphens, non-ASCII, numbers where words were expected.
AWKWARD = [
    "xrestore the backup",
    "roll-back to backup 2",
    "a-12reply thanks",
    "A-5: reply saying we're on it",
    "reply_to A-5 saying hi",
    "take me off-live",
    "is zendesk on?",
    "P1 A-3",
    "make A-4 priority",
    "Ünïcode wörds at ٣:45 and café-talk",
    "send it to #support on slack",
    "e-mail me the c s v",
    "escalated? ESCALATE A-9",
    "prioritise A-2, deprioritize A-3",
    "close everything older than 2 weeks",
    "suggestion#12 approve",
    "qa pair 6: change the answer to 'yes'",
    "a new one called zapier2",
    "website visitors, webvisitors and web visitors",
    "mon-thu 8:30am-4:30pm",
    "to-day to_day today's todays",
]

TEXTS = sorted(
    {t for t, _ in READS + WRITES + CONTROL + TYPOS_AND_SHORTHAND + SPOKEN + EMAILS}
    | {t for t, _ in COMPOUND + EDGES + LIVE + SNOOZES}
    | {t for texts in CORPUS.values() for t in texts}
    | set(AWKWARD)
)

CONTEXTS = [
    Context(),
    Context(last_refs=["A-1", "A-2"], last_tools=frozenset({"create_api_key", "get_metrics"})),
]


def _clauses() -> Iterator[Clause]:
    """Every clause the classifier could read in TEXTS, and every short run of tokens besides."""
    normalizer = OfflineClassifier()._normalizer
    seen: set[str] = set()
    for text in TEXTS:
        cleaned = clean(text)
        tokens = normalizer.tokenize(cleaned)
        spans = [(0, len(tokens))] + [(a, b) for a, b, _ in _pieces(tokens)]
        n = len(tokens)
        spans += [(i, j) for i in range(n) for j in range(i + 1, min(i + 5, n + 1))]
        for start, end in spans:
            piece = Clause(cleaned, tokens[start:end])
            body = _skip_fillers(piece, start, end)
            for clause in (piece, Clause(cleaned, tokens[body:end])):
                if clause.s not in seen:
                    seen.add(clause.s)
                    yield clause


CLAUSES = list(_clauses())


def _patterns() -> list[Rx]:
    """Every pattern of the rule modules, named or in a table, with the words it needs."""
    found: dict[int, Rx] = {}
    for module in (cl, rules):
        for value in vars(module).values():
            items = value if isinstance(value, list | tuple) else [value]
            for item in items:
                pattern = item[0] if isinstance(item, tuple) and item else item
                if isinstance(pattern, Rx):
                    found[id(pattern)] = pattern
    found.update((id(p), p) for p in cl._NUMBER_AFTER_CACHE.values())
    return list(found.values())


PATTERNS = _patterns()


@pytest.mark.parametrize(
    ("pattern", "needs"),
    [
        (r"\b(?:restore|roll ?back|revert)\b", {"rest", "roll", "reve"}),
        (r"\b(?:re)?assign\b", {"reas", "assi"}),
        (r"\bto\s+(\S+)", {"to"}),
        (r"\bp[1-4]\b", {"p1", "p2", "p3", "p4"}),
        (r"\bprioriti[sz]e\b", {"prio"}),
        (r"\bescalat\w*", {"esca"}),
        (r"^(?:please )?undo\b", {"undo"}),
        (r"a-\d+\s+reply", {"repl"}),
        (r"\bweb ?visitors?\b", {"web", "webv"}),
    ],
)
def test_the_words_a_match_must_begin_are_read_off_the_pattern(
    pattern: str, needs: set[str]
) -> None:
    assert required_starts(re.compile(pattern)) == needs


@pytest.mark.parametrize(
    "pattern",
    [
        r"\bto",  # "today" matches: a short word may go on
        r"a-\d+",  # may start inside a word ("ba-12")
        r"\d+(?:am|pm)",  # a digit class names no word, and "am" is glued to it
        r"\bcat(?=s)",  # "cats": the lookahead does not end the word
        r"(?:\bfoo|bar)baz\b",  # one branch has no word start
        r"\b(?:to|with)\b\s*:?|:",  # a match may be a lone colon
    ],
)
def test_a_pattern_without_sure_words_is_always_run(pattern: str) -> None:
    assert required_starts(re.compile(pattern)) is None


def test_a_case_blind_pattern_is_always_run() -> None:
    assert required_starts(re.compile(r"\brestore\b", re.IGNORECASE)) is None


def test_a_text_lists_each_of_its_words_cut_to_four_characters() -> None:
    assert word_starts("How's the A-1042 résumé_x, ok?") == {
        "How", "s", "the", "A", "1042", "résu", "ok"
    }  # fmt: skip


def test_nearly_every_pattern_and_rule_is_filtered() -> None:
    # Guards the speed-up itself: the analysis must keep working on this Python's regex parser.
    assert len(PATTERNS) > 150
    assert sum(p.needs is None for p in PATTERNS) <= 8
    assert sum(needs is None for _, needs in rules.GATED_RULES) <= 3


def test_no_pattern_is_skipped_on_a_text_it_matches() -> None:
    texts = [c.s for c in CLAUSES] + [clean(t) for t in TEXTS] + TEXTS
    checked = 0
    for s in texts:
        t = Text(s)
        for p in PATTERNS:
            for pos in {0, len(s) // 2}:
                if p.pattern.search(s, pos) or p.pattern.match(s, pos):
                    checked += 1
                    assert not t.lacks(p.needs), (p.pattern.pattern, s, pos)
                    assert p.search(t, pos) is not None or p.match(t, pos) is not None
    assert checked > 5000  # the corpus does exercise the patterns


def test_no_pattern_is_skipped_on_its_own_words_glued_cut_or_spaced() -> None:
    # Texts no one would type, made of each pattern's own words, to reach the odd corners a
    # corpus of requests does not: words glued together, cut short, set apart by "_", "-", "'".
    rng = random.Random(7)
    joins = [" ", "", "", "-", ".", "'", "_", "1", "42", "é", "\n", ", ", "?", " a-12 "]
    checked = 0
    for p in PATTERNS:
        fragments = re.findall(r"[a-z]+", p.pattern.pattern) + sorted(p.needs or ())
        for _ in range(60):
            parts: list[str] = []
            for _ in range(rng.randint(1, 6)):
                word = rng.choice(fragments)
                if rng.random() < 0.2:
                    word = word[: rng.randint(1, len(word))]
                parts += [word, rng.choice(joins)]
            s = "".join(parts)
            if p.pattern.search(s):
                checked += 1
                assert not Text(s).lacks(p.needs), (p.pattern.pattern, s)
    assert checked > 1000  # a match for most patterns


def test_no_rule_is_skipped_on_a_clause_it_answers() -> None:
    answered = 0
    for clause in CLAUSES:
        for rule, needs in rules.GATED_RULES:
            for ctx in CONTEXTS:
                if rule(clause, ctx) is not None:
                    answered += 1
                    assert not clause.lacks(needs), (rule.__name__, clause.s)
    assert answered > 1000


def test_answers_are_the_same_without_the_prefilter(monkeypatch: pytest.MonkeyPatch) -> None:
    classifier = OfflineClassifier()
    filtered = [repr(classifier.classify(t)) for t in TEXTS]

    monkeypatch.setattr(Rx, "search", lambda self, t, pos=0: self.pattern.search(t.s, pos))
    monkeypatch.setattr(Rx, "match", lambda self, t, pos=0: self.pattern.match(t.s, pos))
    monkeypatch.setattr(Rx, "finditer", lambda self, t, pos=0: self.pattern.finditer(t.s, pos))
    monkeypatch.setattr(Text, "lacks", lambda self, needs: False)
    monkeypatch.setattr(
        offline_classifier, "GATED_RULES", tuple((rule, None) for rule in rules.RULES)
    )
    unfiltered = [repr(OfflineClassifier().classify(t)) for t in TEXTS]

    assert filtered == unfiltered
