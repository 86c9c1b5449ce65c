"""What a run keeps at its checkpoints, and the memory it needs, decided before it starts.

A run holds the optimizer's state rows, the iterate, its running average and a few more
``d``-vectors (the oracle's output, the box, the window's anchor and gradient sum, the buffers of
a run in number formats). What it records is per checkpoint: the losses, the state sums and the
window measure, a few numbers each, and optionally the iterate and the averaged iterate, two
``d``-vectors each: ``2 * n_checkpoints * d * 8`` bytes, 1.9 GB at ``d = 2*10^6`` and 9.6 GB at
``d = 10^7`` with the default 60 checkpoints.

``minimize(..., record=)``:

- ``"auto"`` (the default) keeps the iterates while they fit ``ITERATE_BUDGET`` (256 MiB: every
  run up to ``d = 2*10^5`` with the default checkpoints); beyond it the run keeps the losses, state
  sums and window measure only (``Trace.xs`` and ``Trace.xs_avg`` are ``None``), evaluates the
  loss at each checkpoint as it passes, and says so in a ``RecordWarning`` before it starts;
- ``"iterates"`` keeps them whatever they cost;
- ``"losses"`` never keeps them.

Whatever ``record`` says, a run whose arrays would not fit the memory this machine has available
raises ``MemoryError`` before it starts, with the bytes and what to change.
"""
import os
import warnings

ITERATE_BUDGET = 256 * 2 ** 20
RECORDS = ("auto", "iterates", "losses")


class RecordWarning(UserWarning):
    """A run that will not keep its iterates at the checkpoints (``record="auto"`` over the budget)."""


def iterate_bytes(n_checkpoints, d):
    return 2 * int(n_checkpoints) * int(d) * 8


def plan(record, n_checkpoints, d, vectors):
    """Whether the run keeps its iterates (``record`` checked), given ``vectors`` ``d``-vectors of
    its own; raises ``MemoryError`` when it cannot fit in the available memory."""
    if record not in RECORDS:
        raise ValueError(f"record must be one of {', '.join(map(repr, RECORDS))}, got {record!r}")
    kept = iterate_bytes(n_checkpoints, d)
    keep = record == "iterates" or (record == "auto" and kept <= ITERATE_BUDGET)
    if record == "auto" and not keep:
        warnings.warn(f"not keeping the iterates at the {n_checkpoints} checkpoints: they would take "
                      f"{gb(kept)} at d={d}, over the {gb(ITERATE_BUDGET)} budget; the trace keeps losses, state "
                      "sums and the window measure (Trace.xs is None). Pass record='iterates' to keep them, fewer "
                      "checkpoints to shrink them, or record='losses' to silence this", RecordWarning, stacklevel=3)
    need = vectors * int(d) * 8 + (kept if keep else 0)
    free = available_memory()
    if free is not None and need > free:
        fix = ("pass record='losses' or fewer checkpoints" if keep else "lower d, or use a machine with more memory")
        raise MemoryError(f"this run needs {gb(need)} ({vectors} vectors of d={d}"
                          + (f" and {gb(kept)} of iterates at {n_checkpoints} checkpoints" if keep else "")
                          + f") but {gb(free)} is available; {fix}")
    return keep


def available_memory():
    """Bytes the kernel says are available (``MemAvailable``), or ``None`` where it does not say."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def gb(n):
    return f"{n / 1e9:.3g} GB"
