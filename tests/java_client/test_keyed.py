"""The generated client scoring by key over HTTP: the real service with --feature-store, a real
redis-server with batches from the real publisher, javac and the JVM."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from online_features.publish import publish_batch
from online_features.server import running_redis
from scorebridge.java import toolchain
from scorebridge.java.generate import generate
from scoring_service.testing import running_service

from .support import PACKAGE

pytestmark = pytest.mark.java

ARGS = ["--poll-interval", "0", "--audit-log", "off"]
TEMPLATE = Path(__file__).with_name("KeyedDriver.java.tmpl")
CURRENT = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
PREVIOUS = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()


@pytest.fixture(scope="module")
def rows(sample_repo: Path) -> list[dict]:
    from scorebridge.bundle import Bundle

    frame = Bundle.load(sample_repo / "credit_risk").read_verification()
    inputs = frame[Bundle.load(sample_repo / "credit_risk").schema.names].head(4)
    return json.loads(inputs.to_json(orient="records"))


@pytest.fixture(scope="module")
def driver(sample_repo: Path, runtime_classpath: list[Path], tmp_path_factory: pytest.TempPathFactory):
    """Run the compiled KeyedDriver; returns its JSON lines."""
    work = tmp_path_factory.mktemp("java-keyed")
    src, classes = work / "src", work / "classes"
    generate(sample_repo / "credit_risk", PACKAGE, src)
    (src / "KeyedDriver.java").write_text(TEMPLATE.read_text().replace("__PACKAGE__", PACKAGE))
    toolchain.compile_java(sorted(src.rglob("*.java")), runtime_classpath, classes)

    def run(*args: str) -> list[dict]:
        res = toolchain.run_java("KeyedDriver", [classes, *runtime_classpath], list(args), timeout=120)
        assert res.returncode == 0, res.stderr[-3000:]
        return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]

    return run


@pytest.fixture(scope="module")
def keyed_service(sample_repo: Path, rows: list[dict]) -> Iterator[str]:
    with running_redis() as url:
        for dt, ids, part in ((PREVIOUS, ["c100", "c101", "c102"], rows[:3]), (CURRENT, ["c100"], rows[1:2])):
            frame = pd.DataFrame(part)
            frame.insert(0, "customer_id", ids)
            publish_batch(url, "credit_risk", pa.Table.from_pandas(frame, preserve_index=False),
                          entity="customer_id", features=list(rows[0]), dt=dt)
        with running_service(sample_repo, workers=1, args=[*ARGS, "--feature-store", url]) as base:
            yield base


def _score(p: dict) -> tuple:
    return p["label"], p["probabilities"]


def test_by_key_scores_what_the_full_record_scores(driver, keyed_service: str, rows: list[dict]) -> None:
    (full,) = driver("full", keyed_service, json.dumps(rows[1]))
    (keyed,) = driver("key", keyed_service, "c100")
    assert _score(keyed) == _score(full) and full["featureBatch"] is None
    assert (keyed["featureBatch"], keyed["featureFallback"], keyed["featureError"]) == (CURRENT, False, None)
    (fallback,) = driver("key", keyed_service, "c102")  # only in the previous batch
    (full2,) = driver("full", keyed_service, json.dumps(rows[2]))
    assert _score(fallback) == _score(full2) and (fallback["featureBatch"], fallback["featureFallback"]) == (
        PREVIOUS, True)
    (nobody,) = driver("key", keyed_service, "nobody")
    assert nobody["featureBatch"] is None and nobody["featureError"] is None


def test_builder_setters_still_work_and_batches_mix(driver, keyed_service: str, rows: list[dict]) -> None:
    (full,) = driver("full", keyed_service, json.dumps({**rows[1], "income": 12345.0}))
    # an integer key is its text: "100" was not published, so this is a miss with income sent
    (miss,) = driver("long-key", keyed_service, "100")
    (missing,) = driver("full", keyed_service, json.dumps({k: None for k in rows[0]} | {"income": 12345.0}))
    assert _score(miss) == _score(missing) and miss["featureBatch"] is None
    keyed, plain = driver("batch", keyed_service, "c100", json.dumps(rows[0]))
    (want,) = driver("full", keyed_service, json.dumps(rows[0]))
    assert keyed["featureBatch"] == CURRENT and _score(plain) == _score(want) and plain["featureBatch"] is None
    assert full["featureBatch"] is None


def test_in_process_pmml_refuses_a_key(driver, sample_repo: Path) -> None:
    (out,) = driver("pmml", str(sample_repo / "credit_risk"), "c100")
    assert out["exception"] == "UnsupportedOperationException"
    assert "byKey" in out["message"] and "http(" in out["message"]


def test_a_service_without_feature_store_names_the_flag(driver, sample_repo: Path) -> None:
    with running_service(sample_repo, workers=1, args=ARGS) as base:
        (out,) = driver("key", base, "c100")
    assert out["exception"] == "ScoringException" and "--feature-store" in out["message"]


def test_a_store_outage_seen_through_the_service_is_the_fallback(driver, sample_repo: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [*ARGS, "--feature-store", f"redis://127.0.0.1:{port}/0", "--feature-set",
            "credit_risk=credit_risk:customer_id"]
    with running_service(sample_repo, workers=1, args=args) as base:
        out = driver("fallback", base, "c100")
        assert len(out) == 2, out
        answer, stats = out
        kept, kept_stats = driver("keep", base, "c100")
    assert answer["isDefault"] and answer["engine"] == "default"
    assert stats == {"featureErrors": 1, "fallbacks": 1}
    assert not kept["isDefault"] and kept["featureError"] == "unavailable" and kept_stats == {"featureErrors": 0}
