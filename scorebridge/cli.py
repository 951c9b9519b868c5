"""The ``scorebridge`` command line.

Core commands live here (``export``, ``verify``, ``predict``, ``quickstart``); the service, Java and
batch command groups register themselves from their packages (``register(subparsers)``), so each
stage owns its own options. Every expected failure ends as one line on stderr,
``scorebridge: error: <reason>``, and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scorebridge import __version__
from scorebridge.errors import ScorebridgeError

# (module, what it adds): optional stages whose dependencies may not be installed
_COMMAND_GROUPS = (
    ("scoring_service.cli", "serve"),
    ("scorebridge.java.cli", "java"),
    ("batch_jobs.cli", "batch"),
)


class CliError(ScorebridgeError):
    """A bad command-line value."""


def read_table(path: str | os.PathLike[str], schema: Any = None):
    """Read a ``.parquet`` or ``.csv`` file into a DataFrame (CSV string fields stay strings)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix == ".csv":
            return schema.read_csv(path) if schema is not None else pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise CliError(f"{path}: unreadable {suffix[1:]} file ({str(exc).splitlines()[0]})") from exc
    raise CliError(f"{path}: unknown file type {suffix or '(none)'}; use .parquet or .csv")


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Refuse an output path that cannot be written as a table, before any work is done."""
    path = Path(path)
    if path.suffix.lower() not in (".parquet", ".pq", ".csv"):
        raise CliError(f"{path}: unknown output type {path.suffix or '(none)'}; use .parquet or .csv")
    if not path.parent.is_dir():
        raise CliError(f"{path.parent}: output directory does not exist")
    return path


def write_table(frame: Any, path: str | os.PathLike[str]) -> Path:
    """Write a DataFrame as ``.parquet`` or ``.csv``, atomically (temporary file, then rename)."""
    path = check_output_path(path)
    suffix = path.suffix.lower()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if suffix == ".csv":
            from scorebridge.prediction import csv_ready

            csv_ready(frame).to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# -- core commands ----------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    from exporters import export_bundle
    from exporters.gate import parse_formats, parse_require
    from exporters.report import format_table
    from scorebridge.engines.native import load_pickle
    from scorebridge.errors import ExportError

    try:
        formats = parse_formats(args.formats)
    except ScorebridgeError as exc:
        raise CliError(f"--formats: {exc}") from None
    try:
        parse_require(args.require, formats)
    except ScorebridgeError as exc:
        raise CliError(f"--require: {exc}") from None
    if not Path(args.pipeline).is_file():
        raise CliError(f"{args.pipeline}: no such file")
    sample = read_table(args.sample)
    # The data scientist names their own pickle here: loading it is the point of the command.
    pipeline = load_pickle(args.pipeline)
    try:
        bundle = export_bundle(pipeline, sample, name=args.name, repo=args.repo, version=args.version,
                               formats=formats, require=args.require, tolerance=args.tolerance,
                               target=args.target)
    except ExportError as exc:
        if exc.fidelity:  # what was measured, on stdout; the reason stays one line on stderr
            print(format_table(exc.fidelity, title="nothing was written; measured:", excluded=exc.excluded))
        raise
    print(bundle.path)
    print(format_table(bundle.manifest["fidelity"], excluded=bundle.manifest.get("excluded")))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from exporters import verify_bundle
    from exporters.report import format_table
    from scorebridge.bundle import Bundle

    bundle = Bundle.load(args.bundle)
    data = read_table(args.data, bundle.schema)
    reports = verify_bundle(bundle.path, data, trust_pickles=args.trust_pickles, tolerance=args.tolerance)
    print(format_table(reports, title=f"{bundle}: {len(data)} rows of {args.data}",
                       excluded=bundle.manifest.get("excluded")))
    failed = [k for k, r in reports.items() if r.get("gating") and not r["passed"]]
    if failed:
        print(f"scorebridge: error: {', '.join(failed)} disagree(s) with the native pipeline", file=sys.stderr)
        return 1
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from scorebridge.bundle import Bundle
    from scorebridge.engines import load_engine

    check_output_path(args.output)
    bundle = Bundle.load(args.bundle)
    data = read_table(args.input, bundle.schema)
    keep = [c.strip() for c in args.keep.split(",")] if args.keep else []
    absent = [c for c in keep if c not in data.columns]
    if absent:
        raise CliError(f"--keep: column(s) {', '.join(absent)} not in {args.input}")
    engine = load_engine(bundle, args.engine, purpose="batch", trust_pickles=args.trust_pickles, threads=None)
    scored = engine.predict(data).to_frame()
    out = pd.concat([data[keep].reset_index(drop=True), scored], axis=1) if keep else scored
    write_table(out, args.output)
    print(f"{len(out)} rows scored by {bundle} ({engine.describe()}) -> {args.output}")
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    from scorebridge.quickstart import run

    workdir = Path(args.workdir)
    if workdir.exists() and not workdir.is_dir():
        raise CliError(f"--workdir {workdir}: exists and is not a directory")
    return run(workdir, skip=set(args.skip or ()))


# -- parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scorebridge", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"scorebridge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("export", help="export a fitted pipeline to a verified bundle (PMML, ONNX: each that is "
                                      "faithful)")
    p.add_argument("pipeline", help="the fitted pipeline, a joblib/pickle file")
    p.add_argument("--sample", required=True, help="raw input rows (.parquet or .csv), e.g. the training set")
    p.add_argument("--name", required=True, help="model name")
    p.add_argument("--repo", default="models", help="model repository directory (default: models)")
    p.add_argument("--version", help="bundle version (default: next integer)")
    p.add_argument("--formats", default="pmml,onnx,xgboost",
                   help="formats to try, comma-separated (default: pmml,onnx,xgboost; xgboost is the XGBoost fast "
                        "path, for XGBoost models only)")
    p.add_argument("--require", default="any",
                   help="formats that must be written, or the export fails and writes nothing: pmml, onnx, "
                        "pmml,onnx, or any (default: at least one faithful artifact)")
    p.add_argument("--tolerance", type=float, help="max disagreement allowed (default: per model family)")
    p.add_argument("--target", help="target column name recorded in the bundle")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("verify", help="re-check a bundle's fidelity on other data")
    p.add_argument("bundle", help="bundle directory, <repo>/<name> or <repo>/<name>@<version>")
    p.add_argument("--data", required=True, help="rows to check (.parquet or .csv); native_* columns, if "
                                                 "present, are the expected outputs")
    p.add_argument("--trust-pickles", action="store_true",
                   help="allow unpickling model.joblib to compute native outputs (runs code)")
    p.add_argument("--tolerance", type=float, help="override the bundle's tolerance")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("predict", help="score a file locally")
    p.add_argument("bundle", help="bundle directory, <repo>/<name> or <repo>/<name>@<version>")
    p.add_argument("--input", required=True, help="input rows (.parquet or .csv)")
    p.add_argument("--output", required=True, help="output file (.parquet or .csv)")
    p.add_argument("--engine", default="auto", choices=["auto", "onnx", "pmml", "xgboost", "native"],
                   help="default auto: the XGBoost fast path, else ONNX, else PMML, whichever the bundle holds")
    p.add_argument("--keep", help="comma-separated input columns to carry into the output (ids)")
    p.add_argument("--trust-pickles", action="store_true", help="allow --engine native (unpickling runs code)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("quickstart", help="the end-to-end demo: build, export, score, serve, batch, Java")
    p.add_argument("--workdir", default="scorebridge-quickstart", help="where the demo writes (default: "
                                                                       "./scorebridge-quickstart)")
    p.add_argument("--skip", action="append", choices=["service", "batch", "java", "online"],
                   help="skip a stage (repeatable)")
    p.set_defaults(func=cmd_quickstart)

    for module, name in _COMMAND_GROUPS:
        try:
            importlib.import_module(module).register(sub)
        except ImportError as exc:  # a broken or outdated install: say so when the command is used
            _unavailable(sub, name, exc)
    return parser


def _unavailable(sub: argparse._SubParsersAction, name: str, exc: ImportError) -> None:
    """A stand-in for a command group that cannot be imported: using it is a one-line error naming
    the missing module (an "invalid choice" would hide why)."""
    # no option prefix: every argument after the command is taken, whatever it looks like
    p = sub.add_parser(name, help=f"(unavailable: {exc})", add_help=False, prefix_chars="\x01")
    p.add_argument("rest", nargs=argparse.REMAINDER)

    def fail(args: argparse.Namespace) -> int:
        raise CliError(f"the {name} command is unavailable: {exc}; reinstall scorebridge "
                       "(bash scripts/bootstrap.sh, or pip install -e . in a clone)")

    p.set_defaults(func=fail)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scorebridge`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("sklearn_pandas").setLevel(logging.WARNING)  # logs every transform at INFO
    try:
        return int(args.func(args) or 0)
    except ScorebridgeError as exc:
        # one line, whatever the message: a wrapped library message may carry newlines
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"scorebridge: error: {reason}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("scorebridge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
