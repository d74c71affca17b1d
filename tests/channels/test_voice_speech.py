"""The voice channel's pure parts: text for the ear, what a caller's words mean, how a turn's
replies split into speech and pushes, and the ElevenLabs signature."""

from __future__ import annotations

from datetime import date

import pytest
from multidict import MultiDict, MultiDictProxy

from channels.twilio_common import MalformedWebhook
from channels.voice.answer import (
    MAX_SPOKEN_WORDS,
    plan_answer,
    proposal_speech,
    where_notice,
)
from channels.voice.elevenlabs import SignatureError, WebhookVerifier, sign
from channels.voice.inbound import intent_of, parse_call, parse_turn
from channels.voice.tts import looks_like_mp3
from core.assists.records import guess_category
from core.processing.speech import count_words, first_words, for_the_ear
from models.deliverable import CardField, Deliverable

TODAY = date(2026, 11, 21)


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Assign A-1042 to Maria", "Assign A 10 42 to Maria."),
        ("A-1005 and A-1100", "A 10 oh 5 and A 11 hundred."),
        ("Resolution rate: 64.5%, up 3.2 points", "Resolution rate: 64.5 percent, up 3.2 points."),
        ("Median first response: 32 min", "Median first response: 32 minutes."),
        ("Median time to close: 1 h", "Median time to close: 1 hour."),
        ("Daily at 08:00, weekly at 17:30", "Daily at 8 AM, weekly at 5:30 PM."),
        ("Business hours: Mon-Fri 9:00-17:00", "Business hours: Monday to Friday 9 AM to 5 PM."),
        ("Refunds take 5-7 days", "Refunds take 5 to 7 days."),
        ("Opened 2026-11-17", "Opened November 17."),
        ("Created 2025-03-02T09:15:00+00:00", "Created March 2, 2025 at 9:15 AM."),
        ("close 2 assist(s): status → closed", "close 2 assists: status to closed."),
        ("1 assist(s) left", "1 assist left."),
        ("Refund not received for order #48213", "Refund not received for order number 48213."),
        ("Saved $1,200 this month", "Saved 1,200 dollars this month."),
        (
            "- A-1046 [urgent] open — App crashes (Maria Lopez)\n- A-1040 [high] open",
            "A 10 46, urgent, open, App crashes, Maria Lopez. A 10 40, high, open.",
        ),
        ("**Bold** and `code` and _it_", "Bold and code and it."),
        (
            "See [the guide](https://help.example/x) or https://x.example/y",
            "See the guide or a link.",
        ),
        ("Adam Admin <adam@demo.example>", "Adam Admin adam at demo dot example."),
        ('Say "undo" within 30 seconds', "Say undo within 30 seconds."),
        (
            "Rate: 64.5%\nDaily: \u2588\u2582\u2581\nNext step: add Q&A",
            "Rate: 64.5 percent. Next step: add Q and A.",
        ),
        ("12 assist(s):\n- A-1040 open", "12 assists. A 10 40 open."),
    ],
)
def test_text_is_written_for_the_ear(text: str, spoken: str) -> None:
    assert for_the_ear(text, today=TODAY) == spoken


def test_first_words_keeps_whole_sentences() -> None:
    text = "One two three. Four five six seven. Eight."
    assert first_words(text, 5) == "One two three."
    assert first_words(text, 7) == "One two three. Four five six seven."
    assert first_words("a b c d e f", 3) == "a b c."


@pytest.mark.parametrize(
    ("speech", "pending", "intent"),
    [
        ("Yes.", True, "yes"),
        ("Yes, please.", True, "yes"),
        ("Yeah go ahead", True, "yes"),
        ("No.", True, "no"),
        ("No, cancel it.", True, "no"),
        ("No.", False, "done"),
        ("No thanks.", False, "done"),
        ("That's all, thank you.", False, "done"),
        ("That\u2019s it", True, "done"),  # a typographic apostrophe
        ("Goodbye!", True, "done"),
        ("Thank you.", False, "done"),
        ("Okay.", False, "silence"),
        ("", False, "silence"),
        (None, True, "silence"),
        ("Yes", False, "request"),  # nothing to decide: the classifier reads it
        ("Yes close the old ones too", True, "request"),
        ("How is our resolution rate this week?", False, "request"),
        ("No more refunds above 100 dollars", False, "request"),
    ],
)
def test_what_the_callers_words_mean(speech: str | None, pending: bool, intent: str) -> None:
    assert intent_of(speech, proposal_pending=pending) == intent


def _form(**values: str) -> MultiDictProxy[str]:
    return MultiDictProxy(MultiDict(values))


def test_call_parameters_are_checked() -> None:
    sid = "CA" + "a" * 32
    call = parse_call(_form(CallSid=sid, From="+15550100001", To="+15550009999"))
    assert (call.caller_number, call.speech, call.ended) == ("+15550100001", None, False)
    anonymous = parse_call(
        _form(CallSid=sid, From="anonymous", To="+15550009999", SpeechResult="  hi  there ")
    )
    assert (anonymous.caller_number, anonymous.speech) == (None, "hi there")
    assert parse_call(_form(CallSid=sid, To="+15550009999", CallStatus="Completed")).ended
    for bad in (
        _form(CallSid="CA123", From="+15550100001", To="+15550009999"),
        _form(CallSid=sid, From="+15550100001"),
        _form(CallSid=sid, From="+15550100001", To="sip:me@example.com"),
        _form(CallSid=sid, From="+1", To="+15550009999", SpeechResult="x" * 2001),
    ):
        with pytest.raises(MalformedWebhook):
            parse_call(bad)


def test_turn_query_bounds() -> None:
    assert parse_turn({}).turn == 1
    parsed = parse_turn({"turn": "3", "wait": "2", "silent": "1"})
    assert (parsed.turn, parsed.wait, parsed.silent) == (3, 2, 1)
    for bad in ({"turn": "-1"}, {"turn": "x"}, {"wait": "1000"}, {"silent": "1.5"}):
        with pytest.raises(MalformedWebhook):
            parse_turn(bad)


PROPOSAL = {
    "id": "p1",
    "code": "2410",
    "summary": "close 12 assist(s): status → closed",
    "status": "pending",
    "estimated_count": 12,
    "changes": [{"label": "A-1047 status", "field": "status", "before": "open", "after": "closed"}],
}


def test_a_proposal_is_read_back_with_the_question() -> None:
    assert proposal_speech(PROPOSAL) == (
        "Close 12 assists: status to closed. Say yes to approve or no to cancel."
    )
    single = {
        **PROPOSAL,
        "summary": "set A-1045 to urgent priority",
        "estimated_count": None,
        "changes": [
            {"label": "A-1045 priority", "field": "priority", "before": "low", "after": "urgent"}
        ],
    }
    assert proposal_speech(single) == (
        "Set A 10 45 to urgent priority. A 10 45 priority: low to urgent. "
        "Say yes to approve or no to cancel."
    )


def test_long_lists_and_files_are_pushed_and_the_rest_is_spoken() -> None:
    items = tuple(
        f"A-{1040 + n} [normal] open — Customer {n} needs help with billing" for n in range(12)
    )
    long_list = Deliverable(
        kind="list",
        title="Assists",
        text="12 assist(s):\n" + "\n".join(f"- {item}" for item in items),
        items=items,
    )
    report = Deliverable(
        kind="file",
        title="assists-report.csv",
        text="Assists report as CSV: 12 row(s).",
        data={"media": {"id": "m1"}},
    )
    proposal = Deliverable(kind="proposal", text="Proposed: ...", data={"proposal": PROPOSAL})

    answer = plan_answer([long_list, report, proposal], can_push=True, today=TODAY)

    assert [p.deliverable for p in answer.pushes] == [long_list, report]
    assert answer.spoken[0] == (
        "12 assists. The first 3: A 10 40, normal, open, Customer 0 needs help with billing. "
        "A 10 41, normal, open, Customer 1 needs help with billing. "
        "A 10 42, normal, open, Customer 2 needs help with billing."
    )
    assert answer.proposal_id == "p1"
    assert answer.spoken[-1].endswith("Say yes to approve or no to cancel.")
    assert where_notice(answer.pushes, "sms") == (
        "I've sent the full list and the report to your phone by text."
    )
    assert where_notice(answer.pushes[1:], "email") == "I've sent the report to your email."


def test_without_a_text_channel_more_is_read_out() -> None:
    text = " ".join(f"Sentence number {n} is here." for n in range(40))
    answer = plan_answer([Deliverable(text=text)], can_push=False)
    assert answer.pushes == ()
    assert MAX_SPOKEN_WORDS < count_words(answer.text) <= 150


def test_short_cards_are_spoken_whole() -> None:
    card = Deliverable(
        kind="card",
        title="Resolution rate, this week",
        text="Resolution rate this week: 64.5%\nBefore: 66.7%",
        fields=(CardField(label="This week", value="64.5%"),),
    )
    answer = plan_answer([card], can_push=True)
    assert answer.text == "Resolution rate this week: 64.5 percent. Before: 66.7 percent."
    assert answer.pushes == ()


def test_decided_proposals_keep_the_undo_hint() -> None:
    lines = [f"- A-{1000 + n} status: closed" for n in range(30)]
    done = Deliverable(
        text="\n".join(["Done: close 30 assist(s).", *lines, 'Say "undo" within 30 seconds.']),
        data={"proposal": {**PROPOSAL, "status": "executed"}},
    )
    answer = plan_answer([done], can_push=True)
    assert answer.text == "Done: close 30 assists. Say undo within 30 seconds."
    assert answer.decided and answer.proposal_id is None


def test_elevenlabs_signature_window_and_constant_time_check() -> None:
    body = b'{"type":"post_call_transcription"}'
    verifier = WebhookVerifier("secret", clock=lambda: 1_000_000.0)
    verifier.verify(body, sign(body, "secret", 1_000_000))
    verifier.verify(body, sign(body, "secret", 1_000_000 - 1800))
    # While a secret rotates, the header carries a signature for each.
    rotated = sign(body, "old", 1_000_000) + "," + sign(body, "secret", 1_000_000).split(",")[1]
    verifier.verify(body, rotated)
    for header in (
        None,
        "",
        "v0=abc",
        "t=abc,v0=abc",
        sign(body, "secret", 1_000_000 - 1801),
        sign(body, "secret", 1_000_000 + 1801),
        sign(body, "other", 1_000_000),
        sign(body + b" ", "secret", 1_000_000).replace("t=1000000", "t=1000000"),
    ):
        with pytest.raises(SignatureError):
            verifier.verify(body, header)


def test_mp3_sniffing() -> None:
    assert looks_like_mp3(b"ID3\x04\x00")
    assert looks_like_mp3(bytes([0xFF, 0xFB, 0x90, 0xC4]))
    assert not looks_like_mp3(b"<html><body>502</body></html>")
    assert not looks_like_mp3(b"")


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I want my money back for the broken blender", "refund"),
        ("I was charged twice on my card", "billing"),
        ("My package never arrived", "shipping"),
        ("I can't log in after the password reset", "technical"),
        ("I'd like to talk about a partnership", "other"),
    ],
)
def test_categories_from_keywords(text: str, category: str) -> None:
    assert guess_category(text) == category
