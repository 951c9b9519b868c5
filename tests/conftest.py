"""Shared fixtures: the sample model repository, built once per test session.

Set ``SCOREBRIDGE_TEST_REPO`` to a repository already built by
``python -c "from sample_models import build_all; build_all('DIR')"`` to skip the build while
iterating; CI always builds it fresh.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sample_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model repository holding every sample bundle (version 1). Treat it as read-only: copy it
    (``repo_copy``) before adding or changing versions."""
    prebuilt = os.environ.get("SCOREBRIDGE_TEST_REPO")
    if prebuilt:
        return Path(prebuilt)
    from sample_models import build_all

    repo = tmp_path_factory.mktemp("sample-repo") / "models"
    build_all(repo)
    return repo


@pytest.fixture
def repo_copy(sample_repo: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the sample repository."""
    dest = tmp_path / "models"
    shutil.copytree(sample_repo, dest)
    return dest


@pytest.fixture(scope="session")
def credit_bundle(sample_repo: Path):
    """The credit-risk sample bundle (binary XGBoost, numeric + categorical inputs)."""
    from scorebridge.bundle import Bundle

    return Bundle.load(sample_repo / "credit_risk")


@pytest.fixture(scope="session")
def domain_case():
    """``(pipeline, sample)``: sklearn2pmml's ``ContinuousDomain`` in front of an imputer and a logistic
    regression. sklearn2pmml converts it faithfully; skl2onnx has no converter for the domain, so its
    bundle holds PMML only. The sample keeps its target column ``y`` (ignored: the pipeline names its
    inputs)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn2pmml.decoration import ContinuousDomain

    from exporters.support_matrix import make_data

    frame, target = make_data("classification")
    inputs = frame[["x1", "x2", "x3"]].astype(float)  # the domain wants one dtype
    pipeline = Pipeline([("domain", ContinuousDomain()), ("impute", SimpleImputer()),
                         ("model", LogisticRegression())]).fit(inputs, target)
    return pipeline, inputs.assign(y=target)


@pytest.fixture(scope="session")
def pmml_only_bundle(domain_case, tmp_path_factory: pytest.TempPathFactory):
    """:func:`domain_case` exported with the defaults: a bundle whose only model artifact is PMML."""
    from exporters import export_bundle

    pipeline, sample = domain_case
    repo = tmp_path_factory.mktemp("pmml-only") / "models"
    return export_bundle(pipeline, sample, name="domain", repo=repo, target="y")


@pytest.fixture(scope="session")
def redis_url():
    """A real ``redis-server`` on a free loopback port for the session (``online_features.server``);
    tests that write to it use their own feature set names, or flush it themselves."""
    from online_features.server import running_redis

    with running_redis() as url:
        yield url
