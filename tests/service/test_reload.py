"""Hot reload under load: new versions go live, tampered bundles are refused, no request fails."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import requests

from scoring_service.testing import running_service
from service.helpers import drop_version, json_records, verification
from service.load import Load

TOKEN = "reload-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _serving_version(base: str, payload: dict, n: int = 12) -> set[str]:
    """Versions answered on ``n`` fresh connections (so both workers are asked)."""
    return {requests.post(f"{base}/v1/models/credit_risk/predict", json=payload).json()["version"] for _ in range(n)}


@pytest.fixture
def reload_repo(sample_repo: Path, tmp_path: Path) -> Path:
    repo = tmp_path / "models"
    shutil.copytree(sample_repo / "credit_risk" / "1", repo / "credit_risk" / "1")
    return repo


def test_hot_reload_under_load_with_zero_failures(reload_repo: Path, sample_repo: Path) -> None:
    _, inputs, _ = verification(sample_repo, "credit_risk")
    payload = {"records": json_records(inputs.head(3))}
    with running_service(reload_repo, workers=2, env={"SCOREBRIDGE_ADMIN_TOKEN": TOKEN},
                         args=["--poll-interval", "1", "--audit-log", "off"]) as base:
        with Load(f"{base}/v1/models/credit_risk/predict", payload) as hammer:
            time.sleep(0.5)
            # a new version, announced through the admin endpoint: every worker serves it on return
            drop_version(reload_repo, "2")
            report = requests.post(f"{base}/v1/admin/reload", headers=AUTH).json()
            assert report["workers_pending"] == [] and report["models"] == {"credit_risk": "2"}
            assert _serving_version(base, payload) == {"2"}

            # a tampered bundle is refused and logged; version 2 keeps serving
            drop_version(reload_repo, "3", tamper=True)
            report = requests.post(f"{base}/v1/admin/reload", headers=AUTH).json()
            assert "sha256 mismatch" in report["refused"]["credit_risk/3"]
            assert report["models"] == {"credit_risk": "2"}
            assert _serving_version(base, payload) == {"2"}
            ready = requests.get(f"{base}/readyz")
            assert ready.status_code == 200 and "credit_risk" in ready.json()["refused"]

            # the serving version's files change in place: every worker refuses it at this reload (a worker
            # started now would load from disk and refuse it too), and version 1 serves everywhere
            with open(reload_repo / "credit_risk" / "2" / "model.onnx", "ab") as fh:
                fh.write(b"\0")
            report = requests.post(f"{base}/v1/admin/reload", headers=AUTH).json()
            assert "sha256 mismatch" in report["refused"]["credit_risk/2"] and report["models"] == {"credit_risk": "1"}
            assert report["workers_pending"] == []
            assert _serving_version(base, payload) == {"1"}
            ready = requests.get(f"{base}/readyz").json()
            assert set(ready["refused"]["credit_risk"]) == {"2", "3"} and ready["models"] == {"credit_risk": "1"}
            assert str(reload_repo) not in json.dumps(ready)  # relative paths only, without a token

            # a version dropped in without any call goes live through polling
            drop_version(reload_repo, "4")
            deadline = time.monotonic() + 15
            while _serving_version(base, payload, 6) != {"4"}:
                assert time.monotonic() < deadline, "version 4 never went live through polling"
                time.sleep(0.2)
            # keep the load on until the hammer itself has been answered by version 4 (a fixed pause
            # was too short on a loaded 2-core machine)
            while "4" not in hammer.versions and time.monotonic() < deadline:
                time.sleep(0.1)

        assert hammer.lost == []
        assert set(hammer.statuses) == {200}, hammer.statuses
        assert sum(hammer.statuses.values()) > 200  # the reloads really happened under load
        assert {"1", "2", "4"} <= set(hammer.versions) and "3" not in hammer.versions

        # pinned versions stay addressable; the refused one is not
        assert requests.post(f"{base}/v1/models/credit_risk/versions/1/predict", json=payload).status_code == 200
        r = requests.post(f"{base}/v1/models/credit_risk/versions/3/predict", json=payload)
        assert r.status_code == 404 and r.json()["error"]["code"] == "version_not_found"
        metrics = requests.get(f"{base}/metrics").text
        assert 'scorebridge_bundles_refused{model="credit_risk"} 2.0' in metrics  # versions 2 (on disk) and 3


def test_admin_reload_needs_the_token(reload_repo: Path) -> None:
    with running_service(reload_repo, env={"SCOREBRIDGE_ADMIN_TOKEN": TOKEN},
                         args=["--poll-interval", "0", "--audit-log", "off"]) as base:
        r = requests.post(f"{base}/v1/admin/reload")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        r = requests.post(f"{base}/v1/admin/reload", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        drop_version(reload_repo, "2")
        assert requests.get(f"{base}/v1/models").json()["models"][0]["latest"] == "1"  # polling is off
        r = requests.post(f"{base}/v1/admin/reload", headers=AUTH)
        assert r.status_code == 200 and r.json()["loaded"] == ["credit_risk/2"]
        assert requests.get(f"{base}/v1/models").json()["models"][0]["versions"] == ["1", "2"]


def test_max_versions_keeps_the_newest_that_load(reload_repo: Path, sample_repo: Path) -> None:
    _, inputs, _ = verification(sample_repo, "credit_risk")
    payload = {"records": json_records(inputs.head(2))}
    drop_version(reload_repo, "2")
    with running_service(reload_repo, env={"SCOREBRIDGE_ADMIN_TOKEN": TOKEN},
                         args=["--poll-interval", "0", "--audit-log", "off", "--max-versions", "2"]) as base:
        listing = requests.get(f"{base}/v1/models").json()["models"][0]
        assert listing["versions"] == ["1", "2"] and "not_loaded" not in listing

        # version 10 (natural order: newer than 2) pushes version 1 out of memory
        drop_version(reload_repo, "10")
        report = requests.post(f"{base}/v1/admin/reload", headers=AUTH).json()
        assert report["loaded"] == ["credit_risk/10"] and report["removed"] == ["credit_risk/1"]
        listing = requests.get(f"{base}/v1/models").json()["models"][0]
        assert (listing["versions"], listing["latest"], listing["not_loaded"]) == (["2", "10"], "10", ["1"])
        r = requests.post(f"{base}/v1/models/credit_risk/versions/1/predict", json=payload)
        assert r.status_code == 404 and r.json()["error"]["code"] == "version_not_loaded"
        assert "--max-versions" in r.json()["error"]["message"]

        # a refused newest version does not count: 10 and 2 keep serving
        drop_version(reload_repo, "11", tamper=True)
        report = requests.post(f"{base}/v1/admin/reload", headers=AUTH).json()
        assert "credit_risk/11" in report["refused"] and report["removed"] == []
        assert requests.get(f"{base}/v1/models").json()["models"][0]["versions"] == ["2", "10"]
        assert requests.post(f"{base}/v1/models/credit_risk/predict", json=payload).json()["version"] == "10"


def test_max_versions_must_be_positive(reload_repo: Path) -> None:
    from scoring_service.config import ConfigError, ServiceConfig

    with pytest.raises(ConfigError, match="max_versions must be at least 1"):
        ServiceConfig(repo=reload_repo, max_versions=0)
    env = {"SCOREBRIDGE_REPO": str(reload_repo), "SCOREBRIDGE_MAX_VERSIONS": "3"}
    assert ServiceConfig.from_env(env).max_versions == 3
