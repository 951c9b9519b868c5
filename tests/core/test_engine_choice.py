"""Every consumer scores with what the bundle holds: the service (real gunicorn server), batch jobs
(``runtime = "auto"``) and ``scorebridge predict``, on a PMML-only bundle and on the full credit sample."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import requests

from scorebridge.bundle import Bundle
from scorebridge.engines import choose_engine, load_engine
from scorebridge.errors import EngineError


def scorebridge(*args):
    return subprocess.run([sys.executable, "-m", "scorebridge", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def _native(bundle: Bundle) -> tuple[pd.DataFrame, np.ndarray]:
    frame = bundle.read_verification()
    return frame[bundle.schema.names], frame[[f"native_probability_{c}" for c in bundle.classes]].to_numpy()


@pytest.fixture(scope="module")
def onnx_only(credit_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """The credit sample without its PMML and fast path, as an export whose PMML failed would leave it."""
    path = tmp_path_factory.mktemp("onnx-only") / "credit" / "1"
    shutil.copytree(credit_bundle.path, path)
    manifest = json.loads((path / "manifest.json").read_text())
    for kind, file in (("pmml", "model.pmml"), ("xgboost_preprocess", "preprocess.onnx"),
                       ("xgboost_booster", "model.ubj")):
        del manifest["artifacts"][kind]
        (path / file).unlink()
    manifest["excluded"] = {"pmml": {"reason": "conversion", "converter": "sklearn2pmml", "step": None,
                                     "message": "(for this test)"}}
    (path / "manifest.json").write_text(json.dumps(manifest))
    return Bundle.load(path)


def test_auto_picks_per_bundle_and_purpose(credit_bundle, pmml_only_bundle, onnx_only) -> None:
    assert choose_engine(credit_bundle, "serve") == "onnx"
    assert choose_engine(credit_bundle, "batch") == "xgboost"
    assert choose_engine(onnx_only, "serve") == choose_engine(onnx_only, "batch") == "onnx"
    assert choose_engine(pmml_only_bundle, "serve") == choose_engine(pmml_only_bundle, "batch") == "pmml"
    assert choose_engine(credit_bundle, "serve", "pmml") == "pmml"  # an override the bundle can serve
    assert load_engine(pmml_only_bundle).name == "pmml"


@pytest.mark.parametrize(("engine", "missing"), [("onnx", "onnx"), ("xgboost", "xgboost_preprocess + xgboost_booster")])
def test_an_override_the_bundle_has_no_artifact_for_is_refused(pmml_only_bundle, engine, missing) -> None:
    with pytest.raises(EngineError) as info:
        load_engine(pmml_only_bundle, engine)
    assert str(info.value) == (f"bundle domain/1 has no {missing} artifact for the {engine} engine (it has: "
                               "native, pmml); use engine auto or one of pmml, native")


def test_a_bundle_no_trust_free_engine_can_score_is_refused() -> None:
    """Only the pickle: ``auto`` never unpickles, and says what the bundle has."""
    stub = Bundle(Path("/nonexistent"), {"name": "stub", "version": "1", "artifacts": {"native": {}}})
    with pytest.raises(EngineError, match=r"bundle stub/1 has no artifact a trust-free engine scores \(it has: "
                                          r"native\); re-export it with at least one of pmml, onnx"):
        choose_engine(stub, "serve")


def test_service_serves_a_pmml_only_bundle_with_jpmml(pmml_only_bundle, tmp_path) -> None:
    from scoring_service.testing import running_service

    repo = tmp_path / "models"
    shutil.copytree(pmml_only_bundle.path.parent, repo / "domain")
    inputs, native = _native(pmml_only_bundle)
    records = json.loads(inputs.to_json(orient="records"))
    # --batch-rows 50: the bigger request below takes the big-request path, which for PMML is JPMML too
    with running_service(repo, engine="auto", args=["--audit-log", "off", "--batch-rows", "50",
                                                    "--batch-threads", "2"]) as base:
        meta = requests.get(f"{base}/v1/models/domain/versions/1", timeout=10).json()
        assert meta["engine"] == meta["batch_engine"] == "pmml"
        assert meta["artifacts"] == ["native", "pmml"] and meta["excluded"] == {"onnx": "conversion"}
        for rows in (records[:5], records):
            r = requests.post(f"{base}/v1/models/domain/predict", json={"records": rows}, timeout=30)
            assert r.status_code == 200, r.text
            assert r.json()["engine"] == "pmml"
            got = np.array([[p["probabilities"][str(c)] for c in pmml_only_bundle.classes]
                            for p in r.json()["predictions"]])
            np.testing.assert_allclose(got, native[:len(rows)], atol=1e-12, rtol=0)


def test_service_refuses_a_bundle_without_the_forced_engine(pmml_only_bundle, credit_bundle, tmp_path) -> None:
    from scoring_service.registry import ModelRegistry

    repo = tmp_path / "models"
    shutil.copytree(pmml_only_bundle.path.parent, repo / "domain")
    shutil.copytree(credit_bundle.path.parent, repo / "credit_risk")
    registry = ModelRegistry(repo, "onnx")
    report = registry.reload()
    assert report.loaded == ["credit_risk/1"]
    assert "has no onnx artifact for the onnx engine (it has: native, pmml)" in report.refused["domain/1"]
    assert registry.snapshot.get("credit_risk").describe()["artifacts"] == [
        "native", "pmml", "onnx", "xgboost_preprocess", "xgboost_booster"]


def _job(tmp_path: Path, bundle: Bundle, **local) -> Path:
    from batch_jobs.demo import write_sample_partition

    write_sample_partition(bundle, tmp_path / "features" / "dt=2026-11-21")
    lines = [f'name = "nightly"\nmodel = "{bundle.path}"\n', '[input]\npath = "features/dt={ds}"\n',
             '[output]\npath = "scores"\nkeep_columns = ["user_id"]\n',
             "[local]\n" + "".join(f'{k} = "{v}"\n' for k, v in local.items())]
    job = tmp_path / "job.toml"
    job.write_text("\n".join(lines))
    return job


def test_batch_auto_scores_a_pmml_only_bundle(pmml_only_bundle, tmp_path) -> None:
    from batch_jobs.runner import run_job
    from batch_jobs.spec import load_job

    result = run_job(load_job(_job(tmp_path, pmml_only_bundle)), "2026-11-21", tty=False)
    model = result.record["model"]
    assert model["engine"] == "pmml" and model["artifact"] == "model.pmml"
    assert model["sha256"] == pmml_only_bundle.manifest["artifacts"]["pmml"]["sha256"]
    assert result.record["scoring"].startswith("jpmml-evaluator")
    out = pq.read_table(result.partition).to_pandas()
    inputs, native = _native(pmml_only_bundle)
    assert len(out) == len(inputs)
    np.testing.assert_allclose(out[[f"probability_{c}" for c in pmml_only_bundle.classes]].to_numpy(), native,
                               atol=1e-12, rtol=0)


def test_batch_runtime_the_bundle_lacks_fails_at_load(pmml_only_bundle, tmp_path) -> None:
    from batch_jobs.errors import JobSpecError
    from batch_jobs.spec import load_job

    with pytest.raises(JobSpecError) as info:
        load_job(_job(tmp_path, pmml_only_bundle, runtime="onnx"))
    assert "local.runtime: bundle domain/1 has no onnx artifact for the onnx engine (it has: native, pmml)" in \
        str(info.value)


def test_predict_defaults_to_what_the_bundle_holds(pmml_only_bundle, credit_bundle, tmp_path) -> None:
    inputs, native = _native(pmml_only_bundle)
    src, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    inputs.to_parquet(src)
    done = scorebridge("predict", pmml_only_bundle.path, "--input", src, "--output", out)
    assert done.returncode == 0, done.stderr
    assert "(jpmml-evaluator" in done.stdout
    scored = pd.read_parquet(out)
    np.testing.assert_allclose(scored[[f"probability_{c}" for c in pmml_only_bundle.classes]].to_numpy(), native,
                               atol=1e-12, rtol=0)
    out.unlink()

    done = scorebridge("predict", pmml_only_bundle.path, "--input", src, "--output", out, "--engine", "onnx")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "scorebridge: error: bundle domain/1 has no onnx artifact for the onnx engine (it has: native, pmml); "
        "use engine auto or one of pmml, native"]
    assert not out.exists()

    credit_in = tmp_path / "credit.parquet"
    credit_bundle.read_verification()[credit_bundle.schema.names].to_parquet(credit_in)
    done = scorebridge("predict", credit_bundle.path, "--input", credit_in, "--output", out)
    assert done.returncode == 0 and "(xgboost " in done.stdout, done.stdout + done.stderr  # the batch choice
