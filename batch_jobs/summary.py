"""Streaming summary of a run's scores, with PSI against the bundle's verification scores.

The *score* columns are ``probability_<positive class>`` for a binary classifier, every
``probability_<class>`` for a multiclass one, and ``prediction`` for a regressor. For each, the run
record gets count, mean, std, min, max and quantiles (from a fixed-size uniform sample, so memory
stays bounded whatever the partition size) and the population stability index against the
``native_*`` scores in ``verification.parquet``: bins are the reference's deciles, and
``PSI = sum((a - e) * ln(a / e))`` over bins. PSI < 0.1 reads as stable, 0.1-0.25 as a moderate
shift, > 0.25 as a significant one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scorebridge.prediction import class_text, output_columns

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
PSI_BINS = 10
SAMPLE_SIZE = 100_000
_EPS = 1e-4  # floor for empty bins, so one empty bin does not make PSI infinite


def score_columns(task: str, classes: list) -> list[str]:
    """The output columns whose distribution the run record summarises."""
    if task != "classification":
        return ["prediction"]
    if len(classes) == 2:
        return output_columns(task, classes)[2:]
    return output_columns(task, classes)[1:]


def psi_edges(reference: np.ndarray, bins: int = PSI_BINS) -> np.ndarray:
    """Inner bin edges: the distinct deciles of the reference scores."""
    ref = reference[np.isfinite(reference)]
    if ref.size == 0:
        return np.array([])
    return np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))


def psi(expected_counts: np.ndarray, actual_counts: np.ndarray) -> float:
    """Population stability index of two histograms over the same bins."""
    e = np.maximum(expected_counts / max(expected_counts.sum(), 1), _EPS)
    a = np.maximum(actual_counts / max(actual_counts.sum(), 1), _EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def drift_level(value: float) -> str:
    return "stable" if value < 0.1 else ("moderate" if value < 0.25 else "significant")


class _ColumnStats:
    """Running moments, extremes, PSI histogram and a bounded uniform sample of one column.

    Mergeable: partial stats of disjoint row sets (parallel tasks) combine into the stats of their
    union, the sample included (the bottom-k of uniform keys of a union is the bottom-k of the
    partial bottom-k sets).
    """

    def __init__(self, edges: np.ndarray | None, expected: np.ndarray | None, rng: np.random.Generator) -> None:
        self.n = 0
        self.nan = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.lo = np.inf
        self.hi = -np.inf
        self.rng = rng
        self.sample = np.empty(0)
        self.keys = np.empty(0)
        self.threshold = 1.0
        self.edges = edges
        self.expected = expected
        if edges is not None:
            self.actual = np.zeros(len(edges) + 1, dtype=np.int64)

    @classmethod
    def for_reference(cls, reference: np.ndarray | None, rng: np.random.Generator) -> _ColumnStats:
        """Empty stats whose PSI bins are the deciles of ``reference`` (None: no PSI)."""
        if reference is None:
            return cls(None, None, rng)
        edges = psi_edges(reference)
        ref = reference[np.isfinite(reference)]
        expected = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
        return cls(edges, expected, rng)

    def empty(self, rng: np.random.Generator) -> _ColumnStats:
        """Empty stats with the same PSI bins and reference."""
        return _ColumnStats(self.edges, self.expected, rng)

    def merge(self, other: _ColumnStats) -> None:
        """Add the rows ``other`` has seen (disjoint from ours, sampled with independent keys)."""
        self.nan += other.nan
        if self.edges is not None:
            self.actual += other.actual
        if other.n == 0:
            return
        self.n += other.n
        self.total += other.total
        self.total_sq += other.total_sq
        self.lo = min(self.lo, other.lo)
        self.hi = max(self.hi, other.hi)
        self._keep_bottom(np.concatenate([self.keys, other.keys]), np.concatenate([self.sample, other.sample]))

    def _keep_bottom(self, all_keys: np.ndarray, all_vals: np.ndarray) -> None:
        if all_keys.size > SAMPLE_SIZE:
            keep = np.argpartition(all_keys, SAMPLE_SIZE - 1)[:SAMPLE_SIZE]
            all_keys, all_vals = all_keys[keep], all_vals[keep]
        self.keys, self.sample = all_keys, all_vals
        self.threshold = float(all_keys.max()) if all_keys.size >= SAMPLE_SIZE else 1.0

    def update(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        finite = values[np.isfinite(values)]
        self.nan += values.size - finite.size
        if finite.size == 0:
            return
        self.n += finite.size
        self.total += float(finite.sum())
        self.total_sq += float(np.square(finite).sum())  # not np.dot: threaded BLAS is slow here
        self.lo = min(self.lo, float(finite.min()))
        self.hi = max(self.hi, float(finite.max()))
        if self.edges is not None:
            self.actual += np.bincount(np.searchsorted(self.edges, finite, side="right"),
                                       minlength=len(self.edges) + 1)
        # bottom-k of uniform random keys is a uniform sample without replacement; once the sample is
        # full only keys below its largest can enter, so most batches touch few values
        keys = self.rng.random(finite.size)
        if self.keys.size >= SAMPLE_SIZE:
            enter = keys < self.threshold
            keys, finite = keys[enter], finite[enter]
        self._keep_bottom(np.concatenate([self.keys, keys]), np.concatenate([self.sample, finite]))

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"count": self.n, "missing": self.nan}
        if self.n:
            mean = self.total / self.n
            out.update(mean=mean, std=float(np.sqrt(max(self.total_sq / self.n - mean * mean, 0.0))),
                       min=self.lo, max=self.hi,
                       quantiles={f"p{round(q * 100):02d}": float(v)
                                  for q, v in zip(QUANTILES, np.quantile(self.sample, QUANTILES))})
        if self.edges is not None:
            value = psi(self.expected, self.actual)
            out["psi"] = {"value": round(value, 6), "level": drift_level(value),
                          "bins": [float(e) for e in self.edges],
                          "expected": (self.expected / max(self.expected.sum(), 1)).round(6).tolist(),
                          "actual": (self.actual / max(self.actual.sum(), 1)).round(6).tolist(),
                          "reference_rows": int(self.expected.sum())}
        return out


class ScoreSummary:
    """Accumulates the score distribution of a run batch by batch; :meth:`result` gives the JSON part."""

    def __init__(self, task: str, classes: list, reference: Any | None = None, seed: int = 0) -> None:
        """``reference`` is the verification DataFrame (with ``native_<column>``), or None for no PSI."""
        self.columns = score_columns(task, classes)
        self.classes = classes
        self.task = task
        rng = np.random.default_rng(seed)
        self.stats = {}
        for col in self.columns:
            ref = None
            if reference is not None and f"native_{col}" in reference:
                ref = np.asarray(reference[f"native_{col}"], dtype=np.float64)
            self.stats[col] = _ColumnStats.for_reference(ref, rng)
        self.label_counts: dict[str, int] = {}

    def partial(self, seed: int) -> ScoreSummary:
        """An empty summary with the same columns and PSI reference, for one parallel task.

        Give each task its own ``seed``: merging needs independent sampling keys.
        """
        part = object.__new__(ScoreSummary)
        part.columns, part.classes, part.task = self.columns, self.classes, self.task
        rng = np.random.default_rng([seed, 0x5B])
        part.stats = {col: s.empty(rng) for col, s in self.stats.items()}
        part.label_counts = {}
        return part

    def merge(self, other: ScoreSummary) -> None:
        """Add a partial summary (from :meth:`partial`) of rows this one has not seen."""
        for col, stats in self.stats.items():
            stats.merge(other.stats[col])
        for key, n in other.label_counts.items():
            self.label_counts[key] = self.label_counts.get(key, 0) + n

    def update(self, outputs: dict[str, np.ndarray]) -> None:
        """Add one batch of output columns (as returned by ``Prediction.to_columns()``)."""
        for col, stats in self.stats.items():
            stats.update(outputs[col])
        if "label" in outputs:
            labels = np.asarray(outputs["label"])
            for c in self.classes:  # k cheap comparisons beat sorting the batch
                key = class_text(c)
                self.label_counts[key] = self.label_counts.get(key, 0) + int(np.count_nonzero(labels == c))

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scores": {col: s.result() for col, s in self.stats.items()}}
        if self.task == "classification":
            out["labels"] = {k: v for k, v in self.label_counts.items() if v}
        psis = [s["psi"]["value"] for s in out["scores"].values() if "psi" in s]
        if psis:
            out["psi_max"] = max(psis)
            out["drift"] = drift_level(max(psis))
        return out
