"""What the measurements mean: bounds (docs/theory.md §3), rates and bound ratios with bootstrap
intervals (§5), concentration radii, stationarity measures (§4), sign-bias checks (§2.1, §2.2)
and the falsifiable ``Claim``."""
