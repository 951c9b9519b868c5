"""Run the service under gunicorn (never Flask's development server).

gthread workers (:mod:`scoring_service.worker`): keep-alive connections and a few request threads per
worker; models load in each worker after the fork (no preload), engines run one thread each (one
worker per core scales better than threads inside one small request, and avoids OpenMP/ONNX Runtime
oversubscription).

``python -m scoring_service.server --repo DIR ...`` takes the same options as ``scorebridge serve``.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from scorebridge.bundle import list_models
from scorebridge.errors import UntrustedPickleError
from scoring_service import affinity
from scoring_service.config import ConfigError, ServiceConfig, available_cores
from scoring_service.worker import ScoringArbiter, listening_marker, mark_listening

# measured on 2 cores with serve_bench.py: 2 threads per worker beat 1 (keep-alive connections wait
# less) and 4+ (more GIL contention); see docs/serving-performance.md
DEFAULT_THREADS = 2
# BLAS pools (NumPy, the native pipeline's linear algebra): one thread per call, a worker per core.
_BLAS_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_environment(config: ServiceConfig) -> dict[str, str]:
    """Thread-pool variables the workers inherit (the operator's own settings win)."""
    env = dict.fromkeys(_BLAS_VARS, str(config.engine_threads))
    if config.engine == "native":
        # a pickled pipeline may run OpenMP code with no thread parameter (HistGradientBoosting). Not for
        # onnx/pmml: OMP_NUM_THREADS also caps XGBoost's explicit nthread, and the big-request fast
        # path needs its threads (1,000 records: 5.3 ms capped at 1 thread, 2.7 ms on 2)
        env["OMP_NUM_THREADS"] = str(config.engine_threads)
    return env


def check_startup(config: ServiceConfig, host: str, port: int) -> None:
    """Fail in the master with a one-line reason instead of letting every worker fail."""
    models = list_models(config.repo)  # BundleError when the repository does not exist
    if config.engine == "native" and not config.trust_pickles:
        raise UntrustedPickleError("--engine native unpickles model.joblib, which executes code: add "
                                   "--trust-pickles only for bundles you built, or use --engine onnx|pmml")
    if not models:
        logging.getLogger("scoring_service").warning(
            "repository %s holds no model yet; /readyz answers 503 until one is dropped in", config.repo)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _enable_multiprocess_metrics(runtime: Path) -> None:
    """Point prometheus_client at a per-run directory shared by the workers (before they fork)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = runtime / "metrics"
        metrics_dir.mkdir()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    if "prometheus_client.values" in sys.modules:  # imported before the variable was set
        from prometheus_client import values

        values.ValueClass = values.get_value_class()


def _post_fork(server: Any, worker: Any) -> None:
    # with reuse_port, gunicorn (>= 23) gives each worker its own listening socket before the worker
    # loads the app, and the kernel would queue connections on a worker still loading its models
    # (seconds, for a respawned worker while the others idle): close it and listen once loaded
    if worker.sockets and not server.LISTENERS:
        for listener in worker.sockets:
            listener.close()
        worker.sockets = []
        worker.scorebridge_listen_late = True


def _post_worker_init(worker: Any, pin_dir: Path | None, runtime: Path | None = None) -> None:
    # models are loaded: move every object so far out of the collector's sight, so a full collection
    # during a request walks only what requests allocate (fewer multi-millisecond GC pauses at p99)
    gc.collect()
    gc.freeze()
    if pin_dir is not None:  # before the request threads start: they inherit the main thread's CPU
        core = affinity.claim_core(pin_dir, worker.age)
        if core is not None:
            worker.log.info("request threads pinned to CPU %d (--cpu-affinity)", core)
    if getattr(worker, "scorebridge_listen_late", False):
        from gunicorn import sock, util

        worker.sockets = sock.create_sockets(worker.cfg, worker.log)
        for listener in worker.sockets:
            util.close_on_exec(listener)
        worker.wait_fds = worker.sockets + [worker.PIPE[0]]
        worker.log.info("%s; listening on %s", _load_summary(worker.wsgi),
                        ", ".join(str(lnr) for lnr in worker.sockets))
    mark_listening(runtime)  # a reload's old workers may stop now (ScoringArbiter)


def _load_summary(app: Any) -> str:
    """What this worker loaded, for its "listening" line: a worker whose bundles were all refused
    still listens (``/readyz`` says 503), and its log should not read as if all were well."""
    service = getattr(app, "extensions", {}).get("scorebridge")
    if service is None:  # another WSGI app under these settings
        return "models loaded"
    snap = service.registry.snapshot
    versions = sum(len(v) for v in snap.models.values())
    text = f"models loaded ({len(snap.models)} model(s), {versions} version(s))"
    refused = [f"{name}/{version}" for name, vs in snap.refused.items() for version in vs]
    if refused:
        ready = "ready" if service.registry.is_ready() else "NOT ready: /readyz answers 503"
        text += f"; refused {', '.join(refused)} ({ready})"
    return text


def _child_exit(server: Any, worker: Any, runtime: Path | None = None) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
    if runtime is not None:
        listening_marker(runtime, worker.pid).unlink(missing_ok=True)


def gunicorn_options(host: str, port: int, workers: int, threads: int, pin_dir: Path | None = None,
                     runtime: Path | None = None) -> dict[str, Any]:
    """scorebridge's gunicorn settings; with ``pin_dir`` (a directory the workers share) each worker pins
    its request threads to a CPU of its own (see :mod:`scoring_service.affinity`); ``runtime`` is the
    server's runtime directory (workers mark there that they listen, for graceful reloads)."""
    return {
        "bind": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"],
        "workers": workers,
        "worker_class": "scoring_service.worker.ScoringWorker",  # gthread, see scoring_service/worker.py
        "threads": threads,
        "worker_connections": 1000,
        # a listening socket per worker (SO_REUSEPORT): the kernel spreads new connections across workers.
        # On one shared socket the first worker to wake accepts a whole burst (a pool of 8 keep-alive
        # connections landed 8-0 in 2 of 5 runs), leaving the other cores idle: half the req/s
        "reuse_port": True,
        "keepalive": 30,  # callers keep pooled connections; a new TCP connection costs more than a request
        "timeout": 120,  # boot includes loading and verifying every bundle
        "graceful_timeout": 10,
        "preload_app": False,  # load models after the fork, once per worker
        "accesslog": None,  # the audit log is the per-request record
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "scorebridge-serve",
        "post_fork": _post_fork,
        "post_worker_init": lambda worker: _post_worker_init(worker, pin_dir, runtime),
        "child_exit": lambda server, worker: _child_exit(server, worker, runtime),
        # gunicorn >= 25 opens a control socket in $HOME by default: one path shared by every server
        "control_socket_disable": True,
    }


def serve(config: ServiceConfig, *, host: str = "127.0.0.1", port: int = 8080, workers: int | None = None,
          threads: int | None = None, cpu_affinity: str = "auto") -> None:
    """Run gunicorn until it is stopped (SIGTERM/SIGINT: graceful). Raises ScorebridgeError on bad setup.

    ``cpu_affinity``: ``auto`` pins each worker's request threads to a core of its own when there is one
    worker per core, ``on`` always (round robin), ``off`` never."""
    from gunicorn.app.base import BaseApplication

    if workers is not None and workers < 1 or threads is not None and threads < 1:
        raise ConfigError("--workers and --threads must be at least 1")
    cores = available_cores()
    workers = workers or cores
    try:
        pin = affinity.should_pin(cpu_affinity, workers, cores)
    except ValueError as exc:
        raise ConfigError(f"--cpu-affinity: {exc}") from None
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    check_startup(config, host, port)
    for var, value in thread_environment(config).items():  # before any worker initialises BLAS/OpenMP
        os.environ.setdefault(var, value)
    runtime = Path(tempfile.mkdtemp(prefix="scorebridge-serve-"))
    config = config.with_updates(runtime_dir=runtime)
    options = gunicorn_options(host, port, workers, threads or DEFAULT_THREADS, runtime if pin else None, runtime)
    master = os.getpid()

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:  # skip settings an older gunicorn does not have
                    self.cfg.set(key, value)

        def load(self) -> Any:
            from scoring_service.app import create_app

            return create_app(config)

        def run(self) -> None:
            ScoringArbiter.runtime = runtime
            ScoringArbiter(self).run()

    logging.getLogger("scoring_service").info(
        "serving %s on %s with %d worker(s); each listens on its own socket once its models are loaded",
        config.repo, options["bind"][0], options["workers"])
    try:
        _enable_multiprocess_metrics(runtime)
        Server().run()
    finally:
        # a worker leaves gunicorn with sys.exit, through this frame it inherited from the master: the
        # runtime directory (metrics, reload signals) is the master's to remove, once, at the very end
        if os.getpid() == master:
            shutil.rmtree(runtime, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m scoring_service.server``: the ``serve`` command without the scorebridge CLI."""
    import argparse

    from scorebridge.errors import ScorebridgeError
    from scoring_service.cli import add_serve_arguments, run_serve

    parser = argparse.ArgumentParser(prog="scoring_service.server", description=__doc__.splitlines()[0])
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_serve(args)
    except ScorebridgeError as exc:
        print(f"scorebridge serve: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
