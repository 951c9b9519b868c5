"""PMML export through sklearn2pmml, with verification records and missing-value fixes."""

from __future__ import annotations

import contextlib
import copy
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pandas as pd

from exporters.introspect import PipelineInfo
from scorebridge.errors import ConversionError
from scorebridge.jvm import java_home

# Stands for "missing" in PMML where the native pipeline scores a missing category like an unseen one
MISSING_SENTINEL = "__scorebridge_missing__"
_PMML_NS = re.compile(r"^\{[^}]*\}")


def to_pmml_pipeline(pipeline: Any, info: PipelineInfo) -> Any:
    """A PMMLPipeline copy of ``pipeline`` with active and target fields set (the input is untouched)."""
    from sklearn2pmml import make_pmml_pipeline
    from sklearn2pmml.pipeline import PMMLPipeline

    if isinstance(pipeline, PMMLPipeline):
        pmml_pipeline = copy.deepcopy(pipeline)
        if getattr(pmml_pipeline, "active_fields", None) is None:
            pmml_pipeline.active_fields = pd.Index(info.schema.names).to_numpy()
        if getattr(pmml_pipeline, "target_fields", None) is None:
            pmml_pipeline.target_fields = pd.Index([info.target]).to_numpy()
        return pmml_pipeline
    return make_pmml_pipeline(copy.deepcopy(pipeline), active_fields=info.schema.names,
                              target_fields=[info.target])


def convert(pipeline: Any, info: PipelineInfo, path: Path, *, verify_rows: pd.DataFrame,
            tolerance: float) -> None:
    """Write ``pipeline`` as PMML to ``path`` with sklearn2pmml's model verification records.

    The verification records carry ``tolerance`` as precision and zero threshold, so JPMML's own
    ``verify()`` accepts float32 ensembles (its default, 1e-13, rejects a one-ulp difference).
    """
    from sklearn2pmml import sklearn2pmml

    pmml_pipeline = to_pmml_pipeline(pipeline, info)
    if hasattr(pmml_pipeline, "verify"):
        pmml_pipeline.verify(verify_rows[info.schema.names], precision=tolerance, zeroThreshold=tolerance)
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):  # sklearn2pmml prints the JVM's output and a banner
            sklearn2pmml(pmml_pipeline, str(path), java_home=str(java_home()))
    except Exception as exc:
        raise ConversionError(java_failure(captured.getvalue()) or str(exc), format="pmml",
                              converter="sklearn2pmml") from exc


def java_failure(output: str) -> str | None:
    """The most telling line of a failed sklearn2pmml run: the JPMML exception its report opens with
    (``The object (Python class ...) is not a supported Transformer``), else the innermost Java one."""
    lines = [ln.strip() for ln in output.splitlines() if "Exception:" in ln or "Error:" in ln]
    jpmml = [ln for ln in lines if ln.startswith("org.jpmml.")]
    return (jpmml or lines[-1:] or [None])[0]


def output_fields(path: Path) -> dict[str, Any]:
    """The PMML's target field and its ``probability(<class>)`` output fields.

    Ensembles put the probability outputs on the last segment of a model chain, so the whole
    document is read and the last probability field per class wins.
    """
    target, probabilities = None, {}
    for _, elem in ET.iterparse(str(path), events=("end",)):
        tag = _PMML_NS.sub("", elem.tag)
        if tag == "MiningField" and elem.get("usageType") in ("target", "predicted") and target is None:
            target = elem.get("name")
        elif tag == "OutputField" and elem.get("feature") == "probability" and elem.get("value") is not None:
            probabilities[elem.get("value")] = elem.get("name")
        elem.clear()
    return {"target": target, "probabilities": probabilities}


def set_missing_as_unseen(path: Path, fields: list[str]) -> list[str]:
    """Make a missing value of each categorical ``field`` evaluate like an unseen category.

    The native pipeline one-hot encodes a missing category it never saw as all zeros, exactly like an
    unseen category; sklearn2pmml's default PMML passes it on as *missing*, which tree ensembles route
    down the default branch instead. Replacing missing with a sentinel category (``asIs`` for
    invalid values) gives the native routing. A field the model never uses has no MiningField (the
    converter prunes it) and needs no fix. Returns the fields actually fixed.
    """
    text = path.read_text()
    fixed = []
    for field in fields:
        pattern = re.compile(rf'<MiningField name="{re.escape(field)}"([^>]*?)/>')
        match = pattern.search(text)
        if match is None:
            continue
        attrs = re.sub(r'\s(missingValueReplacement|missingValueTreatment|invalidValueTreatment)="[^"]*"', "",
                       match.group(1))
        replacement = (f'<MiningField name="{field}"{attrs} missingValueReplacement="{MISSING_SENTINEL}" '
                       'missingValueTreatment="asValue" invalidValueTreatment="asIs"/>')
        text = text[:match.start()] + replacement + text[match.end():]
        fixed.append(field)
    path.write_text(text)
    return fixed
