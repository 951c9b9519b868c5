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


class UnsupportedPipelineError(ScorebridgeError):
    """A pipeline step has no faithful conversion; the message names it and the alternative."""


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


class FidelityError(ScorebridgeError):
    """An exported artifact disagrees with the native pipeline beyond tolerance."""


class EngineError(ScorebridgeError):
    """A scoring engine is unavailable or failed to load a bundle."""


class UntrustedPickleError(EngineError):
    """The native engine was asked to unpickle a model the operator did not mark trusted."""


class JavaNotFoundError(ScorebridgeError):
    """No Java runtime could be found."""
