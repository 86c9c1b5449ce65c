"""Where theory-bench keeps what it can recompute: compiled loops, solved optima.

``$THEORY_BENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/theory-bench``, else ``~/.cache/theory-bench``.
Deleting it is always safe.
"""
import os
from pathlib import Path


def cache_root(sub):
    root = os.environ.get("THEORY_BENCH_CACHE_DIR")
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "theory-bench"
    return Path(root) / sub
