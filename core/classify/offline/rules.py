"""Intent rules of the offline classifier: one function per kind of request, tried in order."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.classify.offline import clause as cl
from core.classify.offline.clause import Clause, Context, rx
from core.classify.offline.lexicon import words


@dataclass
class Outcome:
    """What one clause asks for: tool calls, or a question when a required argument is missing."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    question: str | None = None
    # Its last argument runs to the clause end (a reply, a note): later text may belong to it.
    free_text: bool = False


Rule = Callable[[Clause, Context], Outcome | None]

# For each rule that declares them, the words one of which a clause must hold for it to answer.
_RULE_NEEDS: dict[Rule, frozenset[str] | None] = {}


def answers_only_if(*patterns: cl.Rx) -> Callable[[Rule], Rule]:
    """Declare that a rule answers only on a clause one of PATTERNS matches (its first checks
    read them), so that a clause holding none of the words they need skips the rule unasked.

    tests/core/test_classifier_prefilter.py runs every rule on a corpus to hold each to this.
    """
    needs = cl.needs_any(patterns)

    def declare(rule: Rule) -> Rule:
        _RULE_NEEDS[rule] = needs
        return rule

    return declare


def _call(tool: str, **args: Any) -> Outcome:
    return Outcome(calls=[(tool, {k: v for k, v in args.items() if v is not None})])


def _ask(question: str, *, free_text: bool = False) -> Outcome:
    return Outcome(question=question, free_text=free_text)


def _targets(c: Clause, ctx: Context) -> list[str]:
    """Assists a clause acts on: its own refs, else what "it" / "them" point back to."""
    refs = c.refs()
    if refs:
        return refs
    if ctx.last_refs and cl.PLURAL_PRONOUN_RE.search(c):
        return list(ctx.last_refs)
    if ctx.last_refs and cl.PRONOUN_RE.search(c):
        return [ctx.last_refs[-1]]
    return []


_REF_HINT = "Give me its reference, like A-1042."
_REPLY_HINT = "Give me its reference, like A-1042, and what to say."

# --- control: approvals, rejections, undo --------------------------------------------------------

_STRONG_YES = words(
    """
    yes y approve approved confirm confirmed lgtm accept accepted
    """
)
_WEAK_YES = {"okay", "sure", "fine", "go", "good", "proceed", "absolutely", "definitely"}
_STRONG_NO = words(
    """
    no n reject rejected decline declined deny denied veto refuse
    """
)
_WEAK_NO = {"cancel", "stop", "not", "do", "abort", "scrap", "discard"}
_ANSWER_FILLER = words(
    """
    it that this proposal the code number # , . ! ahead do go please yes no for change request
    one sounds good ship to not i approve reject
    """
)
_UNDO_RE = rx(
    r"^(?:oops\s+|whoops\s+|wait\s+)?(?:,\s+)?(?:please\s+)?(?:undo|revert|reverse|roll ?back|"
    r"take (?:that|it) back|cancel the last (?:change|action|thing)|"
    r"undo the last)\b(?!.*\b(?:snapshot|backup|checkpoint)\b)"
)


def control(c: Clause, ctx: Context) -> Outcome | None:
    said = [t.norm for t in c.tokens if t.kind != "punct"]
    if not said:
        return None
    if _UNDO_RE.search(c) and not c.refs() and len(said) <= 8:
        return _call("undo_last")
    # Approvals are short answers: "yes 4821", "no, 4821", "go ahead".
    if len(said) > 7:
        return None
    # After its first word an answer holds only filler and the code.
    if not all(w in _ANSWER_FILLER or w.isdigit() for w in said[1:]):
        return None
    digits = [t.norm for t in c.tokens if t.kind == "num"]
    # "four eight two one" arrives as four one-digit numbers: together they are the code.
    code_tok = (
        "".join(digits)
        if digits and all(len(d) == 1 for d in digits)
        else (digits[0] if digits else None)
    )
    first = said[0]
    is_yes = first in _STRONG_YES or c.s.startswith(("go ahead", "do it", "ship it"))
    is_no = first in _STRONG_NO or c.s.startswith(("do not", "don't"))
    if first in _WEAK_YES and code_tok:
        is_yes = True
    if first in _WEAK_NO and (code_tok or re.match(r"^cancel (?:it|that|this)\b", c.s)):
        is_no = True
    if re.search(r"\b(?:suggestion|snapshot|qa|pair|key)\b", c.s):
        return None
    if is_yes and not is_no:
        return _call("approve_proposal", code=code_tok)
    if is_no:
        return _call("reject_proposal", code=code_tok)
    return None


# --- writes with an explicit object -------------------------------------------------------------

_RESTORE_RE = rx(
    r"\b(?:restore|roll ?back|revert|go back|return|rewind|recover|roll)\b.*\b(?:snapshot|backup|"
    r"checkpoint|restore point|version)\b|\bsnapshot\b.*\brestore\b"
)


@answers_only_if(_RESTORE_RE)
def restore_snapshot(c: Clause, ctx: Context) -> Outcome | None:
    if not _RESTORE_RE.search(c):
        return None
    sid = cl.number_after(c, "snapshot|backup|checkpoint|point|version|to")
    if sid is None:
        return _ask("Which snapshot should I restore? Give me its number.")
    return _call("restore_snapshot", snapshot_id=sid)


_SUGGESTION_RE = rx(r"\bsuggest(?:ion|ions|ed)\b")
_APPROVE_SUGGESTION_RE = rx(
    r"\b(?:approve|accept|apply|okay|confirm|take|use|yes to|go with|go ahead|greenlight|publish|"
    r"ship)\b"
)


@answers_only_if(_SUGGESTION_RE)
def approve_training_suggestion(c: Clause, ctx: Context) -> Outcome | None:
    if not (_SUGGESTION_RE.search(c) and _APPROVE_SUGGESTION_RE.search(c)):
        return None
    sid = cl.number_after(c, "suggestions?|suggested answer|suggested qa") or cl.first_number(c.s)
    if sid is None:
        return _ask("Which training suggestion should I approve? Give me its number.")
    return _call("approve_training_suggestion", suggestion_id=sid)


_QA_RE = rx(
    r"\b(?:qa|faq|q and a|question and answer|question answer)(?: pairs?| entry| items?)?\b"
)
_QA_REMOVE_RE = rx(r"\b(?:remove|delete|drop|erase|get rid of|kill|trash|discard|nuke)\b")
_QA_EDIT_RE = rx(r"\b(?:change|edit|update|modify|rewrite|fix|set|replace|correct|reword|make)\b")
_QA_VALUE_RE = rx(r"\b(?:to|with|so it says|to say|to read|into|reads?)\b\s*:?|:")
_PAIR_NUMBER_RE = rx(r"\bpair \d")


@answers_only_if(_QA_RE, _PAIR_NUMBER_RE)
def qa_pair(c: Clause, ctx: Context) -> Outcome | None:
    if not _QA_RE.search(c) and not _PAIR_NUMBER_RE.search(c):
        return None
    qa_id = cl.number_after(c, r"qa(?: pair| entry| item)?|faq(?: entry| item)?|pair|entry")
    if _QA_REMOVE_RE.search(c):
        if qa_id is None:
            return _ask("Which Q&A pair should I remove? Give me its number.")
        return _call("remove_qa_pair", qa_id=qa_id)
    edit = _QA_EDIT_RE.search(c)
    if not edit:
        return None
    if qa_id is None:
        return _ask("Which Q&A pair should I change? Give me its number.", free_text=True)
    num = re.search(rf"\b{qa_id}\b", c.s)
    after = num.end() if num else edit.end()
    value_at = _QA_VALUE_RE.search(c, after)
    text = cl.free_text(c, value_at.start()) if value_at else None
    if value_at is None or text is None:
        return _ask(f"What should Q&A pair {qa_id} say?", free_text=True)
    asks_question = re.search(r"\bquestion\b", c.s[: value_at.start()])
    field_name = "question" if asks_question else "answer"
    return Outcome(calls=[("edit_qa_pair", {"qa_id": qa_id, field_name: text})], free_text=True)


_KEY_RE = rx(
    r"\bapi keys?\b|\bapi tokens?\b|\b(?:access|integration|secret) (?:keys?|tokens?)\b|\bkeys?\b"
)
_KEY_CREATE_RE = rx(
    r"\b(?:create|generate|make|new|issue|add|set up|setup|mint|give me|get me|need|provision)\b"
)
_KEY_REVOKE_RE = rx(
    r"\b(?:revoke|delete|remove|disable|kill|deactivate|invalidate|cancel|destroy|rotate|expire|"
    r"retire|turn off)\b"
)
# Matched on the source text: key names keep their case and hyphens ("zendesk-bridge").
_END = r"(?:\s+please)?\s*[.!?]*$"
_KEY_NAME_RES = [
    re.compile(
        r"\b(?:called|named|labell?ed|titled|name it|call it|name|label)\s+[\"']?([\w][\w.-]*)",
        re.I,
    ),
    re.compile(
        r"\bfor\s+(?:the\s+|our\s+|my\s+)?([\w][\w.-]*)(?:\s+(?:integration|app|bot|team|sync|"
        rf"service))?{_END}",
        re.I,
    ),
    re.compile(r"\b([\w][\w.-]*)\s+(?:api\s+)?(?:keys?|tokens?)\b", re.I),
    re.compile(rf"\b(?:keys?|tokens?)\s+([\w][\w.-]*){_END}", re.I),
    re.compile(r"\bkeys?\s+(?:for|of)\s+([\w][\w.-]*)", re.I),
]
_NOT_KEY_NAMES = words(
    """
    new api an a the another fresh read write it this that one key me us access secret
    integration old revoke delete remove disable kill deactivate invalidate cancel destroy
    rotate expire retire create generate make issue add mint need provision get our my your off
    """
)


_A_NEW_KEY_RE = rx(
    r"^(?:an?|new|another|fresh|one more)\s+(?:new\s+)?(?:api\s+)?(?:keys?|tokens?)\b"
)


def _key_name(c: Clause) -> str | None:
    q = cl.quoted_text(c)
    if q:
        return q
    source = c.source_from(0)
    for i, pattern in enumerate(_KEY_NAME_RES):
        m = pattern.search(source)
        if m is None:
            continue
        word = m.group(1).lower()
        # After "called"/"named" any word is the name ("a key called make").
        if word not in _NOT_KEY_NAMES or (i == 0 and word not in {"it", "a"}):
            return m.group(1).strip("\"'.,")
    return None


_ANOTHER_ONE_RE = rx(r"\b(?:new|another|fresh) one\b|\bone (?:called|named)\b")


@answers_only_if(_KEY_RE, _ANOTHER_ONE_RE)
def api_key(c: Clause, ctx: Context) -> Outcome | None:
    key = _KEY_RE.search(c)
    # "revoke the zapier key and create a new one called zapier2": "one" is another key.
    follows_key = bool(ctx.last_tools & {"create_api_key", "revoke_api_key"}) and bool(
        _ANOTHER_ONE_RE.search(c)
    )
    if not follows_key and (
        not key or not (re.search(r"\bapi\b", c.s) or key.group().startswith(("key", "keys")))
    ):
        return None
    if not follows_key and re.search(
        r"\b(?:knowledge|key (?:metrics|numbers|stats|points|topics))\b", c.s
    ):
        return None
    if _KEY_REVOKE_RE.search(c):
        name = _key_name(c)
        if name is None:
            return _ask("Which API key should I revoke? Tell me its name.")
        return _call("revoke_api_key", name=name)
    if _KEY_CREATE_RE.search(c) or _A_NEW_KEY_RE.search(c):
        return _call("create_api_key", name=_key_name(c))
    return None


_INVITE_CANCEL_RE = rx(
    r"\b(?:cancel|revoke|withdraw|rescind|delete|remove|retract|undo|take back|"
    r"pull)\b.*\binvit(?:e|ation|ations|es)\b|\buninvite\b|\binvit(?:e|ation) (?:for|"
    r"to) \S+ (?:cancell?ed|revoked)"
)


@answers_only_if(_INVITE_CANCEL_RE)
def cancel_invitation(c: Clause, ctx: Context) -> Outcome | None:
    if not _INVITE_CANCEL_RE.search(c):
        return None
    emails = c.of_kind("email")
    if not emails:
        return _ask("Which invitation should I cancel? Give me the invited email address.")
    return Outcome(calls=[("cancel_invitation", {"email": e}) for e in emails])


_INVITE_RE = rx(r"\binvite\b|\b(?:add|onboard|bring on|bring in|sign up|give access to)\b")


@answers_only_if(_INVITE_RE)
def invite_member(c: Clause, ctx: Context) -> Outcome | None:
    verb = _INVITE_RE.search(c)
    if not verb:
        return None
    emails = c.of_kind("email")
    if not emails:
        if verb.group() != "invite":
            return None
        who = re.search(r"\binvite\s+(\w+)", c.s)
        name = cl.member_at(c, who.start(1)) if who else None
        if name and name != "me":
            return _ask(f"What's {name}'s email address? I need it to send the invitation.")
        return _ask("Who should I invite? Give me their email address and role.")
    role_m = cl.ROLE_RE.search(c)
    role = cl.ROLE_MAP[role_m.group(1).split()[0]] if role_m else None
    name = None
    before = re.search(r"\b(?:invite|add|onboard)\s+(\w+)(?:\s+\w+)?\s+(?:\(|at|<|,)?\s*\S+@", c.s)
    if before and before.group(1) not in cl.NAME_STOP:
        name = cl.member_at(c, before.start(1))
    return Outcome(
        calls=[("invite_member", {"email": e, "role": role, "name": name}) for e in emails]
    )


_URL_VERB_RE = rx(
    r"\b(?:add|use|train|learn|index|crawl|ingest|include|scrape|read|import|source|knowledge|"
    r"teach|feed|sync|pull)\b"
)
_SOURCE_WORD_RE = rx(
    r"\btraining sources?\b|\bknowledge sources?\b|\b(?:train|learn) (?:on|from)\b"
)


@answers_only_if(_URL_VERB_RE, _SOURCE_WORD_RE)
def add_training_source(c: Clause, ctx: Context) -> Outcome | None:
    urls = c.of_kind("url")
    if urls and _URL_VERB_RE.search(c):
        title = None
        m = re.search(r"\b(?:called|named|titled|as)\s+\"([^\"]+)\"", c.source_from(0))
        if m:
            title = m.group(1)
        return Outcome(calls=[("add_training_source", {"url": u, "title": title}) for u in urls])
    if _SOURCE_WORD_RE.search(c) and re.search(r"\b(?:add|use|new)\b", c.s) and not c.refs():
        return _ask("Which web page should I add as a training source? Send me its URL.")
    return None


_PROMOTE_RE = rx(
    r"\b(?:training(?: data| example| material)?|knowledge base|knowledge|learn from|"
    r"train (?:the (?:agent|bot|ai) )?on|promote|teach|qa pair|faq|example for the (?:agent|bot|"
    r"ai)|train (?:the |our )?(?:agent|bot|ai|model))\b"
)
_PROMOTE_VERB_RE = rx(
    r"\b(?:turn|make|use|add|convert|save|promote|train|learn|teach|send|put|feed|include|move|"
    r"copy)\b"
)


@answers_only_if(_PROMOTE_RE)
def promote_assist(c: Clause, ctx: Context) -> Outcome | None:
    if not (_PROMOTE_RE.search(c) and _PROMOTE_VERB_RE.search(c)):
        return None
    if re.search(r"\b(?:note|reply|respond|suggestion)\b", c.s):
        return None
    refs = _targets(c, ctx)
    if not refs:
        if c.of_kind("url"):
            return None
        if re.search(r"\b(?:assist|ticket|conversation|case|it|this|that)\b", c.s):
            return _ask(f"Which assist should I turn into training data? {_REF_HINT}")
        return None
    return Outcome(calls=[("promote_assist_to_training", {"assist": r}) for r in refs])


_REPLY_RE = rx(
    r"\b(?:reply|respond|answer|write back|get back|send (?:a |an )?(?:reply|response|answer|"
    r"message))\b(?: to| on| in| for)?(?: the (?:customer|client|user|requester|person)(?: (?:on|"
    r"in|of|for|from|behind))?)?\s+(?P<ref>a-\d+)|\b(?:tell|let|email|message|text|inform|notify|"
    r"write to|ask|send)\s+the (?:customer|client|user|requester|person)(?: (?:on|in|of|for|from|"
    r"behind|at))?\s+(?P<ref2>a-\d+)(?: know| an? (?:reply|message|response|email|note))?|"
    r"(?P<ref3>a-\d+)\s*(?::|,)?\s*(?:reply|respond)\b"
)
_REPLY_LOOSE_RE = rx(r"^(?:reply|respond|answer|write back)\b")


def reply_to_assist(c: Clause, ctx: Context) -> Outcome | None:
    m = _REPLY_RE.search(c)
    if m is None:
        if not _REPLY_LOOSE_RE.search(c):
            return None
        refs = _targets(c, ctx)
        if not refs:
            return _ask(f"Which assist should I reply to? {_REPLY_HINT}", free_text=True)
        pron = cl.PRONOUN_RE.search(c)
        text = cl.free_text(c, pron.end()) if pron else None
        if not text:
            return _ask(f"What should the reply to {refs[0]} say?", free_text=True)
        return Outcome(
            calls=[("reply_to_assist", {"assist": refs[0], "message": text})], free_text=True
        )
    ref = "A-" + (m.group("ref") or m.group("ref2") or m.group("ref3"))[2:]
    text = cl.free_text(c, m.end())
    if not text:
        return _ask(f"What should the reply to {ref} say?", free_text=True)
    return Outcome(calls=[("reply_to_assist", {"assist": ref, "message": text})], free_text=True)


_NOTE_RE = rx(r"\b(?:internal )?(?:notes?|comments?|annotations?|annotate|memo)\b")


@answers_only_if(_NOTE_RE)
def add_internal_note(c: Clause, ctx: Context) -> Outcome | None:
    note = _NOTE_RE.search(c)
    if not note or re.search(r"\b(?:release notes|show|list|read)\b", c.s[: note.start()]):
        return None
    refs = _targets(c, ctx)
    if not refs:
        if re.search(r"\b(?:add|leave|put|write|drop|make|log|post)\b", c.s[: note.start()]):
            return _ask(f"Which assist should the note go on? {_REF_HINT}", free_text=True)
        return None
    ref = refs[0]
    text = cl.quoted_text(c)
    if text is None:
        ref_m = re.search(rf"\b{ref.lower()}\b", c.s)
        text = cl.free_text(c, max(ref_m.end() if ref_m else 0, note.end()))
        if text is None and ref_m and ref_m.start() > note.end():
            # "note customer called twice on A-1042": the note sits before the reference.
            text = cl.free_text(c, note.end())
            if text:
                text = re.sub(r"\s+(?:on|to|for|in)\s+A-\d+\W*$", "", text, flags=re.I)
    if not text:
        return _ask(f"What should the note on {ref} say?", free_text=True)
    return Outcome(calls=[("add_internal_note", {"assist": ref, "note": text})], free_text=True)


_CONFIG_FIELDS: list[tuple[cl.Rx, str]] = [
    (
        rx(
            r"\bgreets?\b|\b(?:welcome|greeting)(?: message| text| line)?\b|\b(?:intro|"
            r"introduction|opening|first|hello) (?:message|text|line)\b"
        ),
        "welcome_message",
    ),
    (
        rx(
            r"\b(?:away|out of (?:office|hours)|after ?hours|offline|closed) (?:message|reply|"
            r"text)\b"
        ),
        "away_message",
    ),
    (
        rx(r"\b(?:handoff|hand off|handover|escalation|transfer) (?:message|text|reply)\b"),
        "handoff_message",
    ),
    (
        rx(
            r"\bfallback(?: message| answer| reply| response)?\b|\bdefault (?:answer|reply|"
            r"response|message)\b"
        ),
        "fallback_message",
    ),
    (rx(r"\btone(?: of voice)?\b|\bpersonality\b|\bwriting style\b|\bstyle\b|\bpersona\b"), "tone"),
    (
        rx(
            r"\b(?:agent|bot|assistant|ai)(?:s)? name\b|\bname of the (?:agent|bot|assistant|ai)\b|"
            r"\brename (?:the |our )?(?:agent|bot|assistant|ai)\b|\bcall (?:the |our )?(?:agent|"
            r"bot|assistant|ai)\b"
        ),
        "name",
    ),
    (rx(r"\blanguage\b"), "language"),
    (rx(r"\b(?:business|opening|office|support|working) hours\b"), "business_hours"),
    (rx(r"\bsignature\b|\bsign ?off\b"), "signature"),
    (rx(r"\binstructions\b|\bsystem prompt\b|\bprompt\b|\bguidelines\b"), "instructions"),
]
_CONFIG_CHANGE_RE = rx(
    r"\b(?:change|set|update|edit|make|rename|switch|modify|replace|use|reword|rewrite|adjust|new|"
    r"tweak|let)\b"
)
_CONFIG_VALUE_RE = rx(r"\b(?:to|into|be|as|with|so it says|to say|to read|say|reads?)\b\s*:?|:|=")


# --- snooze ------------------------------------------------------------------------------------

_SNOOZE_RE = rx(r"\b(?:snooze|defer|postpone)\b")
_SNOOZE_FOR_RE = rx(
    r"\b(?:for|in)\s+(?:(?:the\s+)?next\s+)?(?:(?P<n>\d{1,4}|an?|one)\s+(?P<unit>minutes?|mins?|"
    r"hours?|days?|weeks?)|(?P<half>half an hour|30 mins?)|(?P<couple>a couple of|a few)\s+"
    r"(?P<cunit>hours|days))\b"
)
_SNOOZE_DAY_RE = rx(
    r"\b(today|tonight|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"next week|end of (?:the )?day|eod)\b"
)
_SNOOZE_PART = {"morning": "09:00", "afternoon": "13:00", "evening": "18:00"}
_UNIT = {"min": "minute", "mins": "minute", "minute": "minute", "minutes": "minute"}


def _snooze_until(c: Clause) -> str | None:
    """When a snooze ends, in the forms `snooze_assist` reads: "2 hours", "monday 09:00",
    "tomorrow", "15:00" (resolved in the requester's time zone by the tool)."""
    s = re.sub(r"\ba-\d+\b", " ", c.s)
    t = cl.Text(s)
    span = _SNOOZE_FOR_RE.search(t)
    if span:
        if span.group("half"):
            return "30 minutes"
        if span.group("couple"):
            count, unit = (2 if "couple" in span.group("couple") else 3), span.group("cunit")[:-1]
        else:
            n = span.group("n")
            count = int(n) if n.isdigit() else 1
            unit = _UNIT.get(span.group("unit"), span.group("unit").rstrip("s"))
        return f"{count} {unit}" + ("s" if count != 1 else "")
    day = _SNOOZE_DAY_RE.search(t)
    at = cl.clock_time(cl.Text(re.sub(r"(?<!in the )\bafternoon\b", " ", s)))  # not "noon"
    if day is None:
        return at
    name = day.group(1)
    if name == "next week":
        return f"monday {at or '09:00'}"
    if name in ("end of day", "end of the day", "eod"):
        return f"today {at or '17:00'}"
    if name == "tonight":
        return f"today {at or '19:00'}"
    part = re.search(r"\b(morning|afternoon|evening)\b", s)
    at = at or (_SNOOZE_PART[part.group(1)] if part else None)
    return f"{name} {at}" if at else name


@answers_only_if(_SNOOZE_RE)
def snooze_assist(c: Clause, ctx: Context) -> Outcome | None:
    verb = _SNOOZE_RE.search(c)
    if not verb:
        return None
    refs = _targets(c, ctx)
    if not refs:
        if (
            re.search(r"\b(?:assists?|tickets?|cases?|requests?)\b", c.s)
            or verb.group() == "snooze"
        ):
            return _ask(f"Which assist should I snooze? {_REF_HINT}")
        return None  # "postpone my briefing": not an assist
    until = _snooze_until(c)
    if until is None:
        return _ask(
            f"Until when should I snooze {', '.join(refs)}? For example 'until Monday 9am' or "
            "'for 2 hours'."
        )
    return Outcome(calls=[("snooze_assist", {"assist": r, "until": until}) for r in refs])


_CONFIG_FIELD_NEEDS = cl.needs_any(p for p, _ in _CONFIG_FIELDS)


def _config_field(t: cl.Text) -> tuple[str, re.Match[str]] | None:
    """The agent setting T names, with where it is named."""
    if t.lacks(_CONFIG_FIELD_NEEDS):
        return None
    for pattern, name in _CONFIG_FIELDS:
        m = pattern.search(t)
        if m:
            return name, m
    return None


@answers_only_if(_CONFIG_CHANGE_RE)
def update_agent_config(c: Clause, ctx: Context) -> Outcome | None:
    found = _config_field(c)
    change = _CONFIG_CHANGE_RE.search(c)
    if not found or not change or c.refs():
        return None
    name, m = found
    if re.match(r"^(?:what|which|how|show|tell me|does|is)\b", c.s):
        return None
    if name == "name" and m.group().startswith(("rename", "call")):
        value_at = re.compile(r"\b(?:to|as)\b|:").search(c.s, m.end())
        start = value_at.start() if value_at else m.end()
    else:
        value_at = _CONFIG_VALUE_RE.search(c, m.end())
        if value_at is None and name == "tone":
            # "make the tone friendlier": the adjective is the value.
            value_at = re.compile(r"\b(?:more|less|a bit|slightly)?\s*\w+").search(c.s, m.end())
        start = value_at.start() if value_at else len(c.s)
    text = cl.free_text(c, start)
    label = name.replace("_", " ")
    if not text:
        return _ask(f"What should the {label} be?", free_text=True)
    return Outcome(calls=[("update_agent_config", {"field": name, "value": text})], free_text=True)


# --- schedules ----------------------------------------------------------------------------------

_SCHED_CANCEL_RE = rx(
    r"\b(?:stop|cancel|unsubscribe|turn off|switch off|disable|pause|delete|remove|kill|end|drop|"
    r"no more|do not send|do not want|unschedule|halt|get rid of|opt out)\b"
)
_SCHED_UPDATE_RE = rx(
    r"\b(?:move|change|reschedule|shift|switch|push|update|set|bring forward|instead|earlier|later|"
    r"delay|make|edit|modify)\b"
)
_SCHED_STRONG_RE = rx(
    r"\bschedule\b|\bscheduled\b|\bevery\b|\beach\b|\bdaily\b|\bweekly\b|\bmonthly\b|\bnightly\b|"
    r"\bsubscribe\b|\brecurring\b|\bregular(?:ly)?\b|\bmornings\b|\bevenings\b|\bweekdays\b|"
    r"\bset up\b|\bsetup\b|\bremind\b|\bautomatically\b|\bweekends\b"
)
_SCHED_WEAK_RE = rx(
    r"\bsend me\b|\bsend us\b|\bsend (?:the|a|an|my|our)\b|\b(?:email|text|slack|message|ping|dm|"
    r"whatsapp|telegram) (?:me|us)\b|\bdeliver\b|\bi (?:would like|want|need)\b|\bcan i (?:get|"
    r"have)\b|\bgive me\b|\bkeep me posted\b|\bget\b"
)
_SCHED_NOUN_RE = rx(
    r"\b(?:briefings?|digests?|summary|summaries|reports?|recap|schedules?|scheduled|updates?|"
    r"subscribed|subscriptions?)\b"
)
_LIST_SCHED_RE = rx(
    r"\b(?:what|which|list|show|any|see|view|display|get|have)\b.*\b(?:scheduled|schedules|"
    r"briefings|subscriptions|recurring|digests|subscribed)\b|\bmy (?:schedules|briefings|"
    r"subscriptions)\b"
)


_SCHEDULE_ID_WORDS = "schedules?|briefings?"


def _without_briefing(c: Clause, found: tuple[str, int, int] | None) -> cl.Text:
    """`c.s` less the briefing's name: the cadence in "weekly digest" is part of the name."""
    return cl.Text(c.s[: found[1]] + " " + c.s[found[2] :]) if found else c


# Capitalised words that are never an AI agent's name in a scheduling request.
_NOT_AGENT_NAMES = frozenset(
    {*cl.CHANNEL_MAP, *cl.WEEK_DAYS, "ai", "roi", "csat", "me", "us", "team", "inbox", "the"}
)


def _agent_name(c: Clause) -> str | None:
    """An AI agent named as a briefing's subject: "for Max", "for the Max agent", "agent Nova"
    (a capitalised word, as the member wrote it)."""
    toks = c.tokens
    for i, tok in enumerate(toks):
        if not tok.cap or tok.kind != "word" or tok.norm in _NOT_AGENT_NAMES:
            continue
        before = [t.norm for t in toks[max(0, i - 2) : i]]
        after = toks[i + 1].norm if i + 1 < len(toks) else ""
        if (
            before[-1:] == ["for"]
            or before == ["for", "the"]
            or before[-1:] in (["agent"], ["bot"])
            or after in ("agent", "bot")
        ):
            return c.source[tok.start : tok.end]
    return None


def _schedule_fields(c: Clause, found: tuple[str, int, int] | None) -> dict[str, Any]:
    rest = _without_briefing(c, found)
    days = cl.weekdays(rest)
    freq = cl.frequency(rest)
    day = cl.day_of_month(rest)
    if freq is None and days:
        freq = "weekdays" if len(days) == 5 and "saturday" not in days else "weekly"
    if day is not None and freq in (None, "monthly") and not days:
        freq = "monthly"
    else:
        day = None
    return {
        "channel": cl.channel(c, loose=True),
        "time": cl.clock_time(c),
        "frequency": freq,
        "days": days,
        "day_of_month": day,
    }


@answers_only_if(
    *(p for p, _ in cl.BRIEFING_RULES), cl.number_pattern(_SCHEDULE_ID_WORDS), _SCHED_NOUN_RE
)
def schedules(c: Clause, ctx: Context) -> Outcome | None:
    found = cl.briefing(c)
    sid = cl.number_after(c, _SCHEDULE_ID_WORDS)
    b_type = found[0] if found else None
    mentions = found is not None or sid is not None or bool(_SCHED_NOUN_RE.search(c))
    if not mentions:
        return None
    if (
        _LIST_SCHED_RE.search(c)
        and not _SCHED_CANCEL_RE.search(c)
        and not re.search(r"\b(?:move|change|reschedule)\b", c.s)
    ):
        return _call("list_schedules", briefing_type=b_type)
    if (found or sid) and _SCHED_CANCEL_RE.search(c) and not re.search(r"\binstead\b", c.s):
        return _call("cancel_schedule", briefing_type=b_type, schedule_id=sid)
    if not found and not sid:
        if re.search(
            r"\b(?:schedule|set up|subscribe)\b.*\b(?:briefing|digest|report|summary)s?\b", c.s
        ):
            return _ask(
                "Which briefing would you like: daily inbox summary, weekly performance digest, "
                "weekly knowledge gaps or monthly ROI? And where and when should it go?"
            )
        if re.search(r"\b(?:cancel|stop|unsubscribe)\b.*\b(?:briefing|digest|schedule)s?\b", c.s):
            return _ask("Which briefing should I stop?")
        if _SCHED_UPDATE_RE.search(c) and re.search(r"\b(?:briefing|digest|schedule)s?\b", c.s):
            return _ask(
                "Which briefing should I change, and what should change: time, channel or days?"
            )
        return None
    fields = _schedule_fields(c, found)
    changes = {k: v for k, v in fields.items() if v is not None}
    update = _SCHED_UPDATE_RE.search(c)
    if (update and changes and not re.match(r"^(?:schedule|set up|subscribe)\b", c.s)) or (
        sid and changes
    ):
        existing = re.search(r"\b(?:my|the|our|existing|current)\b", c.s)
        if existing or sid or re.search(r"\binstead\b", c.s):
            return _call("update_schedule", briefing_type=b_type, schedule_id=sid, **changes)
    if b_type is None:
        return None
    rest = _without_briefing(c, found)
    strong = _SCHED_STRONG_RE.search(rest) or fields["time"] or fields["days"]
    weak = _SCHED_WEAK_RE.search(rest) or fields["channel"]
    reads_now = cl.period(c) or cl.report_format(c)
    if strong or (weak and not reads_now):
        if fields["frequency"] is None:
            fields["frequency"] = {"daily_inbox_summary": "daily", "monthly_roi": "monthly"}.get(
                b_type, "weekly"
            )
        return _call("schedule_briefing", briefing_type=b_type, agent=_agent_name(c), **fields)
    return None


# --- assists ------------------------------------------------------------------------------------

_ASSIST_NOUN_RE = rx(r"\b(?:assists?|tickets?|cases?|ones|conversations|items|requests)\b")
_BULK_QUANT_RE = rx(
    r"\b(?:all|every|each|everything|any|the rest)\b|\bolder than\b|\b\d+ (?:days?|weeks?|"
    r"months?) old\b|\b(?:an?|one) (?:day|week|month) old\b"
)
_CLOSE_VERB_RE = rx(
    r"\b(?:close|closed|resolve|resolved|shut(?! off| down)|finish|wrap up|archive|complete|solved|"
    r"done with|"
    r"close out|mark (?:\S+ )?(?:as )?(?:closed|resolved|done|complete|completed|solved|"
    r"finished))\b"
)
_REOPEN_RE = rx(r"\b(?:reopen|re open|unarchive|open (?:\S+ )?(?:back )?up again|open again)\b")
_ASSIGN_VERB_RE = rx(
    r"\b(?:re)?assign\b|\bgive\b|\bhand(?: over| off)?\b|\bpass\b|\broute\b|\btransfer\b|"
    r"\ballocate\b|\bdelegate\b|\bmove\b|\bsend\b|\bforward\b"
)
_PRIORITY_VERB_RE = rx(
    r"\b(?:mark|set|make|bump|raise|lower|change|flag|escalate|prioriti[sz]e|deprioriti[sz]e|"
    r"upgrade|downgrade|move|update|put|tag|label|switch|drop|reduce|increase)\b"
)
_STATUS_SET_RE = rx(
    r"\b(?:mark|set|put|move|change|switch)\b.*\b(?:as|to|into|back to)\s+(open|pending|on hold|"
    r"waiting)\b"
)
_LABEL_SET_RE = rx(r"\b(?:tag|label)\s+(?:them|all|every|each|the)?.*?\b(?:as|with)\s+(\w[\w-]*)")
_UNASSIGNED_RE = rx(
    r"\bunassigned\b|\bnot assigned\b|\bwithout (?:an? )?(?:owner|assignee)\b|\bnobody\b|"
    r"\bno one\b|\bno owner\b"
)
_LABEL_RE = rx(
    r"\b(?:tagged|labell?ed|with (?:the )?(?:tag|label))\s+(\w[\w-]*)|\bwith (?:the |"
    r"a )?(\w[\w-]*) (?:tag|label)\b"
)
_CATEGORY_RE = rx(
    r"\b(?:about|regarding|related to|concerning|in (?:the )?category|category)\s+(\w[\w-]*)|"
    r"\b(\w+) related\b"
)
_ASSIGNED_TO_RE = rx(r"\bassigned to\s+(\S+)|\b(?:of|from|belonging to|owned by)\s+(\S+)")
_NOT_CATEGORY = words(
    """
    it them the a an this that these those assists tickets all their our your my
    """
)


def _assist_filter(c: Clause, end: int | None = None) -> dict[str, Any]:
    """List/bulk filter conditions in `c.s[:end]`."""
    t = c if end is None else cl.Text(c.s[:end])
    s = t.s
    flt: dict[str, Any] = {}
    for m in cl.STATUS_RE.finditer(t):
        word = m.group(1)
        if word in {"done"} and not re.search(r"\b(?:are|were|is)\s+done\b", s):
            continue
        flt.setdefault("status", cl.STATUS_MAP[word])
    pm = cl.PRIORITY_RE.search(t)
    if pm:
        flt["priority"] = cl.PRIORITY_MAP[pm.group(1)]
    days = cl.older_than_days(t)
    if days is not None:
        flt["older_than_days"] = days
    if _UNASSIGNED_RE.search(t):
        flt["unassigned"] = True
    lm = _LABEL_RE.search(t)
    if lm:
        flt["label"] = c.source_of(*lm.span(lm.lastindex or 1)).lower()
    cm = _CATEGORY_RE.search(t)
    if cm:
        group = 1 if cm.group(1) else 2
        if cm.group(group) not in _NOT_CATEGORY and not cm.group(group).isdigit():
            flt["category"] = cm.group(group)
    am = _ASSIGNED_TO_RE.search(t)
    if am:
        group = 1 if am.group(1) else 2
        who = cl.member_at(c, am.start(group))
        if who and not (group == 2 and am.group(2) in {"them", "the", "last"}):
            flt["assignee"] = who
    if "assignee" not in flt:
        poss = re.search(
            r"\b(\w+)\s+(?:open\s+|pending\s+|urgent\s+)?(?:assists|tickets|cases)\b", s
        )
        if poss and c.tokens[c.index_at(poss.start(1))].cap:
            flt["assignee"] = cl.member_at(c, poss.start(1))
        elif re.search(r"\bmy (?:open |pending |urgent )?(?:assists|tickets|cases|queue)\b", s):
            flt["assignee"] = "me"
    return flt


_BULK_CLOSE_RE = rx(
    r"^(?:\S+\s+){0,3}?(?:close|resolve|shut|archive|wrap up|finish|close out)\b|\b(?:mark|set|"
    r"move|put|change|switch)\b.*\b(?:as|to|into)\s+(?P<target>closed|resolved|done|solved|"
    r"complete|completed|finished)\b"
)


_PRIORITY_TARGET_RE = rx(
    r"\b(?:as|to|into|priority|prio)\s+(?:an?\s+)?(?:priority\s+)?(lowest|low|minor|normal|medium|"
    r"regular|standard|highest|higher|high|important|urgent|critical|emergency|p[1-4])\b"
)
_BULK_ASSIGN_RE = rx(r"\b(?:re)?assign\b|\bgive\b|\bhand\b|\broute\b|\btransfer\b|\bmove\b")
_TO_RE = rx(r"(?<!assigned )\bto\s+(\S+)")


def _last_to(t: cl.Text) -> re.Match[str] | None:
    """The last "to X" that names a person, not a status or priority ("assigned to" excluded)."""
    found = None
    for m in _TO_RE.finditer(t):
        word = m.group(1)
        if (
            not cl.PRIORITY_RE.pattern.match(word)
            and word not in cl.STATUS_MAP
            and word != "priority"
        ):
            found = m
    return found


@answers_only_if(_BULK_QUANT_RE)
def bulk_update(c: Clause, ctx: Context) -> Outcome | None:
    if not _BULK_QUANT_RE.search(c) or len(c.refs()) == 1:
        return None
    if not (
        _ASSIST_NOUN_RE.search(c)
        or cl.STATUS_RE.search(c)
        or cl.PRIORITY_RE.search(c)
        or _UNASSIGNED_RE.search(c)
        or cl.older_than_days(c)
    ):
        return None
    action: str | None = None
    changes: dict[str, Any] = {}
    target_at = len(c.s)
    status_set = _STATUS_SET_RE.search(c)
    close = _BULK_CLOSE_RE.search(c)
    if _REOPEN_RE.search(c):
        action, changes = "reopen", {"status": "open"}
    elif close:
        action, changes = "close", {"status": "closed"}
        if close.group("target"):
            target_at = close.start("target")
    elif status_set:
        action, target_at = "set_status", status_set.start(1)
        changes = {"status": cl.STATUS_MAP[status_set.group(1)]}
    elif _PRIORITY_VERB_RE.search(c) and (tm := _PRIORITY_TARGET_RE.search(c)):
        action, target_at = "set_priority", tm.start()
        changes = {"priority": cl.PRIORITY_MAP[tm.group(1)]}
    elif _BULK_ASSIGN_RE.search(c) and (to := _last_to(c)) is not None:
        who = cl.member_at(c, to.start(1))
        if who is None:
            return _ask("Who should I assign them to?")
        action, changes, target_at = "assign", {"assignee": who}, to.start()
    elif (label := _LABEL_SET_RE.search(c)) is not None:
        action, target_at = "label", label.start(1)
        changes = {"add_label": label.group(1)}
    if action is None:
        return None
    flt = _assist_filter(c, target_at)
    if action in {"close", "reopen"}:
        if action == "close" and flt.get("status") == "closed":
            del flt["status"]
        if action == "reopen" and flt.get("status") == "open":
            del flt["status"]
    refs = c.refs()
    if refs:
        flt["assists"] = refs
    return _call("bulk_update_assists", action=action, filter=flt, set=changes)


_TAKE_RE = rx(
    r"\b(?:i will|i can|let me|i|i shall|i am going to|i am gonna)\s+(?:take|handle|grab|own|"
    r"pick up|deal with|work on)\b|^(?:take|grab|claim)\b|\bgive (?:it|a-\d+|them|this|"
    r"that) to me\b"
)
_LET_RE = rx(
    r"\b(?:let|have|get)\s+(\S+)\s+(?:take|handle|own|pick up|deal with|work on|look at|cover|"
    r"do)\b|\b(\S+)\s+(?:should|can|will|to|shall)\s+(?:take|handle|own|pick up|deal with|work on|"
    r"look at|cover)\b|\bput\s+(\S+)\s+on\b|\bgive\s+(\S+)\s+a-\d+|\ba-\d+\s+(?:goes|should go|"
    r"can go|will go|is going|go)\s+to\s+(\S+)"
)


@answers_only_if(_ASSIGN_VERB_RE, _TAKE_RE, _LET_RE)
def assign_assist(c: Clause, ctx: Context) -> Outcome | None:
    verb = _ASSIGN_VERB_RE.search(c)
    take = _TAKE_RE.search(c)
    let = _LET_RE.search(c)
    if not (verb or take or let):
        return None
    refs = _targets(c, ctx)
    member: str | None = None
    strong = bool(verb and re.match(r"(?:re)?assign", verb.group()))
    if let:
        group = next(i for i in range(1, 6) if let.group(i))
        if let.group(group) not in cl.NAME_STOP:
            member = cl.member_at(c, let.start(group))
    if member is None and verb:
        after = verb.end()
        before_to = re.compile(r"\s+(\S+)\s+(?:to|on)\s+(?:a-\d+|it|this|that|them)\b").match(
            c.s, after
        )
        if strong and before_to and not before_to.group(1).startswith("a-"):
            member = cl.member_at(c, before_to.start(1))
        else:
            for to in re.finditer(
                r"\b(?:to|for)\s+(?!(?:slack|telegram|sms|whatsapp|email|voice|text|my|the|a|an|"
                r"pending|open|closed|urgent|high|low|normal|priority)\b)(\S+)",
                c.s[after:],
            ):
                member = cl.member_at(c, after + to.start(1))
                if member:
                    break
    if member is None and take:
        member = "me"
    if member is None and not strong:
        return None
    if member and member.lower() in {"me", "myself"}:
        member = "me"
    if not refs:
        if not (strong or take or let):
            return None
        if member is None:
            return _ask(f"Which assist should I assign, and to whom? {_REF_HINT}")
        return _ask(f"Which assist should I assign to {member}? {_REF_HINT}")
    if member is None:
        return _ask(f"Who should I assign {', '.join(refs)} to?")
    calls = [("assign_assist", {"assist": r, "member": who}) for r, who in _pair(c, refs, member)]
    # "assign A-1 to Maria, urgent" / "... as high priority": a second change in the same breath.
    to_whom = re.search(r"\bto\s+\S+", c.s)
    priority = cl.PRIORITY_RE.search(c, to_whom.end()) if to_whom else None
    if priority:
        level = cl.PRIORITY_MAP[priority.group(1)]
        calls += [("set_assist_priority", {"assist": r, "priority": level}) for r in refs]
    return Outcome(calls=calls)


_REF_TO_RE = rx(r"\b(a-\d+)\s+to\s+(\S+)")


def _pair(c: Clause, refs: list[str], member: str) -> list[tuple[str, str]]:
    """Each ref with the member right after it ("A-61 to Ken and A-62 to Sue"), else MEMBER."""
    own: dict[str, str] = {}
    for m in _REF_TO_RE.finditer(c):
        who = cl.member_at(c, m.start(2))
        if who:
            own["A-" + m.group(1)[2:]] = who
    return [(r, own.get(r, member)) for r in refs]


_ESCALATE_RE = rx(r"\b(?:escalate|prioriti[sz]e|deprioriti[sz]e|bump up|bump)\b")
_PRIORITY_WORD_RE = rx(r"\bpriority\b")


@answers_only_if(cl.PRIORITY_RE, _ESCALATE_RE, _PRIORITY_WORD_RE)
def set_priority(c: Clause, ctx: Context) -> Outcome | None:
    pm = None
    for m in cl.PRIORITY_RE.finditer(c):
        pm = m
    verb = _PRIORITY_VERB_RE.search(c)
    refs = _targets(c, ctx)
    esc = _ESCALATE_RE.search(c)
    if pm is None:
        if not (esc and refs):
            if refs and _PRIORITY_WORD_RE.search(c) and verb:
                return _ask(f"What priority should {refs[0]} get: low, normal, high or urgent?")
            return None
        word = esc.group()
        if word.startswith("depriorit"):
            priority = "low"
        else:
            priority = "urgent" if word == "escalate" else "high"
    else:
        priority = cl.PRIORITY_MAP[pm.group(1)]
        # An assist named next to a priority is a priority change ("A-816 needs to be urgent").
        if not (verb or refs):
            return None
        named = re.search(r"\b(?:it|this|that|assist|ticket|case|priority)\b", c.s)
        if not refs and not named and not (verb and verb.start() == 0):
            return None
    if not refs:
        return _ask(f"Which assist should I set to {priority}? {_REF_HINT}")
    return Outcome(
        calls=[("set_assist_priority", {"assist": r, "priority": priority}) for r in refs]
    )


_REASON_RE = rx(
    r"\b(?:because|since|reason|due to|as it is|as it was)\b\s*:?\s*|\bas (?:an? )?(?=(?:duplicate|"
    r"dupe|spam|solved|resolved|no response|wont fix|test)\b)"
)


@answers_only_if(_CLOSE_VERB_RE)
def close_assist(c: Clause, ctx: Context) -> Outcome | None:
    verb = _CLOSE_VERB_RE.search(c)
    if not verb:
        return None
    refs = _targets(c, ctx)
    if not refs:
        # Only a request that opens with the verb ("close it", "close all") lacks its assist.
        if verb.start() == 0 and len(c.tokens) <= 5:
            return _ask(f"Which assist should I close? {_REF_HINT}")
        return None
    reason = None
    rm = _REASON_RE.search(c, verb.end())
    if rm:
        reason = cl.free_text(c, rm.end(), connectors=False)
    return Outcome(calls=[("close_assist", {"assist": r, "reason": reason}) for r in refs])


@answers_only_if(_REOPEN_RE, _STATUS_SET_RE)
def reopen_or_status(c: Clause, ctx: Context) -> Outcome | None:
    refs = _targets(c, ctx)
    if not refs:
        return None
    if _REOPEN_RE.search(c):
        return _call(
            "bulk_update_assists", action="reopen", filter={"assists": refs}, set={"status": "open"}
        )
    status = _STATUS_SET_RE.search(c)
    if status:
        return _call(
            "bulk_update_assists",
            action="set_status",
            filter={"assists": refs},
            set={"status": cl.STATUS_MAP[status.group(1)]},
        )
    return None


# --- team and integrations ----------------------------------------------------------------------

_ROLE_WORDS = r"(owners?|admins?|administrators?|managers?|support(?: agents?)?|supporter|agents?)"
_MEMBER_ROLE_RES = [
    rx(rf"\b(?:make|set|turn)\s+(\S+)\s+(?:an?\s+|the\s+|into an?\s+)?{_ROLE_WORDS}\b"),
    rx(
        rf"\b(?:change|set|switch|update|move|make)\s+(\S+)(?:\s+role|\s+access|\s+permissions?)?\s+"
        rf"(?:to|into|as)\s+(?:an?\s+|the\s+)?{_ROLE_WORDS}\b"
    ),
    rx(rf"\brole of\s+(\S+)\s+(?:to|into|as)\s+(?:an?\s+)?{_ROLE_WORDS}\b"),
    rx(
        rf"\b(?:promote|demote|upgrade|downgrade|move|bump)\s+(\S+)\s+(?:to|as)\s+(?:an?\s+|the\s+)?"
        rf"{_ROLE_WORDS}\b"
    ),
    rx(rf"\bgive\s+(\S+)\s+{_ROLE_WORDS}\s+(?:access|rights|permissions?|role|privileges)\b"),
    rx(
        rf"\b(\S+)\s+(?:should be|is now|becomes|to be|will be)\s+(?:an?\s+|the\s+)?{_ROLE_WORDS}\b"
    ),
]
_DEACTIVATE_RE = rx(
    r"\b(?:deactivate|disable|suspend|offboard|kick|remove|"
    r"delete)\s+(\S+)\s*(?:from (?:the )?(?:team|workspace)|account|user|access|$)"
)
_REACTIVATE_RE = rx(r"\b(?:reactivate|re enable|restore access for|unsuspend)\s+(\S+)")
_NOT_MEMBER = words(
    """
    it this that them the a an my our your priority all every tone agent bot key api
    integration schedule briefing digest summary invitation invite snapshot
    """
)


_INVITE_WORD_RE = rx(r"\binvit")


@answers_only_if(*_MEMBER_ROLE_RES, _DEACTIVATE_RE, _REACTIVATE_RE)
def update_member(c: Clause, ctx: Context) -> Outcome | None:
    if c.refs() or _INVITE_WORD_RE.search(c):
        return None
    for pattern in _MEMBER_ROLE_RES:
        m = pattern.search(c)
        if m and m.group(1) not in _NOT_MEMBER and not m.group(1).startswith("a-"):
            who = cl.member_at(c, m.start(1))
            if who:
                role = cl.ROLE_MAP[m.group(2).split()[0]]
                return _call("update_member", member=who, role=role)
    for pattern, active in ((_DEACTIVATE_RE, False), (_REACTIVATE_RE, True)):
        m = pattern.search(c)
        if m and m.group(1) not in _NOT_MEMBER and not cl.STATUS_RE.search(c):
            if pattern is _DEACTIVATE_RE and m.group(1) in {"slack", "telegram", "twilio"}:
                continue
            who = cl.member_at(c, m.start(1))
            if who and (
                active
                or re.search(r"\b(?:team|workspace|account|user|access)\b", c.s)
                or m.group().startswith(("deactivate", "suspend", "offboard", "kick"))
            ):
                return _call("update_member", member=who, active=active)
    return None


# --- live operators: who is live, going live and offline ------------------------------------------
# "go live", "take me offline", "stop live" are the member's live presence (set_live); "set me
# offline", "mark Maria unavailable" stay the availability of member_availability.
_LIVE_WHO_RE = rx(
    r"\b(?:who(?: else)?(?: is| are)?|which (?:operators?|agents?|people|members?|of us)"
    r"(?: are| is)?|is (?:any(?:one|body)|some(?:one|body))(?: else)?|are (?:there )?any "
    r"(?:operators?|agents?|people)|any(?:one|body)) (?:currently |right now |now )?live\b"
    r"(?! on\b)|\b(?:list|show|see|view|get) (?:me )?(?:the |all |our )?live (?:operators?|"
    r"agents?|people|presence)\b|^live (?:operators?|presence)\b"
)
_GO_LIVE_RE = rx(
    r"^(?:i (?:am|will|want to|would like to|need to) )?(?:please )?(?:go(?:ing)?|put me|"
    r"make me|get me|take me|switch me|bring me) (?:back )?live\b(?:\s+(?:on|for|with)\s+"
    r"(.+?))?(?:\s+(?:please|now|right now|again))*\s*[.!]*$"
)
_GO_OFFLINE_RE = rx(
    r"^(?:i (?:am|will|want to|would like to|need to) )?(?:please )?(?:take me (?:offline|off "
    r"live|off|out of live)|get me (?:off live|out of live)|go(?:ing)? (?:offline|off live)|"
    r"(?:stop|end|quit) (?:being |going |my )?live(?: mode| session)?|"
    r"i am done being live|sign me out of live)\b"
)
_FLOWS_END_RE = re.compile(r"(?:[\s.!?]+|\s+(?:please|now|right now|again)\b)+$", re.I)
_ALL_FLOWS = frozenset({"all", "everything", "all of them", "all my workflows", "all workflows"})


def _flows(text: str) -> list[str] | None:
    """The workflow or group names of "on billing and sales" (None: all of the member's)."""
    text = _FLOWS_END_RE.sub("", text.strip())
    if text.lower() in _ALL_FLOWS:
        return None
    names = []
    for part in re.split(r"\s*(?:,|&|\band\b|\bplus\b)\s*", text):
        part = re.sub(r"^(?:the|my|our)\s+", "", part.strip(), flags=re.IGNORECASE)
        part = re.sub(r"\s+(?:workflows?|groups?|queues?|team)$", "", part, flags=re.IGNORECASE)
        if part:
            names.append(part)
    return names or None


@answers_only_if(_GO_OFFLINE_RE, _GO_LIVE_RE, _LIVE_WHO_RE)
def live_presence(c: Clause, ctx: Context) -> Outcome | None:
    """ "who is live", "go live on billing and sales", "take me offline"."""
    if c.refs():
        return None
    if _GO_OFFLINE_RE.search(c):
        return _call("set_live", live=False)
    m = _GO_LIVE_RE.search(c)
    if m:
        # The source keeps the user's own spelling of the names.
        flows = _flows(c.source_from(m.start(1))) if m.group(1) else None
        return _call("set_live", live=True, workflows=flows)
    if _LIVE_WHO_RE.search(c):
        return _call("list_live_operators")
    return None


_AVAILABLE = {"available": "available", "online": "available", "on": "available"}
_AVAILABLE |= {w: "offline" for w in ("offline", "unavailable", "away", "off")}
_AVAILABILITY_RES = [
    rx(
        r"\b(?:set|mark|make|put|switch|turn|change)\s+(\S+?)(?:'s|s')?\s+(?:availability\s+)?"
        r"(?:to\s+|as\s+)?(?:be\s+)?(available|online|offline|unavailable|away)\b"
    ),
    rx(r"\b(?:set|mark|make|put|switch|turn)\s+(\S+?)\s+(on|off)line\b"),
]
_SCHEDULE_RE = rx(
    r"\b(?:set|change|make|update|put)\s+(\S+?)(?:'s|s')?\s+(?:work(?:ing)?\s+)?"
    r"(?:schedule|hours|shifts?)\s+(?:to|as|at)\s+(.+)$"
)
_DAY_NAMES = {
    "mon": "mon", "monday": "mon", "tue": "tue", "tues": "tue", "tuesday": "tue",
    "wed": "wed", "wednesday": "wed", "thu": "thu", "thur": "thu", "thurs": "thu",
    "thursday": "thu", "fri": "fri", "friday": "fri", "sat": "sat", "saturday": "sat",
    "sun": "sun", "sunday": "sun",
}  # fmt: skip
_WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = (
    r"(mon(?:day)?|tue(?:s|sday)?|wed(?:nesday)?|thu(?:r|rs|rsday)?|fri(?:day)?|sat(?:urday)?"
    r"|sun(?:day)?)"
)
_CLOCK = r"(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?"


def _clock(hour: str, minute: str | None, half: str | None, *, end_of: int | None) -> int | None:
    """Minutes after midnight; an END without am/pm before its start is in the afternoon."""
    h, m = int(hour), int(minute or 0)
    if h > 24 or m > 59:
        return None
    if half and half.startswith("p") and h < 12:
        h += 12
    elif half and half.startswith("a") and h == 12:
        h = 0
    total = h * 60 + m
    if end_of is not None and not half and total <= end_of and h < 12:
        total += 12 * 60
    return total


def parse_hours(text: str) -> dict[str, Any] | None:
    """ "weekdays 9 to 5", "mon-thu 8:30am-4:30pm", "every day 10-18" as a work schedule."""
    days: tuple[str, ...] | None = None
    if re.search(
        r"\b(?:weekdays?|week days|mon(?:day)?\s*(?:-|to|through|thru)\s*fri(?:day)?)\b", text
    ):
        days = _WEEK[:5]
    elif re.search(r"\b(?:every ?day|daily|all week|7 days)\b", text):
        days = _WEEK
    elif re.search(r"\bweekends?\b", text):
        days = _WEEK[5:]
    else:
        span = re.search(rf"\b{_DAY}\s*(?:-|to|through|thru|\s)\s*{_DAY}\b(?!\s*(?:and|,))", text)
        if span:
            a, b = _WEEK.index(_DAY_NAMES[span.group(1)]), _WEEK.index(_DAY_NAMES[span.group(2)])
            days = _WEEK[a : b + 1] if a <= b else None
        else:
            named = [_DAY_NAMES[d] for d in re.findall(rf"\b{_DAY}\b", text)]
            days = tuple(d for d in _WEEK if d in named) or None
    hours = re.search(rf"\b{_CLOCK}\s*(?:-|to|until|till|\s)\s*{_CLOCK}(?!\w)", text)
    if days is None or hours is None:
        return None
    start = _clock(hours.group(1), hours.group(2), hours.group(3), end_of=None)
    if start is None:
        return None
    end = _clock(hours.group(4), hours.group(5), hours.group(6), end_of=start)
    if end is None or end <= start or end > 24 * 60:
        return None
    shown = [f"{t // 60:02d}:{t % 60:02d}" for t in (start, end)]
    return {"tz": None, "days": {d: [shown] for d in days}}


_NOT_AVAILABILITY_RE = rx(r"\b(?:invit|briefing|digest|summary|report)")


@answers_only_if(_SCHEDULE_RE, *_AVAILABILITY_RES)
def member_availability(c: Clause, ctx: Context) -> Outcome | None:
    """ "set Maria to offline", "mark Priya available", "set Maria's schedule to weekdays 9 to
    5" (the written "Mon-Thu" reaches here as "mon thu": two day names alone are a span)."""
    if c.refs() or _NOT_AVAILABILITY_RE.search(c):
        return None
    m = _SCHEDULE_RE.search(c)
    if m and m.group(1) not in _NOT_MEMBER:
        who = cl.member_at(c, m.start(1))
        if who:
            schedule = parse_hours(m.group(2))
            if schedule is None:
                return _ask(
                    f'What hours should {who} work? For example "weekdays 9 to 5" or '
                    '"Mon-Thu 8:30am to 4:30pm".'
                )
            return _call("update_member", member=who, work_schedule=schedule)
    for pattern in _AVAILABILITY_RES:
        m = pattern.search(c)
        if m and m.group(1) not in _NOT_MEMBER and not m.group(1).startswith("a-"):
            who = cl.member_at(c, m.start(1))
            if who:
                return _call("update_member", member=who, availability=_AVAILABLE[m.group(2)])
    return None


_INTEGRATIONS: list[tuple[str, str]] = [
    (r"twilio(?: line| number| account| integration)?", "twilio"),
    (r"sendgrid", "sendgrid"),
    (r"elevenlabs|eleven labs", "elevenlabs"),
    (r"zendesk", "zendesk"),
    (r"intercom", "intercom"),
    (r"freshdesk|fresh desk", "freshdesk"),
    (r"help scout|helpscout", "helpscout"),
    (r"happyfox|happy fox", "happyfox"),
    (r"dialpad|dial pad", "dialpad"),
    (r"ringcentral|ring central", "ringcentral"),
    (r"aircall|air call", "aircall"),
    (r"quo|openphone|open phone", "quo"),
    (r"vonage|nexmo", "vonage"),
    (r"hubspot", "hubspot"),
    (r"salesforce", "salesforce"),
    (r"shopify", "shopify"),
    (r"gorgias", "gorgias"),
    (r"zapier", "zapier"),
    (r"front", "front"),
    (r"kustomer", "kustomer"),
    (r"slack", "slack"),
    (r"telegram", "telegram"),
    (r"whatsapp|whats app", "whatsapp"),
    (r"sms|text(?:ing)? line", "sms"),
    (r"phone line|voice line|phone|voice|calls", "voice"),
    (r"email|e mail|mail|inbound email", "email"),
    (r"web chat|website chat|chat widget|widget|live chat|website widget", "web_chat"),
]
_INTEGRATION_RE = rx(r"\b(" + "|".join(p for p, _ in _INTEGRATIONS) + r")\b")
_INTEGRATION_NAMES = [(re.compile(rf"^(?:{p})$"), name) for p, name in _INTEGRATIONS]
_OFF_RE = rx(
    r"\b(?:disable|turn off|switch off|shut off|shut down|pause|deactivate|disconnect|kill|unplug|"
    r"mute|suspend|stop|take down|take offline|unlink)\b|\b(?:turn|switch|shut)\b.*\boff\b"
)
_ON_RE = rx(
    r"\b(?:enable|turn on|switch on|activate|reconnect|connect|resume|unpause|start|restart|"
    r"re enable|bring back|link|hook up|reactivate|turn back on)\b|\b(?:turn|switch)\b.*\bon\b"
)


def integration_name(t: cl.Text) -> str | None:
    m = _INTEGRATION_RE.search(t)
    if not m:
        return None
    word = m.group(1)
    return next(name for pattern, name in _INTEGRATION_NAMES if pattern.match(word))


# The providers an account is connected for (help desks and phone lines), as the classifier
# reads them; "connect Zendesk" answers with the console's form, never a toggle.
_PROVIDERS = frozenset(
    {
        "zendesk",
        "freshdesk",
        "intercom",
        "helpscout",
        "happyfox",
        "twilio",
        "dialpad",
        "ringcentral",
        "aircall",
        "quo",
        "vonage",
    }
)
_CONNECT_RE = rx(
    r"^(?:(?:please|can you|could you|can we|how do i|how do we|how can i|how can we|i want to|"
    r"we want to|i need to|we need to|i'd like to|let's|lets|help me|help us) )*"
    r"(?:connect|set up|setup|add|hook up|integrate|plug in|link up|configure|install)\b"
)
_CONNECT_ANY_RE = rx(
    r"^(?:connect|set up|add|hook up) (?:an?|new|another|the) (?:new )?"
    r"(?:integration|help ?desk|phone line|telephony line|line)s?$"
)


@answers_only_if(_CONNECT_ANY_RE, _CONNECT_RE)
def connect_integration(c: Clause, ctx: Context) -> Outcome | None:
    if c.refs():
        return None
    if _CONNECT_ANY_RE.search(c):
        return _call("connect_integration")
    if not _CONNECT_RE.search(c):
        return None
    name = integration_name(c)
    if name not in _PROVIDERS:
        return None
    return _call("connect_integration", provider=name)


@answers_only_if(_OFF_RE, _ON_RE)
def toggle_integration(c: Clause, ctx: Context) -> Outcome | None:
    off = _OFF_RE.search(c)
    on = _ON_RE.search(c)
    if not (off or on) or c.refs():
        return None
    name = integration_name(c)
    if re.match(r"^(?:is|are|was|were|what|which|how)\b", c.s):
        return None
    if name is None:
        if re.search(r"\bintegrations?\b", c.s):
            return _ask("Which integration should I turn " + ("off?" if off else "on?"))
        return None
    enabled = bool(on) and not (off and (not on or off.start() >= on.start()))
    if on and off and re.search(r"\bback on\b|\bon again\b", c.s):
        enabled = True
    return _call("toggle_integration", integration=name, enabled=enabled)


_IMPORT_RE = rx(
    r"\b(?:import|pull in|pull|sync|migrate|bring in|bring over|load|ingest|copy|fetch|transfer)\b"
)
_SOURCES_RE = rx(
    r"\b(zendesk|intercom|freshdesk|help ?scout|happy ?fox|hubspot|gorgias|salesforce|front|"
    r"kustomer|gladly|"
    r"freshchat|livechat|drift|crisp|zoho|servicenow|jira|re amaze|reamaze|helpshift|tawk)\b"
)
_RECORDS = [
    (r"tickets?|cases?", "tickets"),
    (r"conversations?|chats?|threads?", "conversations"),
    (r"contacts?|customers?|users?", "contacts"),
    (r"articles?|help cent(?:er|re)|knowledge base|docs|faqs?|macros? ", "articles"),
    (r"macros?", "macros"),
]


# "How did the Zendesk import go?": a question about an import, not a request for one.
_IMPORT_QUESTION_RE = rx(
    r"\b(?:how(?:'s| is| did| was| far)|status of|progress of|did)\b.*\bimports?\b|"
    r"\bimports?\b.*\b(?:go|going|gone|doing|done|finished|status|progress)\b\s*\??$"
)


@answers_only_if(_IMPORT_RE)
def run_import(c: Clause, ctx: Context) -> Outcome | None:
    verb = _IMPORT_RE.search(c)
    if not verb or c.of_kind("url"):
        return None
    src = _SOURCES_RE.search(c)
    source: str | None = src.group(1).replace(" ", "") if src else None
    if _IMPORT_QUESTION_RE.search(c):
        # The integrations read names each account with its last import's counts.
        return _call("list_integrations", integration=source)
    if source is None:
        frm = re.search(r"\bfrom\s+(?:our\s+|the\s+|my\s+)?(\w+)", c.s)
        if frm and frm.group(1) not in {"the", "last", "yesterday", "today", "this"}:
            source = frm.group(1)
    if source is None:
        if verb.group() == "import":
            return _ask("Where should I import from (Zendesk, Intercom, Freshdesk...)?")
        return None
    records = next((name for p, name in _RECORDS if re.search(rf"\b(?:{p})\b", c.s)), None)
    sm = cl.STATUS_RE.search(c)
    status = cl.STATUS_MAP[sm.group(1)] if sm else None
    return _call("run_import", source=source, records=records, status=status)


_AUDIENCE: list[tuple[cl.Rx, str]] = [
    (
        rx(
            r"\b(?:website|site|web|store|shop)? ?visitors?\b|\beveryone on (?:the |our )?(?:site|"
            r"website)\b|\bpeople on (?:the |our )?(?:site|website)\b"
        ),
        "website_visitors",
    ),
    (
        rx(
            r"\b(?:active|open|ongoing|live|current) (?:conversations|chats)\b|"
            r"\beveryone (?:currently )?chatting\b|\bpeople (?:currently )?chatting\b"
        ),
        "active_conversations",
    ),
    (
        rx(
            r"\b(?:all|every|our)\s+(?:of (?:our|the) )?(?:customers?|users?|contacts?|clients?|"
            r"subscribers?|shoppers?)\b|\beveryone\b|\beverybody\b"
        ),
        "all_customers",
    ),
]
_BROADCAST_RE = rx(
    r"\b(?:broadcast|announce|announcement|blast|tell|notify|message|inform|alert|let|send|email|"
    r"text|warn|post|push)\b"
)


_BROADCAST_NOUN_RE = rx(r"\b(?:an? |the )?(?:broadcast|announcement|blast|mass message)\b")


@answers_only_if(_BROADCAST_RE)
def send_broadcast(c: Clause, ctx: Context) -> Outcome | None:
    verb = _BROADCAST_RE.search(c)
    if not verb or c.refs():
        return None
    audience = None
    aud_end = verb.end()
    for pattern, name in _AUDIENCE:
        m = pattern.search(c)
        if m:
            audience, aud_end = name, max(verb.end(), m.end())
            break
    if audience is None and not re.search(r"\bbroadcast\b|\bannounce", c.s):
        return None
    if audience is None and re.search(
        r"\bbroadcast(?:s|ing)?\b.*\b(?:list|show|history|sent)\b", c.s
    ):
        return None
    word = _BROADCAST_NOUN_RE.search(c)
    if word:
        aud_end = max(aud_end, word.end())
    rest = c.s[aud_end:]
    rest = re.sub(r"^\s*(?:know\b)?", "", rest)
    start = len(c.s) - len(rest)
    text = cl.free_text(c, start)
    if text is None:
        return _ask("What should the broadcast say?", free_text=True)
    return Outcome(
        calls=[("send_broadcast", {"message": text, "audience": audience, "channel": None})],
        free_text=True,
    )


_SEND_TO_RE = rx(
    r"\b(?:send|forward|share|email|mail|text|post|push|dm|message|slack|whatsapp|telegram|deliver|"
    r"copy|pass|ping|drop|shoot|fire)\b"
)
_OBJECT_RE = rx(
    r"\b(?:that|this|it|them|those|these)\b(?! (?:week|month|morning|afternoon|evening|year))|"
    r"\b(?:the (?:result|results|report|chart|answer|numbers|list|summary|above|last one|same|file|"
    r"spreadsheet|pdf|data|breakdown|graph|table|stats)|a copy|over|the last (?:answer|result|"
    r"report|message))\b|^(?:send|forward|share|post)\s+(?:to|on|via)\b"
)


@answers_only_if(_SEND_TO_RE)
def send_to(c: Clause, ctx: Context) -> Outcome | None:
    verb = _SEND_TO_RE.match(c)
    if not verb or c.refs() or (cl.briefing(c) and cl.frequency(c)):
        return None
    if not _OBJECT_RE.search(c, verb.start()):
        return None
    address: str | None = None
    emails, phones = c.of_kind("email"), c.of_kind("phone")
    chan = cl.channel(c, loose=True)
    if emails:
        address, chan = emails[0], chan or "email"
    elif phones:
        address = phones[0]
        chan = chan or ("whatsapp" if re.search(r"\bwhatsapp\b", c.s) else "sms")
    else:
        hashtag = re.search(r"#\s*([a-z][\w-]*)", c.s)
        if hashtag:
            address = "#" + hashtag.group(1)
            chan = chan or "slack"
        else:
            to = re.search(r"\bto\s+(\w+)(?:\s+on\s+\w+)?\s*[.!]*$", c.s)
            if to and to.group(1) not in cl.NAME_STOP and to.group(1) not in cl.CHANNEL_MAP:
                address = cl.member_at(c, to.start(1))
    if chan is None and address is None:
        if re.search(r"\b(?:me|us)\b", c.s) and verb.group() in cl.CHANNEL_MAP:
            chan = cl.CHANNEL_MAP[verb.group()]
        else:
            if verb.group() in {"send", "forward", "share"} and re.search(
                r"^(?:send|forward|share)\s+(?:that|this|it)\s*$", c.s.strip(" .!")
            ):
                return _ask("Where should I send it: which channel or address?")
            return None
    return _call("send_to", channel=chan, address=address)


# --- reads --------------------------------------------------------------------------------------

_REPORT_RE = rx(
    r"\breports?\b|\bexport\b|\bpdf\b|\bxlsx\b|\bcsv\b|\bdownload(?:able)?\b|\bsheets?\b|\bp d f\b"
)
_REPORT_TYPES: list[tuple[cl.Rx, str]] = [
    (rx(r"\bknowledge gaps?\b|\bgaps?\b|\bunanswered\b"), "knowledge_gaps"),
    (rx(r"\broi\b|\bsavings\b|\breturn on investment\b"), "roi"),
    (rx(r"\btopics?\b|\bcategories\b|\bcontact reasons\b"), "topics"),
    (rx(r"\bworkload\b"), "workload"),
    (rx(r"\bcsat\b|\bsatisfaction\b|\bratings\b"), "csat"),
    (rx(r"\binbox\b"), "inbox"),
    (rx(r"\bassists\b|\btickets\b|\bcases\b"), "assists"),
]


@answers_only_if(_REPORT_RE)
def run_report(c: Clause, ctx: Context) -> Outcome | None:
    if not _REPORT_RE.search(c):
        return None
    if re.search(r"\bbug report\b|\breport (?:a|an) (?:bug|issue|problem)\b", c.s):
        return None
    report = next((name for p, name in _REPORT_TYPES if p.search(c)), "performance")
    return _call("run_report", report=report, period=cl.period(c), format=cl.report_format(c))


_HISTORY_RE = rx(
    r"\bhistory\b|\baudit(?: log| trail)?\b|\bchange ?log\b|\bwhat (?:did|have) you (?:do|done|"
    r"change|changed|make|made|run|ran|execute|executed)\b|\brecent (?:changes|actions|activity)\b|"
    r"\bwhat you (?:did|changed|have changed|have done|made|ran|executed)\b|\bwhat (?:changed|"
    r"has changed|was changed|got changed|changes)\b|\bwhat have you been (?:doing|up to)\b|"
    r"\blog of (?:changes|actions)\b|\bactivity log\b|\blast (?:changes|actions)\b|"
    r"\bchanges (?:you|were) made\b|\b(?:list|show) (?:me )?(?:the |recent |all )?changes\b"
)


@answers_only_if(_HISTORY_RE)
def show_history(c: Clause, ctx: Context) -> Outcome | None:
    if not _HISTORY_RE.search(c) or c.refs():
        return None
    return _call("show_history", period=cl.period(c))


_LIST_INTEGRATIONS_RE = rx(
    r"\bintegrations?\b|\bconnected\b|\bconnections\b|\bwhat (?:channels|apps|tools|"
    r"services) (?:are|do we have|have we)\b|\bhooked up\b|\bplugged in\b"
)
_IS_ON_RE = rx(r"^(?:is|are)\b.*\b(?:on|off|working|live|enabled|active|set up|running|up|down)\b")


@answers_only_if(_LIST_INTEGRATIONS_RE, _IS_ON_RE)
def list_integrations(c: Clause, ctx: Context) -> Outcome | None:
    if not _LIST_INTEGRATIONS_RE.search(c):
        is_on = _IS_ON_RE.search(c)
        if not (is_on and integration_name(c)):
            return None
    name = integration_name(c)
    return _call("list_integrations", integration=name)


_CONFIG_READ_RE = rx(
    r"\b(?:agent|bot|assistant|ai)(?:s)? (?:config|configuration|settings|setup|set up|persona|"
    r"profile|personality|prompt|instructions)\b|\bsettings\b|\bconfig(?:uration)?\b|"
    r"\bhow is the (?:agent|bot|ai) (?:set up|configured)\b"
)


@answers_only_if(*(p for p, _ in _CONFIG_FIELDS), _CONFIG_READ_RE)
def get_agent_config(c: Clause, ctx: Context) -> Outcome | None:
    found = _config_field(c)
    generic = _CONFIG_READ_RE.search(c)
    if not found and not generic:
        return None
    if (
        found
        and not generic
        and not re.search(
            r"\b(?:what|which|show|tell|see|view|current|say|says|how|read|check|is|display|get)\b",
            c.s,
        )
    ):
        return None
    if found and found[0] == "name" and not re.search(r"\b(?:agent|bot|assistant|ai)\b", c.s):
        found = None
    return _call("get_agent_config", field=found[0] if found else None)


_LIST_SUGGESTIONS_RE = rx(
    r"\bsuggest(?:ion|ions|ed)\b|\bwhat should (?:we|i) (?:train|teach)\b|\b(?:review|"
    r"approve)\b.*\btraining\b|\btraining\b.*\b(?:review|approval|waiting)\b"
)


@answers_only_if(_LIST_SUGGESTIONS_RE)
def list_training_suggestions(c: Clause, ctx: Context) -> Outcome | None:
    if not _LIST_SUGGESTIONS_RE.search(c):
        return None
    status = None
    if re.search(r"\bapproved\b", c.s):
        status = "approved"
    elif re.search(r"\brejected\b", c.s):
        status = "rejected"
    elif re.search(r"\b(?:pending|waiting|new|open|review|unreviewed)\b", c.s):
        status = "pending"
    return _call("list_training_suggestions", status=status)


_WORKLOAD_RE = rx(
    r"\bwork ?load\b|\bbusiest\b|\boverloaded\b|\bswamped\b|\bcapacity\b|\bmost (?:open |pending |"
    r"urgent )?(?:assists|tickets|cases|work)\b|\b(?:least|fewest) (?:open )?(?:assists|tickets|"
    r"cases|work)\b|\b(?:assists|tickets|cases) (?:per|by) (?:person|member|agent|teammate|head|"
    r"assignee)\b|\bwho has (?:the )?(?:most|least|fewest|how many)\b|\bhow many (?:open |"
    r"pending )?(?:assists|tickets|cases) (?:does|do|has|have|is)\b|\bon (?:\S+ )?plate\b|"
    r"\bhow busy is\b|\bdistribution of (?:assists|work)\b|\bload\b|\bworking on\b|\bhow (?:loaded|"
    r"swamped|slammed|overloaded|stretched) (?:is|are)\b"
)
_WORKLOAD_MEMBER_RES = [
    rx(r"\b(\S+) (?:current )?(?:work ?load|plate|load|queue)\b"),
    rx(r"\b(?:work ?load|load) (?:of|for)\s+(\S+)"),
    rx(r"\bhow (?:busy|loaded|swamped|slammed|overloaded|stretched) is\s+(\S+)"),
    rx(r"\b(?:does|do|has|have|is)\s+(\S+)\s+(?:have|got|handling|working|assigned)\b"),
    rx(r"\bon\s+(\S+) plate\b"),
    rx(r"\b(?:is|are)\s+(\S+)\s+working on\b"),
]
_NOT_WORKLOAD_MEMBER = words(
    """
    the our team current agent agents everyone their your his her whole overall support inbox
    each member per person there we they it of who what is has have does
    """
)


@answers_only_if(_WORKLOAD_RE)
def agent_workload(c: Clause, ctx: Context) -> Outcome | None:
    if not _WORKLOAD_RE.search(c):
        return None
    member = None
    if re.search(r"\bmy (?:work ?load|plate|queue|load)\b", c.s):
        member = "me"
    for pattern in _WORKLOAD_MEMBER_RES:
        if member:
            break
        m = pattern.search(c)
        if m and m.group(1) not in _NOT_WORKLOAD_MEMBER and m.group(1) not in cl.NAME_STOP:
            member = cl.member_at(c, m.start(1))
    return _call("get_agent_workload", member=member)


_QUEUE_HEALTH_RE = rx(
    r"\b(?:queue|backlog|inbox) (?:health|trend)\b|\bhealth of (?:the |our )?(?:queue|backlog)\b|"
    r"\bhow(?: is|'s|s| are| does| big is| bad is| long is| large is) (?:the |our |my )?"
    r"(?:assist |support |inbox )?(?:queue|backlog)\b|"
    r"\b(?:is|has) (?:the |our )?(?:queue|backlog) (?:growing|shrinking|grown|shrunk|getting|"
    r"going|looking|ok|okay|healthy|under control)\b|"
    r"\b(?:anything|something|anyone|anybody|assists?|tickets?|cases?|what'?s?|what is) "
    r"(?:still |currently |left |sitting |waiting )*(?:waiting|sitting|left|stuck) "
    r"(?:around )?(?:unassigned|without (?:an? )?(?:owner|assignee))\b|"
    r"\boldest unassigned\b|\bhow long (?:has|have) (?:the )?unassigned\b"
)


@answers_only_if(_QUEUE_HEALTH_RE)
def queue_health(c: Clause, ctx: Context) -> Outcome | None:
    """ "how is the queue", "how's the backlog", "anything waiting unassigned?"."""
    if not _QUEUE_HEALTH_RE.search(c):
        return None
    return _call("get_queue_health")


_LIST_VERB_RE = rx(
    r"\b(?:show|list|display|get|pull up|pull|see|view|which|what|any|are there|give me|find|"
    r"how many|fetch|bring up|search|filter|lookup|look up|check|do we have|is there)\b"
)
_ASSISTS_RE = rx(
    r"\b(?:assists?|tickets?|cases?|escalations|backlog|assist queue|inbox items)\b|\b(?:in|"
    r"on) (?:the |my |our )?(?:queue|inbox)\b|\bthe queue\b|\bmy queue\b"
)
_LIMIT_RE = rx(
    r"\b(?:top|first|last|latest|oldest|newest)\s+(\d{1,3})\b|\b(\d{1,3}) (?:most recent|latest|"
    r"newest|oldest)\b"
)


@answers_only_if(_ASSISTS_RE)
def list_assists(c: Clause, ctx: Context) -> Outcome | None:
    if not _ASSISTS_RE.search(c) or c.refs():
        return None
    filters = _assist_filter(c)
    if not (_LIST_VERB_RE.search(c) or filters):
        return None
    lm = _LIMIT_RE.search(c)
    if lm:
        filters["limit"] = int(lm.group(1) or lm.group(2))
    if filters.get("category") in cl.NAME_STOP:
        del filters["category"]
    return _call("list_assists", **filters)


_SHOW_RE = rx(
    r"\b(?:show|open|view|pull up|pull|look|details?|what is|status|tell me about|information|"
    r"summary|summari[sz]e|check|display|get|see|find|history of|what happened|what about|going on|"
    r"read|how is|where is|who is)\b"
)


@answers_only_if(_SHOW_RE)
def show_assist(c: Clause, ctx: Context) -> Outcome | None:
    refs = c.refs()
    if not refs or not _SHOW_RE.search(c):
        return None
    return Outcome(calls=[("show_assist", {"assist": r}) for r in refs])


def bare_ref(c: Clause, ctx: Context) -> Outcome | None:
    refs = c.refs()
    words = [t for t in c.tokens if t.kind in {"word", "num"}]
    if not refs or len(words) > 4:
        return None
    return Outcome(calls=[("show_assist", {"assist": r}) for r in refs])


_INBOX_PERF_RE = rx(
    r"\b(?:ai )?inbox\b.*\b(?:doing|performance|performing|going|stats|statistics|numbers|metrics|"
    r"look|looking|health|healthy|kpis?|perform|holding up)\b|\bhow (?:is|was|are|were|did|"
    r"does) (?:the |our )?(?:ai )?inbox\b|\binbox (?:performance|stats|metrics|numbers|health|"
    r"kpis?)\b|\bteam performance\b|\bhow (?:is|are|was|were) (?:the |our )?(?:team|support team|"
    r"agents|human agents|assists|people)\b.*\b(?:doing|performing|going|handling|getting on)\b|"
    r"\bhow (?:is|was|are) we doing\b|\bhow are we (?:performing|getting on)\b"
)
_MEMBER_PERF_RE = rx(r"\bhow (?:is|was|has) (\S+) (?:been )?(?:doing|performing|getting on)\b")


@answers_only_if(_INBOX_PERF_RE, _MEMBER_PERF_RE)
def inbox_performance(c: Clause, ctx: Context) -> Outcome | None:
    member = None
    mm = _MEMBER_PERF_RE.search(c)
    if (
        mm
        and mm.group(1) not in cl.NAME_STOP
        and mm.group(1) not in {"inbox", "team", "we", "everyone", "everything"}
    ):
        member = cl.member_at(c, mm.start(1))
    if not _INBOX_PERF_RE.search(c) and member is None:
        return None
    return _call("get_inbox_performance", period=cl.period(c), member=member)


_PATTERNS_RE = rx(
    r"\bpatterns?\b|\brecurring\b|\btrends?\b|\btrending\b|(?<!most )\bcommon (?:issues?|problems?|"
    r"complaints?|threads?|causes?|pain points?|themes?)\b|\broot causes?\b|\brepeat(?:ed|"
    r"ing)? (?:issues|problems|complaints)\b|\bwhy (?:are|do|did|is|were|"
    r"have) (?:so many )?(?:customers|people|users|things|conversations|we|escalations)\b|"
    r"\bbehind (?:the |all (?:the |these |those )?|these |those |recent |so many )*(?:escalations|"
    r"complaints|spike|increase|rise|drop)\b|\bspikes?\b|\banomal\w*\b|\bwhat (?:is|has) (?:going|"
    r"gone) wrong\b|\bsame (?:issue|problem|complaint)\b|\bclusters?\b|\bkeeps? (?:coming up|"
    r"happening)\b|\bthemes?\b.*\b(?:escalations|complaints)\b|\banaly[sz]e\b|\banalysis\b|"
    r"\binsights?\b"
)
_FOCUS: list[tuple[cl.Rx, str]] = [
    (rx(r"\bescalat\w*|\bhand ?offs?\b"), "escalations"),
    (rx(r"\bcomplain\w*|\bfeedback\b|\bratings?\b|\breviews?\b|\bcsat\b|\bunhappy\b"), "feedback"),
    (rx(r"\bassists?\b|\btickets?\b|\bcases?\b"), "assists"),
    (rx(r"\bconversations?\b|\bchats?\b|\bmessages\b"), "conversations"),
]


@answers_only_if(_PATTERNS_RE)
def analyze_patterns(c: Clause, ctx: Context) -> Outcome | None:
    m = _PATTERNS_RE.search(c)
    if not m:
        return None
    if m.group().startswith("trend") and re.search(r"\b(?:topics?|questions|asking)\b", c.s):
        return None  # "what's trending in customer questions" asks for topics
    focus = next((name for p, name in _FOCUS if p.search(c)), None)
    return _call("analyze_patterns", focus=focus, period=cl.period(c))


_GAPS_RE = rx(
    r"\bknowledge gaps?\b|\bgaps?\b|\bunanswered\b|\bunresolved questions\b|\b(?:could not|cannot|"
    r"did not|failed to|unable to|was not able to|were not able to|does not|do not) (?:answer|"
    r"respond to|resolve|help with|handle|know)\b|\bmissing (?:answers|knowledge|content|docs|"
    r"articles|information|info)\b|\bwhat (?:does not|did not) (?:the )?(?:agent|bot|ai) know\b|"
    r"\bstumped\b|\b(?:not|no) (?:have )?(?:an? )?(?:good )?answers? (?:for|to)\b|"
    r"\bmissing (?:from|in) (?:the |our )?(?:knowledge|kb|docs|help cent|faq|training)|"
    r"\bwhat (?:is|are) (?:we |the (?:agent|bot|ai) )?missing\b|\bno answer (?:for|to)\b|"
    r"\bquestions (?:the )?(?:agent|bot|ai) (?:missed|could not|cannot|did not)\b|\b(?:could not|"
    r"cannot|did not|does not|was not able to|failed to) (?:the |our )?(?:agent|bot|"
    r"ai)\b.*\b(?:answer|respond|resolve|handle|know)\b|\b(?:agent|bot|ai) (?:is |was |has been |"
    r"keeps )?(?:fail|failed|fails|failing|struggle|struggled|struggles|struggling|missed|missing|"
    r"stuck|stumped)\b"
)


@answers_only_if(_GAPS_RE)
def knowledge_gaps(c: Clause, ctx: Context) -> Outcome | None:
    if not _GAPS_RE.search(c):
        return None
    lm = _LIMIT_RE.search(c)
    return _call(
        "get_knowledge_gaps",
        period=cl.period(c),
        limit=int(lm.group(1) or lm.group(2)) if lm else None,
    )


_TOPICS_RE = rx(
    r"\btopics?\b|\btrending\b|\b(?:asking|ask|asked|asks|writing|write|wrote|contacting us|"
    r"contact us|calling|talking|chatting|complaining|emailing|reaching out|messaging|"
    r"inquiring) (?:us |in |out )?(?:about|for|regarding)\b|\bcontact reasons?\b|\breasons? (?:for|"
    r"why) (?:contact|people|customers)\b|\bmost common (?:questions|requests|reasons|issues|"
    r"topics|inquiries|enquiries|things|problems|complaints|subjects)\b|\bbreakdown\b|"
    r"\bcategor(?:y|ies)\b|\bwhat (?:do|are|did) (?:customers|people|users|folks|they) (?:want|"
    r"need|asking|ask)\b|\btop (?:questions|requests|inquiries|enquiries|reasons|issues|subjects|"
    r"\d+ (?:topics|questions|issues|reasons|requests))\b|\bwhy (?:do |are )?(?:customers|"
    r"people) (?:contact|write|call|reach)\b|\bwhat (?:are|were) (?:the )?(?:conversations|chats|"
    r"tickets) about\b|\bthemes?\b"
)


@answers_only_if(_TOPICS_RE)
def topic_breakdown(c: Clause, ctx: Context) -> Outcome | None:
    if not _TOPICS_RE.search(c):
        return None
    lm = _LIMIT_RE.search(c)
    return _call(
        "get_topic_breakdown",
        period=cl.period(c),
        limit=int(lm.group(1) or lm.group(2)) if lm else None,
    )


_CHANNEL_PREP_RE = rx(r"\b(?:on|via|over|through|from|in)\b")


@answers_only_if(*(p for p, _ in cl.METRIC_RULES))
def get_metrics(c: Clause, ctx: Context) -> Outcome | None:
    found = cl.metrics(c)
    if not found:
        return None
    per = cl.period(c)
    chan = cl.channel(c) if _CHANNEL_PREP_RE.search(c) else None
    return Outcome(
        calls=[("get_metrics", {"metric": m, "period": per, "channel": chan}) for m in found]
    )


_TEAM_RE = rx(
    r"\bteam\b|\bmembers?\b|\bstaff\b|\bcolleagues\b|\bwho works\b|\busers\b|\bemployees\b|"
    r"\bteammates\b|\bseats\b|\bwho (?:are|is) (?:the |our )?(?:admins?|owners?|managers?|"
    r"support(?: agents?)?|agents)\b|\blist (?:the |all |our )?(?:admins|managers|owners|agents)\b|"
    r"\bwho (?:has|have) (?:access|admin)\b|\bwho (?:can|is) (?:log in|logged in|"
    r"in the workspace)\b"
)


@answers_only_if(_TEAM_RE)
def list_team(c: Clause, ctx: Context) -> Outcome | None:
    if not _TEAM_RE.search(c) or not re.search(
        r"\b(?:who|list|show|what|which|display|see|view|get|give me|how many|tell me|is|are)\b",
        c.s,
    ):
        return None
    role = None
    rm = re.search(r"\b(owners|admins|administrators|managers|support(?: agents)?|agents)\b", c.s)
    if rm:
        role = cl.ROLE_MAP[rm.group(1).split()[0]]
    return _call("list_team", role=role)


_HELP_RE = rx(
    r"^help\b|\bhelp me\s*$|\bwhat (?:can|could) (?:you|i) (?:do|ask|say|use)\b|\bwhat (?:do|"
    r"are) you (?:do|for|able to do|capable of|good at)\b|\bhow (?:do|does|can) (?:this|it|you|"
    r"i use (?:this|you)) work\b|\b(?:commands|capabilities|features)\b|\bwho are you\b|"
    r"\bwhat are you\b|\bhow do i use\b|\bwhat else can you\b|\bhow can you help\b|\bmenu\b|"
    r"\bwhat (?:can|should) i (?:ask|say|type)\b|\bwhat are (?:my|the) options\b|\bhelp\s*[?!.]*$|"
    r"\bi need help\b|\binstructions\b|\bhow does this work\b|\bwhat is possible\b|"
    r"\bcan you help(?: me| us)? with\b|\bwhat (?:kind of |sort of |other )?things (?:can|do) you\b"
)


@answers_only_if(_HELP_RE)
def help_intent(c: Clause, ctx: Context) -> Outcome | None:
    if not _HELP_RE.search(c):
        return None
    return _call("help")


# Order matters: specific writes before generic ones, writes before reads, bare refs last.
RULES: tuple[Rule, ...] = (
    control,
    live_presence,
    restore_snapshot,
    approve_training_suggestion,
    qa_pair,
    api_key,
    cancel_invitation,
    add_training_source,
    promote_assist,
    reply_to_assist,
    add_internal_note,
    snooze_assist,
    update_agent_config,
    member_availability,
    schedules,
    bulk_update,
    reopen_or_status,
    close_assist,
    assign_assist,
    set_priority,
    update_member,
    invite_member,
    connect_integration,
    toggle_integration,
    run_import,
    send_broadcast,
    send_to,
    show_history,
    run_report,
    list_integrations,
    get_agent_config,
    list_training_suggestions,
    queue_health,
    agent_workload,
    show_assist,
    analyze_patterns,
    list_assists,
    inbox_performance,
    knowledge_gaps,
    topic_breakdown,
    get_metrics,
    list_team,
    help_intent,
    bare_ref,
)

# RULES, each with the words a clause needs for it to answer (None: tried on every clause).
GATED_RULES: tuple[tuple[Rule, frozenset[str] | None], ...] = tuple(
    (rule, _RULE_NEEDS.get(rule)) for rule in RULES
)

WRITE_LIKE = frozenset(
    {
        "reply_to_assist",
        "add_internal_note",
        "send_broadcast",
        "update_agent_config",
        "edit_qa_pair",
    }
)
