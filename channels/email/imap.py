"""Inbound email by polling a mailbox over IMAP, for teams without an inbound-parse provider.

The scheduler's leader calls `ImapPoller` on every tick; every IMAP_POLL_SECONDS it logs in,
asks for the UNSEEN messages (`UID SEARCH UNSEEN`), and for each, oldest first: fetches it
with `BODY.PEEK[]` (not `RFC822`, which would mark it \\Seen before it is handled), reads it as
the raw mode of Inbound Parse (`inbound.parse_message`), hands it to the webhook's `receive`
(the same workspace choice, threading into assists, dedupe by Message-ID and journal), and
only then marks it \\Seen. A crash between the two finds the message unseen next time, and
its Message-ID makes the second pass a duplicate: one task, one assist event. A message that
can never be handled (unreadable, or for no workspace) is marked \\Seen too, with a warning,
rather than fetched forever; it stays in the mailbox for a person to read.

The connection is TLS from the start (`tls`, port 993), upgraded before logging in
(`starttls`, port 143), or plain (`none`, a server on the same host). The server's certificate
and name are checked against the system's trust store; a deployment whose mail server has a
certificate from a private CA points the standard SSL_CERT_FILE (or SSL_CERT_DIR) variable at
a bundle that includes it. An untrusted certificate is logged as an error and nothing is sent.

The standard library's `imaplib`, each call in a thread (`asyncio.to_thread`): a poll is a few
round trips a minute, one connection at a time, which needs no new dependency (aioimaplib
would be one, for no gain here). The round runs inside the scheduler's tick, so it is bounded:
at most BATCH messages a round and a socket timeout on every call.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import re
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from channels.base import ChannelContext
from channels.email.channel import NAME, EmailChannel
from channels.email.inbound import MalformedEmail, parse_message
from channels.email.webhook import receive
from channels.errors import ChannelRejected
from config import Settings

log = logging.getLogger(__name__)

BATCH = 50  # messages handled per round; the rest wait for the next one
TIMEOUT = 30.0  # seconds, each IMAP call
_LITERAL = re.compile(rb"\{(\d+)\}$")


class ImapError(Exception):
    """The mailbox could not be read this round; the message says why (never a password)."""


class ImapTrustError(ImapError):
    """The server's TLS certificate is not trusted: a set-up to fix, logged as an error."""


@dataclass(frozen=True, slots=True)
class ImapConfig:
    host: str
    port: int
    user: str
    password: str
    mailbox: str
    security: Literal["tls", "starttls", "none"]
    poll_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ImapConfig | None:
        """The mailbox to poll, or None when IMAP_HOST, IMAP_USER or IMAP_PASSWORD is unset."""
        password = settings.imap_password.get_secret_value() if settings.imap_password else ""
        if not settings.imap_host or not settings.imap_user or not password:
            return None
        port = settings.imap_port or (993 if settings.imap_security == "tls" else 143)
        return cls(
            host=settings.imap_host,
            port=port,
            user=settings.imap_user,
            password=password,
            mailbox=settings.imap_mailbox,
            security=settings.imap_security,
            poll_seconds=settings.imap_poll_seconds,
        )


class Mailbox:
    """One IMAP session (blocking calls: run each in a thread)."""

    def __init__(self, config: ImapConfig) -> None:
        self._config = config
        self._client: imaplib.IMAP4 | None = None

    def open(self) -> None:
        """Connect (TLS as IMAP_SECURITY says, the server's certificate and name checked
        against the system's trust store, or SSL_CERT_FILE's), log in, select the mailbox.
        With `starttls` the password is sent only once the connection is encrypted: a server
        that does not offer STARTTLS is refused, never logged in to in clear."""
        config = self._config
        client: imaplib.IMAP4 | None = None
        try:
            if config.security == "tls":
                client = imaplib.IMAP4_SSL(
                    config.host,
                    config.port,
                    ssl_context=ssl.create_default_context(),
                    timeout=TIMEOUT,
                )
            else:
                client = imaplib.IMAP4(config.host, config.port, timeout=TIMEOUT)
                if config.security == "starttls":
                    client.starttls(ssl.create_default_context())
            self._client = client
            client.login(config.user, config.password)
            status, data = client.select(_quoted(config.mailbox))
        except ssl.SSLCertVerificationError as exc:
            self._drop(client)
            raise ImapTrustError(
                f"the server's certificate is not trusted ({exc.verify_message or exc.reason}), "
                "so nothing was sent to it: if the server's certificate is signed by a private "
                "CA, set SSL_CERT_FILE to a PEM bundle that includes that CA"
            ) from exc
        except ssl.SSLError as exc:
            self._drop(client)
            raise ImapError(
                f"the TLS handshake failed ({exc.reason or type(exc).__name__}): check that "
                f"IMAP_SECURITY={config.security} and IMAP_PORT={config.port} match the server"
            ) from exc
        except (imaplib.IMAP4.error, OSError) as exc:
            self._drop(client)
            raise ImapError(f"{type(exc).__name__}: {_said(exc)}") from exc
        if status != "OK":
            raise ImapError(f"the mailbox {config.mailbox!r} could not be opened: {data!r:.200}")

    def _drop(self, client: imaplib.IMAP4 | None) -> None:
        """Close a connection that failed before it was usable (no LOGOUT: it may not even
        speak TLS the same way as we do)."""
        self._client = None
        if client is not None:
            with contextlib.suppress(OSError):
                client.shutdown()

    def unseen(self) -> list[int]:
        status, data = self._call("SEARCH", "UNSEEN")
        if status != "OK" or not data or not isinstance(data[0], bytes):
            raise ImapError(f"UID SEARCH UNSEEN answered {status}")
        return sorted(int(x) for x in data[0].split() if x.isdigit())

    def fetch(self, uid: int) -> bytes | None:
        """The whole message, or None when it is gone (expunged meanwhile)."""
        status, data = self._call("FETCH", str(uid), "(BODY.PEEK[])")
        if status != "OK":
            raise ImapError(f"UID FETCH {uid} answered {status}")
        for item in data:
            if isinstance(item, tuple) and _LITERAL.search(item[0]):
                return item[1]
        return None

    def mark_seen(self, uid: int) -> None:
        status, _ = self._call("STORE", str(uid), "+FLAGS", "(\\Seen)")
        if status != "OK":
            raise ImapError(f"UID STORE {uid} +FLAGS (\\Seen) answered {status}")

    def close(self) -> None:
        if self._client is None:
            return
        # The server may have gone first; nothing is left to tidy then.
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            self._client.logout()
        self._client = None

    def _call(self, command: str, *args: str) -> tuple[str, list[bytes | tuple[bytes, bytes]]]:
        if self._client is None:
            raise ImapError("the mailbox is not open")
        try:
            status, data = self._client.uid(command, *args)
        except (imaplib.IMAP4.error, OSError) as exc:
            raise ImapError(f"UID {command}: {type(exc).__name__}: {_said(exc)}") from exc
        return status, list(data)


def _quoted(mailbox: str) -> str:
    """A mailbox name as an IMAP string (names with spaces, like "Support Inbox")."""
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _said(exc: BaseException) -> str:
    return str(exc)[:200]


class ImapPoller:
    """The scheduler's per-tick round (`Housekeeping` shape): polls when it is due."""

    def __init__(self, context: ChannelContext, config: ImapConfig) -> None:
        self._context = context
        self._config = config
        self._next: datetime | None = None
        self.rounds = 0

    async def __call__(self, now: datetime) -> None:
        if self._next is not None and now < self._next:
            return
        self._next = now + timedelta(seconds=self._config.poll_seconds)
        try:
            await self.poll()
        except ImapTrustError as exc:
            # Every message stays unseen on the server until the gateway trusts it.
            log.error(
                "IMAP: refused to log in to %s:%s: %s; trying again in %ss",
                self._config.host,
                self._config.port,
                exc,
                self._config.poll_seconds,
            )
        except ImapError as exc:
            log.warning(
                "IMAP: %s@%s:%s could not be read (%s); trying again in %ss",
                self._config.user,
                self._config.host,
                self._config.port,
                exc,
                self._config.poll_seconds,
            )
        except Exception:  # the round's error boundary: briefings must not stop for a mailbox
            log.exception("IMAP: the poll failed; trying again in %ss", self._config.poll_seconds)

    async def poll(self) -> int:
        """One round; returns how many messages were handled (marked \\Seen).

        Raises:
            ImapError: the mailbox could not be opened or read.
        """
        self.rounds += 1
        channel = self._context.channels.get(NAME)
        if not isinstance(channel, EmailChannel):
            log.warning("IMAP: the email channel is off (EMAIL_FROM is not set); not polling")
            return 0
        mailbox = Mailbox(self._config)
        handled = 0
        try:
            await asyncio.to_thread(mailbox.open)
            for uid in (await asyncio.to_thread(mailbox.unseen))[:BATCH]:
                raw = await asyncio.to_thread(mailbox.fetch, uid)
                if raw is None:
                    continue
                try:
                    await receive(self._context, channel, parse_message(raw))
                except MalformedEmail as exc:
                    log.warning("IMAP: message %s is unreadable (%s); marked seen", uid, exc)
                except ChannelRejected as exc:
                    if exc.status >= 500:  # the gateway is stopping: left unseen for later
                        return handled
                    log.warning("IMAP: message %s refused (%s); marked seen", uid, exc.message)
                await asyncio.to_thread(mailbox.mark_seen, uid)
                handled += 1
        finally:
            await asyncio.to_thread(mailbox.close)
        return handled
