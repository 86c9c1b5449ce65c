"""The compiled loop of ``M`` workers that send signs (docs/theory.md §7), one call per horizon.

At step ``t`` every worker ``m = 0..M-1`` draws its own stochastic gradient ``g_m = GRAD(x_t, rng,
*args)`` at the shared iterate (the run's oracle Generator, worker after worker; a sharded oracle
reads the worker's index from ``slot[0]``, a one-element int64 array it shares with the loop) and
sends what its method sends; the server combines and broadcasts; every worker applies the same
step, so the iterate stays shared. Methods (``method``):

- ``SGD``: ``g_m`` in full precision, averaged: ``x -= eta_t mean_m g_m``.
- ``MAJORITY``: SignSGD with majority vote (Bernstein et al. 2018): bits ``sign(g_m)`` up, the vote
  ``sign(sum_m sign(g_m))`` down, ``x -= eta_t vote``.
- ``SIGNUM``: the same vote on each worker's momentum ``m_m <- beta m_m + (1 - beta) g_m``.
- ``STOSIGN``: each worker keeps the running max ``G_m = max(G_m, |g_m|)`` and sends
  ``sign(g_m + B_m n_m)``, ``n_m ~ U[-1, 1]`` from its own counter stream; the server sends back
  the sum, ``x -= eta_t mean_m sign(...)``. Envelope ``B_m = G_m`` (``shared = False``: "local", no
  extra traffic) or ``B_m = max(G_m, G_s)`` with ``G_s = max_m G_m`` refreshed by a max-allreduce
  every ``every`` steps (``shared = True``); ``B_m >= |g_m|`` either way, so each sign is unbiased
  for ``g_m / B_m``.
- ``EF``: EF-SignSGD per worker with error feedback on both sides (Karimireddy et al. 2019; Zheng
  et al. 2019): worker ``p_m = eta_t g_m + e_m``, sends ``(|p_m|_1 / d) sign(p_m)``, keeps the
  error; the server compresses the mean the same way with its own error, ``x -= Delta``.

One bit cannot say zero: an exact zero (a hinge sample past its margin, ``g = 0`` with ``G = 0``)
sends a fair coin from the worker's stream, and a tied vote sends the server's coin, so every
method sends what its bit count says (``theory_bench.engine.distributed.bits_per_step``).
"""
import numpy as np
from numba import njit

from theory_bench.engine.counter_rng import mix64, step_key, uniform01
from theory_bench.engine.run_loop import NONFINITE_ITERATE, OK, grad_status, settle, step_size, update_average

GRAD = None  # bound per oracle by theory_bench.engine.distributed
SGD, MAJORITY, SIGNUM, STOSIGN, EF = 0, 1, 2, 3, 4
NOISE_SALT, COIN_SALT = np.uint64(0x6A09E667F3BCC909), np.uint64(0xBB67AE8584CAA73B)


@njit(cache=True, inline="always")
def worker_key(key, m, salt):
    """Worker ``m``'s own key for the stream ``salt`` (its sign noise or its coins); ``m = -1``: the server."""
    return mix64(np.uint64(key) ^ salt ^ mix64(np.uint64(m + 2)))


@njit(cache=True, inline="always")
def one_bit(v, u):
    """``sign(v)`` as one bit: ``+-1``, and a fair coin (``u < 1/2``) for an exact zero."""
    if v > 0.0:
        return 1.0
    if v < 0.0:
        return -1.0
    return 1.0 if u < 0.5 else -1.0


@njit(cache=True)
def ef_compress(p, out):
    """``out = (|p|_1 / d) sign(p)`` (zeros stay zero: their error is zero), in place."""
    scale = np.abs(p).sum() / p.shape[0]
    for i in range(p.shape[0]):
        out[i] = scale * np.sign(p[i])


def run_distributed_horizon(x0, M, method, shared, every, beta, key, rng, args, slot, T, kind, lr, table, lo, hi,
                            boxed, checkpoints):
    d, n_ck = x0.shape[0], checkpoints.shape[0]
    x, x_avg = x0.copy(), np.zeros(d)
    xs_avg, env_sums = np.zeros((n_ck, d)), np.zeros((n_ck, M))
    W = np.zeros((M, d))            # per worker: G (STOSIGN), momentum (SIGNUM), error (EF)
    Gs, agg, p, delta, e_srv = np.zeros(d), np.zeros(d), np.zeros(d), np.zeros(d), np.zeros(d)
    out = (x, x_avg, xs_avg, env_sums, W)
    c = 0
    for t in range(1, T + 1):
        update_average(x_avg, x, t)
        eta = step_size(kind, lr, table, t)
        agg[:] = 0.0
        for m in range(M):
            slot[0] = m
            g = GRAD(x, rng, *args)
            status, i = grad_status(g, d)
            if status != OK:
                return status, t, i, out
            kc = step_key(worker_key(key, m, COIN_SALT), t)
            if method == SGD:
                for i in range(d):
                    agg[i] += g[i]
            elif method == MAJORITY:
                for i in range(d):
                    agg[i] += one_bit(g[i], uniform01(kc, i))
            elif method == SIGNUM:
                for i in range(d):
                    W[m, i] = beta * W[m, i] + (1.0 - beta) * g[i]
                    agg[i] += one_bit(W[m, i], uniform01(kc, i))
            elif method == STOSIGN:
                kn = step_key(worker_key(key, m, NOISE_SALT), t)
                for i in range(d):
                    W[m, i] = max(W[m, i], abs(g[i]))
                    B = max(W[m, i], Gs[i]) if shared else W[m, i]
                    agg[i] += one_bit(g[i] + B * (2.0 * uniform01(kn, i) - 1.0), uniform01(kc, i))
            else:
                for i in range(d):
                    p[i] = eta * g[i] + W[m, i]
                ef_compress(p, delta)
                for i in range(d):
                    W[m, i] = p[i] - delta[i]
                    agg[i] += delta[i]
        if method == STOSIGN and shared and (t == 1 or t % every == 0):
            for i in range(d):                  # the max-allreduce, used from the next step on
                Gs[i] = W[0, i]
                for m in range(1, M):
                    Gs[i] = max(Gs[i], W[m, i])
        if method == SGD or method == STOSIGN:
            for i in range(d):
                x[i] -= eta * agg[i] / M
        elif method == EF:
            for i in range(d):
                p[i] = agg[i] / M + e_srv[i]
            ef_compress(p, delta)
            for i in range(d):
                e_srv[i] = p[i] - delta[i]
                x[i] -= delta[i]
        else:
            ks = step_key(worker_key(key, -1, COIN_SALT), t)
            for i in range(d):
                x[i] -= eta * one_bit(agg[i], uniform01(ks, i))
        bad = settle(x, lo, hi, boxed, x_avg, 0)
        if bad >= 0:
            return NONFINITE_ITERATE, t, bad, out
        if c < n_ck and checkpoints[c] == t:
            xs_avg[c, :] = x_avg
            for m in range(M):
                env_sums[c, m] = W[m].sum()
            c += 1
    return OK, T, -1, out
