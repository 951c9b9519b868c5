"""What an export or a verification tells its user: the fidelity table, why an artifact is absent,
and the one-line reason an export wrote nothing.

Gating evaluators (JPMML for PMML, ONNX Runtime for ONNX, the XGBoost fast path) decide whether
their artifact ships, so their rows read ``pass`` or ``FAIL``. pypmml is measured too, as a second
opinion on the PMML, but decides nothing: its row is marked ``reported`` and says how far it is
from the native pipeline, never ``FAIL`` beside a passing gate.
"""

from __future__ import annotations

from typing import Any

# what to change, per reason an artifact is absent
_HINTS = {
    "conversion": "change that step to one the converter supports (docs/support-matrix.md)",
    "evaluation": "the converter wrote an artifact its runtime cannot score; report it with the message above",
    "unavailable": "install what the message names",
}


def format_table(fidelity: dict[str, dict[str, Any]], title: str = "",
                 excluded: dict[str, dict[str, Any]] | None = None) -> str:
    """A fixed-width text table of fidelity reports (one row per evaluator), then the formats
    ``excluded`` from the bundle with the reason for each."""
    header = (f"{'artifact':<8} {'evaluator':<30} {'role':<8} {'rows':>5} {'max_abs_diff':>12} "
              f"{'max_rel_diff':>12} {'labels':>8} {'tolerance':>9} result")
    lines = [title] if title else []
    lines += [header, "-" * len(header)]
    excluded = excluded or {}
    for name, rep in fidelity.items():
        gating = rep.get("gating", True)
        role = "gate" if gating else "reported"
        lead = f"{name:<8} {rep.get('evaluator', ''):<30} {role:<8}"
        if "error" in rep:
            verdict = f"ERROR ({rep['error']})" if gating else f"could not run ({rep['error']})"
            lines.append(f"{lead} {'-':>5} {'-':>12} {'-':>12} {'-':>8} {'-':>9} {verdict}")
            continue
        labels = f"{rep['label_agreement']:.2%}" if "label_agreement" in rep else "-"
        rel = f"{rep['max_rel_diff']:.3g}" if "max_rel_diff" in rep else "-"
        lines.append(f"{lead} {rep['rows']:>5} {rep['max_abs_diff']:>12.3g} {rel:>12} {labels:>8} "
                     f"{rep['tolerance']:>9.1g} {_verdict(name, rep, excluded)}")
    shown = {k: v for k, v in excluded.items() if v.get("reason") != "not_requested"}
    if shown:
        lines.append("not in the bundle:")
        lines += [f"  {exclusion_line(fmt, entry)}" for fmt, entry in shown.items()]
    return "\n".join(lines)


def _verdict(name: str, rep: dict[str, Any], excluded: dict[str, dict[str, Any]]) -> str:
    if not rep.get("gating", True):
        if rep["passed"]:
            return "within tolerance (reported, not a gate)"
        return f"differs on {rep['rows_over_tolerance']} rows (reported, not a gate)"
    if rep["passed"]:
        return "pass"
    return "FAIL: not written" if name in excluded else "FAIL"


def exclusion_line(fmt: str, entry: dict[str, Any]) -> str:
    """One format's absence in words: ``onnx: skl2onnx cannot convert 'pre' > 'num' (KBinsDiscretizer): ...``."""
    reason = entry.get("reason")
    message = entry.get("message", "")
    if reason == "conversion":
        where = entry.get("step") or "the pipeline"
        return f"{fmt}: {entry.get('converter') or 'the converter'} cannot convert {where}: {message}"
    if reason == "fidelity":
        diff = entry.get("max_rel_diff", entry.get("max_abs_diff"))
        kind = "relative difference" if "max_rel_diff" in entry else "difference"
        rows = [_kind_phrase(k) for k in entry.get("worst_rows") or ()]
        worst = f", worst on {', then '.join(rows)}" if rows else ""
        labels = entry.get("label_mismatches_beyond_margin") or 0
        flips = f", {labels} label(s) flipped" if labels else ""
        if entry.get("rows_without_output"):
            flips += f", no output on {entry['rows_without_output']} row(s)"
        return (f"{fmt}: {entry.get('evaluator', fmt)} disagrees with the native pipeline by {_num(diff)} "
                f"({kind}; tolerance {entry.get('tolerance', 0):g}) on {entry.get('rows_over_tolerance', '?')} of "
                f"{entry.get('rows', '?')} verification rows{flips}{worst}")
    if reason == "evaluation":
        return f"{fmt}: {entry.get('evaluator', fmt)} could not score the verification rows: {message}"
    if reason == "denylist":
        return f"{fmt}: {entry.get('step')} is on the denylist: {message}"
    if reason == "not_requested":
        return f"{fmt}: not requested"
    return f"{fmt}: {message}"


def _kind_phrase(kind: str) -> str:
    """A verification row kind (``fidelity.row_kinds``) in words."""
    if kind.startswith("missing "):
        return f"the row with a missing {kind.removeprefix('missing ')}"
    if kind.startswith("unseen "):
        return f"the row with an unseen {kind.removeprefix('unseen ')} category"
    return "sample rows"


def _num(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, (int, float)) else "?"


def what_to_change(fmt: str, entry: dict[str, Any]) -> str:
    """The fix to try for one format's absence."""
    reason = entry.get("reason")
    if reason == "denylist":
        return entry.get("instead", "")
    if reason == "fidelity":
        missing = [k.removeprefix("missing ") for k in entry.get("worst_rows") or () if k.startswith("missing ")]
        if missing:
            return (f"impute {', '.join(missing)} inside the pipeline so every runtime scores a missing value the same "
                    "way, or raise the tolerance if that difference is acceptable")
        return "raise the tolerance (--tolerance) if that difference is acceptable"
    return _HINTS.get(reason, "")


def failure_message(excluded: dict[str, dict[str, Any]], required: tuple[str, ...] | None,
                    shipped: list[str]) -> str:
    """The one-line reason an export wrote nothing: each blocked format, what blocked it, what to change.

    ``required`` is ``None`` for ``require="any"``; ``shipped`` the formats that did pass.
    """
    blocked = [f for f in (required or excluded) if f in excluded and
               (required is not None or excluded[f].get("reason") != "not_requested")]
    if required is None:
        head = "no artifact converted faithfully"
    else:
        head = f"required artifact{'s' if len(blocked) > 1 else ''} {', '.join(blocked)} could not be exported"
    parts = []
    for fmt in blocked:
        hint = what_to_change(fmt, excluded[fmt])
        parts.append(exclusion_line(fmt, excluded[fmt]) + (f" (to fix: {hint})" if hint else ""))
    tail = ""
    if shipped:
        tail = (f"; {', '.join(shipped)} passed: --require {','.join(shipped)} (or any) exports without "
                f"{', '.join(blocked)}")
    return f"nothing was written: {head}: " + "; ".join(parts) + tail
