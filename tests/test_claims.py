"""A claim passes only when it holds and its falsifying variant does not."""
import json
import math


from theory_bench.analysis.claims import Claim, Covers, Measurement, Range, table


def claim(main, variant, allowed=Range(0.4, 0.6)):
    return Claim("c", "rate is sqrt(T)", "slope", allowed, Measurement(*main), "SignSGD", Measurement(*variant),
                 section="3.1, 3.3.2")


def test_status():
    assert claim((0.5, 0.45, 0.55), (1.0, 0.98, 1.02)).status == "passed"
    assert claim((0.5, 0.45, 0.55), (0.5, 0.42, 0.58)).status == "unfalsified"
    assert claim((0.5, 0.35, 0.55), (1.0, 0.98, 1.02)).status == "failed"   # the interval leaves the range


def test_covers():
    c = claim((1.02, 0.9, 1.1), (1.4, 1.3, 1.5), allowed=Covers(1.0))
    assert c.status == "passed" and str(c.allowed) == "interval covers 1"


def test_ranges_print_and_json():
    assert str(Range(hi=1.0)) == "<= 1" and str(Range(lo=0.9)) == ">= 0.9" and str(Range(0.4, 0.6)) == "in [0.4, 0.6]"
    c = claim((0.5, 0.45, 0.55), (1.0, 0.98, 1.02), allowed=Range(hi=math.inf, lo=0.4))
    d = json.loads(json.dumps(c.to_dict()))
    assert d["status"] == "unfalsified" and d["measured"]["value"] == 0.5 and d["allowed"]["text"] == ">= 0.4"
    assert "| c | §3.1, §3.3.2 | rate is sqrt(T) |" in table([c])


def test_exact_measurement():
    m = Measurement.exact(2.0, "deterministic")
    assert (m.value, m.lo, m.hi) == (2.0, 2.0, 2.0)
