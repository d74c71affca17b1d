"""Twilio lines: the number's Voice webhook points here. Every request carries
`X-Twilio-Signature` (HMAC-SHA1 of the public URL and the sorted form, keyed with the line's
own auth token), checked with the SDK's `RequestValidator` like the gateway's own number.

One URL does the whole voicemail: the call's start is answered with a greeting and
`<Record>` (its action and its transcription callback both come back here), the recording
becomes the assist, the transcription fills it in."""

from __future__ import annotations

from channels.base import InboundRequest
from channels.telephony.base import (
    Inbound,
    Line,
    MalformedEvent,
    SignatureError,
    seconds,
    text_or_none,
)
from channels.twilio_common import MalformedWebhook, WebhookVerifier, twiml_response
from channels.twilio_common import SignatureError as TwilioSignatureError
from channels.voice import twiml
from channels.voice.tts import Say
from core.integrations.voicemail import LineVoicemail

THANKS = "Thank you. Your message has reached the team. Goodbye."
NO_MESSAGE = "We didn't get a message. Goodbye."


def greeting(label: str) -> str:
    return (
        f"Thanks for calling {label}. Nobody can take your call right now. "
        "Please leave a message after the tone."
    )


def read(request: InboundRequest, line: Line) -> Inbound:
    # Twilio signs the URL it called: PUBLIC_BASE_URL and the path, as the gateway's own number.
    verifier = WebhookVerifier(line.credentials["auth_token"], line.base_url)
    try:
        params = verifier.verify(request)
    except TwilioSignatureError as exc:
        raise SignatureError(str(exc)) from exc
    except MalformedWebhook as exc:
        raise MalformedEvent(str(exc)) from exc
    account_sid = params.get("AccountSid")
    if account_sid is not None and account_sid != line.credentials.get("account_sid"):
        raise SignatureError("AccountSid is not this line's Twilio account")
    call_sid = text_or_none(params.get("CallSid"))
    if call_sid is None:
        raise MalformedEvent("CallSid is missing")
    caller = text_or_none(params.get("From"))
    called = text_or_none(params.get("To"))
    if params.get("TranscriptionSid") or params.get("TranscriptionStatus"):
        text = text_or_none(params.get("TranscriptionText"))
        if params.get("TranscriptionStatus") != "completed" or text is None:
            return Inbound(answer=twiml_response(twiml.empty()))
        part = LineVoicemail(
            key=call_sid,
            part="transcript",
            caller=caller,
            called=called,
            transcript=text,
            recording_url=text_or_none(params.get("RecordingUrl")),
        )
        return Inbound((part,), twiml_response(twiml.empty()))
    if params.get("RecordingSid"):
        duration = seconds(params.get("RecordingDuration"))
        status_callback = "RecordingStatus" in params
        if duration == 0:
            return Inbound(answer=twiml_response(twiml.goodbye([Say(NO_MESSAGE)])))
        part = LineVoicemail(
            key=call_sid,
            part="voicemail",
            caller=caller,
            called=called,
            recording_url=text_or_none(params.get("RecordingUrl")),
            duration=duration,
        )
        # The <Record> action is still on the call and says goodbye; a recording status
        # callback is not, and takes an empty answer.
        answer = twiml.empty() if status_callback else twiml.goodbye([Say(THANKS)])
        return Inbound((part,), twiml_response(answer))
    # A call comes in: greet for this line and record its message.
    return Inbound(answer=twiml_response(twiml.voicemail([Say(greeting(line.label))], line.url)))
