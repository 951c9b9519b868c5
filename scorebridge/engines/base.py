"""The engine interface: load a bundle, score :data:`~scorebridge.schema.Columns`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from scorebridge.bundle import Bundle
from scorebridge.prediction import Prediction
from scorebridge.schema import Columns


class Engine(ABC):
    """Scores one bundle with one runtime. Subclasses load their artifact in ``__init__``.

    Engines are safe to call from several threads unless their ``thread_safe`` says otherwise.
    """

    name: ClassVar[str]
    artifact: ClassVar[str]
    thread_safe: ClassVar[bool] = True

    def __init__(self, bundle: Bundle, **options: Any) -> None:
        self.bundle = bundle
        self.schema = bundle.schema
        self.classes = bundle.classes

    @abstractmethod
    def predict_columns(self, columns: Columns) -> Prediction:
        """Score validated columns (see :mod:`scorebridge.schema`)."""

    def predict(self, frame: Any) -> Prediction:
        """Score a pandas DataFrame of raw inputs (validated against the bundle's schema)."""
        return self.predict_columns(self.schema.from_frame(frame))

    def describe(self) -> str:
        """Runtime name and version, for reports and logs."""
        return self.name

    def close(self) -> None:  # noqa: B027 - optional hook, most runtimes hold nothing to release
        """Release resources (default: nothing)."""
