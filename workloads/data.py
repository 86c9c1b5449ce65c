"""The data of the FP8 experiment, present on every machine without a download.

- ``digits()``: scikit-learn's handwritten digits (1797 images of 8x8 pixels, 10 classes), pixels
  scaled to ``[0, 1]``, split 80/20 into train and validation, stratified, with a fixed seed.
- ``stdlib_corpus()``: bytes of the Python standard library's own source, read from the running
  installation: every ``*.py`` file directly in ``sysconfig.get_paths()["stdlib"]`` (no
  subpackages), in sorted order, concatenated. The first 90% of the bytes are the training text,
  the last 10% the validation text (so validation is modules the model never saw). Its size and
  SHA-256 are recorded: another Python version has another corpus.
"""
import hashlib
import sysconfig
from functools import lru_cache
from pathlib import Path

import numpy as np

CORPUS_BYTES = 4 * 2 ** 20          # the corpus is the first 4 MiB of the concatenation
VALID_FRACTION = 0.1


@lru_cache(maxsize=1)
def digits():
    """``(x_train, y_train, x_valid, y_valid)``: float32 images ``(n, 1, 8, 8)`` and int64 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    xt, xv, yt, yv = train_test_split(x, d.target.astype(np.int64), test_size=0.2, random_state=0, stratify=d.target)
    return xt, yt, xv, yv


@lru_cache(maxsize=1)
def stdlib_corpus():
    """``(train bytes, validation bytes, description)`` as uint8 arrays and a dict (files, bytes, sha256)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if p.is_file())
    if not files:
        raise RuntimeError(f"no *.py files in the standard library folder {root}: this Python installation "
                           "ships without its sources; install them (Debian: libpython3-stdlib) to run the "
                           "transformer of the fp8 experiment")
    blob = b"".join(p.read_bytes() for p in files)[:CORPUS_BYTES]
    data = np.frombuffer(blob, dtype=np.uint8)
    cut = int(len(data) * (1 - VALID_FRACTION))
    about = {"source": str(root), "files": len(files), "bytes": len(data), "train_bytes": cut,
             "valid_bytes": len(data) - cut, "sha256": hashlib.sha256(blob).hexdigest()}
    return data[:cut], data[cut:], about


def text_batch(data, rng, batch, context):
    """``batch`` windows of ``context + 1`` bytes at random offsets (numpy ``rng``): inputs and targets."""
    starts = rng.integers(0, len(data) - context - 1, size=batch)
    w = np.stack([data[s:s + context + 1] for s in starts]).astype(np.int64)
    return w[:, :-1], w[:, 1:]


def text_windows(data, n, context):
    """``n`` evenly spaced validation windows (the same for every run): inputs and targets."""
    starts = np.linspace(0, len(data) - context - 1, n).astype(np.int64)
    w = np.stack([data[s:s + context + 1] for s in starts]).astype(np.int64)
    return w[:, :-1], w[:, 1:]
