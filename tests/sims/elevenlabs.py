"""ElevenLabs simulator (text-to-speech, voices) for ``AsyncElevenLabs(base_url=...)``."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from aiohttp import web

from tests.sims.base import FaultKind, Simulator

__all__ = ["ElevenLabsSim", "post_call_transcription", "silent_mp3"]

DEFAULT_VOICE_ID = "21m00Tcm4TlvDq8ikWAM"
DEFAULT_MODEL_ID = "eleven_multilingual_v2"
DEFAULT_OUTPUT_FORMAT = "mp3_44100_128"

# MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, mono, no CRC: 144 * 128000 / 44100 = 417 bytes.
# All-zero side information decodes as silence, so these frames are valid audio.
_MP3_FRAME = bytes([0xFF, 0xFB, 0x90, 0xC4]) + bytes(417 - 4)
_CHUNK = 4096


def silent_mp3(text: str) -> bytes:
    """The simulator's deterministic audio for ``text``: one frame (~26 ms) per 8 characters."""
    return _MP3_FRAME * max(2, min(400, len(text) // 8 + 1))


class ElevenLabsSim(Simulator):
    """``POST /v1/text-to-speech/{voice_id}`` (and ``/stream``) → audio; ``GET /v1/voices``
    and ``GET /v1/voices/{voice_id}``.

    Needs the ``xi-api-key`` header (401 otherwise). Unknown voices answer 404
    ``voice_not_found``. Output: ``mp3_*`` → ``audio/mpeg`` silent frames, ``pcm_*`` → zero
    samples, ``ulaw_8000`` → μ-law silence, all sized from the text length.
    """

    name: ClassVar[str] = "elevenlabs"

    def __init__(self, *, api_key: str = "sk_simelevenlabs0000000000000000") -> None:
        self.api_key = api_key
        self.voices: dict[str, dict[str, Any]] = {}
        self.syntheses: list[dict[str, Any]] = []
        """One entry per successful TTS request: voice_id, text, model_id, output_format,
        stream, request JSON, and the audio bytes returned."""
        super().__init__()
        self.add_voice(DEFAULT_VOICE_ID, "Rachel")

    @property
    def base_url(self) -> str:
        """The SDK ``base_url`` (form ``https://api.elevenlabs.io``)."""
        return self.url

    @property
    def voice_id(self) -> str:
        return DEFAULT_VOICE_ID

    def add_voice(self, voice_id: str, name: str, *, category: str = "premade") -> dict[str, Any]:
        voice = {
            "voice_id": voice_id,
            "name": name,
            "category": category,
            "labels": {"accent": "american", "gender": "female"},
            "description": None,
            "preview_url": f"https://storage.googleapis.com/sim/{voice_id}.mp3",
            "available_for_tiers": [],
            "settings": None,
            "high_quality_base_model_ids": [DEFAULT_MODEL_ID],
            "is_owner": False,
        }
        self.voices[voice_id] = voice
        return voice

    def texts(self) -> list[str]:
        """Texts synthesized so far, in order."""
        return [s["text"] for s in self.syntheses]

    # ------------------------------------------------------------------ routes

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/text-to-speech/{voice_id}", self._tts)
        router.add_post("/v1/text-to-speech/{voice_id}/stream", self._tts)
        router.add_get("/v1/voices", self._voices)
        router.add_get("/v1/voices/{voice_id}", self._voice)

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        if status == 429:
            detail = {
                "status": "too_many_concurrent_requests",
                "message": "Too many concurrent requests for your subscription tier.",
            }
        elif status == 403:
            detail = {
                "status": "missing_permissions",
                "message": error
                or "The API key you used is missing the permission text_to_speech to execute "
                "this operation.",
            }
        elif status == 401:
            detail = {"status": "invalid_api_key", "message": error or "Invalid API key"}
        elif status >= 500:
            detail = {"status": "internal_error", "message": error or "Internal server error"}
        else:
            detail = {"status": "invalid_request", "message": error or "Bad request"}
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.json_response({"detail": detail}, status=status, headers=headers)

    def _denied(self, request: web.Request) -> web.StreamResponse | None:
        if request.headers.get("xi-api-key") != self.api_key:
            return self.error_response(401)
        return None

    async def _voices(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._denied(request)) is not None:
            return denied
        return web.json_response({"voices": list(self.voices.values())})

    async def _voice(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._denied(request)) is not None:
            return denied
        voice = self.voices.get(request.match_info["voice_id"])
        if voice is None:
            return _voice_not_found(request.match_info["voice_id"])
        return web.json_response(voice)

    async def _tts(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._denied(request)) is not None:
            return denied
        voice_id = request.match_info["voice_id"]
        if voice_id not in self.voices:
            return web.json_response(
                {
                    "detail": {
                        "status": "voice_not_found",
                        "message": f"A voice with the voice_id {voice_id} was not found.",
                    }
                },
                status=404,
            )
        payload = self.record_of(request).json
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str) or not text.strip():
            return web.json_response(
                {"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "missing"}]},
                status=422,
            )
        output_format = request.query.get("output_format", DEFAULT_OUTPUT_FORMAT)
        audio, content_type = _render(text, output_format)
        stream = request.path.endswith("/stream")
        self.syntheses.append(
            {
                "voice_id": voice_id,
                "text": text,
                "model_id": payload.get("model_id") or DEFAULT_MODEL_ID,
                "output_format": output_format,
                "stream": stream,
                "request": payload,
                "audio": audio,
            }
        )
        headers = {
            "request-id": uuid.uuid4().hex,
            "history-item-id": uuid.uuid4().hex[:20],
            "x-character-count": str(len(text)),
        }
        if not stream:
            return web.Response(body=audio, content_type=content_type, headers=headers)
        response = web.StreamResponse(headers={**headers, "Content-Type": content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(audio), _CHUNK):
            await response.write(audio[start : start + _CHUNK])
        await response.write_eof()
        return response


def _voice_not_found(voice_id: str) -> web.Response:
    return web.json_response(
        {
            "detail": {
                "status": "voice_not_found",
                "message": f"A voice with the voice_id {voice_id} was not found.",
            }
        },
        status=404,
    )


def _render(text: str, output_format: str) -> tuple[bytes, str]:
    frames = len(silent_mp3(text)) // len(_MP3_FRAME)
    if output_format.startswith("pcm_"):
        rate = int(output_format.split("_")[1])
        return bytes(2 * rate * frames * 26 // 1000), "audio/pcm"
    if output_format.startswith("ulaw_"):
        return b"\xff" * (8 * frames * 26), "audio/basic"
    return silent_mp3(text), "audio/mpeg"


def post_call_transcription(
    *,
    conversation_id: str | None = None,
    caller: str | None,
    called: str | None,
    turns: list[tuple[str, str]],
    summary: str | None = None,
    agent_id: str = "agent_01jsimulatoragent000000000",
    call_sid: str | None = None,
    event_timestamp: int = 1_767_000_000,
) -> dict[str, Any]:
    """A ``post_call_transcription`` webhook body as ElevenLabs sends it for a phone call
    its conversational agent handled over Twilio; ``turns`` are ``(role, message)`` with
    role ``agent`` or ``user``. ``caller`` None: a web conversation, no phone call."""
    conversation_id = conversation_id or "conv_" + uuid.uuid4().hex[:26]
    call_sid = call_sid or "CA" + uuid.uuid4().hex
    transcript = [
        {
            "role": role,
            "message": message,
            "tool_calls": [],
            "tool_results": [],
            "feedback": None,
            "time_in_call_secs": 4 * index,
            "conversation_turn_metrics": None,
        }
        for index, (role, message) in enumerate(turns)
    ]
    metadata: dict[str, Any] = {
        "start_time_unix_secs": event_timestamp - 60,
        "call_duration_secs": 4 * len(turns) + 3,
        "cost": 310,
        "deletion_settings": {},
        "feedback": {"overall_score": None, "likes": 0, "dislikes": 0},
        "authorization_method": "signed_url",
        "charging": {"dev_discount": False},
        "termination_reason": "Call ended by remote party",
    }
    variables: dict[str, Any] = {"system__agent_id": agent_id, "system__time_utc": "now"}
    if caller is not None:
        metadata["phone_call"] = {
            "direction": "inbound",
            "phone_number_id": "phnum_" + uuid.uuid4().hex[:20],
            "agent_number": called,
            "external_number": caller,
            "type": "twilio",
            "stream_sid": "MZ" + uuid.uuid4().hex,
            "call_sid": call_sid,
        }
        variables.update(
            {
                "system__caller_id": caller,
                "system__called_number": called,
                "system__call_sid": call_sid,
                "system__conversation_id": conversation_id,
            }
        )
    return {
        "type": "post_call_transcription",
        "event_timestamp": event_timestamp,
        "data": {
            "agent_id": agent_id,
            "conversation_id": conversation_id,
            "status": "done",
            "user_id": None,
            "transcript": transcript,
            "metadata": metadata,
            "analysis": {
                "evaluation_criteria_results": {},
                "data_collection_results": {},
                "call_successful": "success",
                "transcript_summary": summary,
            },
            "conversation_initiation_client_data": {
                "conversation_config_override": {"agent": {"prompt": None}},
                "custom_llm_extra_body": {},
                "dynamic_variables": variables,
            },
        },
    }
