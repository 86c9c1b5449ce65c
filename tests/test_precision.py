"""theory_bench.precision against its reference (ml_dtypes >= 0.7 for bf16 and FP8, which rounds a
double directly; numpy for fp16 and fp32): every 8- and 16-bit pattern, every midpoint between
neighbours and the doubles next to it, a million random doubles per format, the same through fp32
(``via_fp32``) against the reference's cast of the fp32 value, signed zeros, NaN, overflow; e4m3's saturation where ml_dtypes gives NaN; stochastic
rounding exact on the format's values and unbiased (Bernstein threshold, failure rate < 1e-6),
with nearest rounding as the variant that must fail."""
import warnings

import ml_dtypes
import numpy as np
import pytest

from tests.stats import bernstein_radius
from theory_bench import precision
from theory_bench.engine.precision import FORMATS, round_to

NARROW = ("fp32", "bf16", "fp16", "e4m3", "e5m2")


def dtype(fmt):
    name = FORMATS[fmt].numpy_name
    return getattr(ml_dtypes, name) if hasattr(ml_dtypes, name) else np.dtype(name)


def reference(x, fmt):
    """The reference cast and back to float64 (overflow warnings are the point of some inputs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(x, dtype=np.float64).astype(dtype(fmt)).astype(np.float64)


def same_bits(a, b):
    """Equal as doubles including the sign of zero, NaN equal to NaN."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a.view(np.uint64) == b.view(np.uint64)) | (np.isnan(a) & np.isnan(b))


def every_value(fmt):
    """Every bit pattern of an 8- or 16-bit format, as float64."""
    bits = np.arange(2 ** 8 if fmt in ("e4m3", "e5m2") else 2 ** 16, dtype=np.uint16)
    raw = bits.astype(np.uint8) if fmt in ("e4m3", "e5m2") else bits
    return reference(raw.view(dtype(fmt)), "fp64")


def grid(fmt):
    """The format's finite values >= 0, sorted."""
    v = every_value(fmt)
    return np.unique(v[np.isfinite(v) & (v >= 0)])


@pytest.mark.parametrize("fmt", ["bf16", "fp16", "e4m3", "e5m2"])
def test_every_value_of_the_format_is_kept(fmt):
    v = every_value(fmt)
    assert same_bits(round_to(v, fmt), v).all()
    assert same_bits(round_to(v, fmt, "stochastic", key=7), v).all()


@pytest.mark.parametrize("fmt", ["bf16", "fp16", "e4m3", "e5m2"])
def test_midpoints_between_neighbours_tie_to_even(fmt):
    g = grid(fmt)
    mids = (g[:-1] + g[1:]) / 2                                   # exact in double
    step32 = lambda m, to: np.nextafter(m.astype(np.float32), np.float32(to)).astype(np.float64)
    probes = np.concatenate([mids, step32(mids, np.inf), step32(mids, -np.inf), np.nextafter(mids, np.inf),
                             np.nextafter(mids, -np.inf)])
    probes = np.concatenate([probes, -probes])
    got, ref = round_to(probes, fmt), reference(probes, fmt)
    assert same_bits(got, ref).all(), probes[~same_bits(got, ref)][:5]
    got32, ref32 = round_to(probes, fmt, via_fp32=True), reference(probes.astype(np.float32), fmt)
    assert same_bits(got32, ref32).all(), probes[~same_bits(got32, ref32)][:5]
    if fmt != "fp16":           # fp16's midpoints sit 2^13 fp32 spacings apart: next to one is not an fp32
        assert not same_bits(got32, got).all()      # the two roundings differ next to the midpoints
    lower_even = (g[:-1].astype(dtype(fmt)).view(np.uint8 if fmt in ("e4m3", "e5m2") else np.uint16) % 2) == 0
    np.testing.assert_array_equal(round_to(mids, fmt), np.where(lower_even, g[:-1], g[1:]))


def random_doubles(fmt, n, seed):
    """Log-uniform magnitudes from a quarter of the smallest subnormal to four times the max, both signs."""
    f = FORMATS[fmt]
    rng = np.random.default_rng(seed)
    lo, hi = np.log2(f.smallest_subnormal / 4), np.log2(f.max * 4)
    x = np.exp2(rng.uniform(lo, hi, n)) * rng.choice([-1.0, 1.0], n)
    x[:100] = 0.0
    x[100:200] = -0.0
    return x


@pytest.mark.parametrize("fmt", NARROW)
def test_a_million_random_doubles_agree_with_the_reference(fmt):
    x = random_doubles(fmt, 10 ** 6, seed=list(FORMATS).index(fmt))
    got, ref = round_to(x, fmt), reference(x, fmt)
    agree = same_bits(got, ref)
    if fmt == "e4m3":                                # saturation, below; everything else identical
        beyond = np.abs(np.float32(x)) > 464
        assert agree[~beyond].all() and np.isnan(ref[beyond]).all()
        assert same_bits(got[beyond], np.copysign(448.0, x[beyond])).all()
    else:
        assert agree.all(), x[~agree][:5]


@pytest.mark.parametrize("fmt", NARROW)
def test_the_whole_double_range_agrees_with_the_reference(fmt):
    """Doubles far outside the format, both ways (down to double subnormals, up to the largest
    double): the rounding's quantum exponent is capped there, so the cap is tested."""
    rng = np.random.default_rng(5)
    x = np.exp2(rng.uniform(-1074, 1024, 10 ** 5)) * rng.choice([-1.0, 1.0], 10 ** 5)
    x = np.concatenate([x, [np.finfo(np.float64).max, -np.finfo(np.float64).max, 5e-324, -5e-324]])
    got, ref = round_to(x, fmt), reference(x, fmt)
    if fmt == "e4m3":
        with np.errstate(over="ignore"):
            beyond = np.abs(np.float32(x)) > 464
        assert same_bits(got[~beyond], ref[~beyond]).all() and (np.abs(got[beyond]) == 448).all()
    else:
        assert same_bits(got, ref).all(), x[~same_bits(got, ref)][:5]
    low = round_to(x, fmt, "stochastic", key=3)
    f = FORMATS[fmt]
    tiny = np.abs(x) < f.smallest_subnormal / 2 ** 60     # rounds up with probability < 2^-60
    assert (low[tiny] == 0).all()
    huge = np.abs(x) > 2 * f.max
    assert (np.abs(low[huge]) == (f.max if f.saturate else np.inf)).all()


def test_e4m3_saturates_where_ml_dtypes_gives_nan():
    x = np.array([448.0, 449.0, 464.0, 465.0, 1e6, np.inf, -465.0, -np.inf, np.nan])
    np.testing.assert_array_equal(round_to(x[:-1], "e4m3"), [448, 448, 448, 448, 448, 448, -448, -448])
    assert np.isnan(round_to(np.nan, "e4m3"))
    ref = reference(x, "e4m3")
    assert np.isnan(ref[3:]).all() and (ref[:3] == 448).all()     # ml_dtypes: NaN beyond 464 (and for inf)


@pytest.mark.parametrize("fmt", ["fp16", "bf16", "e5m2", "fp32"])
def test_beyond_the_max_is_infinity_as_the_reference_gives(fmt):
    f = FORMATS[fmt]
    x = np.array([f.max, f.max * 1.5, f.max * 4, np.inf, -f.max * 4, -np.inf])
    got = round_to(x, fmt)
    assert same_bits(got, reference(x, fmt)).all()
    assert np.isinf(got[1:]).all() and got[0] == f.max


def test_signed_zeros_nan_and_fp64():
    for fmt in FORMATS:
        assert np.signbit(round_to(-0.0, fmt)) and not np.signbit(round_to(0.0, fmt))
        assert np.isnan(round_to(np.nan, fmt))
    assert np.signbit(round_to(-1e-300, "e4m3")) and round_to(-1e-300, "e4m3") == 0.0
    x = random_doubles("fp32", 1000, 0)
    assert same_bits(round_to(x, "fp64"), x).all()


def test_a_double_is_correctly_rounded_and_via_fp32_rounds_twice():
    """11.4999995... is 11.5 in fp32, a tie, so 12 in e4m3 through fp32, where the double itself
    rounds to 11; 0.34667968718891645 is 0.34765625 in bf16 through fp32, 0.345703125 directly (the
    nearest). The default is the reference's cast of the double; ``via_fp32`` its cast of the fp32."""
    for x, fmt, direct, twice in [(11.499999554928024, "e4m3", 11.0, 12.0),
                                  (0.34667968718891645, "bf16", 0.345703125, 0.34765625)]:
        assert round_to(x, fmt) == direct == reference(x, fmt)
        assert round_to(x, fmt, via_fp32=True) == twice == reference(np.float32(x), fmt)
    with pytest.raises(ValueError, match="via_fp32 must be True or False, got 'yes'"):
        round_to(1.0, "bf16", via_fp32="yes")


@pytest.mark.parametrize("fmt", NARROW)
def test_via_fp32_agrees_with_the_reference_cast_of_the_fp32_value(fmt):
    x = random_doubles(fmt, 10 ** 5, seed=17)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        x32 = x.astype(np.float32)
    got, ref = round_to(x, fmt, via_fp32=True), reference(x32, fmt)
    keep = ~np.isnan(ref) if fmt == "e4m3" else np.ones(x.shape, bool)   # e4m3 saturates where ml_dtypes gives NaN
    assert same_bits(got[keep], ref[keep]).all()


def test_stochastic_rounding_is_exact_on_the_grid_and_reproducible():
    g = np.concatenate([grid("e4m3"), -grid("e4m3")])
    for key in (0, 1, 2 ** 63 + 5):
        assert same_bits(round_to(g, "e4m3", "stochastic", key=key), g).all()
    x = np.linspace(0.3, 0.7, 1000)
    a, b = round_to(x, "bf16", "stochastic", key=3), round_to(x, "bf16", "stochastic", key=3)
    c = round_to(x, "bf16", "stochastic", key=4)
    assert same_bits(a, b).all() and not same_bits(a, c).all()
    assert (round_to(x, "bf16", "stochastic", key=3, t=1) != a).any()


def unbiased_failures(fmt, values, n, rounding):
    """Values whose mean rounded value misses ``x`` by more than its Bernstein radius (delta 1e-6 overall)."""
    delta = 1e-6 / len(values)
    bad = []
    for k, x in enumerate(values):
        f = FORMATS[fmt]
        q = f.ulp(x)
        down = np.floor(abs(x) / q) * q
        p = (abs(x) - down) / q
        draws = round_to(np.full(n, x), fmt, rounding, key=k) if rounding == "stochastic" else round_to(np.full(n, x), fmt)
        radius = float(bernstein_radius(p * (1 - p) * q * q, n, delta, q))
        if abs(draws.mean() - x) > radius:
            bad.append((x, draws.mean(), radius))
    return bad


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2", "bf16", "fp16"])
def test_stochastic_rounding_is_unbiased(fmt):
    """``E[round(x)] = x`` for values between grid points in several binades and among subnormals;
    nearest rounding, the variant, misses by many radii."""
    f = FORMATS[fmt]
    rng = np.random.default_rng(11)
    top = min(f.emin + 20, int(np.floor(np.log2(f.max))))          # binades inside the range
    binades = np.exp2(rng.integers(f.emin - f.fraction_bits + 1, top, 24))
    values = binades * rng.uniform(1.05, 1.95, 24) * rng.choice([-1.0, 1.0], 24)
    assert not unbiased_failures(fmt, values, 20_000, "stochastic")
    assert len(unbiased_failures(fmt, values, 20_000, "nearest")) >= 20


def test_bad_input_names_the_value_and_the_fix():
    with pytest.raises(ValueError, match=r"unknown number format 'fp8'; use one of 'fp64', 'fp32', 'bf16'"):
        round_to(1.0, "fp8")
    with pytest.raises(ValueError, match="stochastic rounding needs a format narrower than fp64"):
        round_to(1.0, "fp64", "stochastic", key=1)
    with pytest.raises(ValueError, match=r"stochastic rounding needs key=<int>.*got key=None"):
        round_to(1.0, "bf16", "stochastic")
    with pytest.raises(ValueError, match="rounding must be 'nearest' or 'stochastic', got 'up'"):
        round_to(1.0, "bf16", "up")


def test_public_name_and_shapes():
    assert precision.round_to is round_to
    assert round_to(np.ones((2, 3)) * 0.3, "e4m3").shape == (2, 3)
    assert isinstance(round_to(0.3, "e4m3"), float) and round_to(0.3, "e4m3") == 0.3125
