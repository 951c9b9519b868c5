"""Compatibility shims for libraries practitioners still pickle pipelines with.

sklearn-pandas 2.2.0 (its last release) imports ``sklearn.utils.tosequence``, which scikit-learn
removed, and ``six``, which it does not declare. Installing the shim before the first import of
``sklearn_pandas`` (including the one unpickling triggers) makes ``DataFrameMapper`` pipelines load.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any


def _tosequence(x: Any) -> Sequence:
    """scikit-learn's removed ``tosequence``: a sequence as-is, anything else as a list."""
    import numpy as np

    if isinstance(x, np.ndarray):
        return np.asarray(x)
    if isinstance(x, Sequence):
        return x
    return list(x)


def install_sklearn_pandas_shim() -> None:
    """Make ``import sklearn_pandas`` work on current scikit-learn (idempotent, cheap)."""
    try:
        import sklearn.utils as sk_utils
    except ImportError:  # no scikit-learn: nothing to shim, unpickling will say what is missing
        return
    if not hasattr(sk_utils, "tosequence"):
        sk_utils.tosequence = _tosequence
    if "six" not in sys.modules:
        try:
            import six  # noqa: F401
        except ImportError:
            import types

            # sklearn-pandas only uses six.string_types
            six_mod = types.ModuleType("six")
            six_mod.string_types = (str,)
            six_mod.PY3 = True
            sys.modules["six"] = six_mod
