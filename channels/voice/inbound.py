"""Reading Twilio Voice webhooks: the call, the speech of one turn, a voicemail; and what a
caller's words mean for the call (yes, no, done, or a request)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from multidict import MultiDictProxy

from channels.twilio_common import E164, MalformedWebhook

Intent = Literal["yes", "no", "done", "request", "silence"]

CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
RECORDING_SID = re.compile(r"^RE[0-9a-fA-F]{32}$")
FINAL_STATUSES = frozenset(("completed", "busy", "no-answer", "failed", "canceled"))
MAX_SPEECH = 2000  # Twilio's speech results are short; refuse the absurd
MAX_TURNS = 500
MAX_TRANSCRIPT = 20_000

_POLITE = re.compile(
    r"\b(please|thanks|thank you|thank you very much|thanks a lot|cheers|"
    r"that's great|great|perfect|ok|okay|alright|all right)\b"
)
_YES = frozenset(
    (
        "yes",
        "yeah",
        "yep",
        "yup",
        "sure",
        "approve",
        "approved",
        "approve it",
        "confirm",
        "confirmed",
        "correct",
        "go ahead",
        "do it",
        "yes do it",
        "yes go ahead",
        "yes approve",
        "yes approve it",
        "absolutely",
        "of course",
        "affirmative",
    )
)
_NO = frozenset(
    (
        "no",
        "nope",
        "nah",
        "cancel",
        "cancel it",
        "reject",
        "reject it",
        "don't",
        "do not",
        "don't do it",
        "no don't",
        "no cancel",
        "no cancel it",
        "never mind",
        "stop",
    )
)
_DONE = frozenset(
    (
        "that's all",
        "that is all",
        "that's it",
        "that is it",
        "that'll be all",
        "that will be all",
        "nothing else",
        "nothing",
        "no that's all",
        "no that's it",
        "no nothing else",
        "i'm done",
        "i am done",
        "we're done",
        "all done",
        "done",
        "goodbye",
        "good bye",
        "bye",
        "bye bye",
        "bye now",
        "hang up",
        "no more",
    )
)


@dataclass(frozen=True, slots=True)
class CallEvent:
    """A Voice webhook about one call: its start, a status change, or one turn's speech."""

    call_sid: str
    caller: str  # `From`: E.164, or "anonymous", "client:...", "sip:..."
    called: str  # `To`: our number
    status: str  # CallStatus, lower case
    speech: str | None  # SpeechResult (None when this is not a Gather result, or silence)

    @property
    def caller_number(self) -> str | None:
        """The caller's E.164 number; None when withheld or not a phone."""
        return self.caller if E164.match(self.caller) else None

    @property
    def ended(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True, slots=True)
class Voicemail:
    """A `<Record>` result (the recording) or its transcription callback."""

    call_sid: str
    recording_sid: str
    caller: str
    called: str
    recording_url: str | None
    duration: int | None
    transcription: str | None  # the text, once Twilio transcribed it
    transcription_status: str | None  # completed|failed on the transcription callback

    @property
    def caller_number(self) -> str | None:
        return self.caller if E164.match(self.caller) else None

    @property
    def is_transcription(self) -> bool:
        return self.transcription_status is not None


@dataclass(frozen=True, slots=True)
class TurnQuery:
    """Where a Gather result or a hold belongs: `?turn=N&wait=K&silent=S` on our own URLs."""

    turn: int = 1
    wait: int = 0  # how many holds ("one moment") this turn has had
    silent: int = 0  # how many times in a row the caller said nothing


def _required(params: MultiDictProxy[str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise MalformedWebhook(f"{name} is missing")
    return value


def _call_sid(params: MultiDictProxy[str]) -> str:
    sid = _required(params, "CallSid")
    if not CALL_SID.match(sid):
        raise MalformedWebhook(f"CallSid {sid[:40]!r} is not a Twilio call sid")
    return sid


def _party(params: MultiDictProxy[str], name: str) -> str:
    value = params.get(name, "").strip() or "anonymous"
    if len(value) > 64:
        raise MalformedWebhook(f"{name} is longer than 64 characters")
    return value


def parse_call(params: MultiDictProxy[str]) -> CallEvent:
    """The call in a Voice webhook.

    Raises:
        MalformedWebhook: CallSid missing or malformed, To not a number, speech too long.
    """
    called = _required(params, "To")
    if not E164.match(called):
        raise MalformedWebhook(f"To {called[:40]!r} is not a phone number in E.164 form")
    speech = params.get("SpeechResult")
    if speech is not None:
        if len(speech) > MAX_SPEECH:
            raise MalformedWebhook(f"SpeechResult is longer than {MAX_SPEECH} characters")
        speech = " ".join(speech.split()) or None
    return CallEvent(
        call_sid=_call_sid(params),
        caller=_party(params, "From"),
        called=called,
        status=params.get("CallStatus", "").strip().lower(),
        speech=speech,
    )


def parse_voicemail(params: MultiDictProxy[str]) -> Voicemail:
    """A recording or transcription callback.

    Raises:
        MalformedWebhook: a sid missing or malformed, a bad duration or an over-long text.
    """
    call = parse_call(params)
    recording_sid = _required(params, "RecordingSid")
    if not RECORDING_SID.match(recording_sid):
        raise MalformedWebhook(f"RecordingSid {recording_sid[:40]!r} is not a recording sid")
    duration_text = params.get("RecordingDuration", "").strip()
    if duration_text and not (duration_text.isascii() and duration_text.isdigit()):
        raise MalformedWebhook("RecordingDuration must be a number of seconds")
    text = params.get("TranscriptionText")
    if text is not None and len(text) > MAX_TRANSCRIPT:
        raise MalformedWebhook(f"TranscriptionText is longer than {MAX_TRANSCRIPT} characters")
    status = params.get("TranscriptionStatus", "").strip().lower() or None
    url = params.get("RecordingUrl", "").strip() or None
    if url is not None and not url.startswith(("https://", "http://")):
        raise MalformedWebhook("RecordingUrl is not a URL")
    return Voicemail(
        call_sid=call.call_sid,
        recording_sid=recording_sid,
        caller=call.caller,
        called=call.called,
        recording_url=url,
        duration=int(duration_text) if duration_text else None,
        transcription=" ".join(text.split()) if text and status == "completed" else None,
        transcription_status=status,
    )


def parse_turn(query: Mapping[str, str]) -> TurnQuery:
    """Our own query parameters (they are signed with the URL, so only bounds are checked).

    Raises:
        MalformedWebhook: a value that is not a small number.
    """
    values = {}
    for name, default, highest in (("turn", 1, MAX_TURNS), ("wait", 0, 100), ("silent", 0, 10)):
        raw = query.get(name, str(default))
        # isascii: str.isdigit() also takes "²", which int() refuses.
        if not (raw.isascii() and raw.isdigit()) or not (0 <= int(raw) <= highest):
            raise MalformedWebhook(f"{name} must be a number from 0 to {highest}")
        values[name] = int(raw)
    return TurnQuery(turn=max(1, values["turn"]), wait=values["wait"], silent=values["silent"])


def normalize(speech: str) -> str:
    """Lower case, without punctuation or politeness: "Yes, please." → "yes"."""
    text = speech.lower().replace("\u2019", "'")
    text = re.sub(r"[^\w\s']", " ", text)
    text = _POLITE.sub(" ", text)
    return " ".join(text.split())


def _is(said: str, phrases: frozenset[str]) -> bool:
    """SAID is one of PHRASES, or one said twice over ("yeah, go ahead", "no, cancel it")."""
    if said in phrases:
        return True
    words = said.split()
    return any(
        " ".join(words[:cut]) in phrases and " ".join(words[cut:]) in phrases
        for cut in range(1, len(words))
    )


def intent_of(speech: str | None, *, proposal_pending: bool) -> Intent:
    """What the caller's words mean for the call. Yes and no decide a pending proposal; with
    none pending, a bare "no" ("anything else?" — "no") ends the call like "that's all"."""
    if speech is None or not speech.strip():
        return "silence"
    said = normalize(speech)
    if proposal_pending and _is(said, _YES):
        return "yes"
    if proposal_pending and _is(said, _NO):
        return "no"
    if said in _DONE or (not proposal_pending and said in _NO):
        return "done"
    if not said:
        # Only politeness: "thank you" wraps the call up, "okay" asks for nothing yet.
        return "done" if "thank" in speech.lower() else "silence"
    return "request"
