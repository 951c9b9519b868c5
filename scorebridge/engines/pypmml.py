"""pypmml engine (PMML4S through Py4J): measured in fidelity reports, never gating.

pypmml compares float32 split thresholds in double precision, so tree ensembles can drift on rows
near a threshold; see ``docs/support-matrix.md`` for the measured agreement.
"""

from __future__ import annotations

from typing import Any

from scorebridge.bundle import Bundle
from scorebridge.engines.base import Engine
from scorebridge.engines.jpmml import pmml_arguments, pmml_prediction
from scorebridge.errors import EngineError
from scorebridge.prediction import Prediction
from scorebridge.schema import Columns


class PypmmlEngine(Engine):
    """Scores ``model.pmml`` with pypmml."""

    name = "pypmml"
    artifact = "pmml"
    thread_safe = False

    def __init__(self, bundle: Bundle, **_: Any) -> None:
        super().__init__(bundle)
        try:
            from pypmml import Model
        except ImportError as exc:
            raise EngineError("the pypmml engine needs pypmml: pip install pypmml") from exc
        from scorebridge.jvm import ensure_java_env

        ensure_java_env()
        self.model = Model.fromFile(str(bundle.artifact_path("pmml")))

    def predict_columns(self, columns: Columns) -> Prediction:
        results = self.model.predict(pmml_arguments(self.bundle, columns))
        # pypmml names a target without an OutputField "predicted_<target>" (JPMML uses "<target>")
        renames = {f"predicted_{field}": field for field in (self.bundle.manifest["pmml"].get("prediction_field"),
                                                              self.bundle.manifest["pmml"].get("label_field"))
                   if field and field not in results.columns}
        return pmml_prediction(self.bundle, results.rename(columns=renames))

    def describe(self) -> str:
        import pypmml

        return f"pypmml {getattr(pypmml, '__version__', '?')}"
