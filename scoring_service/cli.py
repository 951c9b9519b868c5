"""``scorebridge serve`` (the scoring service under gunicorn) and ``scorebridge console`` (its web console
alone). The scorebridge CLI calls :func:`register`."""

from __future__ import annotations

import argparse
import os

from scoring_service.config import SERVE_ENGINES, ServiceConfig, parse_feature_sets

CONSOLE_PORT = 8090  # ``scorebridge console``'s default port (the service's is 8080)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` options (shared by ``scorebridge serve`` and ``python -m scoring_service.server``)."""
    parser.add_argument("--repo", required=True, help="model repository directory (<repo>/<name>/<version>/)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    parser.add_argument("--threads", type=int, default=None, help="request threads per worker (default 2)")
    parser.add_argument("--cpu-affinity", choices=("auto", "on", "off"), default="auto",
                        help="pin each worker's request threads to a core of its own (auto: when there is one "
                             "worker per core; big requests still use every core)")
    parser.add_argument("--batch-threads", type=int, default=None, metavar="N",
                        help="ONNX Runtime threads for requests of --batch-rows records or more (default: cores; "
                             "1: off)")
    parser.add_argument("--batch-rows", type=int, default=128, metavar="ROWS",
                        help="records from which a request is a batch (default 128)")
    parser.add_argument("--engine", choices=SERVE_ENGINES, default="auto",
                        help="scoring engine (default auto: per bundle, ONNX Runtime, else the XGBoost fast path, "
                             "else JPMML, whichever it holds; another choice needs that artifact in every bundle)")
    parser.add_argument("--trust-pickles", action="store_true",
                        help="allow --engine native to unpickle model.joblib (runs code: only your own bundles)")
    parser.add_argument("--poll-interval", type=float, default=2.0, metavar="SECONDS",
                        help="rescan the repository for new versions every SECONDS (0: only on admin reload)")
    parser.add_argument("--max-versions", type=int, default=None, metavar="N",
                        help="keep only each model's N newest loadable versions in memory (default: all)")
    parser.add_argument("--audit-log", default="-", metavar="PATH",
                        help="audit log: a file, '-' for stdout (default) or 'off'")
    parser.add_argument("--audit-sample", type=float, default=0.0, metavar="RATE",
                        help="fraction of requests whose inputs and outputs are audited too (default 0)")
    parser.add_argument("--audit-max-mb", type=float, default=100.0, metavar="MB",
                        help="rotate the audit file at this size (default 100; 0: never, e.g. under logrotate)")
    parser.add_argument("--audit-keep", type=int, default=5, metavar="N",
                        help="rotated audit files to keep: audit.jsonl.1 ... .N (default 5)")
    parser.add_argument("--max-records", type=int, default=10_000, help="records per request (default 10000)")
    parser.add_argument("--max-body-mb", type=float, default=32.0, help="request body limit in MiB (default 32)")
    parser.add_argument("--no-ui", dest="ui", action="store_false",
                        help="do not serve the read-only web console at /ui/ (served by default)")
    parser.add_argument("--feature-store", metavar="URL", default=None,
                        help="Redis URL of the online features, to score records by key (default: "
                             "$SCOREBRIDGE_FEATURE_STORE; none: no lookups)")
    parser.add_argument("--feature-set", action="append", default=[], metavar="MODEL=SET[:ENTITY]",
                        help="the feature set a model's keys are looked up in (repeatable; default: the set "
                             "named as the model); :ENTITY names the key field before the set is published")
    parser.add_argument("--feature-timeout-ms", type=float, default=20.0, metavar="MS",
                        help="bound on a request's feature lookup (default 20); slower is scored as missing")
    add_console_arguments(parser)


def add_console_arguments(parser: argparse.ArgumentParser) -> None:
    """The console's options, shared by ``serve`` and ``console``."""
    parser.add_argument("--jobs", metavar="DIR", default=None,
                        help="directory of batch job files (*.toml) whose runs the console shows")
    parser.add_argument("--ui-token", metavar="TOKEN", default=None,
                        help="token the console asks for (default: $SCOREBRIDGE_UI_TOKEN; none: open to whoever "
                             "reaches the port)")


def config_from_args(args: argparse.Namespace) -> ServiceConfig:
    """The service configuration for parsed ``serve`` options (admin token from the environment)."""
    audit = None if args.audit_log.lower() in ("off", "none", "") else args.audit_log
    return ServiceConfig(repo=args.repo, engine=args.engine, trust_pickles=args.trust_pickles,
                         batch_threads=args.batch_threads, batch_rows=args.batch_rows,
                         poll_interval=args.poll_interval, max_versions=args.max_versions,
                         admin_token=os.environ.get("SCOREBRIDGE_ADMIN_TOKEN"),
                         max_records=args.max_records, max_body_bytes=int(args.max_body_mb * 1024 * 1024),
                         audit_log=audit, audit_sample=args.audit_sample,
                         audit_max_bytes=int(args.audit_max_mb * 1024 * 1024) or None, audit_keep=args.audit_keep,
                         ui=args.ui, feature_store=args.feature_store or os.environ.get("SCOREBRIDGE_FEATURE_STORE"),
                         feature_sets=parse_feature_sets(args.feature_set),
                         feature_timeout_ms=args.feature_timeout_ms, **console_settings(args))


def console_settings(args: argparse.Namespace) -> dict[str, object]:
    """The console's settings from parsed options (the token from the environment when not given)."""
    return {"jobs": args.jobs, "ui_token": args.ui_token or os.environ.get("SCOREBRIDGE_UI_TOKEN")}


def run_console(args: argparse.Namespace) -> int:
    """``scorebridge console``: the console alone (no scoring API, no audit log), until stopped."""
    from scoring_service.server import serve

    config = ServiceConfig(repo=args.repo, poll_interval=args.poll_interval, audit_log=None, console_only=True,
                           **console_settings(args))
    serve(config, host=args.host, port=args.port, workers=1, threads=4, cpu_affinity="off")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    """Run the server until stopped; raises ScorebridgeError (one-line reason) on bad options."""
    from scoring_service.server import serve

    serve(config_from_args(args), host=args.host, port=args.port, workers=args.workers, threads=args.threads,
          cpu_affinity=args.cpu_affinity)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand to the scorebridge CLI (its handler is ``args.func(args)``)."""
    parser = subparsers.add_parser(
        "serve", help="serve a model repository over HTTP (gunicorn)",
        description="Serve every model in a repository over HTTP: v1 JSON/CSV, Open Inference Protocol V2, "
                    "/metrics. Set SCOREBRIDGE_ADMIN_TOKEN to enable POST /v1/admin/reload.")
    add_serve_arguments(parser)
    parser.set_defaults(func=run_serve)

    console = subparsers.add_parser(
        "console", help="serve the read-only web console alone (models, fidelity, nightly runs)",
        description="Serve the web console at /ui/ without the scoring API: the models of a repository, their "
                    "versions and fidelity, and the runs of the batch jobs in --jobs (see docs/console.md).")
    console.add_argument("--repo", required=True, help="model repository directory (<repo>/<name>/<version>/)")
    console.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    console.add_argument("--port", type=int, default=CONSOLE_PORT, help=f"port (default {CONSOLE_PORT})")
    console.add_argument("--poll-interval", type=float, default=10.0, metavar="SECONDS",
                         help="rescan the repository every SECONDS (default 10; 0: never)")
    add_console_arguments(console)
    console.set_defaults(func=run_console)
