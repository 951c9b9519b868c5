"""Fixtures for the exporter tests: one tiny exported bundle shared by the tests that only read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporters.support_matrix import Case, train


@pytest.fixture(scope="session")
def tiny_case() -> Case:
    """A fast combination (XGBoost on raw numerics with NaN, one-hot categories)."""
    return Case("XGBClassifier(binary)", "ColumnTransformer", "Pipeline", "raw_onehot")


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_case: Case):
    """``(fitted pipeline, sample)`` of :func:`tiny_case`."""
    return train(tiny_case)


@pytest.fixture(scope="session")
def tiny_bundle_dir(tiny_pipeline, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline exported (both formats) into a session repository; do not modify it."""
    from exporters import export_bundle

    pipeline, sample = tiny_pipeline
    repo = tmp_path_factory.mktemp("tiny-repo")
    return export_bundle(pipeline, sample, name="tiny", repo=repo, target="y").path
