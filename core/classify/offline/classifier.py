"""The offline classifier: splits a request into clauses and maps each to catalogue tool calls."""

from __future__ import annotations

import contextlib
import inspect
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from core.classify.offline import clause as cl
from core.classify.offline import rules
from core.classify.offline.clause import PATTERN_SOURCES, Clause, Context
from core.classify.offline.lexicon import words
from core.classify.offline.rules import GATED_RULES, WRITE_LIKE, Outcome
from core.classify.offline.text import Normalizer, Token, clean
from core.tools.args import READ_TOOLS, TOOL_ARGS
from models.classification import Classification, ToolCall

_SENTENCE_BREAKS = frozenset({".", "!", "?", ";", "\n"})
_CONJUNCTIONS = frozenset({"and", "then", "also", "plus", ",", "&", "afterwards", "after"})
_LEAD_FILLER_RE = re.compile(
    r"^(?:(?:and|then|also|plus|,|&|now|next|finally|lastly|additionally|afterwards|after that|"
    r"after|that|as well|oh|okay|so|but|too|-)\s+)*(?:(?:can|could|would|will|cannot)\s+(?:you|"
    r"we)\s+(?:also\s+)?|(?:i|we)\s+(?:would like|want|need|wanna)\s+(?:you\s+)?(?:to\s+)?|"
    r"(?:go ahead and|be sure to|make sure to|remember to|do not forget to)\s+)*(?:also\s+|"
    r"then\s+)*"
)
# Words that can open a new request inside a sentence ("... and mark it high priority").
_TRIGGERS = words(
    """
    assign reassign give hand close resolve mark set make bump raise lower reply respond answer
    add note leave show list display pull get tell send email text forward share schedule move
    change update cancel stop turn switch enable disable invite revoke create generate remove
    delete approve reject undo restore roll import broadcast announce export run escalate
    prioritize prioritise deprioritize promote use train rename reopen put let subscribe
    unsubscribe pause resume connect disconnect reconnect notify message flag edit modify find
    snooze defer postpone
    check compare tag label archive shut finish accept drop kill deactivate activate ping what
    how who which is are any do does i whats hows
    """
)
_QUESTION_WORDS = frozenset({"what", "how", "who", "which", "is", "are", "any", "do", "does", "i"})
_SMALL_TALK = words(
    """
    thanks thank you okay cool great awesome nice perfect got it hi hello hey morning afternoon
    evening good night bye goodbye see ya later lol haha cheers appreciate appreciated much
    wonderful amazing excellent sweet brilliant lovely sounds noted will do np no problem
    welcome are the best how doing today well fine there all again so very lot thx ty yo sup
    what up hiya heya howdy hope going alright job work one ok super love that is helpful
    done
    """
)
_GREETING_WORDS = frozenset(
    {"hi", "hello", "hey", "morning", "afternoon", "evening", "yo", "hiya", "heya", "howdy", "sup"}
)
_THANKS_WORDS = frozenset({"thanks", "thank", "appreciate", "appreciated", "cheers", "thx", "ty"})
_BYE_WORDS = frozenset({"bye", "goodbye", "later", "night"})
_COURTESY_RE = re.compile(
    r"^(?:thanks|thank you|many thanks|appreciate|i appreciate|hope|i hope|glad|great job|nice job|"
    r"well done|good job|sorry to bother|sorry for)\b"
)
_PERIOD_TOOLS = frozenset(
    {
        "get_metrics",
        "get_topic_breakdown",
        "get_knowledge_gaps",
        "get_inbox_performance",
        "analyze_patterns",
        "run_report",
    }
)
_FALLBACK_REPLY = (
    'Sorry, I\'m not sure what you need. You can ask things like "how is CSAT this week?", '
    '"assign A-1042 to Maria" or "send me a daily inbox summary on Slack at 8am"; say '
    '"help" for more.'
)


@dataclass
class _Unit:
    start: int  # token range [start, end) of the whole request
    end: int
    body: int  # first token after leading conjunctions and fillers
    outcome: Outcome | None
    ctx: Context
    clause: Clause  # tokens [body, end): what the rules read, kept for the period and "it"


class OfflineClassifier:
    """Deterministic, dependency-light classifier; build once, call `classify` per request."""

    def __init__(self) -> None:
        self._normalizer = Normalizer(*_rule_vocabulary())

    def classify(self, text: str, *, now: datetime | None = None) -> Classification:
        """Tool calls for TEXT; `calls` is empty when only a reply (or a question) fits.

        NOW is accepted for parity with the LLM backend; periods stay symbolic (`this_week`), so
        the offline rules never need the clock.
        """
        del now
        cleaned = clean(text)
        tokens = self._normalizer.tokenize(cleaned) if cleaned else []
        if not any(t.kind != "punct" for t in tokens):
            return Classification(reply=_small_talk_reply(text) or "Hi! What can I do for you?")
        units = self._segment(cleaned, tokens)
        calls: list[ToolCall] = []
        questions: list[str] = []
        # "csat and resolution rate this week": a period said once serves every read beside it.
        periods = [
            cl.period(u.clause)
            for u in units
            if u.outcome and any(tool in _PERIOD_TOOLS for tool, _ in u.outcome.calls)
        ]
        hint = next((p for p in periods if p), None)
        for unit in units:
            if unit.outcome is None:
                continue
            if unit.outcome.question:
                questions.append(unit.outcome.question)
            for tool, args in unit.outcome.calls:
                if tool in _PERIOD_TOOLS and "period" not in args and hint:
                    args = {**args, "period": hint}
                call, problem = _validated(tool, args)
                if call is None:
                    questions.append(problem)
                elif call not in calls:
                    calls.append(call)
        if calls or questions:
            return Classification(calls=tuple(calls), reply=" ".join(questions) or None)
        return Classification(reply=_small_talk_reply(cleaned) or _FALLBACK_REPLY)

    # --- segmentation ----------------------------------------------------------------------------

    def _segment(self, source: str, tokens: list[Token]) -> list[_Unit]:
        """Split into requests, greedily: a piece starts a new request only if it reads as one."""
        pieces = _pieces(tokens)
        units: list[_Unit] = []
        ctx = Context()
        for start, end, boundary in pieces:
            piece = Clause(source, tokens[start:end])
            body = _skip_fillers(piece, start, end)
            clause = piece if body == start else Clause(source, tokens[body:end])
            if not units:
                units.append(self._unit(clause, start, end, body, ctx))
                continue
            prev = units[-1]
            next_ctx = _advance(ctx, prev)
            candidate = self._unit(clause, start, end, body, next_ctx)
            first = tokens[body].norm if body < end else ""
            if boundary == "sentence":
                keep = candidate.outcome is not None
                if (
                    candidate.outcome is not None
                    and prev.outcome is not None
                    and prev.outcome.free_text
                ):
                    keep = _opens_new_request(first, candidate.outcome)
                if not keep and prev.outcome is not None and prev.outcome.free_text:
                    units[-1] = self._merged(source, tokens, prev, end)
                    continue
            else:
                keep = candidate.outcome is not None and (
                    first in _TRIGGERS or _another_read(prev.outcome, candidate.outcome)
                )
                if (
                    keep
                    and candidate.outcome is not None
                    and prev.outcome is not None
                    and prev.outcome.free_text
                ):
                    keep = _opens_new_request(first, candidate.outcome)
                if not keep:
                    units[-1] = self._merged(source, tokens, prev, end)
                    continue
            ctx = next_ctx
            units.append(candidate)
        return units

    def _merged(self, source: str, tokens: list[Token], prev: _Unit, end: int) -> _Unit:
        """PREV read again with the tokens up to END that turned out to belong to it."""
        return self._unit(
            Clause(source, tokens[prev.body : end]), prev.start, end, prev.body, prev.ctx
        )

    @staticmethod
    def _unit(clause: Clause, start: int, end: int, body: int, ctx: Context) -> _Unit:
        outcome = None
        # "Thanks for yesterday's report!" is courtesy, not a request for a report.
        if clause.tokens and not (_COURTESY_RE.match(clause.s) and not clause.refs()):
            for rule, needs in GATED_RULES:
                if needs is not None and needs.isdisjoint(clause.starts):
                    continue  # it answers only on words this clause lacks
                outcome = rule(clause, ctx)
                if outcome is not None:
                    break
        return _Unit(start, end, body, outcome, ctx, clause)


_OPTIONAL_GROUP_RE = re.compile(r"\(\?:[^()]*\)\?")


def _rule_vocabulary() -> tuple[set[str], set[str]]:
    """Words the rules match on (typo targets) and regex word stems (known, never targets).

    Read from the rule modules' pattern literals, so a word added to a rule is a typo target
    at once; `rx` keeps the compiled sources too, for when module source is unavailable.
    """
    sources = list(PATTERN_SOURCES)
    for module in (rules, cl):
        with contextlib.suppress(OSError, TypeError):
            sources.extend(re.findall(r'(?<!\w)r"((?:[^"\\\n]|\\.)*)"', inspect.getsource(module)))
    found: set[str] = set()
    stems: set[str] = set()
    for source in sources:
        # "prioriti[sz]e" spells "prioritise"; "escalat(?:e|ed)" leaves the stem "escalat".
        source = re.sub(r"\[([a-z])[a-z]*\]", r"\1", source)
        # Escapes (\b, \s) blanked with two spaces keep offsets aligned with SOURCE.
        plain = re.sub(r"\\[a-zA-Z]", "  ", source)
        for m in re.finditer(r"(?<![a-z])[a-z]{3,}", plain):
            rest = source[m.end() :]
            optional_suffix = _OPTIONAL_GROUP_RE.match(rest) is not None
            stem = rest[:1] in {"(", "["} or rest.startswith("\\w")
            (stems if stem and not optional_suffix else found).add(m.group())
    return found, stems - found


def _pieces(tokens: list[Token]) -> list[tuple[int, int, str]]:
    """Token ranges cut at sentence ends and conjunctions outside quotes, with the cut's kind."""
    pieces: list[tuple[int, int, str]] = []
    start = 0
    boundary = "start"
    in_quote: str | None = None
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        if tok.kind == "punct" and tok.norm in {'"', "'"}:
            if in_quote == tok.norm:
                in_quote = None
            elif in_quote is None and (tok.norm == '"' or _opens_single_quote(tokens, i)):
                in_quote = tok.norm
        elif in_quote is None:
            if tok.norm in _SENTENCE_BREAKS and tok.kind in {"punct", "nl"}:
                j = i + 1
                while j < n and tokens[j].norm in _SENTENCE_BREAKS:
                    j += 1
                if j < n:
                    pieces.append((start, j, boundary))
                    start, boundary = j, "sentence"
                i = j
                continue
            if tok.norm in _CONJUNCTIONS and i > start and not _glued_and(tokens, i):
                pieces.append((start, i, boundary))
                start, boundary = i, "conjunction"
                while i + 1 < n and tokens[i + 1].norm in _CONJUNCTIONS:
                    i += 1
        i += 1
    if start < n:
        pieces.append((start, n, boundary))
    return pieces


def _glued_and(tokens: list[Token], i: int) -> bool:
    """ "go ahead and close", "try and find": this "and" joins no two requests."""
    if tokens[i].norm != "and" or i == 0:
        return False
    before = tokens[i - 1].norm
    return before == "try" or (before == "ahead" and i > 1 and tokens[i - 2].norm == "go")


def _opens_single_quote(tokens: list[Token], i: int) -> bool:
    """A lone ' opens a quote when nothing is glued before it (not the possessive "visitors'")."""
    return i == 0 or tokens[i - 1].end < tokens[i].start or tokens[i - 1].kind == "punct"


def _skip_fillers(clause: Clause, start: int, end: int) -> int:
    """Index of the first token after leading "and", "then", "can you", "I'd like you to"...

    CLAUSE holds the tokens [START, END).
    """
    m = _LEAD_FILLER_RE.match(clause.s)
    if not m or not m.end():
        return start
    return start + clause.index_at(m.end()) if m.end() < len(clause.s) else end


def _opens_new_request(first: str, outcome: Outcome) -> bool:
    """After free text, only an imperative or a question that reads data starts a new request."""
    if first not in _QUESTION_WORDS:
        return True
    return bool(outcome.calls) and all(
        tool not in WRITE_LIKE and tool != "help" for tool, _ in outcome.calls
    )


def _another_read(prev: Outcome | None, new: Outcome) -> bool:
    """Whether NEW, a piece with no verb of its own, asks for a different read than PREV does.

    "show urgent assists and the escalation rate today" asks two things; "close A-1 and A-2" and
    "csat and resolution rate" stay one clause.
    """
    if prev is None or not prev.calls or not new.calls:
        return False
    old_tools = {tool for tool, _ in prev.calls}
    new_tools = {tool for tool, _ in new.calls}
    reads = READ_TOOLS - {"show_assist", "help"}
    return old_tools <= reads and new_tools <= reads and not new_tools <= old_tools


def _advance(ctx: Context, unit: _Unit) -> Context:
    """Context after UNIT: the assists it named become what "it" refers to."""
    refs = unit.clause.refs()
    if not refs and unit.outcome:
        refs = [a["assist"] for _, a in unit.outcome.calls if isinstance(a.get("assist"), str)]
    tools = frozenset(tool for tool, _ in unit.outcome.calls) if unit.outcome else frozenset()
    return Context(last_refs=refs or ctx.last_refs, last_tools=tools)


def _validated(tool: str, args: dict[str, Any]) -> tuple[ToolCall | None, str]:
    try:
        model = TOOL_ARGS[tool].model_validate(args)
    except ValidationError as exc:
        field = " ".join(str(p) for p in exc.errors()[0]["loc"]).replace("_", " ") or "request"
        action = tool.replace("_", " ")
        return None, f"The {field} you gave doesn't look right for {action}; could you check it?"
    return ToolCall(tool=tool, args=model.model_dump(mode="json", exclude_none=True)), ""


def _small_talk_reply(text: str) -> str | None:
    said = re.findall(r"[a-z]+", text.lower())
    if not said or any(w not in _SMALL_TALK for w in said):
        return None
    if any(w in _THANKS_WORDS for w in said):
        return "You're welcome! Anything else I can do?"
    if any(w in _BYE_WORDS for w in said):
        return "Bye for now! Message me any time."
    if any(w in _GREETING_WORDS for w in said):
        return "Hi! What can I do for you?"
    return "Glad to help. Anything else?"
