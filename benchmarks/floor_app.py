"""The floor for ``serve_bench.py``: the serving stack with no model and no framework.

A bare WSGI app under gunicorn with scorebridge's own server settings (gthread workers, the same
threads, keep-alive, ``SO_REUSEPORT`` and CPU pinning): it reads the request body and answers a
canned v1 JSON body with one prediction per record. What it costs is what this machine charges for
HTTP on loopback, gunicorn and the Python worker, before Flask, JSON decoding or scoring;
scorebridge cannot be faster than it, so serve_bench prints it beside each latency it measures.

Run as ``python benchmarks/floor_app.py --port 8090 [--workers N] [--threads N] [--cpu-affinity MODE]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring_service import affinity  # noqa: E402
from scoring_service.config import available_cores  # noqa: E402
from scoring_service.server import DEFAULT_THREADS, gunicorn_options  # noqa: E402

_HEAD = b'{"model":"credit_risk","version":"1","engine":"onnx","request_id":"' + b"0" * 32 + b'","predictions":['
_ONE = b'{"label":0,"probabilities":{"0":0.9071234464645386,"1":0.09287655353546143}}'


def app(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
    """Read the body, answer one canned prediction per record (records hold no nested objects)."""
    body = environ["wsgi.input"].read()
    records = max(body.count(b"{") - 1, 1)
    out = _HEAD + b",".join([_ONE] * records) + b"]}"
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]


def main(argv: list[str] | None = None) -> int:
    from gunicorn.app.base import BaseApplication

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--cpu-affinity", choices=affinity.MODES, default="auto")
    args = parser.parse_args(argv)
    workers = args.workers or available_cores()
    pin_dir = Path(tempfile.mkdtemp(prefix="floor-app-"))  # the same CPU pinning as scorebridge serve
    pin = affinity.should_pin(args.cpu_affinity, workers, available_cores())
    options = gunicorn_options(args.host, args.port, workers, args.threads, pin_dir if pin else None)
    for hook in ("post_fork", "child_exit"):  # scorebridge's late listening and multiprocess metrics
        options.pop(hook)
    options["loglevel"] = "warning"

    class Floor(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    try:
        Floor().run()
    finally:
        shutil.rmtree(pin_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
