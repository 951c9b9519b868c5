"""A whole v1 JSON predict request in one process: through the Flask view, and through the fast path.

Calls the two WSGI callables of one ``create_app`` app with the same environ (body in a ``BytesIO``,
audit log on, to a temporary file): ``app.wsgi_app`` (``scoring_service.fastpath``, what the server
runs) and ``app.wsgi_app.wsgi_app`` (Flask's own). No sockets and no gunicorn, so what differs is
Flask's request machinery alone. Usage: ``python benchmarks/wsgi_bench.py [--repo DIR]
[--records 1 1000] [--calls N] [--rounds 3] [--feature-store URL]`` (``--feature-store``: the service
looks keys up there, so the timing includes the test a request without a key pays). Prints p50 and
p99 in ms, best p50 of the rounds (the paths alternate within each round; this machine's speed drifts).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codec_bench import timed  # noqa: E402
from serve_bench import BUILD_SAMPLES, positive_int  # noqa: E402

from online_features.store import redact  # noqa: E402
from scoring_service import ServiceConfig, create_app  # noqa: E402


def environ(body: bytes) -> dict[str, Any]:
    """A POST to the credit-risk predict URL, as gunicorn would pass it."""
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/models/credit_risk/predict", "SCRIPT_NAME": "",
            "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "HTTP_HOST": "127.0.0.1:8080",
            "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
            "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=None, help="model repository holding credit_risk")
    parser.add_argument("--records", type=positive_int, nargs="+", default=[1, 1000])
    parser.add_argument("--calls", type=positive_int, default=None,
                        help="calls per round (default 3000 / records, at least 200)")
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument("--feature-store", metavar="URL", default=None,
                        help="serve with this feature store (credit_risk keyed by customer_id; requests carry no key)")
    args = parser.parse_args(argv)
    if args.repo is not None and not (args.repo / "credit_risk").is_dir():
        parser.error(f"--repo {args.repo} holds no credit_risk model; build the samples with: {BUILD_SAMPLES}")
    tmp = Path(tempfile.mkdtemp(prefix="wsgi-bench-"))
    if args.repo is None:
        from sample_models import build_all

        args.repo = tmp / "models"
        build_all(args.repo, names=("credit_risk",))
    features = ({"feature_store": args.feature_store, "feature_sets": {"credit_risk": "credit_risk:customer_id"}}
                if args.feature_store else {})
    app = create_app(ServiceConfig(repo=args.repo, poll_interval=0, audit_log=str(tmp / "audit.jsonl"), **features))
    model = app.extensions["scorebridge"].registry.snapshot.get("credit_risk")
    records = json.loads(model.bundle.read_verification()[model.schema.names].to_json(orient="records"))
    paths = {"Flask view": app.wsgi_app.wsgi_app, "fast path": app.wsgi_app}
    answers = []

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        answers.append(status)

    store = f", feature store {redact(args.feature_store)}" if args.feature_store else ""
    print(f"wsgi_bench: credit_risk, one create_app app, audit log on{store}; best p50 of {args.rounds} rounds")
    print("| records | path | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    for n in args.records:
        body = json.dumps({"records": (records * (n // len(records) + 1))[:n]}).encode()
        calls = args.calls or max(200, 3000 // n)
        best: dict[str, np.ndarray] = {}
        for _ in range(args.rounds):
            for name, wsgi in paths.items():
                t = timed(lambda wsgi=wsgi, body=body: b"".join(wsgi(environ(body), start_response)), calls)
                if name not in best or np.percentile(t, 50) < np.percentile(best[name], 50):
                    best[name] = t
        for name, t in best.items():
            print(f"| {n} | {name} | {np.percentile(t, 50):.3f} | {np.percentile(t, 99):.3f} |")
    assert set(answers) == {"200 OK"}, set(answers)
    app.extensions["scorebridge"].registry.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
