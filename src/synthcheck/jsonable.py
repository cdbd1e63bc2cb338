"""Plain JSON values from results: the one conversion every ``to_dict`` uses."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """``value`` with dict keys as strings, tuples/arrays as lists, numpy scalars as Python numbers, and
    NaN/±inf as ``None`` (strict JSON has no non-finite numbers)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value
