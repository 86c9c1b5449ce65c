"""Claims that can fail (docs/theory.md §5).

A ``Claim`` is a statement with a measured value and its interval, the range the theory allows,
and the same measurement on a *falsifying variant*: a set-up where the theory says the statement
does not hold. The status is ``passed`` only when the claim holds on its algorithm **and** fails
on its variant; a claim whose variant also passes is ``unfalsified`` (the check could not tell),
and one that does not hold is ``failed``.
"""
import json
import math
from dataclasses import asdict, dataclass, field


@dataclass
class Measurement:
    """A value with its interval (``lo == hi == value`` for an exact quantity)."""
    value: float
    lo: float
    hi: float
    setup: str = ""

    @classmethod
    def exact(cls, value, setup=""):
        return cls(float(value), float(value), float(value), setup)


@dataclass
class Range:
    """Where the whole interval must lie: ``[lo, hi]`` (either end may be infinite)."""
    lo: float = -math.inf
    hi: float = math.inf

    def contains(self, m):
        return self.lo <= m.lo and m.hi <= self.hi

    def __str__(self):
        if self.lo == -math.inf:
            return f"<= {self.hi:g}"
        if self.hi == math.inf:
            return f">= {self.lo:g}"
        return f"in [{self.lo:g}, {self.hi:g}]"


@dataclass
class Covers:
    """The interval must contain ``target`` (an exact theoretical value the runs must reproduce)."""
    target: float

    def contains(self, m):
        return m.lo <= self.target <= m.hi

    def __str__(self):
        return f"interval covers {self.target:g}"


@dataclass
class Claim:
    id: str
    statement: str
    quantity: str
    allowed: Range | Covers
    measured: Measurement
    variant: str
    variant_measured: Measurement
    section: str = ""
    details: dict = field(default_factory=dict)

    @property
    def holds(self):
        return self.allowed.contains(self.measured)

    @property
    def variant_holds(self):
        return self.allowed.contains(self.variant_measured)

    @property
    def status(self):
        if not self.holds:
            return "failed"
        return "unfalsified" if self.variant_holds else "passed"

    def to_dict(self):
        out = asdict(self)
        out["allowed"] = dict(asdict(self.allowed), text=str(self.allowed))
        out.update(holds=self.holds, variant_holds=self.variant_holds, status=self.status)
        return json.loads(json.dumps(out, default=float, allow_nan=True))


def fmt(m):
    if m.lo == m.hi:
        return f"{m.value:.4g}"
    return f"{m.value:.4g} [{m.lo:.4g}, {m.hi:.4g}]"


def sections(claim):
    """The docs/theory.md sections a claim checks, e.g. ``["3.1", "3.3.2"]``."""
    return [s.strip() for s in claim.section.split(",") if s.strip()]


def table(claims):
    """The claims as a Markdown table: measured beside allowed, and the falsifying variant."""
    rows = ["| claim | theory | statement | quantity | allowed | measured | falsifying variant | variant measured | "
            "status |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    cell = lambda v: str(v).replace("|", "\\|")          # a literal | inside a cell, e.g. E|S_T|
    for c in claims:
        theory = ", ".join(f"§{s}" for s in sections(c))
        cells = (c.id, theory, c.statement, c.quantity, c.allowed, fmt(c.measured), c.variant, fmt(c.variant_measured),
                 c.status)
        rows.append("| " + " | ".join(cell(v) for v in cells) + " |")
    return "\n".join(rows)
