"""Thresholds for the statistical tests, derived from the variance (Bernstein's inequality)."""
from theory_bench.analysis.concentration import bernstein_radius

__all__ = ["bernstein_radius"]
