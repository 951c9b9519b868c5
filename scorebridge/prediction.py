"""Predictions: what every engine returns, and their table and JSON forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def class_text(value: Any) -> str:
    """A class as text, the one spelling every output uses for it (probability column names and
    JSON keys, CSV cells, the Java client): JSON's ``true``/``false`` for booleans, else ``str``."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    return str(value)


def output_columns(task: str, classes: list) -> list[str]:
    """Output column names: ``label`` + ``probability_<class>``, or ``prediction``."""
    if task == "classification":
        return ["label"] + [f"probability_{class_text(c)}" for c in classes]
    return ["prediction"]


def class_keys(value: Any) -> list[Any]:
    """The forms a runtime may give class ``value`` as: the value, its text, and for booleans and
    integers the spellings PMML (``true``, ``1``) and ONNX (``1``) use."""
    if isinstance(value, (bool, np.bool_)):
        return [bool(value), str(bool(value)), str(bool(value)).lower(), str(int(value)), float(value)]
    if isinstance(value, (int, np.integer)):
        return [int(value), str(int(value)), float(value), str(float(value))]
    if isinstance(value, (float, np.floating)):
        keys: list[Any] = [float(value), str(float(value)), repr(float(value))]
        return keys + ([int(value), str(int(value))] if float(value).is_integer() else [])
    return [value, str(value)]


def as_class_values(labels: Any, classes: list) -> np.ndarray:
    """Labels as the classes' own values (an object array), whatever form a runtime gave them in:
    ONNX's ``1`` for the class ``True``, JPMML's ``"true"``, pandas' ``1.0`` for ``1``. A label that
    is none of the classes (a runtime that gave no answer: ``None``/``NaN``) stays as it was, so it
    compares unequal to every class."""
    arr = np.asarray(labels).reshape(-1)
    kinds = {type(c) for c in classes}
    if (kinds == {int} and arr.dtype.kind in "iu") or (kinds == {bool} and arr.dtype.kind == "b") or \
            (kinds == {str} and arr.dtype.kind == "U"):
        return arr  # already the classes' type (the common case, kept fast for serving)
    raw = arr.astype(object)
    lookup: dict[Any, Any] = {}
    for c in classes:
        for key in class_keys(c):
            lookup.setdefault(_hashable(key), c)
    uniques = {}
    for v in set(map(_hashable, raw.tolist())):  # few distinct labels: map each once
        uniques[v] = lookup.get(v, lookup.get(str(v), v))
    return np.fromiter((uniques[_hashable(v)] for v in raw.tolist()), dtype=object, count=len(raw))


def _hashable(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float) and value != value:
        return None  # NaN never equals itself: one key for "no label"
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def _index_of(classes: list, value: Any) -> int:
    value = _hashable(value)  # NumPy scalars (np.str_, np.int64) as Python values
    for j, c in enumerate(classes):
        if isinstance(c, bool) == isinstance(value, bool) and c == value:
            return j
    return -1


def csv_ready(frame: Any) -> Any:
    """``frame`` with boolean columns as ``true``/``false`` text (:func:`class_text`), as CSV outputs
    write them: the spelling JSON answers and the Java client use, which pandas reads back as bools."""
    bools = [c for c in frame.columns if frame[c].dtype == bool]
    return frame.assign(**{c: frame[c].map(class_text) for c in bools}) if bools else frame


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
            labels = as_class_values(labels, classes)
            index = np.asarray([_index_of(classes, v) for v in labels])
            probabilities = (index[:, None] == np.arange(len(classes))[None, :]).astype(np.float64)
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if labels is None:
            labels = np.asarray(classes, dtype=object)[np.argmax(probabilities, axis=1)]
        else:
            labels = as_class_values(labels, classes)
        return cls("classification", list(classes), labels=np.asarray(labels), probabilities=probabilities)

    @classmethod
    def regression(cls, values: np.ndarray) -> Prediction:
        return cls("regression", [], values=np.asarray(values, dtype=np.float64).reshape(-1))

    def to_columns(self) -> dict[str, np.ndarray]:
        """``{output column: array}`` in output-column order."""
        if self.task == "classification":
            cols: dict[str, np.ndarray] = {"label": typed_labels(self.labels, self.classes)}
            for j, c in enumerate(self.classes):
                cols[f"probability_{class_text(c)}"] = self.probabilities[:, j]
            return cols
        return {"prediction": self.values}

    def to_frame(self):
        """A pandas DataFrame with the output columns (see ``docs/bundle.md``)."""
        import pandas as pd

        return pd.DataFrame(self.to_columns())

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready predictions: ``{"label", "probabilities": {cls: p}}`` or ``{"prediction"}``."""
        if self.task == "classification":
            keys = [class_text(c) for c in self.classes]
            labels = typed_labels(self.labels, self.classes).tolist()
            return [{"label": lab, "probabilities": dict(zip(keys, row))}
                    for lab, row in zip(labels, self.probabilities.tolist())]
        return [{"prediction": v} for v in self.values.tolist()]


def label_kind(classes: list) -> str:
    """How outputs type the labels of ``classes``: ``"bool"``, ``"int"`` (int64) or ``"text"`` (str)."""
    if classes and all(isinstance(c, bool) for c in classes):
        return "bool"
    if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "int"
    return "text"


def typed_labels(labels: np.ndarray, classes: list, kind: str | None = None) -> np.ndarray:
    """Labels as the classes' own type (int64, bool or str) so outputs are stable across engines.

    ``kind`` is :func:`label_kind` of ``classes``, for callers that computed it once per model.
    """
    labels = np.asarray(labels)
    if labels.dtype == object and classes and any(not isinstance(v, type(classes[0])) for v in labels.tolist()):
        labels = as_class_values(labels, classes)
    kind = kind or label_kind(classes)
    if kind == "bool":
        return labels.astype(bool)
    if kind == "int":
        return labels.astype(np.int64)
    return np.asarray([str(v) for v in labels.tolist()], dtype=object)
