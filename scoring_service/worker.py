"""gunicorn's gthread worker and arbiter, with what a scoring service needs of them.

- **Errors gunicorn answers itself** (a malformed request line, headers too large, a bad chunked
  body: before the app runs) carry the service's JSON error body instead of gunicorn's HTML page.
- **Keep-alive connections are recycled** once :data:`MAX_CONNECTION_AGE` old: the next answer on
  such a connection says ``Connection: close``, and the client's reconnect lands on whichever
  worker the kernel picks (each worker has its own ``SO_REUSEPORT`` socket). So after a worker dies
  and gunicorn starts another, a client pool that had all its connections on the survivor spreads
  over both again within seconds instead of never.
- **A stopping worker stops taking connections at once**: on SIGTERM (shutdown, or a reload's old
  workers) it accepts what the kernel already queued on its socket and closes the socket, so new
  connections go to the workers that stay instead of waiting in a queue nobody accepts from; its
  kept-alive connections get gunicorn's short linger and answer with ``Connection: close``.
- **A reload (SIGHUP) is graceful**: the arbiter keeps the old workers serving until their
  replacements have loaded every model and listen (:class:`ScoringArbiter`).
- **Audit log**: SIGUSR1 (``logrotate``'s ``postrotate``, as for gunicorn's own logs) reopens it;
  a write past ``RLIMIT_FSIZE`` fails with EFBIG (counted and dropped) instead of killing the worker.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from gunicorn import util
from gunicorn.arbiter import Arbiter
from gunicorn.workers.gthread import TConn, ThreadWorker

from scoring_service.errors import gunicorn_error

MAX_CONNECTION_AGE = 5.0  # seconds; a reconnect costs ~0.1 ms, a stuck imbalance halves the throughput

_error_path = threading.local()  # the path of the request gunicorn is refusing, for the error's form


def _write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error``, answering with the service's JSON error body."""
    util.write_nonblock(sock, gunicorn_error(status_int, reason, mesg, getattr(_error_path, "value", None)))


class ScoringWorker(ThreadWorker):
    """gunicorn's gthread worker plus the behaviours in the module docstring."""

    def init_process(self) -> None:
        # a write beyond RLIMIT_FSIZE raises SIGXFSZ, whose default action ends the process
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        util.write_error = _write_json_error  # gunicorn calls it from Worker.handle_error only
        super().init_process()

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        _error_path.value = getattr(req, "path", None)
        try:
            super().handle_error(req, client, addr, exc)
        finally:
            _error_path.value = None

    def handle_request(self, req: Any, conn: TConn) -> bool:
        now = time.monotonic()
        born = getattr(conn, "scorebridge_born", None)
        if born is None:
            conn.scorebridge_born = now
        elif now - born >= MAX_CONNECTION_AGE:
            req.must_close = True  # answered with "Connection: close"
        return super().handle_request(req, conn)

    def set_accept_enabled(self, enabled: bool) -> None:
        if not enabled and not self.alive and self.sockets:
            for listener in self.sockets:
                self._accept_queued(listener)
            super().set_accept_enabled(False)
            for listener in self.sockets:
                listener.close()
            self.sockets = []
            return
        super().set_accept_enabled(enabled)

    def _accept_queued(self, listener: Any) -> None:
        """Take every connection the kernel has queued on ``listener`` (closing it would reset them)."""
        while True:
            try:
                client, addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.nr_conns += 1
            client.setblocking(True)
            self.enqueue_req(TConn(self.cfg, client, addr, listener.getsockname()))

    def handle_usr1(self, sig: int, frame: Any) -> None:
        super().handle_usr1(sig, frame)
        service = getattr(self.wsgi, "extensions", {}).get("scorebridge") if self.wsgi is not None else None
        if service is not None and service.audit is not None:
            service.audit.reopen()


def listening_marker(runtime: Path, pid: int) -> Path:
    """The file a worker writes once it listens (see :class:`ScoringArbiter`)."""
    return runtime / f"listening-{pid}"


class ScoringArbiter(Arbiter):
    """gunicorn's arbiter; on a reload (SIGHUP) the old workers keep serving until every new one has
    loaded its models and listens (``listening-<pid>`` in the runtime directory), or until gunicorn's
    ``timeout`` passes (a new worker that cannot boot does not keep the old ones forever)."""

    runtime: Path | None = None

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self._deferred_since: float | None = None

    def manage_workers(self) -> None:
        if self.runtime is not None and len(self.WORKERS) > self.num_workers and not self._successors_ready():
            return
        self._deferred_since = None
        super().manage_workers()

    def _successors_ready(self) -> bool:
        now = time.monotonic()
        if self._deferred_since is None:
            self._deferred_since = now
        if now - self._deferred_since > self.cfg.timeout:
            return True
        youngest = sorted(self.WORKERS.items(), key=lambda w: w[1].age)[-self.num_workers:]
        return all(listening_marker(self.runtime, pid).exists() for pid, _ in youngest)


def mark_listening(runtime: Path | None) -> None:
    """Called by a worker once it listens."""
    if runtime is not None:
        listening_marker(runtime, os.getpid()).touch()
