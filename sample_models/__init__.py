"""Reproducible sample pipelines and the bundles the quickstart, tests and benchmarks use.

Each module has ``train() -> (fitted pipeline, raw input sample DataFrame)``; :func:`build_all`
exports them all into a model repository.
"""

from __future__ import annotations

from pathlib import Path

SAMPLES = ("credit_risk", "wine_class", "diabetes_progression")


def train(name: str):
    """Train sample ``name``; returns ``(pipeline, sample_frame)``."""
    import importlib

    if name not in SAMPLES:
        raise ValueError(f"unknown sample model {name!r}: choose from {', '.join(SAMPLES)}")
    return importlib.import_module(f"sample_models.{name}").train()


def build_all(repo: str | Path, names: tuple[str, ...] = SAMPLES, *, version: str | None = None) -> dict:
    """Train and export every sample model into ``repo``; returns ``{name: Bundle}``."""
    from exporters import export_bundle

    bundles = {}
    for name in names:
        import importlib

        pipeline, sample = train(name)
        target = getattr(importlib.import_module(f"sample_models.{name}"), "TARGET", None)
        bundles[name] = export_bundle(pipeline, sample, name=name, repo=repo, version=version, target=target)
    return bundles
