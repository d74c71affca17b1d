"""A minimal IMAP4rev1 server (RFC 3501) on asyncio, holding one mailbox in memory.

Enough for a poller: CAPABILITY, NOOP, LOGIN, SELECT/EXAMINE, UID SEARCH (UNSEEN or ALL),
UID FETCH of `RFC822` (which sets \\Seen, as RFC 3501 says) or `BODY.PEEK[]` (which does not),
UID STORE +FLAGS / -FLAGS, and LOGOUT. Literals are sent as `{n}` with their bytes. Every
command is recorded; `fail_store` makes STORE answer NO (a poller that dies between handling a
message and marking it \\Seen), `on_store` is awaited before a STORE is applied (to look at
the gateway's database at that moment), `password` refuses other logins.

Security as the gateway's IMAP_SECURITY: `tls` serves implicit TLS (port 993's way) with
`ssl_context`; `starttls` speaks plain text until STARTTLS (RFC 3501 6.2.1), advertising
LOGINDISABLED before it and refusing LOGIN in clear; `none` is plain text throughout.
`tls_logins` counts the logins made over TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

_TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"|(\([^)]*\))|([^\s()]+)')


@dataclass
class StoredMessage:
    uid: int
    data: bytes
    flags: set[str] = field(default_factory=set)


def _tokens(line: bytes) -> list[str]:
    found = []
    for quoted, group, atom in _TOKEN.findall(line):
        if quoted or (not group and not atom):
            found.append(re.sub(rb"\\(.)", rb"\1", quoted).decode("utf-8", "replace"))
        else:
            found.append((group or atom).decode("utf-8", "replace"))
    return found


def _uid_set(value: str, uids: list[int]) -> list[int]:
    """`3`, `1:4`, `2,5`, `4:*` as the UIDs present."""
    chosen: list[int] = []
    top = max(uids, default=0)
    for part in value.split(","):
        low, _, high = part.partition(":")
        start = top if low == "*" else int(low)
        end = start if not high else (top if high == "*" else int(high))
        start, end = min(start, end), max(start, end)
        chosen.extend(u for u in uids if start <= u <= end and u not in chosen)
    return chosen


@dataclass
class ImapSim:
    user: str = "support@demo.example"
    password: str = "imap-password-0123"
    mailbox: str = "INBOX"
    host: str = "127.0.0.1"
    port: int = 0
    messages: list[StoredMessage] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    fail_store: bool = False
    on_store: Callable[[int], Awaitable[None]] | None = None
    security: Literal["tls", "starttls", "none"] = "none"
    ssl_context: ssl.SSLContext | None = None
    logins: int = 0
    tls_logins: int = 0
    handshake_failures: int = 0
    _server: asyncio.Server | None = None
    _next_uid: int = 1

    def add(self, data: bytes, *, seen: bool = False) -> int:
        uid = self._next_uid
        self._next_uid += 1
        self.messages.append(StoredMessage(uid, data, {"\\Seen"} if seen else set()))
        return uid

    def unseen(self) -> list[int]:
        return [m.uid for m in self.messages if "\\Seen" not in m.flags]

    async def start(self) -> None:
        if self.security != "none" and self.ssl_context is None:
            raise ValueError(f"security {self.security!r} needs an ssl_context")
        implicit = self.ssl_context if self.security == "tls" else None
        self._server = await asyncio.start_server(self._serve, self.host, 0, ssl=implicit)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # ---------------------------------------------------------------------------- session

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state = {"auth": False, "selected": False, "tls": self.security == "tls"}
        writer.write(b"* OK sim IMAP ready\r\n")
        try:
            while not reader.at_eof():
                line = await reader.readline()
                if not line:
                    break
                parts = line.rstrip(b"\r\n").split(b" ", 1)
                tag = parts[0].decode("ascii", "replace")
                rest = parts[1] if len(parts) > 1 else b""
                words = _tokens(rest)
                command = words[0].upper() if words else ""
                # The command as sent, but never a password.
                self.commands.append(
                    "LOGIN" if command == "LOGIN" else rest.decode("utf-8", "replace")
                )
                if command == "STARTTLS":
                    if not await self._starttls(writer, tag, state):
                        break
                    continue
                if not await self._answer(writer, tag, command, words[1:], state):
                    break
                await writer.drain()
        except ssl.SSLError:
            self.handshake_failures += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(ConnectionError):
                writer.close()
                await writer.wait_closed()

    async def _answer(
        self,
        writer: asyncio.StreamWriter,
        tag: str,
        command: str,
        args: list[str],
        state: dict[str, bool],
    ) -> bool:
        def ok(text: str = "completed") -> None:
            writer.write(f"{tag} OK {command} {text}\r\n".encode())

        if command == "CAPABILITY":
            if self.security == "starttls" and not state["tls"]:
                writer.write(b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n")
            else:
                writer.write(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")
            ok()
        elif command == "NOOP":
            ok()
        elif command == "LOGOUT":
            writer.write(b"* BYE sim IMAP closing\r\n")
            ok()
            await writer.drain()
            return False
        elif command == "LOGIN" and self.security == "starttls" and not state["tls"]:
            writer.write(f"{tag} NO [PRIVACYREQUIRED] LOGIN only after STARTTLS\r\n".encode())
        elif command == "LOGIN" and len(args) == 2:
            if (args[0], args[1]) != (self.user, self.password):
                writer.write(f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n".encode())
            else:
                self.logins += 1
                self.tls_logins += 1 if state["tls"] else 0
                state["auth"] = True
                ok()
        elif not state["auth"]:
            writer.write(f"{tag} BAD not authenticated\r\n".encode())
        elif command in ("SELECT", "EXAMINE") and len(args) == 1:
            if args[0] != self.mailbox and args[0].upper() != self.mailbox.upper():
                writer.write(f"{tag} NO [NONEXISTENT] no such mailbox\r\n".encode())
                return True
            state["selected"] = True
            writer.write(
                f"* {len(self.messages)} EXISTS\r\n* 0 RECENT\r\n"
                f"* OK [UIDVALIDITY 1] UIDs valid\r\n* OK [UIDNEXT {self._next_uid}] next\r\n"
                "* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)\r\n".encode()
            )
            writer.write(f"{tag} OK [READ-WRITE] {command} completed\r\n".encode())
        elif not state["selected"]:
            writer.write(f"{tag} BAD no mailbox selected\r\n".encode())
        elif command == "UID" and args:
            await self._uid(writer, tag, args[0].upper(), args[1:])
        else:
            writer.write(f"{tag} BAD unknown command {command}\r\n".encode())
        return True

    async def _starttls(
        self, writer: asyncio.StreamWriter, tag: str, state: dict[str, bool]
    ) -> bool:
        """Answer STARTTLS and upgrade the connection; False when the handshake fails."""
        if self.security != "starttls" or state["tls"]:
            writer.write(f"{tag} BAD STARTTLS is not offered here\r\n".encode())
            await writer.drain()
            return True
        assert self.ssl_context is not None
        writer.write(f"{tag} OK Begin TLS negotiation now\r\n".encode())
        await writer.drain()
        try:
            await writer.start_tls(self.ssl_context)
        except (ssl.SSLError, ConnectionError):
            self.handshake_failures += 1
            return False
        state["tls"] = True
        return True

    async def _uid(
        self, writer: asyncio.StreamWriter, tag: str, verb: str, args: list[str]
    ) -> None:
        uids = [m.uid for m in self.messages]
        by_uid = {m.uid: (n, m) for n, m in enumerate(self.messages, start=1)}
        if verb == "SEARCH":
            keys = [a.upper() for a in args]
            if keys == ["UNSEEN"]:
                found = self.unseen()
            elif keys == ["ALL"]:
                found = uids
            else:
                writer.write(f"{tag} BAD only UNSEEN and ALL are searched here\r\n".encode())
                return
            writer.write(("* SEARCH" + "".join(f" {u}" for u in found) + "\r\n").encode())
        elif verb == "FETCH" and len(args) == 2:
            item = args[1].strip("()").upper()
            if item not in ("RFC822", "BODY.PEEK[]"):
                writer.write(f"{tag} BAD only RFC822 and BODY.PEEK[] are fetched here\r\n".encode())
                return
            for uid in _uid_set(args[0], uids):
                number, message = by_uid[uid]
                name = "RFC822" if item == "RFC822" else "BODY[]"
                if item == "RFC822":
                    message.flags.add("\\Seen")
                head = f"* {number} FETCH (UID {uid} {name} {{{len(message.data)}}}\r\n"
                writer.write(head.encode() + message.data + b")\r\n")
        elif verb == "STORE" and len(args) >= 3:
            if self.fail_store:
                writer.write(f"{tag} NO [SERVERBUG] the store failed\r\n".encode())
                return
            if self.on_store is not None:
                for uid in _uid_set(args[0], uids):
                    await self.on_store(uid)
            mode = args[1].upper()
            flags = set(" ".join(args[2:]).strip("()").split())
            for uid in _uid_set(args[0], uids):
                number, message = by_uid[uid]
                if mode.startswith("+FLAGS"):
                    message.flags |= flags
                elif mode.startswith("-FLAGS"):
                    message.flags -= flags
                else:
                    message.flags = set(flags)
                if not mode.endswith(".SILENT"):
                    shown = " ".join(sorted(message.flags))
                    writer.write(f"* {number} FETCH (UID {uid} FLAGS ({shown}))\r\n".encode())
        else:
            writer.write(f"{tag} BAD unknown UID command {verb}\r\n".encode())
            return
        writer.write(f"{tag} OK UID {verb} completed\r\n".encode())
