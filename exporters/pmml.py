"""PMML export through sklearn2pmml, with verification records and missing-value fixes."""

from __future__ import annotations

import contextlib
import copy
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exporters import pmml_fixes
from exporters.fidelity import edge_kinds
from exporters.introspect import PipelineInfo
from scorebridge.engines.native import pandas_categories, with_categories
from scorebridge.errors import ConversionError
from scorebridge.jvm import java_home
from scorebridge.prediction import class_keys, class_text

_PMML_NS = re.compile(r"^\{[^}]*\}")


def to_pmml_pipeline(pipeline: Any, info: PipelineInfo) -> Any:
    """A PMMLPipeline copy of ``pipeline`` with active and target fields set (the input is untouched).

    A search wrapper or a nested pipeline is replaced by the steps :func:`inspect_pipeline` found;
    :func:`_pmml_ready` adjusts the copy where sklearn2pmml would otherwise write a different model.
    """
    from sklearn.pipeline import Pipeline
    from sklearn2pmml import make_pmml_pipeline
    from sklearn2pmml.pipeline import PMMLPipeline

    if isinstance(pipeline, PMMLPipeline) and [s for _, s in pipeline.steps] == [s for _, s in info.steps]:
        pmml_pipeline = copy.deepcopy(pipeline)
        if getattr(pmml_pipeline, "active_fields", None) is None:
            pmml_pipeline.active_fields = pd.Index(info.schema.names).to_numpy()
        if getattr(pmml_pipeline, "target_fields", None) is None:
            pmml_pipeline.target_fields = pd.Index([info.target]).to_numpy()
    else:
        steps = copy.deepcopy(info.steps)
        domain = _category_domain(pipeline, info)
        if domain is not None:
            steps.insert(0, ("domain", domain))
        model = Pipeline(steps) if len(steps) > 1 else steps[0][1]
        pmml_pipeline = make_pmml_pipeline(model, active_fields=info.schema.names, target_fields=[info.target])
    _pmml_ready(pmml_pipeline)
    if pmml_fixes.nan_routing_trees(info.estimator) or pmml_fixes.lightgbm_trees(info.estimator):
        pmml_pipeline.configure(compact=False)  # one PMML node per scikit-learn/LightGBM node (see pmml_fixes)
    return pmml_pipeline


def _category_domain(pipeline: Any, info: PipelineInfo) -> Any:
    """For an XGBoost/LightGBM model reading pandas ``category`` columns: a fitted mapper that
    declares those columns categorical (their categories; an unseen one is missing, as natively) and
    the others continuous, which sklearn2pmml needs to write categorical splits. None otherwise."""
    categories = pandas_categories(pipeline)
    if not categories or info.sample is None:
        return None
    from sklearn2pmml.decoration import CategoricalDomain, ContinuousDomain

    from scorebridge.compat import install_sklearn_pandas_shim

    install_sklearn_pandas_shim()
    from sklearn_pandas import DataFrameMapper

    features = [([f.name], CategoricalDomain(invalid_value_treatment="as_missing") if f.name in categories
                 else ContinuousDomain(with_data=False)) for f in info.schema.fields]
    mapper = DataFrameMapper(features, input_df=True, df_out=True)
    return mapper.fit(with_categories(pipeline, info.sample[info.schema.names]))


def _pmml_ready(pmml_pipeline: Any) -> None:
    """sklearn2pmml types a numeric input after a ``SimpleImputer``'s ``fill_value``: an integer fill
    (``fill_value=0``) makes the field ``integer`` and JPMML then refuses 53.36. The fill value
    becomes a float (the imputer's output is the same)."""
    from sklearn.impute import SimpleImputer

    from exporters.steps import walk_steps

    for _, step in walk_steps(pmml_pipeline):
        numeric = getattr(step, "_fit_dtype", np.dtype(object)).kind in "iuf"
        if isinstance(step, SimpleImputer) and numeric and isinstance(step.fill_value, (int, np.integer)) \
                and not isinstance(step.fill_value, bool):
            step.fill_value = float(step.fill_value)
            step.statistics_ = np.asarray(step.statistics_, dtype=np.float64)


def _verification_records(verify: pd.DataFrame, info: PipelineInfo) -> pd.DataFrame:
    """The rows embedded as PMML verification records: the sample's head and every edge row."""
    edges = len(edge_kinds(info.schema))
    return pd.concat([verify.head(min(20, len(verify) - edges)), verify.iloc[len(verify) - edges:]])


def convert(pipeline: Any, info: PipelineInfo, path: Path, *, verify: pd.DataFrame,
            tolerance: float) -> dict[str, Any]:
    """Write ``pipeline`` as PMML to ``path``; returns the manifest's ``pmml`` section.

    ``verify`` is the verification frame (the sample rows, then the edge rows). Its head and edge
    rows go into the PMML as sklearn2pmml's model verification records, with ``tolerance`` as
    precision and zero threshold, so JPMML's own ``verify()`` accepts float32 ensembles (its
    default, 1e-13, rejects a one-ulp difference). The PMML is then fixed where sklearn2pmml's
    missing and unseen value handling differs from the native pipeline's (:mod:`exporters.pmml_fixes`);
    when JPMML still rejects its records, they are dropped, so the fidelity gate measures (and
    reports) the disagreement instead of a load failure.
    """
    from sklearn2pmml import sklearn2pmml

    tolerance = max(tolerance, 1e-9)
    pmml_pipeline = to_pmml_pipeline(pipeline, info)
    if hasattr(pmml_pipeline, "verify"):
        records = with_categories(pipeline, _verification_records(verify, info)[info.schema.names])
        pmml_pipeline.verify(records, precision=tolerance, zeroThreshold=tolerance)
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):  # sklearn2pmml prints the JVM's output and a banner
            sklearn2pmml(pmml_pipeline, str(path), java_home=str(java_home()))
    except Exception as exc:
        reason = java_failure(captured.getvalue()) or f"{type(exc).__name__}: {exc}"
        raise ConversionError(reason, format="pmml", converter="sklearn2pmml") from exc
    fixes = pmml_fixes.apply(path, pipeline, info, verify)
    pmml_fixes.keep_verification_if_valid(path)
    return _section(path, info, fixes)


def _section(path: Path, info: PipelineInfo, fixes: dict[str, list[str]]) -> dict[str, Any]:
    fields = output_fields(path)
    spec: dict[str, Any] = {**fixes}
    if info.task == "classification" and not info.probabilities:
        spec.update(label_field=fields["target"], prediction_field=None, probability_fields=None)
    elif info.task == "anomaly":
        if "decisionFunction" not in fields["outputs"]:
            raise ConversionError("the PMML has no decisionFunction output", format="pmml", converter="sklearn2pmml")
        spec.update(label_field=None, prediction_field="decisionFunction", probability_fields=None)
    elif info.task == "classification":
        found = {c: _probability_field(fields["probabilities"], c) for c in info.classes}
        missing = [c for c, name in found.items() if name is None]
        if missing:
            raise ConversionError(f"the PMML has no probability output for class(es) {missing}", format="pmml",
                                  converter="sklearn2pmml")
        spec.update(label_field=fields["target"], prediction_field=None,
                    probability_fields={class_text(c): name for c, name in found.items()})
    else:
        spec.update(label_field=None, prediction_field=fields["target"], probability_fields=None)
    return spec


def _probability_field(fields: dict[str, str], cls: Any) -> str | None:
    """The output field of class ``cls`` among ``{PMML value: field}``, in whichever spelling the PMML
    gives it (``true`` for ``True``, ``1`` for ``1``)."""
    for key in class_keys(cls):
        if str(key) in fields:
            return fields[str(key)]
    return None


def java_failure(output: str) -> str | None:
    """The most telling line of a failed sklearn2pmml run: the JPMML exception its report opens with
    (``The object (Python class ...) is not a supported Transformer``), else the innermost Java one."""
    lines = [ln.strip() for ln in output.splitlines() if "Exception:" in ln or "Error:" in ln]
    jpmml = [ln for ln in lines if ln.startswith("org.jpmml.")]
    return (jpmml or lines[-1:] or [None])[0]


def output_fields(path: Path) -> dict[str, Any]:
    """The PMML's target field, its ``probability(<class>)`` output fields and every output field's name.

    Ensembles put the probability outputs on the last segment of a model chain, so the whole
    document is read and the last probability field per class wins, unless a ``probability(<class>)``
    field (the model's own, as CalibratedClassifierCV's) was seen.
    """
    target, probabilities, outputs = None, {}, []
    for _, elem in ET.iterparse(str(path), events=("end",)):
        tag = _PMML_NS.sub("", elem.tag)
        if tag == "MiningField" and elem.get("usageType") in ("target", "predicted") and target is None:
            target = elem.get("name")
        elif tag == "OutputField":
            outputs.append(elem.get("name"))
            value, name = elem.get("value"), elem.get("name")
            # the model's own probability(<class>) beats a segment's probability(<segment>, <class>)
            if elem.get("feature") == "probability" and value is not None and \
                    probabilities.get(value) != f"probability({value})":
                probabilities[value] = name
        elem.clear()
    return {"target": target, "probabilities": probabilities, "outputs": outputs}
