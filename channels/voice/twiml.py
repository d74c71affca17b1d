"""TwiML answers of the voice routes, built with the SDK's `VoiceResponse` (it escapes)."""

from __future__ import annotations

from collections.abc import Sequence

from twilio.twiml.voice_response import Gather, VoiceResponse

from channels.voice.tts import Play, Spoken

LANGUAGE = "en-US"
VOICEMAIL_SECONDS = 180
APPROVAL_HINTS = "yes, no, approve, cancel"


def _speak(verb: VoiceResponse | Gather, spoken: Sequence[Spoken]) -> None:
    for part in spoken:
        if isinstance(part, Play):
            verb.play(part.url)
        else:
            verb.say(part.text, language=LANGUAGE)


def listen(spoken: Sequence[Spoken], action: str, *, hints: str | None = None) -> VoiceResponse:
    """Say SPOKEN and listen for the next request (the caller may talk over it); silence also
    reaches ACTION (`actionOnEmptyResult`), so the call decides what silence means."""
    response = VoiceResponse()
    gather = response.gather(
        input="speech",
        action=action,
        method="POST",
        speech_timeout="auto",
        action_on_empty_result=True,
        language=LANGUAGE,
        hints=hints,
    )
    _speak(gather, spoken)
    return response


def hold(spoken: Sequence[Spoken], redirect: str) -> VoiceResponse:
    """Say SPOKEN ("One moment.") and come back to REDIRECT for the answer."""
    response = VoiceResponse()
    _speak(response, spoken)
    response.redirect(redirect, method="POST")
    return response


def goodbye(spoken: Sequence[Spoken]) -> VoiceResponse:
    response = VoiceResponse()
    _speak(response, spoken)
    response.hangup()
    return response


def voicemail(spoken: Sequence[Spoken], callback: str) -> VoiceResponse:
    """Greet, then record a message; the recording and its transcription both go to
    CALLBACK. If the caller says nothing, the call ends after the goodbye."""
    response = VoiceResponse()
    _speak(response, spoken)
    response.record(
        action=callback,
        method="POST",
        max_length=VOICEMAIL_SECONDS,
        timeout=5,
        play_beep=True,
        transcribe=True,
        transcribe_callback=callback,
        trim="trim-silence",
    )
    response.hangup()
    return response


def empty() -> VoiceResponse:
    return VoiceResponse()
