"""A throwaway ``redis-server`` on a free loopback port, in a temporary directory.

For the tests, the benchmarks and the quickstart's keyed demo: the real server (Debian's
``redis-server``, which ``scripts/bootstrap.sh`` installs), with no persistence, stopped on exit.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from scorebridge.errors import ScorebridgeError


def redis_server_path() -> str | None:
    """The ``redis-server`` executable, or ``None`` when it is not installed."""
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/local/bin/redis-server") if Path(p).is_file()), None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_redis(*, timeout: float = 20.0, extra: tuple[str, ...] = ()) -> Iterator[str]:
    """Start ``redis-server`` on a free loopback port; yield its URL (``redis://127.0.0.1:PORT/0``).

    ``extra`` adds server options (``("--maxmemory", "10mb")``). The server is stopped (SIGTERM, then
    SIGKILL) and its directory removed on exit.
    """
    exe = redis_server_path()
    if exe is None:
        raise ScorebridgeError("redis-server is not installed (bash scripts/bootstrap.sh installs Debian's)")
    with tempfile.TemporaryDirectory(prefix="scorebridge-redis-") as workdir:
        for _ in range(5):  # a port taken between the probe and the bind: try another
            port = _free_port()
            cmd = [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", "",
                   "--appendonly", "no", "--daemonize", "no", "--logfile", str(Path(workdir) / "redis.log"),
                   *extra]
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            if _wait_ready(proc, port, timeout):
                break
            _stop(proc)
        else:
            log = Path(workdir) / "redis.log"
            tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
            raise ScorebridgeError(f"redis-server did not start: {tail.strip()}")
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            _stop(proc)


def _wait_ready(proc: subprocess.Popen, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith((b"+PONG", b"-NOAUTH")):  # -NOAUTH: up, with --requirepass
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
