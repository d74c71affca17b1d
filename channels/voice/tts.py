"""Speech for the call: ElevenLabs MP3 played from signed `/media` links, or Twilio's `<Say>`.

Audio is cached by (workspace, voice, model, format, text) for as long as its media row lives,
so fixed prompts ("Anything else?") are synthesized once. ElevenLabs gets only the time left
before the webhook must answer; an error, a stall or an unusable answer falls back to `<Say>`
for the whole response (one voice per answer), and keeps ElevenLabs out of the next answers
for a short cool-down so callers do not wait on a stalled service turn after turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import httpx
from elevenlabs.core.api_error import ApiError

from storage.types import utcnow

if TYPE_CHECKING:
    from elevenlabs.client import AsyncElevenLabs

    from delivery.media import MediaStore
    from storage.db import Database

log = logging.getLogger(__name__)

MODEL_ID = "eleven_flash_v2_5"  # ElevenLabs' low-latency model, made for live calls
OUTPUT_FORMAT = "mp3_22050_32"  # phone audio is 8 kHz: a small MP3 loses nothing audible
AUDIO_TTL = timedelta(hours=1)
MIN_LINK_LIFE = timedelta(minutes=10)  # a cached clip closer to expiry is made again
MIN_SECONDS = 0.3  # less time than this left: do not even try
CACHE_SIZE = 512


@dataclass(frozen=True, slots=True)
class Play:
    url: str
    text: str  # what the audio says (for logs and tests)


@dataclass(frozen=True, slots=True)
class Say:
    text: str


Spoken = Play | Say


class BadAudio(Exception):
    """ElevenLabs answered 200 with something that is not MP3 audio."""


def looks_like_mp3(data: bytes) -> bool:
    """An ID3 tag or an MPEG audio frame sync at the start."""
    return data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0)


class Speaker:
    """Turns the texts of one TwiML answer into `<Play>`s, or `<Say>`s when it cannot."""

    def __init__(
        self,
        db: Database,
        media: MediaStore,
        client: AsyncElevenLabs | None,
        voice_id: str | None,
        *,
        cooldown: float = 30.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._db = db
        self._media = media
        self._client = client
        self._voice_id = voice_id
        self._cooldown = cooldown
        self._clock = clock
        self._resume_at = 0.0
        self._cache: OrderedDict[tuple[str, ...], tuple[str, datetime]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._client is not None and self._voice_id is not None

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    async def speak(self, workspace_id: str, texts: Sequence[str], deadline: float) -> list[Spoken]:
        """TEXTS as audio links if all of them can be ready before DEADLINE (event-loop
        time), else as `<Say>`. Never raises for a provider problem."""
        texts = [t for t in texts if t.strip()]
        says: list[Spoken] = [Say(t) for t in texts]
        if not texts or not self.enabled or self._now() < self._resume_at:
            return says
        if deadline - self._now() < MIN_SECONDS:
            return says
        # Cached clips are taken now: a concurrent answer may evict them meanwhile.
        clips = {t: self._cached(self._key(workspace_id, t)) for t in dict.fromkeys(texts)}
        missing = [text for text, clip in clips.items() if clip is None]
        try:
            async with asyncio.timeout(deadline - self._now()):
                audio = await asyncio.gather(*(self._synthesize(text) for text in missing))
        except TimeoutError:
            self._trip("ElevenLabs did not answer in the time the call had left")
        except ApiError as exc:
            self._trip(f"ElevenLabs answered {exc.status_code}")
        except (httpx.HTTPError, BadAudio) as exc:
            self._trip(f"ElevenLabs call failed: {type(exc).__name__}: {exc}")
        else:
            # Stored outside the timeout: a commit is never cut off half-way.
            clips.update(await self._store(workspace_id, dict(zip(missing, audio, strict=True))))
            return [self._play(text, clips[text]) for text in texts]
        return says

    def _trip(self, reason: str) -> None:
        log.warning("voice: %s; speaking with <Say> for %.0f s", reason, self._cooldown)
        self._resume_at = self._now() + self._cooldown

    def _key(self, workspace_id: str, text: str) -> tuple[str, ...]:
        return (workspace_id, self._voice_id or "", MODEL_ID, OUTPUT_FORMAT, text)

    def _cached(self, key: tuple[str, ...]) -> tuple[str, datetime] | None:
        found = self._cache.get(key)
        if found is None:
            return None
        if found[1] - utcnow() < MIN_LINK_LIFE:
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        return found

    async def _store(
        self, workspace_id: str, made: dict[str, bytes]
    ) -> dict[str, tuple[str, datetime]]:
        """Media rows for new audio, remembered in the cache; (media id, expiry) by text."""
        if not made:
            return {}
        async with self._db.session() as session:
            rows = {
                text: self._media.add(
                    session,
                    workspace_id=workspace_id,
                    filename="speech.mp3",
                    content_type="audio/mpeg",
                    data=data,
                    ttl=AUDIO_TTL,
                )
                for text, data in made.items()
            }
        stored = {text: (row.id, row.expires_at) for text, row in rows.items()}
        for text, clip in stored.items():
            self._cache[self._key(workspace_id, text)] = clip
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return stored

    def _play(self, text: str, clip: tuple[str, datetime] | None) -> Spoken:
        assert clip is not None
        return Play(self._media.url(*clip), text)

    async def _synthesize(self, text: str) -> bytes:
        assert self._client is not None and self._voice_id is not None
        chunks = self._client.text_to_speech.convert(
            self._voice_id,
            text=text,
            model_id=MODEL_ID,
            output_format=OUTPUT_FORMAT,
            # One try: there is no time for a second within the call's budget.
            request_options={"max_retries": 0},
        )
        data = b"".join([chunk async for chunk in chunks])
        if not looks_like_mp3(data):
            raise BadAudio(f"{len(data)} bytes that are not MP3 audio")
        return data
