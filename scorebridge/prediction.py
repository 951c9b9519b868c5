"""Predictions: what every engine returns, and their table and JSON forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def output_columns(task: str, classes: list) -> list[str]:
    """Output column names: ``label`` + ``probability_<class>``, or ``prediction``."""
    if task == "classification":
        return ["label"] + [f"probability_{c}" for c in classes]
    return ["prediction"]


@dataclass
class Prediction:
    """Scores for a batch, in input row order.

    Classification fills ``labels`` (values from ``classes``) and ``probabilities`` (``n x k``
    float64, columns in ``classes`` order); regression fills ``values`` (float64).
    """

    task: str
    classes: list
    labels: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    values: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.values if self.values is not None else self.probabilities)

    @classmethod
    def classification(cls, classes: list, probabilities: np.ndarray,
                       labels: np.ndarray | None = None) -> Prediction:
        """From class probabilities; labels default to the most probable class.

        A classifier without probabilities (LinearSVC, RidgeClassifier, SVC without
        ``probability=True``) passes ``probabilities=None`` and its labels: the probability columns
        are then the predicted class's indicator (1.0 for the label, 0.0 for the other classes).
        """
        if probabilities is None:
            if labels is None:
                raise ValueError("a classification needs probabilities or labels")
            by_text = {str(c): j for j, c in enumerate(classes)}
            index = np.asarray([by_text.get(str(v), -1) for v in np.asarray(labels).reshape(-1)])
            probabilities = (index[:, None] == np.arange(len(classes))[None, :]).astype(np.float64)
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if labels is None:
            labels = np.asarray(classes, dtype=object)[np.argmax(probabilities, axis=1)]
        return cls("classification", list(classes), labels=np.asarray(labels), probabilities=probabilities)

    @classmethod
    def regression(cls, values: np.ndarray) -> Prediction:
        return cls("regression", [], values=np.asarray(values, dtype=np.float64).reshape(-1))

    def to_columns(self) -> dict[str, np.ndarray]:
        """``{output column: array}`` in output-column order."""
        if self.task == "classification":
            cols: dict[str, np.ndarray] = {"label": _typed_labels(self.labels, self.classes)}
            for j, c in enumerate(self.classes):
                cols[f"probability_{c}"] = self.probabilities[:, j]
            return cols
        return {"prediction": self.values}

    def to_frame(self):
        """A pandas DataFrame with the output columns (see ``docs/bundle.md``)."""
        import pandas as pd

        return pd.DataFrame(self.to_columns())

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready predictions: ``{"label", "probabilities": {cls: p}}`` or ``{"prediction"}``."""
        if self.task == "classification":
            keys = [str(c) for c in self.classes]
            labels = _typed_labels(self.labels, self.classes).tolist()
            return [{"label": lab, "probabilities": dict(zip(keys, row))}
                    for lab, row in zip(labels, self.probabilities.tolist())]
        return [{"prediction": v} for v in self.values.tolist()]


def _typed_labels(labels: np.ndarray, classes: list) -> np.ndarray:
    """Labels as the classes' own type (int64, bool or str) so outputs are stable across engines."""
    if classes and all(isinstance(c, bool) for c in classes):
        return np.asarray(labels).astype(bool)
    if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return np.asarray(labels).astype(np.int64)
    return np.asarray([str(v) for v in labels], dtype=object)
