"""Serving the gateway: one process, or SWITCHBOARD_PROCESSES of them on one port (SO_REUSEPORT)
under a supervisor that starts them, restarts one that dies, and stops them all on a signal.

Each process is a whole gateway node (HTTP server, workers, outbox, a scheduler candidate), so N
processes share the work through PostgreSQL exactly as N hosts do: claim tokens, the outbox's
claims, the scheduler's advisory lock. The children are `main.py serve` run again with
`SUPERVISOR_FD` naming a socket to the supervisor: a fresh interpreter (nothing forked after an
event loop, SQLAlchemy engines or SDK clients exist), a plain command line in `ps`, the settings
read as the parent read them. Over that socket a child says once that it listens (or why it
cannot); the socket closing tells a child its supervisor is gone, and it stops.

`/metrics` describes all the processes, whichever one answers: the supervisor gives its
children a private directory for prometheus_client's multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`
in their environment from the start, before the library is imported), where each process keeps
its metrics in files that the answering one merges (`config.metrics`); a dead child's live
gauges are removed from it, and the directory when the supervisor exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import secrets
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from config import Settings
from config.command import command

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("switchboard.processes")

# The environment variable that makes `serve` a supervised child: the number of its end of
# the socket to the supervisor. Not SWITCHBOARD_*: it is no setting, and is never warned about.
SUPERVISOR_FD = "_SWITCHBOARD_SUPERVISOR_FD"
# `main.py` sits beside this package in a checkout and in an installed wheel (a py-module).
MAIN = Path(__file__).resolve().parents[1] / "main.py"
# prometheus_client's setting for its multiprocess mode (`config.metrics.MULTIPROC_DIR`, not
# imported from there: that would import the library before the variable is settled).
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# The key the children sign media links with when SWITCHBOARD_SECRET_KEY is unset (hex; taken
# out of a child's environment as it starts). Not SWITCHBOARD_*: no setting.
MEDIA_KEY = "_SWITCHBOARD_MEDIA_KEY"
# How often a supervised process writes the gauges that are its own state (scheduler
# leadership, LLM breakers) to its metric files, for the scrapes the others answer.
PUBLISH_SECONDS = 1.0

# A replacement starts RESTART_PAUSE seconds after a death, the pause doubling (up to
# MAX_PAUSE) while starts keep failing or processes keep dying within STABLE_SECONDS; after
# GIVE_UP_AFTER such failures in a row the supervisor stops everything and exits 2, so a
# process manager (systemd, a container's restart policy) sees the failure.
RESTART_PAUSE = 0.5
MAX_PAUSE = 5.0
STABLE_SECONDS = 30.0
GIVE_UP_AFTER = 5
# The collector's youngest generation is collected once this many more container objects are
# alive than at its last collection (Python's default is 700). A request's objects die by
# reference counting as it is answered, so what a young collection finds is mostly the
# requests in flight, walked again and again: at 700, 64 concurrent webhooks made one young
# collection every 14 requests and an older one every 150, some 30 us of CPU a request, a
# tenth of ingest's; at 10,000 there are a handful a minute. Garbage in cycles waits for at
# most that many allocations more.
GC_YOUNG_THRESHOLD = 10_000


class ServeError(Exception):
    """The gateway cannot serve; the message is the one line the user is shown."""


@dataclass(frozen=True)
class Serving:
    """A started gateway: its runner (`cleanup()` finishes claimed work) and where it listens."""

    runner: web.AppRunner
    host: str
    port: int


async def start_serving(
    settings: Settings, *, supervised: bool = False, media_key: bytes | None = None
) -> Serving:
    """Build the gateway, start it and listen on SWITCHBOARD_HOST:SWITCHBOARD_PORT; SUPERVISED:
    as one of the supervisor's processes (SO_REUSEPORT, their shared metric files and MEDIA_KEY,
    which signs media links without SWITCHBOARD_SECRET_KEY).

    Raises:
        ServeError: start-up failed (`api.app.StartupError`: the database unreachable or
            missing migrations...) or the address cannot be listened on.
    """
    if not supervised:
        _ignore_metrics_dir()
    # Imported here: the supervisor runs none of the gateway and stays a small process.
    from aiohttp import web

    from api.app import StartupError, build_app

    app = build_app(settings, media_key=media_key)
    runner = web.AppRunner(app, shutdown_timeout=settings.shutdown_grace, access_log=None)
    try:
        await runner.setup()
    except StartupError as exc:
        raise ServeError(str(exc)) from exc
    site = web.TCPSite(
        runner,
        settings.switchboard_host,
        settings.switchboard_port,
        reuse_port=supervised or None,
    )
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ServeError(
            f"cannot listen on {settings.switchboard_host}:{settings.switchboard_port}: "
            f"{exc.strerror}"
        ) from exc
    host, port = site._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
    tune_collector()
    return Serving(runner, str(host), int(port))


def tune_collector(*, young: int = GC_YOUNG_THRESHOLD) -> None:
    """A serving process's collector, once start-up is done. What start-up built (modules,
    SDK clients, compiled statements) lives as long as the process: frozen, it is out of the
    collector's way, so a full collection walks only what requests allocate (it walked
    ~225,000 objects for up to 0.4 s under ingest load, stalling every request in flight).
    The youngest generation's threshold becomes YOUNG (GC_YOUNG_THRESHOLD, see there); the
    older generations' stay as Python has them."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(young, middle, oldest)


def _ignore_metrics_dir() -> None:
    """Take a PROMETHEUS_MULTIPROC_DIR the user set out of a lone process's environment before
    prometheus_client is imported: the process is alone and its registry the whole truth,
    whereas metric files would cost a write per observation, fail the start-up in a directory
    that does not exist, and (a pid reused, as in a container) resume a dead process's
    counters. An embedding that imported the library already keeps the library's choice."""
    if "prometheus_client" in sys.modules:
        return
    for setting in _take_metrics_dir():
        log.warning(
            "%s is ignored: one gateway process serves its own metrics "
            "(with SWITCHBOARD_PROCESSES > 1 the supervisor gives its processes a directory)",
            setting,
        )


def _take_metrics_dir() -> list[str]:
    """Take PROMETHEUS_MULTIPROC_DIR out of this process's environment, and its deprecated
    lower-case spelling, which prometheus_client still reads; `NAME=value` of each there was."""
    names = (METRICS_DIR, METRICS_DIR.lower())
    return [f"{name}={os.environ.pop(name)}" for name in names if name in os.environ]


def announce(settings: Settings, host: str, port: int, processes: int = 1) -> None:
    """Print where the gateway listens and where its console is (standard output)."""
    several = f" ({processes} processes)" if processes > 1 else ""
    print(f"Switchboard listening on http://{host}:{port}{several}", flush=True)
    console = settings.model_copy(update={"switchboard_port": port}).base_url + "/console/"
    print(
        f"Team console: {console} (sign in with the link `{command()} member add ... "
        f"--role owner` or `{command()} member login-link` prints)",
        flush=True,
    )


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (from now on, in the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


# ---------------------------------------------------------------------------- the child


def supervisor_channel() -> socket.socket | None:
    """This process's socket to its supervisor when it is a supervised child, else None.

    Raises:
        SystemExit: SUPERVISOR_FD is set but names no socket (status 2).
    """
    value = os.environ.pop(SUPERVISOR_FD, None)  # no process this one starts inherits it
    if value is None:
        return None
    try:
        return socket.socket(fileno=int(value))
    except (ValueError, OSError) as exc:
        print(f"switchboard: {SUPERVISOR_FD}={value} names no supervisor's socket", file=sys.stderr)
        raise SystemExit(2) from exc


def serve_child(settings: Settings, channel: socket.socket) -> int:
    """Serve as one of the supervisor's processes until SIGTERM or SIGINT (forwarded by the
    supervisor) or until the supervisor is gone; 2 when start-up failed (the supervisor is
    told why and prints it, this process prints nothing)."""
    with contextlib.suppress(KeyboardInterrupt), channel:
        return asyncio.run(_child(settings, channel))
    return 0


async def _child(settings: Settings, channel: socket.socket) -> int:
    loop = asyncio.get_running_loop()
    channel.setblocking(False)
    try:
        media_key = bytes.fromhex(os.environ.pop(MEDIA_KEY, "")) or None
        serving = await start_serving(settings, supervised=True, media_key=media_key)
    except ServeError as exc:
        await _tell(channel, {"failed": str(exc)})
        return 2
    await _tell(channel, {"ready": os.getpid(), "host": serving.host, "port": serving.port})
    stop = stop_on_signals()

    def supervisor_gone() -> None:
        try:
            if channel.recv(64):
                return  # the supervisor sends nothing: ignored
        except BlockingIOError:
            return
        except OSError:
            pass
        loop.remove_reader(channel)
        log.warning("the supervisor is gone: stopping")
        stop.set()

    loop.add_reader(channel, supervisor_gone)
    publishing = asyncio.create_task(_publish_gauges(serving.runner.app), name="metrics")
    await stop.wait()
    publishing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await publishing  # a defect in it is raised here
    log.info("shutting down: finishing claimed work")
    await serving.runner.cleanup()
    return 0


async def _publish_gauges(app: web.Application) -> None:
    """Every PUBLISH_SECONDS, write this process's own state (scheduler leadership, LLM
    breakers) to its metric files: `/metrics` reads it there, whichever process answers
    (that one writes its own at the scrape)."""
    from api.state import GATEWAY

    gateway = app[GATEWAY]
    while True:
        gateway.metrics.sample()
        if gateway.gauges is not None:
            gateway.gauges.publish()
        await asyncio.sleep(PUBLISH_SECONDS)


async def _tell(channel: socket.socket, message: dict[str, object]) -> None:
    with contextlib.suppress(OSError):  # the supervisor gone: nobody to tell
        await asyncio.get_running_loop().sock_sendall(channel, json.dumps(message).encode() + b"\n")


# ---------------------------------------------------------------------------- the supervisor


def supervise(settings: Settings) -> int:
    """Run SWITCHBOARD_PROCESSES gateway processes on one port until SIGINT or SIGTERM, which
    is forwarded to each; 0 once all have finished their claimed work, 2 when they could not
    be started (or kept running: see GIVE_UP_AFTER), 1 when one had to be killed at the end.
    """
    if not hasattr(socket, "SO_REUSEPORT"):
        print(
            "switchboard: SWITCHBOARD_PROCESSES needs SO_REUSEPORT, which this system lacks: "
            "run one process (SWITCHBOARD_PROCESSES=1) per port",
            file=sys.stderr,
        )
        return 2
    reserved: list[socket.socket] = []
    if settings.switchboard_port == 0:
        # The children must share one port: the supervisor picks it and keeps it bound (not
        # listening, so it takes no connections) while they run.
        try:
            reserved = _reserve_port(settings.switchboard_host)
        except OSError as exc:
            print(
                f"switchboard: cannot listen on {settings.switchboard_host}:0: {exc.strerror}",
                file=sys.stderr,
            )
            return 2
        settings = settings.model_copy(update={"switchboard_port": reserved[0].getsockname()[1]})
    try:
        try:
            metrics = _metrics_directory()
        except OSError as exc:
            print(f"switchboard: cannot create a directory for the metrics: {exc}", file=sys.stderr)
            return 2
        with metrics as metrics_dir:
            return asyncio.run(Supervisor(settings, metrics_dir).run())
    finally:
        for sock in reserved:
            sock.close()


def _metrics_directory() -> tempfile.TemporaryDirectory[str]:
    """The children's PROMETHEUS_MULTIPROC_DIR: a new directory, so no other run's or
    program's files are merged into the processes' metrics, private (mode 0700), removed with
    its files when closed. One the user set is not used (it is said once).

    Raises:
        OSError: the directory cannot be created (TMPDIR missing or read-only...).
    """
    for setting in _take_metrics_dir():
        log.warning(
            "%s is ignored: the gateway processes keep their metrics in a private directory "
            "of the supervisor's",
            setting,
        )
    return tempfile.TemporaryDirectory(prefix="switchboard-metrics-", ignore_cleanup_errors=True)


def _reserve_port(host: str) -> list[socket.socket]:
    """Sockets bound with SO_REUSEPORT to one free port on every address HOST resolves to
    (as `loop.create_server` binds them all).

    Raises:
        OSError: HOST does not resolve or the port is not free on one of its addresses.
    """
    infos = socket.getaddrinfo(host or None, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    reserved: list[socket.socket] = []
    port = 0
    try:
        for family, kind, proto, _name, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            reserved.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address[0], port, *address[2:]))
            port = sock.getsockname()[1]
    except OSError:
        for sock in reserved:
            sock.close()
        raise
    return reserved


def _child_command() -> list[str]:
    # The console script when this process is one, so the children's messages name
    # `switchboard` as this process's do (`config.command` goes by argv[0]); else main.py.
    script = Path(sys.argv[0])
    if script.name == "switchboard" and script.is_file():
        return [sys.executable, str(script.absolute()), "serve"]
    return [sys.executable, str(MAIN), "serve"]


def describe_exit(code: int) -> str:
    """`exited with status 3`, `was killed by SIGKILL`."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with status {code}"


@dataclass
class _Child:
    slot: int
    proc: asyncio.subprocess.Process
    channel: asyncio.StreamReader
    closer: asyncio.StreamWriter
    started: float
    address: tuple[str, int] | None = field(default=None)


class Supervisor:
    """Starts SWITCHBOARD_PROCESSES children, keeps that many running, stops them on a signal."""

    def __init__(self, settings: Settings, metrics_dir: str) -> None:
        self.settings = settings
        self.count = settings.processes
        self.metrics_dir = metrics_dir  # the children's PROMETHEUS_MULTIPROC_DIR
        # Without SWITCHBOARD_SECRET_KEY each process would sign media links with a key of its
        # own, and a link made by one would be refused by the others: one key for this run.
        self.media_key = secrets.token_hex(32)
        self._stopping = asyncio.Event()
        self._signal = signal.SIGTERM
        self._failure: str | None = None
        self._live: dict[int, _Child] = {}  # by pid: started and not yet reaped

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        work = asyncio.create_task(self._supervise(), name="supervise")
        work.add_done_callback(lambda _task: self._stopping.set())
        await self._stopping.wait()
        work.cancel()
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await work  # a defect in it is raised, once the children are stopped
        finally:
            status = await self._stop_children()
        if self._failure is not None:
            print(f"switchboard: {self._failure}", file=sys.stderr, flush=True)
            return 2
        return status

    def _on_signal(self, sig: signal.Signals) -> None:
        if not self._stopping.is_set():
            self._signal = sig
            log.info("%s: stopping the gateway processes", sig.name)
        self._stopping.set()

    def _give_up(self, failure: str) -> None:
        self._failure = failure
        self._stopping.set()

    async def _supervise(self) -> None:
        # The first process alone, then the others: it applies the migrations (when
        # SWITCHBOARD_AUTO_MIGRATE says so, under `Database.migrate`'s advisory lock) or finds
        # them missing, and a start-up error (the database unreachable...) is met once.
        first = await self._spawn(1)
        if (failure := await self._ready(first)) is not None:
            self._give_up(failure)
            return
        others = [await self._spawn(slot) for slot in range(2, self.count + 1)]
        failures = await asyncio.gather(*(self._ready(child) for child in others))
        if failure := next((f for f in failures if f is not None), None):
            self._give_up(failure)
            return
        assert first.address is not None
        host, port = first.address
        announce(self.settings, host, port, self.count)
        log.info("listening on http://%s:%s with %d processes", host, port, self.count)
        await asyncio.gather(*(self._keep(child) for child in [first, *others]))

    async def _spawn(self, slot: int) -> _Child:
        ours, theirs = socket.socketpair()
        with theirs:  # the child's end: this process closes its copy once the child has it
            reader, writer = await asyncio.open_unix_connection(sock=ours)
            env = {
                **os.environ,
                SUPERVISOR_FD: str(theirs.fileno()),
                "SWITCHBOARD_PORT": str(self.settings.switchboard_port),
                METRICS_DIR: self.metrics_dir,
                MEDIA_KEY: self.media_key,
            }
            try:
                proc = await asyncio.create_subprocess_exec(
                    *_child_command(),
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    pass_fds=(theirs.fileno(),),
                    # Out of the terminal's process group: a Ctrl-C reaches the supervisor,
                    # which forwards it, rather than every process at once.
                    process_group=0,
                )
            except BaseException:
                writer.close()
                raise
        child = _Child(slot, proc, reader, writer, asyncio.get_running_loop().time())
        self._live[proc.pid] = child
        log.info("gateway process #%d started: pid %d", slot, proc.pid)
        return child

    async def _ready(self, child: _Child, *, name_it: bool = False) -> str | None:
        """None once CHILD listens, else why it did not start (it has exited then): its own
        reason (named as process #N's with NAME_IT), or how it exited."""
        line = b""
        with contextlib.suppress(OSError):
            line = await child.channel.readline()
        try:
            message = json.loads(line) if line else {}
        except ValueError:
            message = {}
        if "ready" in message:
            child.address = (str(message["host"]), int(message["port"]))
            log.info("gateway process #%d (pid %d) is ready", child.slot, child.proc.pid)
            return None
        code = await self._reap(child)
        if "failed" in message:
            reason = str(message["failed"])
            return f"gateway process #{child.slot} did not start: {reason}" if name_it else reason
        return (
            f"gateway process #{child.slot} (pid {child.proc.pid}) {describe_exit(code)} "
            "before it was ready (its output is above)"
        )

    async def _reap(self, child: _Child) -> int:
        # Imported here: only a supervisor needs it (see `_ignore_metrics_dir`).
        from prometheus_client.multiprocess import mark_process_dead

        code = await child.proc.wait()
        self._live.pop(child.proc.pid, None)
        child.closer.close()
        # Its "live" gauges (leadership, busy workers, breakers) leave `/metrics`; its
        # counters stay, so the sums over the processes never go backwards.
        mark_process_dead(child.proc.pid, self.metrics_dir)
        return code

    async def _keep(self, child: _Child) -> None:
        """Replace CHILD whenever it dies, until the supervisor stops or gives up."""
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            code = await self._reap(child)
            failures = failures + 1 if loop.time() - child.started < STABLE_SECONDS else 0
            reason = f"gateway process #{child.slot} (pid {child.proc.pid}) {describe_exit(code)}"
            while True:
                if failures >= GIVE_UP_AFTER:
                    self._give_up(f"{reason}; {failures} failures in a row, giving up")
                    return
                pause = min(RESTART_PAUSE * 2**failures, MAX_PAUSE)
                log.warning("%s; starting another in %g s", reason, pause)
                await asyncio.sleep(pause)
                child = await self._spawn(child.slot)
                failure = await self._ready(child, name_it=True)
                if failure is None:
                    break
                failures += 1
                reason = failure

    async def _stop_children(self) -> int:
        """Forward the stop signal to every child and wait for them all (each finishes its
        claimed work within SWITCHBOARD_SHUTDOWN_GRACE); 1 if one had to be killed."""
        children = list(self._live.values())
        for child in children:
            if child.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(self._signal)
        # A child's clean-up waits up to the grace for connections, then for its workers.
        limit = 3 * self.settings.shutdown_grace + 10
        status = 0
        if children:
            _done, stuck = await asyncio.wait(
                [asyncio.create_task(self._reap(child)) for child in children], timeout=limit
            )
            if stuck:
                for child in children:
                    if child.proc.returncode is None:
                        log.error(
                            "gateway process #%d (pid %d) did not stop in %g s: killed",
                            child.slot,
                            child.proc.pid,
                            limit,
                        )
                        child.proc.kill()
                await asyncio.gather(*stuck)
                status = 1
            log.info("all gateway processes stopped")
        return status
