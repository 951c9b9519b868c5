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
