"""Number formats and rounding, as numba functions for kernels and ``round_to`` for Python users.

The formats of docs/theory.md §6: ``"fp64"`` (no rounding), ``"fp32"``, ``"bf16"``, ``"fp16"``,
``"e4m3"`` (OCP FP8 E4M3, ``float8_e4m3fn``: no infinities, max 448) and ``"e5m2"`` (OCP FP8
E5M2, ``float8_e5m2``). A value of a format with ``m`` fraction bits and smallest normal exponent
``emin`` is a multiple of its quantum ``q = 2^(max(e, emin) - m)``, ``e = floor(log2 |x|)``.

- **Nearest** (``"nearest"``): round to the nearest value of the format, ties to even: the
  correctly rounded value of the double itself, bit for bit the cast of the reference
  (``ml_dtypes`` >= 0.7 for ``bf16``, ``e4m3``, ``e5m2``; numpy for ``fp16`` and ``fp32``), tested
  on every 8-bit and 16-bit pattern, every midpoint between neighbours, the doubles next to each
  midpoint and a million random doubles per format. ``via_fp32=True`` (of ``round_to`` and
  ``Precision``) emulates an fp32 pipeline instead: a double is rounded to fp32 first, then to
  the format, as torch does with a float64 tensor and as hardware does (its BF16 and FP8
  conversions take fp32 inputs); a double within half an fp32 ulp of a midpoint can then land on
  the other neighbour (double rounding). For a value that is already fp32 the two agree. Beyond the largest
  finite value ``fp16``, ``bf16``, ``fp32`` and ``e5m2`` overflow to infinity, as IEEE and
  ``ml_dtypes`` do. ``e4m3`` **saturates** to ``+-448`` (infinities too), the conversion FP8
  training recipes use; ``ml_dtypes``' cast gives NaN there. NaN stays NaN, zeros keep their sign.
- **Stochastic** (``"stochastic"``): round ``|x|`` up to the next multiple of ``q`` with
  probability ``(|x| - down) / q``, else down, so ``E[round(x)] = x`` inside the range and values
  of the format are kept exactly. The uniform comes from the counter-based generator
  (``theory_bench.engine.counter_rng``) under a key salted apart from the sign noise's, so a run
  stays reproducible and a kernel stays branch-free.

``round_nearest`` and ``round_stochastic`` take the format as plain numbers (``Format.params``)
so a kernel can inline them; ``round_to(x, fmt, rounding="nearest", key=None)`` is the
vectorised form. All arithmetic is exact (scaling by powers of two, one ``rint`` or ``floor``),
so the result never depends on the platform's extended precision.
"""
import math
from typing import NamedTuple

import numpy as np
from numba import njit

from theory_bench.engine.counter_rng import mix64, step_key, uniform01

ROUNDINGS = ("nearest", "stochastic")
_ROUNDING_SALT = np.uint64(0xD1B54A32D192ED03)     # keeps the rounding stream apart from the sign noise


class Format(NamedTuple):
    """A binary floating-point format: fraction bits, smallest normal exponent, largest finite value."""
    name: str
    fraction_bits: int
    emin: int
    max: float
    saturate: bool          # beyond max: +-max (True) or +-inf (False)
    numpy_name: str         # the reference dtype: numpy's or ml_dtypes'

    def params_for(self, via_fp32=False):
        """``(m, emin, max, saturate, via_fp32)``: the numbers the numba functions take;
        ``via_fp32`` (round to fp32 first) only matters for formats narrower than fp32."""
        return self.fraction_bits, self.emin, self.max, self.saturate, bool(via_fp32) and self.fraction_bits < 23

    @property
    def params(self):
        """``params_for(via_fp32=False)``: correctly rounded from the double."""
        return self.params_for(False)

    @property
    def smallest_subnormal(self):
        return 2.0 ** (self.emin - self.fraction_bits)

    def ulp(self, x):
        """The spacing of the format at ``|x|`` (its quantum there)."""
        e = max(math.frexp(abs(float(x)))[1] - 1, self.emin) if x != 0 else self.emin
        return 2.0 ** (e - self.fraction_bits)

    def spacing_below(self, x):
        """Per entry of ``x`` (values of the format), the distance from ``|x|`` to the next value
        toward zero: the ulp, or half of it at a power of two above the subnormals; at zero, the
        smallest subnormal (the distance to either neighbour)."""
        mant, exp = np.frexp(np.abs(np.asarray(x, dtype=np.float64)))
        e = np.maximum(exp - 1, self.emin)
        q = np.ldexp(1.0, e - self.fraction_bits)
        return np.where(mant == 0, self.smallest_subnormal, np.where((mant == 0.5) & (exp - 1 > self.emin), q / 2, q))


FORMATS = {
    "fp64": Format("fp64", 52, -1022, float(np.finfo(np.float64).max), False, "float64"),
    "fp32": Format("fp32", 23, -126, float(np.finfo(np.float32).max), False, "float32"),
    "bf16": Format("bf16", 7, -126, (2 - 2.0 ** -7) * 2.0 ** 127, False, "bfloat16"),
    "fp16": Format("fp16", 10, -14, 65504.0, False, "float16"),
    "e4m3": Format("e4m3", 3, -6, 448.0, True, "float8_e4m3fn"),
    "e5m2": Format("e5m2", 2, -14, 57344.0, False, "float8_e5m2"),
}


def get_format(fmt):
    """The ``Format`` named ``fmt`` (or ``fmt`` itself), else a ValueError listing the formats."""
    if isinstance(fmt, Format):
        return fmt
    if fmt not in FORMATS:
        raise ValueError(f"unknown number format {fmt!r}; use one of {', '.join(map(repr, FORMATS))}")
    return FORMATS[fmt]


def check_rounding(rounding, *fmts, fix="use rounding='nearest' or a format such as 'bf16' or 'e4m3'"):
    """``rounding`` if it is one of ``ROUNDINGS`` and some format of ``fmts`` is rounded by it,
    else a ValueError that names the value and ``fix``."""
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be 'nearest' or 'stochastic', got {rounding!r}")
    if rounding == "stochastic" and all(get_format(f).name == "fp64" for f in fmts):
        raise ValueError(f"stochastic rounding needs a format narrower than fp64 (fp64 values are not rounded); {fix}")
    return rounding


_SIGN = np.uint64(1 << 63)
_ABS = np.uint64((1 << 63) - 1)


@njit(cache=True, inline="always")
def _quantum_exponent(a, m, emin):
    """The exponent of the quantum at ``|x|`` (bits ``a``): ``max(e, emin) - m``, ``e`` the exponent
    of ``|x|``; capped so that ``2^(quantum exponent + 52)`` stays a finite double (values that
    large are beyond every format's max and overflow anyway)."""
    e = np.int64(a >> np.uint64(52)) - 1023
    return min(max(e, np.int64(emin)), np.int64(971 + m)) - m


@njit(cache=True, inline="always")
def _finish(v, sign, maxv, saturate):
    """``|value| = v`` with its overflow rule and ``x``'s sign bit (so ``-0.0`` stays ``-0.0``);
    NaN passes through (it compares false)."""
    over = maxv if saturate else np.inf
    v = over if v > maxv else v
    return np.uint64(np.float64(v).view(np.uint64) | sign).view(np.float64)


@njit(cache=True, inline="always")
def round_nearest(x, m, emin, maxv, saturate, via_fp32):
    """``x`` rounded to the nearest value of the format ``(m, emin, maxv, saturate, via_fp32)``,
    ties to even (after rounding to fp32 first when ``via_fp32``: an fp32 pipeline's two roundings).

    With ``q = 2^k`` the quantum at ``|x|`` (subnormals included), ``(|x| + C) - C`` with
    ``C = 2^(k + 52)`` is ``|x|`` rounded to a multiple of ``q`` by the hardware's own
    round-to-nearest-even: the sum's ulp is ``q``, ``C`` is a multiple of ``2q`` (so ties go to
    the even multiple), and the subtraction is exact. A carry into the next binade comes out
    right. No branches: numba vectorises a loop over it.
    """
    if m >= 52:
        return x
    if via_fp32:
        x = np.float64(np.float32(x))
    b = np.float64(x).view(np.uint64)
    sign, a = b & _SIGN, b & _ABS
    cf = np.uint64(np.uint64(_quantum_exponent(a, m, emin) + 52 + 1023) << np.uint64(52)).view(np.float64)
    v = (np.uint64(a).view(np.float64) + cf) - cf
    return _finish(v, sign, maxv, saturate)


@njit(cache=True, inline="always")
def round_stochastic(x, u, m, emin, maxv, saturate, via_fp32):
    """``x`` rounded up (away from zero) with probability ``(|x| - down) / q``, given ``u ~ U[0, 1)``;
    always from the double itself (``via_fp32`` is ignored), so ``E[round(x)] = x`` exactly.
    ``|x| / q``, its floor and the product back are exact (``q`` is a power of two)."""
    if m >= 52:
        return x
    b = np.float64(x).view(np.uint64)
    sign, a = b & _SIGN, b & _ABS
    q = np.uint64(np.uint64(_quantum_exponent(a, m, emin) + 1023) << np.uint64(52)).view(np.float64)
    r = np.uint64(a).view(np.float64) / q
    down = np.floor(r)
    v = (down + (1.0 if u < r - down else 0.0)) * q
    return _finish(v, sign, maxv, saturate)


@njit(cache=True, inline="always")
def rounding_key(key):
    """The key of the rounding stream, derived from a run's noise key."""
    return mix64(np.uint64(key) ^ _ROUNDING_SALT)


@njit(cache=True)
def round_array_nearest(x, out, m, emin, maxv, saturate, via_fp32):
    for i in range(x.shape[0]):
        out[i] = round_nearest(x[i], m, emin, maxv, saturate, via_fp32)


@njit(cache=True)
def round_array_stochastic(x, out, key, t, m, emin, maxv, saturate, via_fp32):
    kt = step_key(rounding_key(key), t)
    for i in range(x.shape[0]):
        out[i] = round_stochastic(x[i], uniform01(kt, i), m, emin, maxv, saturate, via_fp32)


def check_via_fp32(via_fp32):
    """``via_fp32`` as a bool if it is one, else a ValueError naming it."""
    if not isinstance(via_fp32, (bool, np.bool_)):
        raise ValueError(f"via_fp32 must be True or False, got {via_fp32!r}")
    return bool(via_fp32)


def round_to(x, fmt, rounding="nearest", key=None, t=0, via_fp32=False):
    """``x`` (any shape, converted to float64) rounded to the format ``fmt``, as float64.

    Nearest rounding is correctly rounded from the double (``ml_dtypes``' and numpy's cast of it);
    ``via_fp32=True`` rounds to fp32 first, as an fp32 pipeline (and torch, from float64) does.
    ``rounding="stochastic"`` needs ``key`` (an int): the same ``(key, t)`` gives the same draws,
    element ``i`` of the flattened array using the ``i``-th uniform of step ``t``.
    """
    check_via_fp32(via_fp32)
    f = get_format(fmt)
    check_rounding(rounding, f)
    a = np.asarray(x, dtype=np.float64)
    flat = np.ascontiguousarray(a).ravel()
    out = np.empty_like(flat)
    if rounding == "nearest":
        round_array_nearest(flat, out, *f.params_for(via_fp32))
    else:
        if key is None or isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)):
            raise ValueError(f"stochastic rounding needs key=<int> (the stream of its uniforms), got key={key!r}")
        round_array_stochastic(flat, out, np.uint64(int(key) % 2 ** 64), int(t), *f.params_for(via_fp32))
    return out.reshape(a.shape) if a.ndim else float(out[0])


SCALINGS = ("none", "per_tensor")


def check_scaling(scaling):
    """``scaling`` if it is one of ``SCALINGS``, else a ValueError naming it."""
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be 'none' or 'per_tensor', got {scaling!r}")
    return scaling


class Precision:
    """Where precision enters a run of ``theory_bench.minimize`` (docs/theory.md §6).

    ``grad``: the format the oracle's gradient is rounded to; ``state``: the format every optimizer
    state row is stored in, rounded after each step's write (the dequantise, update, quantise
    cycle of low-precision optimizer states: the step itself uses the freshly computed values);
    ``weights``: the format of the iterate (the master weights), rounded after each step.
    ``rounding``: ``"nearest"`` or ``"stochastic"`` for all three. ``scaling="per_tensor"``
    multiplies the gradient and each state row by a power of two that maps its current amax
    into ``[max/2, max]`` of the format before rounding (and divides after), as FP8 training
    recipes do. ``via_fp32=True`` emulates an fp32 pipeline: nearest rounding to a format narrower
    than fp32 goes through fp32 first (two roundings, as torch and hardware casts do); the default
    ``False`` rounds the double directly (correctly rounded). ``Precision()`` (all fp64) is the
    default and runs the ordinary loop.
    """

    def __init__(self, grad="fp64", state="fp64", weights="fp64", rounding="nearest", scaling="none",
                 via_fp32=False):
        self.grad, self.state, self.weights = (get_format(f).name for f in (grad, state, weights))
        check_rounding(rounding, self.grad, self.state, self.weights,
                       fix="set grad=, state= or weights= to a format such as 'bf16' or 'e4m3'")
        self.rounding, self.scaling = rounding, check_scaling(scaling)
        self.via_fp32 = check_via_fp32(via_fp32)

    @property
    def is_default(self):
        return self.grad == self.state == self.weights == "fp64"

    @property
    def packed(self):
        """The numbers the run loop reads: each format's ``params`` for grad, state, weights, then
        the stochastic and scaling flags."""
        out = []
        for name in (self.grad, self.state, self.weights):
            out += [float(v) for v in FORMATS[name].params_for(self.via_fp32)]
        return np.array(out + [float(self.rounding == "stochastic"), float(self.scaling == "per_tensor")])

    def config(self):
        """The settings (``via_fp32`` always: results stored before it, rounded through fp32, get
        new keys and are run again)."""
        return {"grad": self.grad, "state": self.state, "weights": self.weights, "rounding": self.rounding,
                "scaling": self.scaling, "via_fp32": self.via_fp32}

    def __eq__(self, other):
        return isinstance(other, Precision) and self.config() == other.config()

    def __hash__(self):
        return hash(tuple(self.config().items()))

    def __repr__(self):
        return "Precision(" + ", ".join(f"{k}={v!r}" for k, v in self.config().items()) + ")"


def check_precision(precision):
    """``None`` (or the default ``Precision()``) -> ``None``; a ``Precision`` -> itself; else an error."""
    if precision is None:
        return None
    if not isinstance(precision, Precision):
        raise ValueError(f"precision must be a theory_bench.precision.Precision, got {precision!r}; "
                         "e.g. Precision(state='e4m3', weights='bf16')")
    return None if precision.is_default else precision
