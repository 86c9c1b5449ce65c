"""DDP communication hooks that send one bit per coordinate (docs/distributed.md, docs/theory.md §7).

For ``torch.nn.parallel.DistributedDataParallel.register_comm_hook(state, hook)``:

- ``stosign_hook``: each rank sends the stochastic signs ``sign(g + B n)`` of its gradient
  (``n ~ U[-1, 1]``, ``B`` the running max of ``|g|`` per coordinate: ``envelope="local"``, or that
  and the max over ranks refreshed by a max-allreduce every ``every`` steps: ``"shared"``); every
  rank receives the average of the ``M`` signs, an unbiased estimate of ``mean_r g_r / B_r``.
- ``majority_vote_hook``: each rank sends ``sign(g)``; every rank receives the vote
  ``sign(sum_r sign(g_r))`` (Bernstein et al. 2018).

Use them with ``torch.optim.SGD(params, lr)`` (no momentum, no weight decay): its step is then
``lr`` times what the hook returns, the distributed StoSignSGD (theory form; ``beta > 0`` signs a
per-rank momentum instead of the gradient) or SignSGD with majority vote.

Wire format: the signs of a bucket are packed 8 per byte (``uint8``, most significant bit first,
as ``numpy.packbits``) and exchanged with ``all_gather``: each rank contributes ``ceil(n/8)`` bytes
for ``n`` coordinates and receives the other ``M - 1`` contributions, against ``4n`` bytes for
DDP's fp32 allreduce. (An allreduce cannot sum packed bits; for ``M <= 8`` the all-gather of bits
moves less than any reduce of ``ceil(log2(M+1))``-bit sums would.) An exact zero (``g = 0`` where
``B = 0``; a tied vote) is a fair coin: one bit cannot say zero.

Noise: the engine's counter-based uniforms (``theory_bench.engine.counter_rng``), a pure function
of the rank's key (from ``seed`` and the rank), the parameter's index (in the order the hook first
sees the parameters, the same on every rank), the step and the coordinate; so every rank's stream
is independent of the others and reproducible, whatever the bucket layout or the order in which
DDP hands the buckets over. The vote's coins use a stream shared by all ranks.

A step is one fused pass per stage (``theory_bench.engine.bit_packing``: signs to bits, bits to
bytes, bytes to the sum of signs), on the CPU; tensors on another device are copied there and back.
"""
import numpy as np
import torch
import torch.distributed as dist

from theory_bench.engine import bit_packing as bp
from theory_bench.engine.seeding import streams
from theory_bench.torch.noise import counter_draw, param_key

ENVELOPES = ("local", "shared")
PACKABLE = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
_SHIFTS = torch.tensor([7, 6, 5, 4, 3, 2, 1, 0], dtype=torch.uint8)


# The torch functions below are the readable reference of the fused kernels the hooks run
# (theory_bench.engine.bit_packing); tests/test_comm_hooks.py holds them equal, bit for bit.
def pack_bits(bits):
    """A 1-D bool tensor -> ``uint8`` bytes, 8 bits each, most significant first (``numpy.packbits``)."""
    n = bits.numel()
    padded = torch.zeros(8 * ((n + 7) // 8), dtype=torch.uint8, device=bits.device)
    padded[:n] = bits.to(torch.uint8)
    return (padded.view(-1, 8) << _SHIFTS.to(bits.device)).sum(dim=1, dtype=torch.uint8)


def unpack_bits(packed, n):
    """The first ``n`` bits of ``packed`` (``pack_bits``' output) as a bool tensor."""
    return ((packed.view(-1, 1) >> _SHIFTS.to(packed.device)) & 1).view(-1)[:n].bool()


def rank_key(seed, rank, salt=0):
    """The 64-bit noise key of ``rank`` (``salt`` 1: its coins); ``rank=None``: the key all ranks share."""
    spawn = (salt,) if rank is None else (int(rank), salt)
    return int(streams(np.random.SeedSequence(int(seed), spawn_key=spawn))[1])



def one_bit(v, key, k, t):
    """``v > 0`` as bits, an exact zero replaced by a coin of the stream ``(key, k, t)``."""
    bits = v > 0
    zero = v == 0
    if bool(zero.any()):
        bits = torch.where(zero, counter_draw(key, k, t, v, torch.float64) < 0.5, bits)
    return bits


def stochastic_sign_bits(a, B, seed, rank, k, t):
    """The bits of ``sign(a + B n)`` that ``rank`` sends for parameter ``k`` at step ``t`` (``n = 2u - 1``)."""
    u = counter_draw(rank_key(seed, rank), k, t, a, torch.float64)
    v = a.to(torch.float64) + B.to(torch.float64) * (2.0 * u - 1.0)
    return one_bit(v, rank_key(seed, rank, 1), k, t)


class SignHookState:
    """``SignHookState(process_group=None, seed=0, envelope="local", every=1, beta=0.0)``: the state of
    ``stosign_hook`` and ``majority_vote_hook`` (per parameter: the step count, the envelope ``G``,
    the shared envelope, the momentum). ``process_group=None`` is the default group, which must be
    initialised (``torch.distributed.init_process_group``) before the state is made."""

    def __init__(self, process_group=None, seed=0, envelope="local", every=1, beta=0.0):
        if not (dist.is_available() and dist.is_initialized()):
            raise ValueError("SignHookState needs an initialised process group: call "
                             "torch.distributed.init_process_group(backend, ...) before making the hook state")
        if envelope not in ENVELOPES:
            raise ValueError(f"envelope must be 'local' or 'shared', got {envelope!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every (steps between max-allreduces of the envelope) must be an int >= 1, got {every!r}")
        if not (isinstance(beta, (int, float)) and 0.0 <= beta < 1.0):
            raise ValueError(f"beta must be in [0, 1), got {beta!r}")
        self.process_group = process_group if process_group is not None else dist.group.WORLD
        self.rank, self.world = dist.get_rank(self.process_group), dist.get_world_size(self.process_group)
        self.seed, self.envelope, self.every, self.beta = seed, envelope, every, float(beta)
        # the streams' keys, derived once: this rank's sign noise and coins, the vote's shared coins
        self.noise_key, self.coin_key = rank_key(seed, self.rank), rank_key(seed, self.rank, 1)
        self.shared_key = rank_key(seed, None, 2)
        self.index, self.steps, self.G, self.G_shared, self.momentum = {}, {}, {}, {}, {}
        self.bytes_sent = 0                 # payload this rank handed to the collectives

    def key_of(self, p):
        """The parameter's index (its noise stream): first come, first numbered, the same on every rank."""
        if p not in self.index:
            self.index[p] = len(self.index)
        return self.index[p]

    def signed(self, p, g):
        """What this rank signs for parameter ``p``: its gradient, or its momentum when ``beta > 0``."""
        if self.beta == 0.0:
            return g
        m = self.momentum.setdefault(p, torch.zeros_like(g))
        m.mul_(self.beta).add_(g, alpha=1.0 - self.beta)
        return m


def _views(bucket):
    """``(parameter, gradient view)`` pairs of a bucket, checked to tile its flat buffer in order."""
    buf = bucket.buffer()
    views = list(zip(bucket.parameters(), bucket.gradients()))
    for dtype in {buf.dtype, *(g.dtype for _, g in views), *(p.dtype for p, _ in views)}:
        if dtype not in PACKABLE:
            raise ValueError(f"the sign hooks pack real floating-point gradients ({', '.join(map(str, PACKABLE))}); "
                             f"this bucket holds {dtype}: keep such parameters out of DDP or use its default allreduce")
    return buf, views


def _numpy(x):
    """A flat CPU numpy view (or exact float32 copy, for 16-bit floats) of ``x``."""
    x = x.detach().reshape(-1)
    return (x.float() if x.dtype in (torch.float16, torch.bfloat16) else x).numpy()


def _fast(buf):
    return buf.device.type == "cpu"


def _exchange(state, bits, combine, buf):
    """All-gather the packed ``bits`` (a uint8 array, one 0/1 per coordinate) of every rank;
    ``combine(sum of the ranks' signs as float64)`` into ``buf``."""
    n = bits.shape[0]
    packed = torch.empty((n + 7) // 8, dtype=torch.uint8)
    bp.pack(bits, packed.numpy())
    if not _fast(buf):
        packed = packed.to(buf.device)
    state.bytes_sent += packed.numel()
    gathered = [torch.empty_like(packed) for _ in range(state.world)]
    work = dist.all_gather(gathered, packed, group=state.process_group, async_op=True)

    def finish(_):
        total = np.zeros(n)
        for b in gathered:
            bp.unpack_add(b.cpu().numpy(), n, total)
        buf.copy_(torch.from_numpy(combine(total)).to(device=buf.device, dtype=buf.dtype).view_as(buf))
        return buf
    return work.get_future().then(finish)


def stosign_hook(state, bucket):
    """Averaged stochastic signs (module docstring); returns a future of the bucket's new buffer."""
    buf, views = _views(bucket)
    bits = np.empty(buf.numel(), dtype=np.uint8)
    off, shared_due = 0, False
    for p, g in views:
        k = state.key_of(p)
        t = state.steps[p] = state.steps.get(p, 0) + 1
        a = state.signed(p, g.detach())
        G = state.G.setdefault(p, torch.zeros_like(a))
        torch.maximum(G, a.abs(), out=G)
        B = torch.maximum(G, state.G_shared[p]) if state.envelope == "shared" and p in state.G_shared else G
        bp.stochastic_bits(_numpy(a.cpu()), _numpy(B.cpu()), np.uint64(param_key(state.noise_key, k)),
                           np.uint64(param_key(state.coin_key, k)), t, bits[off:off + a.numel()])
        off += a.numel()
        shared_due |= state.envelope == "shared" and (t == 1 or t % state.every == 0)
    if shared_due:                               # the max-allreduce, used from the next step on
        flat = torch.cat([state.G[p].view(-1) for p, _ in views])
        state.bytes_sent += flat.numel() * flat.element_size()
        dist.all_reduce(flat, op=dist.ReduceOp.MAX, group=state.process_group)
        for (p, g), part in zip(views, flat.split([g.numel() for _, g in views])):
            state.G_shared[p] = part.view_as(g).clone()
    return _exchange(state, bits, lambda total: total / state.world, buf)


def majority_vote_hook(state, bucket):
    """SignSGD with majority vote: every rank receives ``sign(sum_r sign(g_r))``, a tie a shared coin."""
    buf, views = _views(bucket)
    bits = np.empty(buf.numel(), dtype=np.uint8)
    slices, off = [], 0
    for p, g in views:
        k = state.key_of(p)
        t = state.steps[p] = state.steps.get(p, 0) + 1
        bp.sign_bits(_numpy(state.signed(p, g.detach()).cpu()), np.uint64(param_key(state.coin_key, k)), t,
                     bits[off:off + g.numel()])
        slices.append((off, g.numel(), k, t))
        off += g.numel()

    def vote(total):
        out = np.empty(total.shape[0], dtype=np.uint8)
        for o, n, k, t in slices:
            bp.sign_bits(total[o:o + n], np.uint64(param_key(state.shared_key, k)), t, out[o:o + n])
        return 2.0 * out - 1.0
    return _exchange(state, bits, vote, buf)
