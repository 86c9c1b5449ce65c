"""StoSignSGD (docs/theory.md §2, §2.1), theory and practical forms.

Theory form: ``G <- max(G, |g|)``; ``x <- x - eta_t sign(g + G n)``, ``n ~ U[-1, 1]``.
Practical form: ``m <- b1 m + (1-b1) g``; ``G <- max(G, |m|)``;
``x <- x - eta_t sign(m + G n) - eta_t lam x``.
The envelope is updated before the noise is drawn, so ``G >= |g|`` (or ``|m|``) always and the
step is unbiased for ``eta_t g / G``. ``n`` is the counter-based uniform of
``theory_bench.engine.counter_rng`` at ``(key, t, i)``.
"""
from numba import njit

from theory_bench.engine.counter_rng import step_key, uniform01
from theory_bench.engine.optimizer import Optimizer, nonnegative, unit_interval
from theory_bench.optimizers.signs import sto_sign, stochastic_sign


@njit(cache=True, inline="always")
def stosign_theory_core(x, g, G, lr, t, key):
    """The theory form on flat arrays (any float dtype); ``theory_bench.torch`` calls it directly."""
    kt = step_key(key, t)
    for i in range(x.shape[0]):
        gi = g[i]
        Gi = max(G[i], abs(gi))
        G[i] = Gi
        x[i] -= lr * sto_sign(gi, Gi, uniform01(kt, i))


@njit(cache=True, inline="always")
def stosign_practical_core(x, g, m, G, b1, lam, lr, t, key):
    """The practical form on flat arrays (any float dtype); ``theory_bench.torch`` calls it directly."""
    kt = step_key(key, t)
    for i in range(x.shape[0]):
        mi = b1 * m[i] + (1.0 - b1) * g[i]
        m[i] = mi
        Gi = max(G[i], abs(mi))
        G[i] = Gi
        x[i] -= lr * (sto_sign(mi, Gi, uniform01(kt, i)) + lam * x[i])


@njit(cache=True)
def stosign_theory_step(x, g, S, h, lr, t, key):
    stosign_theory_core(x, g, S[0], lr, t, key)


@njit(cache=True)
def stosign_practical_step(x, g, S, h, lr, t, key):
    stosign_practical_core(x, g, S[0], S[1], h[0], h[1], lr, t, key)


class StoSignSGD(Optimizer):
    """StoSignSGD; the theory form unless ``beta1 > 0`` or ``weight_decay > 0``.

    ``StoSignSGD(lr=0.1)`` is the form the regret bound of docs/theory.md §3.1 is about;
    ``StoSignSGD.practical(lr, beta1=0.9, weight_decay=0.0)`` the form with momentum and
    decoupled weight decay.
    """

    name = "StoSignSGD"
    sign_operator = staticmethod(stochastic_sign)
    summary = "unbiased stochastic sign, sign(g + G n) with running max G; practical form via .practical"

    def __init__(self, lr, schedule="inv_sqrt", beta1=0.0, weight_decay=0.0):
        super().__init__(lr, schedule)
        self.beta1 = unit_interval("beta1", beta1)
        self.weight_decay = nonnegative("weight_decay", weight_decay)
        if self.beta1 == 0.0 and self.weight_decay == 0.0:
            self.form, self.state_names, self.hyper_names = "theory", ("G",), ()
            self.kernel = stosign_theory_step
        else:
            self.form, self.state_names = "practical", ("m", "G")
            self.hyper_names = ("beta1", "weight_decay")
            self.kernel = stosign_practical_step

    @classmethod
    def practical(cls, lr, schedule="inv_sqrt", beta1=0.9, weight_decay=0.0):
        if beta1 == 0.0 and weight_decay == 0.0:
            raise ValueError("the practical form needs beta1 > 0 or weight_decay > 0, got both 0; "
                             "use StoSignSGD(lr) for the theory form")
        return cls(lr, schedule, beta1=beta1, weight_decay=weight_decay)

    def config(self):
        return {**super().config(), "form": self.form}

    def __repr__(self):      # one that rebuilds it (the testing API's "draw the curve" command runs it)
        extra = "" if self.form == "theory" else f", beta1={self.beta1!r}, weight_decay={self.weight_decay!r}"
        return f"StoSignSGD(lr={self.lr!r}, schedule={self.schedule_name()!r}{extra})"
