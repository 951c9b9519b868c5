"""Start the real server (gunicorn) for tests, demos and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _get_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def listening_sockets(port: int) -> int | None:
    """How many sockets listen on TCP ``port`` (IPv4 and IPv6), from the kernel's tables (Linux);
    ``None`` where ``/proc/net/tcp`` does not exist."""
    count, found = 0, False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        found = True
        count += sum(1 for line in lines
                     if line.split()[3] == "0A" and int(line.split()[1].rsplit(":", 1)[1], 16) == port)
    return count if found else None


@contextmanager
def running_service(repo: str | os.PathLike[str], engine: str = "onnx", workers: int = 1,
                    env: Mapping[str, str] | None = None, *, args: Sequence[str] = (),
                    timeout: float = 90.0, log_path: str | os.PathLike[str] | None = None,
                    file_size_limit: int | None = None) -> Iterator[str]:
    """Run ``scorebridge serve`` on a free loopback port; yield its base URL once ``/readyz`` is 200
    and (on Linux) every worker listens.

    ``args`` adds serve options (``["--threads", "4"]``); ``env`` adds environment variables.
    The server's stdout and stderr (the audit log by default) go to ``log_path`` (if ``None``, a
    temporary file, deleted on exit; its tail is in the error when the server does not start). On exit
    the server gets SIGTERM (graceful) and, if it lingers, SIGKILL. ``file_size_limit`` sets the server's
    ``RLIMIT_FSIZE`` (``ulimit -f``, in bytes), to test what a write past it does.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "scoring_service.server", "--repo", os.fspath(repo), "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--engine", engine, *args]
    full_env = {**os.environ, **(env or {})}
    # the project root must be importable even when the caller runs from elsewhere
    root = str(Path(__file__).resolve().parent.parent)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, full_env.get("PYTHONPATH")]))
    full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    temporary = log_path is None
    if temporary:
        fd, log_path = tempfile.mkstemp(prefix="scorebridge-serve-", suffix=".log")
        os.close(fd)
    with open(log_path, "ab") as log:
        limit = None
        if file_size_limit is not None:
            import resource

            def limit() -> None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, start_new_session=True,
                                preexec_fn=limit)
    try:
        deadline = time.monotonic() + timeout
        while _get_status(base + "/readyz") != 200:
            if proc.poll() is not None:
                raise RuntimeError(f"scorebridge serve exited with {proc.returncode}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"scorebridge serve not ready after {timeout:.0f} s:\n{_tail(log_path)}")
            time.sleep(0.1)
        # /readyz answers once the first worker listens; a test that kills or stops one needs the
        # others to be listening too (each listens on its own socket once its models are loaded)
        while (n := listening_sockets(port)) is not None and n < workers:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"only {n} of {workers} workers listen:\n{_tail(log_path)}")
            time.sleep(0.1)
        yield base
    finally:
        _stop(proc)
        if temporary:
            Path(log_path).unlink(missing_ok=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group we started: the master and its workers
            proc.wait(timeout=10)


def _tail(path: str | os.PathLike[str], lines: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _processes() -> dict[int, tuple[int, list[bytes]]]:
    """``{pid: (parent pid, command line)}`` from ``/proc``."""
    procs = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            procs[int(entry.name)] = (ppid, args)
    return procs


def master_pid(base: str) -> int:
    """The gunicorn master of the server ``running_service`` started on ``base``'s port (Linux)."""
    port = base.rsplit(":", 1)[1].encode()
    return next(pid for pid, (_, args) in _processes().items()
                if b"scoring_service.server" in args and b"--port" in args and args[args.index(b"--port") + 1] == port)


def worker_pids(base: str) -> list[int]:
    """The gunicorn workers of the server listening on ``base``'s port (Linux)."""
    master = master_pid(base)
    return sorted(pid for pid, (ppid, _) in _processes().items() if ppid == master)


def connections_by_worker(base: str) -> dict[int, int]:
    """``{worker pid: established connections to the server's port}`` (from ``/proc``, Linux)."""
    port = int(base.rsplit(":", 1)[1])
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "01" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                established.add(cols[9])  # the socket's inode
    out = {}
    for pid in worker_pids(base):
        count = 0
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:[") and target[8:-1] in established:
                    count += 1
        except OSError:
            continue
        out[pid] = count
    return out
