"""Fixes applied to sklearn2pmml's PMML where its missing/unseen value handling differs from the
native pipeline's. Each fix is decided from the fitted pipeline and proved by the fidelity gate.

- **missing as unseen**: a string input whose missing value the pipeline's preprocessing turns into
  exactly what it makes of an unseen category (one-hot ``handle_unknown='ignore'`` with no imputer in
  front): sklearn2pmml passes the missing value on as *missing* (trees then take their default
  branch), so the PMML replaces it with a sentinel category, which it then treats as unseen.
- **unseen as missing**: the same equivalence for a model that reads the raw column itself
  (HistGradientBoosting on a pandas ``category``: scikit-learn routes an unseen category as missing):
  there is no encoder to send a sentinel through, so the PMML's field treats an unseen value as
  missing (``invalidValueTreatment="asMissing"``) and the model's own missing-value routing decides.
- **missing encoded**: an ``OrdinalEncoder`` that learned the missing value as a category encodes it
  as ``encoded_missing_value``; sklearn2pmml's lookup table has no row for it, so the PMML's
  ``MapValues`` gets ``mapMissingTo`` with that code.
- **tree missing routing**: scikit-learn's trees send a missing value where training sent them
  (``tree_.missing_go_to_left``); sklearn2pmml's trees predict nothing for it. The PMML is written with
  one node per scikit-learn node (``compact=False``: in preorder, so the n-th node is scikit-learn's
  node n), each node gets that id and each split its ``defaultChild``
  (``missingValueStrategy="defaultChild"``).
- **LightGBM missing routing**: LightGBM sends a missing value by each split's ``missing_type``:
  ``NaN`` (the feature had NaN in training) to the learned default side, ``None`` (it had none) as
  if it were ``0.0`` (compared with the threshold), ``Zero`` (``zero_as_missing``) NaN and zeros to
  the default side. JPMML-LightGBM writes ``defaultChild`` from the default side alone, so a NaN
  where training had none went the wrong way. The PMML is written with one node per LightGBM node
  (``compact=False``; node ``-(k+1)`` is LightGBM's split ``k``), and each split's ``defaultChild``
  (and, for ``Zero``, its predicates) is set from the booster's own dump.
- **missing as a learned category**: a ``OneHotEncoder`` that learned the missing value as a
  category encodes it as a known value (its own indicator 1, every other 0); sklearn2pmml's tree
  predicates ``city != "Lille"`` evaluate to *unknown* for a missing value, so the PMML wraps each
  ``equal``/``notEqual``/``isIn``/``isNotIn`` predicate on such a field in a ``surrogate`` that
  answers what the indicator says (false for equal/isIn, true for notEqual/isNotIn).
- **input names**: for a pipeline fitted on a NumPy array, sklearn2pmml names the inputs of integer
  column selectors ``x1, x2, ...``; scikit-learn (and the bundle) name them ``x0, x1, ...``.
- **invalid as is**: a string input that the native pipeline accepts unseen categories for, but
  whose PMML field still refuses them (``invalidValueTreatment`` left at ``returnInvalid``, as
  sklearn2pmml writes it for ``TargetEncoder``): the value flows on to the encoder's own default.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exporters.fidelity import UNSEEN_PREFIX, edge_kinds, unseen_number
from exporters.introspect import PipelineInfo
from scorebridge.engines.native import as_native_frame, native_prediction

# Stands for "missing" in PMML where the native pipeline scores a missing category like an unseen one
MISSING_SENTINEL = "__scorebridge_missing__"


def _sample_rows(verify: pd.DataFrame, info: PipelineInfo) -> pd.DataFrame:
    edges = len(edge_kinds(info.schema))
    return verify.iloc[:max(1, len(verify) - edges)]


def _encoded(pipeline: Any, info: PipelineInfo, frame: pd.DataFrame) -> np.ndarray | None:
    """What the model is given for ``frame``: the preprocessing's output, or (no preprocessing) the
    native predictions. None when the pipeline refuses the frame."""
    from sklearn.pipeline import Pipeline

    try:
        if len(info.steps) > 1:
            out = Pipeline(info.steps[:-1]).transform(as_native_frame(pipeline, frame))
        else:
            prediction = native_prediction(pipeline, frame, info.task, info.classes)
            out = prediction.probabilities if prediction.task == "classification" else prediction.values
    except Exception:  # the native pipeline refuses this value
        return None
    out = out.toarray() if hasattr(out, "toarray") else out
    return np.asarray(out, dtype=np.float64)


def missing_as_unseen_fields(pipeline: Any, info: PipelineInfo, verify: pd.DataFrame) -> list[str]:
    """String inputs whose missing value the preprocessing encodes exactly like an unseen category,
    on every sample row of ``verify`` (the model then cannot tell them apart, whatever it is)."""
    base = _sample_rows(verify, info)
    fields = []
    for f in info.schema.fields:
        if f.optype != "categorical" or not f.nullable or f.dtype == "bool":
            continue
        missing, unseen = base.copy(), base.copy()
        missing[f.name] = pd.Series(np.nan, index=missing.index, dtype=float if f.is_numeric else object)
        unseen[f.name] = unseen_number(f.categories) if f.is_numeric else f"{UNSEEN_PREFIX}{f.name}"
        a, b = _encoded(pipeline, info, missing), _encoded(pipeline, info, unseen)
        if a is not None and b is not None and np.array_equal(a, b, equal_nan=True):
            fields.append(f.name)
    return fields


def untested_missing_fields(path: Path, info: PipelineInfo) -> list[str]:
    """String inputs whose encoder learned the missing value as a category, where the PMML's model
    never tests for missing (no ``isMissing`` predicate on the field): natively a missing value is
    that category, which no ``equal`` split matches, while the PMML would pass *missing* on (a tree
    then predicts nothing). A sentinel category is what the model sees natively."""
    from xml.sax.saxutils import quoteattr

    from exporters.introspect import column_encoders

    text = path.read_text()
    if len(info.steps) < 2 or "<TreeModel" not in text:
        return []
    found = []
    for name, (encoder, j) in column_encoders(info.steps[0][1], info.schema.names).items():
        field = info.schema.by_name.get(name)
        if field is None or field.is_numeric or not any(_is_nan(c) for c in encoder.categories_[j]):
            continue
        quoted = re.escape(quoteattr(name))
        # only tree splits read it: a regression model's predictor weighs the missing category itself
        if not re.search(rf'field={quoted} operator="is(Not)?Missing"|CategoricalPredictor name={quoted}', text):
            found.append(name)
    return found


def _accepts_unseen(pipeline: Any, info: PipelineInfo, verify: pd.DataFrame, name: str) -> bool:
    row = _sample_rows(verify, info).head(1).copy()
    row[name] = f"{UNSEEN_PREFIX}{name}"
    return _encoded(pipeline, info, row) is not None


def _mining_field(text: str, field: str) -> re.Match | None:
    from xml.sax.saxutils import quoteattr

    return re.search(rf"<MiningField name={re.escape(quoteattr(field))}([^>]*?)/>", text)


def _set_attributes(text: str, match: re.Match, field: str, attrs: dict[str, str]) -> str:
    from xml.sax.saxutils import quoteattr

    kept = match.group(1)
    for key in attrs:
        kept = re.sub(rf'\s{key}="[^"]*"', "", kept)
    added = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
    return text[:match.start()] + f"<MiningField name={quoteattr(field)}{kept}{added}/>" + text[match.end():]


def set_missing_as_unseen(path: Path, fields: list[str], info: PipelineInfo | None = None) -> list[str]:
    """Make a missing value of each categorical ``field`` evaluate like an unseen category: missing
    is replaced by a sentinel category (a number no category has, for an integer or float code), and
    ``asIs`` lets that (invalid) value through. A field the model never uses has no MiningField (the
    converter prunes it) and needs no fix. Returns the fields actually fixed."""
    by_name = {f.name: f for f in info.schema.fields} if info is not None else {}
    text = path.read_text()
    fixed = []
    for field in fields:
        match = _mining_field(text, field)
        if match is None or 'invalidValueTreatment="asMissing"' in match.group(1):
            continue  # absent, or the PMML already treats an unseen value as missing
        spec = by_name.get(field)
        sentinel = MISSING_SENTINEL
        if spec is not None and spec.is_numeric:
            code = unseen_number(spec.categories)
            sentinel = str(int(code)) if spec.dtype == "int64" else repr(code)
        text = _set_attributes(text, match, field, {"missingValueReplacement": sentinel,
                                                    "missingValueTreatment": "asValue",
                                                    "invalidValueTreatment": "asIs"})
        fixed.append(field)
    path.write_text(text)
    return fixed


def set_unseen_as_missing(path: Path, fields: list[str]) -> list[str]:
    """Make an unseen category of each ``field`` evaluate as a missing value
    (``invalidValueTreatment="asMissing"``), for a model that reads the raw column and scores both
    alike. Returns the fields changed (those the PMML does not already treat so)."""
    text = path.read_text()
    fixed = []
    for field in fields:
        match = _mining_field(text, field)
        if match is None or 'invalidValueTreatment="asMissing"' in match.group(1):
            continue
        text = _set_attributes(text, match, field, {"invalidValueTreatment": "asMissing"})
        fixed.append(field)
    if fixed:
        path.write_text(text)
    return fixed


def set_invalid_as_is(path: Path, pipeline: Any, info: PipelineInfo, verify: pd.DataFrame) -> list[str]:
    """``invalidValueTreatment="asIs"`` for string inputs the native pipeline accepts unseen values of
    but whose MiningField leaves the default (``returnInvalid``). Returns the fields changed."""
    text = path.read_text()
    fixed = []
    for f in info.schema.fields:
        if f.optype != "categorical" or f.is_numeric:
            continue
        match = _mining_field(text, f.name)
        if match is None or "invalidValueTreatment" in match.group(1):
            continue
        if _accepts_unseen(pipeline, info, verify, f.name):
            text = _set_attributes(text, match, f.name, {"invalidValueTreatment": "asIs"})
            fixed.append(f.name)
    if fixed:
        path.write_text(text)
    return fixed


def set_missing_encoded(path: Path, pipeline: Any, info: PipelineInfo) -> list[str]:
    """``mapMissingTo`` on the lookup of each raw string input an OrdinalEncoder encodes missing
    values of (a finite ``encoded_missing_value``). Returns the fields changed."""
    from xml.sax.saxutils import quoteattr

    from exporters.introspect import column_encoders
    from exporters.onnx_transformers import encoder_tables

    encoders = column_encoders(info.steps[0][1], info.schema.names) if len(info.steps) > 1 else {}
    text = path.read_text()
    fixed = []
    for name, (encoder, j) in encoders.items():
        if type(encoder).__name__ != "OrdinalEncoder" or not any(_is_nan(c) for c in encoder.categories_[j]):
            continue
        code = float(encoder_tables(encoder)[j][1][-1, 0])  # the encoder's output for a missing value
        field = re.escape(quoteattr(name))
        match = re.search(rf"<MapValues(?![^>]*mapMissingTo)([^>]*)>(\s*<FieldColumnPair field={field})", text)
        if np.isfinite(code) and match:
            value = quoteattr(f"{code:g}" if code == int(code) else repr(code))
            text = text[:match.start()] + f"<MapValues{match.group(1)} mapMissingTo={value}>{match.group(2)}" + \
                text[match.end():]
            fixed.append(name)
    if fixed:
        path.write_text(text)
    return fixed


def _is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


_NAN_TREES = ("DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor",
              "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor")


def nan_routing_trees(estimator: Any) -> list[Any]:
    """The fitted ``tree_`` objects of a scikit-learn tree model that routes NaN (in PMML segment
    order), or ``[]``."""
    if type(estimator).__name__ not in _NAN_TREES:
        return []
    trees = [e.tree_ for e in estimator.estimators_] if hasattr(estimator, "estimators_") else [estimator.tree_]
    return trees if all(hasattr(t, "missing_go_to_left") for t in trees) else []


def set_tree_default_children(path: Path, info: PipelineInfo) -> int:
    """``defaultChild`` on every split of the PMML's trees from scikit-learn's learned NaN direction.
    Returns the number of trees changed (0 when the model is not such a tree model)."""
    import xml.etree.ElementTree as ET

    trees = nan_routing_trees(info.estimator)
    if not trees:
        return 0
    ns = {"": "http://www.dmg.org/PMML-4_4", "data": "http://jpmml.org/jpmml-model/InlineTable"}
    for prefix, uri in ns.items():
        ET.register_namespace(prefix, uri)
    document = ET.parse(path)
    node_tag = f"{{{ns['']}}}Node"
    models = list(document.getroot().iter(f"{{{ns['']}}}TreeModel"))
    if len(models) != len(trees):
        return 0
    changed = 0
    for tree, model in zip(trees, models):
        root = model.find(node_tag)
        order = list(root.iter(node_tag))  # preorder, left child first: scikit-learn's node ids
        if len(order) != tree.node_count:
            continue  # not one PMML node per scikit-learn node: leave this tree as sklearn2pmml wrote it
        for index, node in enumerate(order):
            node.set("id", str(index))
        for index, node in enumerate(order):
            if tree.children_left[index] >= 0:
                go_left = tree.missing_go_to_left[index]
                node.set("defaultChild", str(tree.children_left[index] if go_left else tree.children_right[index]))
        model.set("missingValueStrategy", "defaultChild")
        changed += 1
    document.write(path, encoding="UTF-8", xml_declaration=True)
    return changed


_PMML = "http://www.dmg.org/PMML-4_4"
_NAMESPACES = {"": _PMML, "data": "http://jpmml.org/jpmml-model/InlineTable"}
_LGBM_ZERO = 1.0000000180025095e-35  # LightGBM's kZeroThreshold: |x| <= it is zero for missing_type Zero


def _parse(path: Path) -> Any:
    import xml.etree.ElementTree as ET

    for prefix, uri in _NAMESPACES.items():
        ET.register_namespace(prefix, uri)
    return ET.parse(path)


def lightgbm_trees(estimator: Any) -> list[dict]:
    """The ``tree_structure`` of each tree of a fitted LightGBM model (``booster_.dump_model()``), or ``[]``."""
    if not type(estimator).__name__.startswith("LGBM") or getattr(estimator, "booster_", None) is None:
        return []
    return [t["tree_structure"] for t in estimator.booster_.dump_model()["tree_info"]]


def _lgbm_splits(tree: dict) -> dict[str, dict]:
    """LightGBM split ``k`` of ``tree`` by the id JPMML-LightGBM gives its node (``-(k+1)``)."""
    out, stack = {}, [tree]
    while stack:
        node = stack.pop()
        if "split_index" in node:
            out[str(-(node["split_index"] + 1))] = node
            stack += [node["left_child"], node["right_child"]]
    return out


def _pmml_splits(model: Any) -> dict[str, tuple[Any, Any, Any, float | None]]:
    """``{node id: (node, left child, right child, threshold)}`` of a binary-split TreeModel (threshold:
    the left child's ``lessOrEqual`` value, None for other predicates)."""
    node_tag = f"{{{_PMML}}}Node"
    out = {}
    for node in model.iter(node_tag):
        children = node.findall(node_tag)
        if len(children) == 2 and node.get("id") is not None:
            predicate = children[0].find(f"{{{_PMML}}}SimplePredicate")
            threshold = float(predicate.get("value")) if predicate is not None and \
                predicate.get("operator") == "lessOrEqual" else None
            out[node.get("id")] = (node, children[0], children[1], threshold)
    return out


def _same_tree(pmml: dict, lgbm: dict) -> bool:
    return pmml.keys() == lgbm.keys() and all(
        t is None or lgbm[i]["decision_type"] == "<=" and float(lgbm[i]["threshold"]) == t
        for i, (_, _, _, t) in pmml.items())


def set_lightgbm_default_children(path: Path, info: PipelineInfo) -> int:
    """``defaultChild`` on every numeric split of a LightGBM PMML from the split's ``missing_type``
    (see the module docstring); a ``Zero`` split whose threshold sends zero the other way than its
    default gets predicates that send zero to the default side. Returns the number of trees changed."""
    trees = [_lgbm_splits(t) for t in lightgbm_trees(info.estimator)]
    if not trees:
        return 0
    document = _parse(path)
    used = [False] * len(trees)
    changed = 0
    for model in document.getroot().iter(f"{{{_PMML}}}TreeModel"):
        splits = _pmml_splits(model)
        # JPMML orders a multiclass model's trees by class, not by iteration: match each by its splits
        match = next((k for k, t in enumerate(trees) if not used[k] and _same_tree(splits, t)), None)
        if match is None:
            continue  # not one PMML node per LightGBM node: the fidelity gate measures it as it is
        used[match] = True
        for node_id, (node, left, right, threshold) in splits.items():
            split = trees[match][node_id]
            if split["decision_type"] != "<=":
                continue  # categorical: NaN goes right in LightGBM, as JPMML writes it
            kind, default_left = split["missing_type"], bool(split["default_left"])
            go_left = (float(split["threshold"]) >= 0.0) if kind == "None" else default_left
            node.set("defaultChild", (left if go_left else right).get("id"))
            if kind == "Zero" and threshold is not None and (threshold >= 0.0) != default_left:
                _zero_to_default_side(left, right, default_left)
        model.set("missingValueStrategy", "defaultChild")
        changed += 1
    document.write(path, encoding="UTF-8", xml_declaration=True)
    return changed


def _zero_to_default_side(left: Any, right: Any, default_left: bool) -> None:
    """``x <= t`` / ``x > t`` become ``(x <= t) or zero`` / ``(x > t) and not zero`` (default left), or
    ``(x <= t) and not zero`` / ``(x > t) or zero`` (default right); zero is ``|x| <= 1e-35``."""
    import xml.etree.ElementTree as ET

    for child, joins in ((left, default_left), (right, not default_left)):
        predicate = child.find(f"{{{_PMML}}}SimplePredicate")
        field = predicate.get("field")

        def simple(op: str, value: float, field: str = field) -> Any:
            return ET.Element(f"{{{_PMML}}}SimplePredicate", field=field, operator=op, value=repr(value))

        compound = ET.Element(f"{{{_PMML}}}CompoundPredicate", booleanOperator="or" if joins else "and")
        side = ET.SubElement(compound, f"{{{_PMML}}}CompoundPredicate", booleanOperator="and" if joins else "or")
        side.extend([simple("greaterOrEqual", -_LGBM_ZERO), simple("lessOrEqual", _LGBM_ZERO)] if joins else
                    [simple("lessThan", -_LGBM_ZERO), simple("greaterThan", _LGBM_ZERO)])
        index = list(child).index(predicate)
        child.remove(predicate)
        compound.insert(0, predicate)
        child.insert(index, compound)


def learned_missing_fields(info: PipelineInfo) -> list[str]:
    """String inputs a ``OneHotEncoder`` reads directly and learned the missing value of as a category."""
    from exporters.introspect import column_encoders

    if len(info.steps) < 2:
        return []
    encoders = column_encoders(info.steps[0][1], info.schema.names)
    return [name for name, (encoder, j) in encoders.items() if type(encoder).__name__ == "OneHotEncoder"
            and any(_is_nan(c) for c in encoder.categories_[j])]


# what a missing value answers where its one-hot indicator is a known category
_KNOWN_MISSING = {"equal": "False", "notEqual": "True", "isIn": "False", "isNotIn": "True"}


def set_missing_as_category(path: Path, info: PipelineInfo, skip: list[str] = ()) -> list[str]:
    """Wrap each ``equal``/``notEqual``/``isIn``/``isNotIn`` predicate on a field of
    :func:`learned_missing_fields` in ``surrogate(predicate, False|True)``: a missing value then
    answers as its one-hot indicator does natively instead of *unknown*. ``skip``: fields whose missing
    value is already replaced by a sentinel. Returns the fields changed."""
    import xml.etree.ElementTree as ET

    fields = set(learned_missing_fields(info)) - set(skip)
    if not fields:
        return []
    document = _parse(path)
    changed: set[str] = set()
    tags = {f"{{{_PMML}}}SimplePredicate", f"{{{_PMML}}}SimpleSetPredicate"}
    for parent in list(document.getroot().iter()):
        for index, predicate in enumerate(list(parent)):
            answer = _KNOWN_MISSING.get(predicate.get("operator") or predicate.get("booleanOperator") or "")
            if predicate.tag not in tags or predicate.get("field") not in fields or answer is None:
                continue
            surrogate = ET.Element(f"{{{_PMML}}}CompoundPredicate", booleanOperator="surrogate")
            surrogate.extend([predicate, ET.Element(f"{{{_PMML}}}{answer}")])
            parent.remove(predicate)
            parent.insert(index, surrogate)
            changed.add(predicate.get("field"))
    if changed:
        document.write(path, encoding="UTF-8", xml_declaration=True)
    return sorted(changed)


_FIELD_ATTRIBUTES = ("name", "field")


def align_input_names(path: Path, info: PipelineInfo) -> bool:
    """Rename sklearn2pmml's ``x1 ... xn`` inputs to the schema's ``x0 ... x(n-1)`` (all at once, so
    ``x1`` -> ``x0`` and ``x2`` -> ``x1`` do not collide). Returns whether it renamed."""
    import xml.etree.ElementTree as ET

    names = info.schema.names
    if names != [f"x{i}" for i in range(len(names))]:
        return False
    text = path.read_text()
    fields = re.findall(r'<DataField name="([^"]*)"', text)
    inputs = [f for f in fields if f != info.target]
    if inputs != [f"x{i + 1}" for i in range(len(names))]:
        return False
    mapping = dict(zip(inputs, names))
    ns = {"": "http://www.dmg.org/PMML-4_4", "data": "http://jpmml.org/jpmml-model/InlineTable"}
    for prefix, uri in ns.items():
        ET.register_namespace(prefix, uri)
    document = ET.parse(path)
    for element in document.getroot().iter():
        if element.tag.endswith("DerivedField"):
            continue  # a derived field's own name is not an input
        for attribute in _FIELD_ATTRIBUTES:
            value = element.get(attribute)
            if value in mapping:
                element.set(attribute, mapping[value])
    document.write(path, encoding="UTF-8", xml_declaration=True)
    return True


def apply(path: Path, pipeline: Any, info: PipelineInfo, verify: pd.DataFrame) -> dict[str, list[str]]:
    """Apply every fix that the pipeline needs; returns the fields each fix changed (for the manifest)."""
    align_input_names(path, info)
    same = missing_as_unseen_fields(pipeline, info, verify)
    raw = len(info.steps) == 1  # the model reads the raw columns: no encoder to send a sentinel through
    same += [f for f in untested_missing_fields(path, info) if f not in same]
    fixes = {"missing_as_unseen": set_missing_as_unseen(path, same, info) if same and not raw else [],
             "unseen_as_missing": set_unseen_as_missing(path, same) if same and raw else []}
    fixes["missing_encoded"] = set_missing_encoded(path, pipeline, info)
    fixes["invalid_as_is"] = set_invalid_as_is(path, pipeline, info, verify)
    fixes["missing_as_category"] = set_missing_as_category(path, info, fixes["missing_as_unseen"])
    set_tree_default_children(path, info)
    set_lightgbm_default_children(path, info)
    return fixes


def keep_verification_if_valid(path: Path) -> bool:
    """Drop the PMML's verification records when JPMML rejects them; returns whether they stay.

    A PMML whose records fail is left out by the fidelity gate either way; without them the gate
    reports by how much, and on which rows, it disagrees instead of "cannot load". The evaluator
    loaded here is kept for the fidelity check of the same file (no second load)."""
    from scorebridge.engines.jpmml import verified_evaluator

    try:
        verified_evaluator(path, keep=True)
        return True
    except Exception:  # JPMML raises its Java exception types
        pass
    text = path.read_text()
    path.write_text(re.sub(r"\s*<ModelVerification\b.*?</ModelVerification>", "", text, flags=re.S))
    return False
