"""The exceptions scorebridge raises; each carries a message that says what to do.

The CLI prints ``scorebridge: error: <message>`` and exits non-zero for any of them; the scoring
service maps them to HTTP status codes in one place.
"""

from __future__ import annotations


class ScorebridgeError(Exception):
    """Base class: an expected failure with a one-line, actionable message."""

    exit_code = 2


class BundleError(ScorebridgeError):
    """A bundle is missing, malformed or cannot be resolved."""


class BundleIntegrityError(BundleError):
    """An artifact's sha256 or size does not match the manifest."""


class SchemaError(ScorebridgeError, ValueError):
    """Input data does not fit a model's input schema.

    ``field`` names the offending input and ``record`` the 0-based row (when known), so services can
    return them to the caller.
    """

    def __init__(self, message: str, *, field: str | None = None, record: int | None = None,
                 code: str = "invalid_input") -> None:
        super().__init__(message)
        self.field = field
        self.record = record
        self.code = code


class PipelineError(ScorebridgeError):
    """The object given to export is not a fitted pipeline it can export (unfitted, not an estimator)."""


class ConversionError(ScorebridgeError):
    """A converter (sklearn2pmml, skl2onnx, onnxmltools) could not convert a pipeline.

    ``message`` is the converter's own one-line reason; ``format`` the artifact (``pmml``, ``onnx``,
    ``xgboost``), ``converter`` the library that refused (``sklearn2pmml``, ``skl2onnx``,
    ``onnxmltools``, ...) and ``step`` the step's path in the pipeline
    (``'preprocess' > 'num' (KBinsDiscretizer)``) when known. All keywords are optional.
    """

    def __init__(self, message: str, *, format: str | None = None, converter: str | None = None,
                 step: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.format = format
        self.converter = converter
        self.step = step


class ExportError(ScorebridgeError):
    """An export wrote nothing: a required artifact is missing, or no artifact is faithful.

    ``excluded`` is the manifest's ``excluded`` section (why each format is absent) and ``fidelity``
    the measured reports, so callers can show the whole picture; the message is one line.
    """

    def __init__(self, message: str, *, excluded: dict | None = None, fidelity: dict | None = None) -> None:
        super().__init__(message)
        self.excluded = excluded or {}
        self.fidelity = fidelity or {}


class FidelityError(ExportError):
    """An export wrote nothing because its artifacts disagree with the native pipeline beyond tolerance."""


class UnsupportedPipelineError(ExportError):
    """An export wrote nothing because a step is on the exporter's denylist for the formats it needed;
    the message names the step and the alternative (see ``exporters/denylist.py``)."""


class EngineError(ScorebridgeError):
    """A scoring engine is unavailable or failed to load a bundle."""


class UntrustedPickleError(EngineError):
    """The native engine was asked to unpickle a model the operator did not mark trusted."""


class JavaNotFoundError(ScorebridgeError):
    """No Java runtime could be found."""
