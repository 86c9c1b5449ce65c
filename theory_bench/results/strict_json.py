"""Strict JSON (RFC 8259) for everything the suite writes: no ``NaN`` or ``Infinity`` tokens.

A non-finite number is written as the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``, which
``float()`` in Python and ``Number()`` in JavaScript read back; a diverged run's ratio (``inf``)
or an empty interval (``nan``) stays visible instead of making the file unparseable. numpy
scalars and arrays become numbers and lists.
"""
import json
import math

import numpy as np

NONFINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def finite(obj):
    """``obj`` with every non-finite float replaced by its string, numpy values made plain."""
    if isinstance(obj, dict):
        return {str(k): finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return finite(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return "NaN" if math.isnan(v) else NONFINITE.get(v, v)
    return obj


def dumps(obj, **kw):
    """``json.dumps`` of ``finite(obj)``, refusing any non-finite number that got through."""
    return json.dumps(finite(obj), allow_nan=False, **kw)
