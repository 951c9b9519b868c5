"""The bundle contract: resolution, version order, integrity, atomic writes."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest

from scorebridge.bundle import Bundle, list_models, resolve, staged_bundle_dir, version_key
from scorebridge.errors import BundleError, BundleIntegrityError


def test_versions_sort_naturally():
    versions = ["10", "2", "1.10.0", "1.2.0", "1"]
    assert sorted(versions, key=version_key) == ["1", "1.2.0", "1.10.0", "2", "10"]


def test_latest_and_pinned_resolution(repo_copy):
    model = repo_copy / "credit_risk"
    shutil.copytree(model / "1", model / "10")
    manifest = json.loads((model / "10" / "manifest.json").read_text())
    manifest["version"] = "10"
    (model / "10" / "manifest.json").write_text(json.dumps(manifest))
    shutil.copytree(model / "1", model / "2")
    assert resolve(model) == model / "10"
    assert resolve(f"{model}@latest") == model / "10"
    assert resolve(f"{model}@2") == model / "2"
    assert Bundle.load(model).version == "10"
    assert list_models(repo_copy)["credit_risk"] == ["1", "2", "10"]
    with pytest.raises(BundleError, match="no version '7'"):
        resolve(f"{model}@7")


def test_manifest_describes_the_model(credit_bundle):
    m = credit_bundle.manifest
    assert m["task"] == "classification" and m["classes"] == [0, 1] and m["target"] == "default"
    assert [f["name"] for f in m["inputs"]][:2] == ["income", "debt_ratio"]
    region = credit_bundle.schema.by_name["region"]
    assert region.optype == "categorical" and "north" in region.categories
    assert set(m["artifacts"]) >= {"pmml", "onnx", "verification", "native"}
    assert m["fidelity"]["pmml"]["passed"] and m["fidelity"]["onnx"]["passed"]
    assert m["fidelity"]["pmml"]["max_abs_diff"] <= m["tolerance"]["value"]


def test_tampered_artifact_is_refused(repo_copy):
    onnx = repo_copy / "credit_risk" / "1" / "model.onnx"
    data = bytearray(onnx.read_bytes())
    data[-1] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match="model.onnx: sha256 mismatch"):
        Bundle.load(repo_copy / "credit_risk")


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), staged_bundle_dir(tmp_path, "m", "1") as tmp:
        (tmp / "model.onnx").write_bytes(b"partial")
        raise RuntimeError("conversion failed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("umask", "dir_mode", "file_mode"), [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_published_bundle_modes_follow_the_umask(tmp_path, umask, dir_mode, file_mode):
    """``mkdtemp`` makes the staging directory 0700 and ``mkstemp``-style writers 0600 files: the
    published bundle gets the modes the umask gives new files, so a service running as another user
    can read it."""
    previous = os.umask(umask)
    try:
        with staged_bundle_dir(tmp_path, "m", "1") as tmp:
            (tmp / "model.onnx").write_bytes(b"x")
            (tmp / "private.bin").write_bytes(b"y")
            os.chmod(tmp / "private.bin", 0o600)
            (tmp / "sub").mkdir(mode=0o700)
    finally:
        os.umask(previous)
    final = tmp_path / "m" / "1"
    assert stat.S_IMODE(final.stat().st_mode) == dir_mode
    assert stat.S_IMODE((final / "sub").stat().st_mode) == dir_mode
    for name in ("model.onnx", "private.bin"):
        assert stat.S_IMODE((final / name).stat().st_mode) == file_mode
