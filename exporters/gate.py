"""Which artifacts ship: each format is converted and gated on its own, and the export fails only
when a required one is missing or none is faithful.

The manifest's ``excluded`` section says why each format is absent (see ``docs/bundle.md``):

=============== ==================================================================================
reason          meaning, and the keys besides ``reason``
=============== ==================================================================================
not_requested   the format was left out of ``formats``
not_applicable  the format does not apply to this model (``message``)
denylist        a step is on the denylist (``step``, ``message``, ``instead``; ``exporters/denylist.py``)
unavailable     the converter cannot run here, e.g. no Java for sklearn2pmml (``message``)
conversion      the converter refused (``converter``, ``step`` or ``null``, ``message``: its own reason)
evaluation      the artifact was written but its runtime could not score it (``evaluator``, ``message``)
fidelity        it disagrees with the native pipeline beyond tolerance (``evaluator``, ``rows``,
                ``max_abs_diff``, ``max_rel_diff`` for regression, ``rows_over_tolerance``,
                ``label_mismatches_beyond_margin`` for classification, ``tolerance``, ``worst_rows``)
=============== ==================================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from exporters.artifacts import FORMATS
from exporters.report import failure_message
from scorebridge.errors import (
    ConversionError,
    ExportError,
    FidelityError,
    ScorebridgeError,
    UnsupportedPipelineError,
)

# the fidelity report keys an exclusion for disagreement carries
_FIDELITY_KEYS = ("evaluator", "rows", "max_abs_diff", "max_rel_diff", "rows_over_tolerance", "rows_without_output",
                  "label_mismatches_beyond_margin", "tolerance", "worst_rows")


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """``formats`` (a comma-separated string or a sequence) as a tuple in :data:`FORMATS` order."""
    names = [f.strip() for f in formats.split(",")] if isinstance(formats, str) else [str(f).strip() for f in formats]
    names = [f for f in names if f]
    unknown = [f for f in names if f not in FORMATS]
    if unknown or not names:
        raise ScorebridgeError(f"unknown format(s) {', '.join(unknown) or '(none)'}: choose from "
                               f"{', '.join(FORMATS)}")
    return tuple(f for f in FORMATS if f in names)


def parse_require(require: str | Iterable[str], formats: Sequence[str]) -> tuple[str, ...] | None:
    """``"any"`` (``None``: at least one faithful artifact) or the formats that must all ship
    (``"pmml"``, ``"onnx"``, ``"pmml,onnx"``, ...), each among ``formats``."""
    if isinstance(require, str) and require.strip() == "any":
        return None
    try:
        required = parse_formats(require)
    except ScorebridgeError:
        raise ScorebridgeError(f"require={require!r}: use any, or a comma-separated list of "
                               f"{', '.join(FORMATS)} (e.g. pmml,onnx)") from None
    absent = [f for f in required if f not in formats]
    if absent:
        raise ScorebridgeError(f"require={','.join(required)} asks for {', '.join(absent)}, which formats="
                               f"{','.join(formats)} leaves out: add it to the formats or drop it from require")
    return required


class Gate:
    """The per-format verdicts of one export: what was excluded and why, and whether it may ship."""

    def __init__(self, formats: Sequence[str], required: tuple[str, ...] | None,
                 offered: Sequence[str] = FORMATS) -> None:
        """``formats`` to try, the ``required`` ones (``None``: any), and the formats ``offered`` for this
        model (those not tried are recorded as ``not_requested``)."""
        self.formats = tuple(formats)
        self.required = required
        self.excluded: dict[str, dict[str, Any]] = {f: {"reason": "not_requested"} for f in offered
                                                    if f not in self.formats}
        self.fidelity: dict[str, dict[str, Any]] = {}

    @property
    def active(self) -> list[str]:
        """Formats still in the running, in :data:`FORMATS` order."""
        return [f for f in self.formats if f not in self.excluded]

    def exclude(self, fmt: str, entry: dict[str, Any]) -> None:
        """Leave ``fmt`` out for the reason ``entry`` gives; fail now if it was required."""
        self.excluded[fmt] = entry
        if self.required is not None and fmt in self.required:
            self.fail()

    def conversion_failed(self, exc: ConversionError) -> None:
        fmt = exc.format or "?"
        self.exclude(fmt, {"reason": "conversion", "converter": exc.converter, "step": exc.step,
                           "message": exc.message})

    def measured(self, reports: dict[str, dict[str, Any]]) -> list[str]:
        """Record the fidelity reports; exclude each gating artifact that failed. Returns those formats."""
        self.fidelity = reports
        failed = []
        for fmt, rep in reports.items():
            if not rep.get("gating") or rep.get("passed") or fmt not in self.active:
                continue
            if "error" in rep:
                entry = {"reason": "evaluation", "evaluator": rep.get("evaluator", fmt), "message": rep["error"]}
            else:
                entry = {"reason": "fidelity", **{k: rep[k] for k in _FIDELITY_KEYS if k in rep}}
            failed.append(fmt)
            self.excluded[fmt] = entry
        if self.required is not None and any(f in self.required for f in failed):
            self.fail()
        return failed

    def check(self) -> None:
        """Fail unless something faithful remains (the required formats are checked as they drop out)."""
        if not self.active:
            self.fail()

    def fail(self) -> None:
        """Raise the export's failure: :class:`FidelityError` when disagreement alone blocked it,
        :class:`UnsupportedPipelineError` when the denylist alone did, else :class:`ExportError`."""
        shipped = [f for f in self.active if f in self.fidelity and self.fidelity[f].get("passed")]
        message = failure_message(self.excluded, self.required, shipped)
        blocking = [e for f, e in self.excluded.items()
                    if e["reason"] != "not_requested" and (self.required is None or f in self.required)]
        reasons = {e["reason"] for e in blocking}
        cls = {frozenset({"fidelity"}): FidelityError, frozenset({"denylist"}): UnsupportedPipelineError}.get(
            frozenset(reasons), ExportError)
        raise cls(message, excluded=dict(self.excluded), fidelity=dict(self.fidelity))
