"""Run real gateway processes (`python main.py serve`) for crash and multi-node tests."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_LISTENING = re.compile(rb"listening on http://([\d.]+):(\d+)")


class GatewayProcess:
    """One `main.py serve` child on an ephemeral port; stderr kept for failure messages."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self._env = env
        self._cwd = cwd
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self.output = bytearray()

    async def start(self, timeout: float = 30.0) -> GatewayProcess:  # noqa: ASYNC109
        env = {
            "PATH": os.environ.get("PATH", ""),
            "SWITCHBOARD_HOST": "127.0.0.1",
            "SWITCHBOARD_PORT": "0",
            "LOG_FORMAT": "json",
            "SWITCHBOARD_POLL_INTERVAL": "0.05",
            **self._env,
        }
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "main.py"),
            "serve",
            cwd=self._cwd,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    line = await self.proc.stdout.readline()
                    if not line:
                        raise AssertionError(f"gateway exited before listening:\n{self.text}")
                    self.output += line
                    if match := _LISTENING.search(line):
                        host, port = match.groups()
                        self.url = f"http://{host.decode()}:{port.decode()}"
                        break
        except BaseException as exc:
            # Not started (or the test gave up on it): no child outlives the test.
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
            if isinstance(exc, TimeoutError):
                raise AssertionError(f"gateway did not start in {timeout}s:\n{self.text}") from exc
            raise
        self._drain = asyncio.create_task(self._read_rest())
        return self

    async def _read_rest(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.output += line

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    async def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, nothing is released."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        await self._drain

    async def stop(self, timeout: float = 20.0) -> int:  # noqa: ASYNC109
        """SIGTERM and wait for a graceful exit."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(timeout):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
                raise AssertionError(f"gateway ignored SIGTERM:\n{self.text}") from None
        await self._drain
        return self.proc.returncode or 0
