"""Vonage simulator: the Voice API's file download, `GET /v1/files/{id}`, which serves a
recording's transcript only to a Bearer JWT signed RS256 with the application's private key
(its public half is the simulator's) naming the application; and the events Vonage sends
to a line's Event URL (a recording, its transcription). Errors in Vonage's problem shape
(`{type, title, detail, instance}`), a 429 with Retry-After."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.sims.base import FaultKind, Simulator

__all__ = ["VonageSim", "recording_event", "transcription_event"]


class VonageSim(Simulator):
    name: ClassVar[str] = "vonage"

    def __init__(self, *, application_id: str | None = None) -> None:
        self.application_id = application_id or str(uuid.uuid4())
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self._public_key = key.public_key()
        self.files: dict[str, dict[str, Any]] = {}
        super().__init__()

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v1/files/{id}", self._file)

    def error_response(
        self,
        status: int,
        *,
        kind: FaultKind | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> web.StreamResponse:
        title = {
            401: "Invalid credentials supplied",
            403: "Forbidden",
            404: "Not Found",
            429: "Too Many Requests",
        }.get(status, "Internal Error")
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return web.json_response(
            {
                "type": f"https://developer.vonage.com/api-errors#{status}",
                "title": error or title,
                "detail": title,
                "instance": str(uuid.uuid4()),
            },
            status=status,
            headers=headers,
        )

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return False
        try:
            claims = jwt.decode(header[7:], self._public_key, algorithms=["RS256"])
        except jwt.PyJWTError:
            return False
        return claims.get("application_id") == self.application_id

    def add_transcript(self, sentences: list[str]) -> str:
        """A transcript file in Vonage's shape; its URL."""
        file_id = str(uuid.uuid4())
        self.files[file_id] = {
            "ver": "1.0.0",
            "request_id": str(uuid.uuid4()),
            "channels": [
                {
                    "transcript": [
                        {
                            "sentence": text,
                            "raw_sentence": text.lower().rstrip("."),
                            "duration": 2000,
                            "timestamp": 2000 * i,
                            "words": [],
                        }
                        for i, text in enumerate(sentences)
                    ],
                    "duration": 2000 * len(sentences),
                }
            ],
        }
        return f"{self.url}/v1/files/{file_id}"

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.error_response(401)
        found = self.files.get(request.match_info["id"])
        if found is None:
            return self.error_response(404)
        return web.json_response(found)


def recording_event(conversation: str, *, recording_url: str | None = None) -> dict[str, Any]:
    """The `record` action's event: where the recording is."""
    return {
        "start_time": "2026-12-06T05:00:00Z",
        "recording_url": recording_url or f"https://api.nexmo.com/v1/files/{uuid.uuid4()}",
        "size": 12222,
        "recording_uuid": str(uuid.uuid4()),
        "end_time": "2026-12-06T05:00:21Z",
        "conversation_uuid": conversation,
        "timestamp": "2026-12-06T05:00:21.000Z",
    }


def transcription_event(conversation: str, transcription_url: str) -> dict[str, Any]:
    """The `record` action's transcription event: where the transcript is."""
    return {
        "conversation_uuid": conversation,
        "type": "record",
        "recording_uuid": str(uuid.uuid4()),
        "status": "transcribed",
        "transcription_url": transcription_url,
    }
