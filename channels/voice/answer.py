"""One turn's replies as a call says them: what is spoken, what goes to the caller's text
channel instead (files, long lists, anything over a minute of speech), and the proposal that
now waits for a spoken yes or no."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from core.processing.speech import count_words, first_words, for_the_ear
from models.deliverable import Deliverable

MAX_SPOKEN_WORDS = 60  # about 25 seconds of speech: more goes by text
MAX_TURN_WORDS = 100  # all of one turn's replies together
PREVIEW_WORDS = 35  # what is still said of a pushed answer
LIST_PREVIEW = 3
NOWHERE_WORDS = 150  # nowhere to push: say more, but not everything
APPROVAL_PROMPT = "Say yes to approve or no to cancel."
PLACES = {
    "sms": "your phone by text",
    "whatsapp": "your WhatsApp",
    "email": "your email",
    "slack": "Slack",
    "telegram": "Telegram",
}


@dataclass(frozen=True, slots=True)
class Push:
    """A reply that goes to the caller's text channel, and how the call names it."""

    deliverable: Deliverable
    noun: str


@dataclass(frozen=True, slots=True)
class Answer:
    spoken: tuple[str, ...]
    pushes: tuple[Push, ...]
    proposal_id: str | None  # read back now, waiting for yes or no
    decided: bool  # a proposal was approved or rejected by this turn

    @property
    def text(self) -> str:
        return " ".join(part for part in self.spoken if part)


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".?!" else text + "."


def proposal_speech(proposal: dict[str, Any], *, today: date | None = None) -> str:
    """A proposal read back: what it does, the change itself when it is one or two, and the
    question ("Set A 10 45 to urgent priority. A 10 45 priority: low to urgent. Say yes...")."""
    summary = str(proposal.get("summary") or "a change")
    parts = [_sentence(for_the_ear(summary, today=today))]
    changes = [c for c in proposal.get("changes") or [] if isinstance(c, dict)]
    count = proposal.get("estimated_count")
    if count is None and 0 < len(changes) <= 2:
        for change in changes:
            line = f"{change.get('label')}: {change.get('before')} → {change.get('after')}"
            parts.append(_sentence(for_the_ear(line, today=today)))
    elif isinstance(count, int) and str(count) not in summary:
        parts.append(f"It changes {count} {'item' if count == 1 else 'items'}.")
    parts.append(APPROVAL_PROMPT)
    return " ".join(parts)


def _noun(deliverable: Deliverable) -> str:
    if deliverable.kind == "file":
        name = f"{deliverable.title or ''} {deliverable.text}".lower()
        return "the report" if "report" in name else "the file"
    if deliverable.kind == "list":
        return "the full list"
    if deliverable.kind == "card":
        return "the details"
    return "the full answer"


def _list_preview(deliverable: Deliverable, today: date | None) -> str:
    lines = [line for line in deliverable.text.splitlines() if line.strip()]
    header = deliverable.title or ""
    if lines and not lines[0].lstrip().startswith(("-", "*", "•")):
        header = lines[0]
    items = [for_the_ear(item, today=today) for item in deliverable.items[:LIST_PREVIEW]]
    said = _sentence(for_the_ear(header, today=today)) if header else ""
    if items:
        said += f" The first {len(items)}: " + " ".join(_sentence(i) for i in items)
    return said.strip()


def _card_preview(deliverable: Deliverable, today: date | None) -> str:
    fields = [f"{f.label}: {f.value}" for f in deliverable.fields[:2]]
    text = "\n".join([deliverable.title or "", *fields])
    return first_words(for_the_ear(text, today=today), PREVIEW_WORDS)


def _decided_speech(deliverable: Deliverable, today: date | None) -> str:
    """An approval's outcome: its first line, and the undo hint, which still matters on a
    call; the list of applied changes only when it is short."""
    full = for_the_ear(deliverable.text, today=today)
    if count_words(full) <= MAX_SPOKEN_WORDS:
        return full
    lines = deliverable.text.splitlines()
    kept = [lines[0], *(line for line in lines[1:] if "undo" in line.lower())]
    return for_the_ear("\n".join(kept), today=today)


def plan_answer(
    deliverables: Sequence[Deliverable], *, can_push: bool, today: date | None = None
) -> Answer:
    """Split a turn's replies into speech and pushes. CAN_PUSH: the caller has a text
    channel; without one, longer answers are read out (up to a limit) instead."""
    spoken: list[str] = []
    pushes: list[Push] = []
    proposal_id: str | None = None
    decided = False
    for deliverable in deliverables:
        proposal = deliverable.data.get("proposal")
        pending = isinstance(proposal, dict) and proposal.get("status") == "pending"
        if isinstance(proposal, dict) and pending and deliverable.kind == "proposal":
            spoken.append(proposal_speech(proposal, today=today))
            proposal_id = str(proposal.get("id")) if proposal.get("id") else None
            continue
        if isinstance(proposal, dict) and proposal.get("status") not in (None, "pending"):
            decided = True
            spoken.append(_decided_speech(deliverable, today))
            continue
        if deliverable.kind == "file":
            if can_push:
                pushes.append(Push(deliverable, _noun(deliverable)))
            else:
                spoken.append("The file is ready, but I have no text channel to send it to.")
            continue
        full = for_the_ear(deliverable.text, today=today)
        room = MAX_TURN_WORDS - sum(count_words(part) for part in spoken)
        if count_words(full) <= min(MAX_SPOKEN_WORDS, room):
            spoken.append(full)
        elif not can_push:
            spoken.append(first_words(full, NOWHERE_WORDS))
        else:
            if deliverable.kind == "list" and deliverable.items:
                spoken.append(_list_preview(deliverable, today))
            elif deliverable.kind == "card" and deliverable.fields:
                spoken.append(_card_preview(deliverable, today))
            else:
                spoken.append(first_words(full, PREVIEW_WORDS))
            pushes.append(Push(deliverable, _noun(deliverable)))
    return Answer(tuple(spoken), tuple(pushes), proposal_id, decided)


def where_notice(pushes: Sequence[Push], channel: str) -> str:
    """ "I've sent the report and the full list to your phone by text." """
    nouns = list(dict.fromkeys(p.noun for p in pushes))
    if not nouns:
        return ""
    named = nouns[0] if len(nouns) == 1 else ", ".join(nouns[:-1]) + " and " + nouns[-1]
    return f"I've sent {named} to {PLACES.get(channel, channel)}."
