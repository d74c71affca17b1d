"""Generated files (audio, reports, charts) and their signed, expiring `/media/{token}` links.

A token is `<media id>.<expiry, unix seconds>.<HMAC-SHA256 of both, urlsafe base64>` keyed with
`SWITCHBOARD_SECRET_KEY`; the id alone (74 random bits) is already unguessable, the signature
and expiry make a leaked link die on time. Without a secret key the gateway signs with a
random key made at start (one for all the processes of `SWITCHBOARD_PROCESSES`, so a link
made by one is served by any) and says so: links then stop working after a restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from aiohttp import web
from sqlalchemy import CursorResult, delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import MediaObject
from storage.types import new_id, utcnow

log = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(days=7)
MAX_MEDIA_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class MediaFile:
    id: str
    filename: str
    content_type: str
    data: bytes


class MediaStore:
    def __init__(
        self,
        db: Database,
        secret: bytes | None,
        public_base_url: str | None,
        *,
        fallback_key: bytes | None = None,
    ) -> None:
        # Whether links die with this run (no SWITCHBOARD_SECRET_KEY), for who shows them.
        self.ephemeral_key = not secret
        if not secret:
            log.warning(
                "SWITCHBOARD_SECRET_KEY is not set: media links are signed with a key made at "
                "start and stop working when the gateway restarts"
            )
            secret = fallback_key or secrets.token_bytes(32)
        self._db = db
        self._key = hashlib.sha256(b"switchboard-media:" + secret).digest()
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self._base = self.public_base_url or "http://127.0.0.1:8080"

    @staticmethod
    def add(
        session: AsyncSession,
        *,
        workspace_id: str,
        filename: str,
        content_type: str,
        data: bytes,
        ttl: timedelta = DEFAULT_TTL,
        now: datetime | None = None,
    ) -> MediaObject:
        """Store a file in the caller's transaction; deliverables then refer to its id."""
        if len(data) > MAX_MEDIA_BYTES:
            raise ValueError(f"{filename} is {len(data)} bytes, over {MAX_MEDIA_BYTES}")
        now = now or utcnow()
        row = MediaObject(
            id=new_id(),
            workspace_id=workspace_id,
            filename=filename[:200],
            content_type=content_type,
            size=len(data),
            data=data,
            created_at=now,
            expires_at=now + ttl,
        )
        session.add(row)
        return row

    def _sign(self, message: str) -> str:
        digest = hmac.new(self._key, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")

    def token(self, media_id: str, expires_at: datetime) -> str:
        message = f"{media_id}.{int(expires_at.timestamp())}"
        return f"{message}.{self._sign(message)}"

    def url(self, media_id: str, expires_at: datetime, *, base_url: str | None = None) -> str:
        """The signed link under BASE_URL (default: PUBLIC_BASE_URL, else 127.0.0.1:8080)."""
        base = base_url.rstrip("/") if base_url else self._base
        return f"{base}/media/{self.token(media_id, expires_at)}"

    def verify(self, token: str, now: datetime | None = None) -> str | None:
        """The media id a token grants, or None when forged, malformed or expired."""
        parts = token.split(".")
        if len(parts) != 3 or len(token) > 200:
            return None
        media_id, expiry, signature = parts
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses; and
        # compare_digest raises on non-ASCII text instead of answering False.
        if not (expiry.isascii() and expiry.isdigit() and signature.isascii()):
            return None
        if not hmac.compare_digest(self._sign(f"{media_id}.{expiry}"), signature):
            return None
        if int(expiry) <= (now or utcnow()).timestamp():
            return None
        return media_id

    async def load(self, media_id: str) -> MediaFile | None:
        async with self._db.session() as session:
            row = await session.get(MediaObject, media_id)
            if row is None or row.expires_at <= utcnow():
                return None
            return MediaFile(row.id, row.filename, row.content_type, bytes(row.data))

    async def prune(self) -> int:
        async with self._db.session() as session:
            result = await session.execute(
                delete(MediaObject).where(MediaObject.expires_at <= utcnow())
            )
            # A DELETE's result is a CursorResult; the session's signature only promises a Result.
            return cast("CursorResult[Any]", result).rowcount or 0

    async def handle(self, request: web.Request) -> web.Response:
        """GET /media/{token}: the file, or 404 for a bad or expired link."""
        media_id = self.verify(request.match_info["token"])
        found = await self.load(media_id) if media_id else None
        if found is None:
            return web.json_response({"error": "no such media, or the link expired"}, status=404)
        safe_name = "".join(c for c in found.filename if c.isalnum() or c in "._- ") or "file"
        return web.Response(
            body=found.data,
            content_type=found.content_type,
            headers={
                "Content-Disposition": f'inline; filename="{safe_name}"',
                "Cache-Control": "private, max-age=300",
                "X-Content-Type-Options": "nosniff",
            },
        )
