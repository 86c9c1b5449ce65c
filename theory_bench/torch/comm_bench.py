"""What the sign hooks save on a real runtime: bytes and step time against DDP's fp32 allreduce.

``comm_rows(sizes, worlds)`` starts ``M`` processes (gloo, 127.0.0.1) per world size; each holds one
parameter of ``d`` float32 entries under ``DistributedDataParallel`` (25 MB buckets, DDP's default)
and times a backward pass (the gradient is a constant: the time is the communication and the hook)
with DDP's default allreduce, ``stosign_hook`` and ``majority_vote_hook``, best of ``repeats``.
Bytes per rank and step: the payload a rank hands to the collective (``4d`` for the allreduce;
``ceil(d/8)`` packed bytes for a hook, per bucket) and the bytes it puts on the wire in a ring
(allreduce ``2 (M-1)/M 4d``; all-gather ``(M-1) ceil(d/8)``).
"""
import os
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

HOOKS = ("allreduce (DDP default)", "stosign_hook", "majority_vote_hook")


def _rendezvous():
    """A file-store rendezvous (no port to race for: one found free can be taken before it is listened on)."""
    return "file://" + os.path.join(tempfile.mkdtemp(), "store")


class _Dot(torch.nn.Module):
    """One parameter of ``d`` entries; ``forward(x) = <w, x>``, so the gradient is ``x``."""

    def __init__(self, d):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(d))

    def forward(self, x):
        return (self.w * x).sum()


def _worker(rank, world, store, d, repeats, out):
    from torch.nn.parallel import DistributedDataParallel as DDP
    from theory_bench.torch.comm_hooks import SignHookState, majority_vote_hook, stosign_hook
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=store, rank=rank, world_size=world)
    result = {}
    for name in HOOKS:
        ddp = DDP(_Dot(d))
        state = None
        if name != HOOKS[0]:
            state = SignHookState(seed=0)
            ddp.register_comm_hook(state, stosign_hook if name == "stosign_hook" else majority_vote_hook)
        x = torch.full((d,), 1.0 + rank)
        best = float("inf")
        for i in range(repeats + 1):                   # the first pass also builds the buckets
            dist.barrier()
            t0 = time.perf_counter()
            ddp(x).backward()
            elapsed = time.perf_counter() - t0
            ddp.module.w.grad = None
            if i:
                best = min(best, elapsed)
        sent = state.bytes_sent / (repeats + 1) if state is not None else 4 * d
        result[name] = {"step_s": best, "payload_bytes": sent}
    if rank == 0:
        torch.save(result, out)
    dist.barrier()                 # no rank tears its gloo threads down while another still talks to it
    dist.destroy_process_group()


def comm_rows(sizes=(10 ** 6, 10 ** 7), worlds=(2, 4), repeats=5):
    """One row per (d, M, method): step time, payload and ring bytes, and ratios against the allreduce."""
    rows = []
    for d in sizes:
        for world in worlds:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "r.pt")
                mp.spawn(_worker, args=(world, _rendezvous(), d, repeats, path), nprocs=world, join=True)
                result = torch.load(path)
            base = result[HOOKS[0]]
            for name in HOOKS:
                r = result[name]
                ring = (2 * (world - 1) / world * 4 * d) if name == HOOKS[0] else (world - 1) * r["payload_bytes"]
                base_ring = 2 * (world - 1) / world * 4 * d
                rows.append({"d": d, "M": world, "method": name, "step_s": r["step_s"],
                             "payload_bytes": r["payload_bytes"], "ring_bytes": ring,
                             "payload_ratio": base["payload_bytes"] / r["payload_bytes"],
                             "ring_ratio": base_ring / ring, "time_ratio": r["step_s"] / base["step_s"]})
    return rows
