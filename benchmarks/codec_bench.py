"""JSON in and out of the scoring service, in one process: the fast paths against the validating ones.

For a 1,000-record v1 body of the credit-risk sample:

- in: ``v1_columns`` (msgspec, typed by the input schema) vs ``parse_json`` + ``InputSchema.from_records``;
- out: ``predictions_json`` (column-wise) vs ``dumps(prediction.to_records())`` (a dict per record);
- the XGBoost fast path's scoring of the same records, for scale.

Usage: ``python benchmarks/codec_bench.py [--repo DIR] [--records 1000] [--calls 300]``. Prints the
10th and 50th percentiles in ms; this machine's speed drifts, so the paths alternate in rounds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scorebridge.bundle import Bundle  # noqa: E402
from scorebridge.engines import load_engine  # noqa: E402
from scoring_service.codec import RecordsDecoder, dumps, parse_json, predictions_json, records_of, v1_columns  # noqa: E402


def timed(fn: Callable[[], object], calls: int) -> np.ndarray:
    for _ in range(20):
        fn()
    times = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - t0
    return times * 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=None, help="model repository holding credit_risk")
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.repo is None:
        from sample_models import build_all

        args.repo = Path(tempfile.mkdtemp(prefix="codec-bench-")) / "models"
        build_all(args.repo, names=("credit_risk",))
    bundle = Bundle.load(args.repo / "credit_risk")
    frame = bundle.read_verification()[bundle.schema.names]
    records = json.loads(frame.to_json(orient="records"))
    body = orjson.dumps({"records": (records * (args.records // len(records) + 1))[:args.records]})
    engine = load_engine(bundle, "auto", threads=2)
    schema = bundle.schema
    decoder = RecordsDecoder(schema)
    columns = v1_columns(decoder, body, args.records)
    prediction = engine.predict_columns(columns)
    assert dumps(predictions_json(prediction)) == dumps(prediction.to_records())

    paths = {
        "in: validating (orjson + from_records)": lambda: schema.from_records(records_of(parse_json(body), 10**6)),
        "in: fast (msgspec, typed)": lambda: v1_columns(decoder, body, 10**6),
        "out: dict per record": lambda: dumps({"predictions": prediction.to_records()}),
        "out: fast (column-wise)": lambda: dumps({"predictions": predictions_json(prediction)}),
        f"score ({engine.name} engine, 2 threads)": lambda: engine.predict_columns(columns),
    }
    best: dict[str, np.ndarray] = {}
    for _ in range(args.rounds):
        for name, fn in paths.items():
            t = timed(fn, args.calls)
            if name not in best or np.percentile(t, 50) < np.percentile(best[name], 50):
                best[name] = t
    print(f"codec_bench: credit_risk, {args.records} records, {len(body):,} bytes; best of {args.rounds} rounds")
    print("| path | p10 ms | p50 ms |")
    print("|---|---|---|")
    for name, t in best.items():
        print(f"| {name} | {np.percentile(t, 10):.3f} | {np.percentile(t, 50):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
