"""Every optimizer kernel against its naive numpy reference, on random inputs, many steps."""
import numpy as np
import pytest

from theory_bench import optimizers as O
from theory_bench.engine.counter_rng import uniforms
from theory_bench.optimizers.numpy_reference import noise_draws, reference_for

CASES = [
    O.SGD(0.1), O.SGD(0.1, momentum=0.8), O.SignSGD(0.1), O.Signum(0.1, beta=0.7), O.EFSignSGD(0.1),
    O.StoSignSGD(0.1), O.StoSignSGD.practical(0.1, beta1=0.9, weight_decay=0.05),
    O.AdaGrad(0.1), O.Adam(0.01, weight_decay=0.1), O.AdamW(0.01, weight_decay=0.1),
    O.Lion(0.05, weight_decay=0.1),
]
# The sign conversion (docs/theory.md §2.2): every base with the defaults, every envelope, noise and
# scaling on bases that read x and keep state (heavy ball, Adam with coupled decay, AdamW).
_HB, _ADAM, _ADAMW = O.SGD(0.1, momentum=0.8), O.Adam(0.01, weight_decay=0.1), O.AdamW(0.01, weight_decay=0.1)
CASES += [O.sign_convert(b) for b in (O.SGD(0.1), _HB, O.AdaGrad(0.1), _ADAM, _ADAMW)]
CASES += [O.sign_convert(b, envelope=e, **({"C": 2.0} if e == "constant" else {}))
          for e in ("decayed_max", "constant", "current", "norm_inf", "norm_2") for b in (_HB, _ADAM)]
CASES += [O.sign_convert(_HB, envelope="decayed_max", beta=0.9, noise="gaussian"),
          O.sign_convert(_ADAMW, noise="gaussian"), O.sign_convert(_ADAMW, noise="none"),
          O.sign_convert(_HB, scaled=True), O.sign_convert(_ADAM, envelope="norm_2", scaled=True, noise="gaussian"),
          O.sign_convert(O.AdaGrad(0.1), envelope="constant", C=0.5, scaled=True)]


@pytest.mark.parametrize("opt", CASES, ids=repr)
def test_kernel_matches_numpy_reference(opt):
    rng = np.random.default_rng(7)
    d, steps, key = 257, 200, np.uint64(42)
    x = rng.normal(size=d)
    S = opt.init_state(x)
    xr, Sr = x.copy(), S.copy()
    ref = reference_for(opt)
    for t in range(1, steps + 1):
        g = rng.standard_cauchy(size=d)           # heavy tails: envelopes keep growing
        g[rng.random(d) < 0.1] = 0.0              # and exact zeros, where sign(0) = 0 matters
        lr = 0.3 / np.sqrt(t)
        u = uniforms(key, t, noise_draws(opt, d)) if noise_draws(opt, d) else None
        opt.kernel(x, g, S, opt.hyper, lr, t, key)
        xr, Sr = ref(xr, g, Sr, opt.hyper, lr, t, u)
        np.testing.assert_allclose(x, xr, rtol=1e-12, atol=1e-12, err_msg=f"x at step {t}")
        np.testing.assert_allclose(S, Sr, rtol=1e-12, atol=1e-12, err_msg=f"state at step {t}")


def test_stosign_envelope_dominates_gradient():
    rng = np.random.default_rng(1)
    opt = O.StoSignSGD(0.1)
    x = np.zeros(50)
    S = opt.init_state(x)
    for t in range(1, 100):
        g = rng.normal(size=50) * rng.exponential()
        opt.kernel(x, g, S, opt.hyper, 0.1, t, np.uint64(3))
        assert np.all(S[0] >= np.abs(g))


def test_stosign_zero_envelope_gives_zero_step():
    opt = O.StoSignSGD(1.0)
    x = np.ones(4)
    opt.kernel(x, np.zeros(4), opt.init_state(x), opt.hyper, 1.0, 1, np.uint64(0))
    np.testing.assert_array_equal(x, np.ones(4))


def test_practical_form_with_zero_momentum_and_decay_is_the_theory_form():
    assert O.StoSignSGD(0.1, beta1=0.0, weight_decay=0.0).form == "theory"
    assert O.StoSignSGD(0.1, beta1=0.5).form == "practical"
    with pytest.raises(ValueError, match="practical form needs"):
        O.StoSignSGD.practical(0.1, beta1=0.0, weight_decay=0.0)
