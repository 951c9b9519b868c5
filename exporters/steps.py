"""The steps nested in a fitted pipeline, by their path: what error messages and the denylist name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any


def walk_steps(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """``(path, step)`` for the object and every step nested in it: Pipelines, ColumnTransformers,
    FeatureUnions, DataFrameMappers and transformer lists. ``path`` reads like
    ``'preprocess' > 'num' > 'impute'``; the object itself has the path ``''``."""
    if obj is None or isinstance(obj, str):  # "passthrough", "drop"
        return
    if isinstance(obj, (list, tuple)):  # a DataFrameMapper feature's transformer chain
        for i, sub in enumerate(obj):
            yield from walk_steps(sub, f"{path}[{i}]")
        return
    yield path, obj
    children: list[tuple[str, Any]] = []
    if hasattr(obj, "steps"):
        children = [(name, step) for name, step in obj.steps]
    elif hasattr(obj, "transformers_"):
        children = [(name, step) for name, step, _ in obj.transformers_]
    elif hasattr(obj, "transformer_list"):
        children = list(obj.transformer_list)
    elif hasattr(obj, "built_features"):
        children = [(_columns(f[0]), f[1]) for f in obj.built_features]
    for name, step in children:
        yield from walk_steps(step, f"{path} > '{name}'" if path else f"'{name}'")


def _columns(selector: Any) -> str:
    return selector if isinstance(selector, str) else ", ".join(map(str, selector))


def describe_step(path: str, step: Any) -> str:
    """``'preprocess' > 'num' (KBinsDiscretizer)``; the pipeline itself is just its class name."""
    kind = type(step).__name__
    return f"{path} ({kind})" if path else kind


def locate_step(pipeline: Any, message: str) -> str | None:
    """The step a converter's message is about: the innermost step whose class name it mentions
    (converters name classes, not the user's step names); ``None`` when it mentions none."""
    found = None
    for path, step in walk_steps(pipeline):
        if path and re.search(rf"\b{re.escape(type(step).__name__)}\b", message):
            found = describe_step(path, step)
            if not hasattr(step, "steps") and not hasattr(step, "transformers_"):
                return found  # a leaf: the most specific place
    return found
