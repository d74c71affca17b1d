"""Email threading: Message-IDs, the `reply+TOKEN@` address bound to an assist, subject tags.

A thread is held together three ways, tried in this order when a reply comes in:
1. the `reply+TOKEN@EMAIL_INBOUND_DOMAIN` address it was sent to (our Reply-To): the token is
   128 bits derived from SWITCHBOARD_SECRET_KEY and the email's record id, stored only as a
   SHA-256 (and never in the outbox), so neither a guess nor a database leak yields one;
2. its `In-Reply-To` / `References`, which name a Message-ID of the thread;
3. the `[A-1042]` tag in its subject, trusted only from the assist's own customer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence

_MESSAGE_ID = re.compile(r"<[^<>\s]{1,490}>")
_TOKEN = re.compile(r"^[a-z2-7]{26}$")
_ASSIST_TAG = re.compile(r"\[A-(\d{1,9})\]", re.IGNORECASE)
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw|vs|odp|ynt)\s*(\[\d+\])?\s*:\s*", re.IGNORECASE)
REPLY_LOCAL_PART = "reply"
# RFC 5322 asks to keep the first and the most recent ids when References grows long; mail
# clients cut it too (Gmail ignores long ones), so a thread keeps its root and last ten.
MAX_REFERENCES = 11


def message_ids(value: str | None) -> list[str]:
    """The `<id@host>` Message-IDs in a header value, in order, without repeats; a bare id
    (some clients drop the brackets) counts as one."""
    if not value:
        return []
    found = _MESSAGE_ID.findall(value)
    if not found:
        bare = value.strip()
        if bare and " " not in bare and "@" in bare and len(bare) <= 490:
            found = [f"<{bare}>"]
    seen: list[str] = []
    for item in found:
        if item not in seen:
            seen.append(item)
    return seen


def new_message_id(domain: str, seed: str | None = None) -> str:
    """A Message-ID on our domain: random, or derived from SEED (stable across retries, so
    a resend after a lost answer shows as the same message, which mail clients merge)."""
    if seed is None:
        local = secrets.token_hex(16)
    else:
        local = hashlib.sha256(seed.encode()).hexdigest()[:32]
    return f"<sb.{local}@{domain}>"


def thread_references(previous: Sequence[str], parent: str | None) -> list[str]:
    """The References of a reply to PARENT, whose own References were PREVIOUS."""
    chain: list[str] = []
    for item in [*previous, *([parent] if parent else [])]:
        if item and item not in chain:
            chain.append(item)
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return chain


def thread_root(message_id: str | None, in_reply_to: str | None, references: Sequence[str]) -> str:
    """The first message of the thread: the conversation key every reply shares."""
    if references:
        return references[0]
    return in_reply_to or message_id or ""


def reply_subject(subject: str) -> str:
    """`Re: SUBJECT`, once, whatever prefix the mail client put there ("AW:", "RE[2]:")."""
    bare = subject.strip()
    while True:
        stripped = _REPLY_PREFIX.sub("", bare, count=1)
        if stripped == bare:
            break
        bare = stripped
    return f"Re: {bare}" if bare else "Re: your message"


def reply_token(key: bytes, record_id: str) -> str:
    """The token of the reply address of email RECORD_ID: 128 bits of HMAC-SHA256 under the
    gateway's secret, in lower-case base32 (addresses are compared case-insensitively). Only
    its SHA-256 is stored, and nothing stored lets anyone compute it."""
    digest = hmac.new(key, f"reply-token:{record_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:16]).decode().rstrip("=").lower()


def token_key(secret: bytes) -> bytes:
    """The reply-token key derived from SWITCHBOARD_SECRET_KEY (apart from the media key)."""
    return hashlib.sha256(b"switchboard-email-reply:" + secret).digest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.lower().encode()).hexdigest()


def reply_address(token: str, domain: str) -> str:
    return f"{REPLY_LOCAL_PART}+{token}@{domain}"


def token_of(address: str, domain: str | None) -> str | None:
    """The token of a `reply+TOKEN@DOMAIN` address, or None for any other address."""
    local, _, host = address.strip().lower().rpartition("@")
    if not local or (domain is not None and host != domain.lower()):
        return None
    prefix, plus, token = local.partition("+")
    if prefix != REPLY_LOCAL_PART or not plus or not _TOKEN.match(token):
        return None
    return token


def tokens_in(addresses: Iterable[str], domain: str | None) -> list[str]:
    found: list[str] = []
    for address in addresses:
        token = token_of(address, domain)
        if token is not None and token not in found:
            found.append(token)
    return found


def assist_number(subject: str) -> int | None:
    """1042 for a subject carrying `[A-1042]`."""
    match = _ASSIST_TAG.search(subject)
    return int(match.group(1)) if match else None


def assist_subject(number: int, subject: str) -> str:
    """SUBJECT tagged `[A-1042] ...` (once), so a reply can be matched by its subject."""
    if assist_number(subject) == number:
        return subject.strip()
    return f"[A-{number}] {subject.strip()}".strip()
