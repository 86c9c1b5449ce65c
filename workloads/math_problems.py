"""Math word problems in GSM8K's JSONL format, made offline: ``{"question": ..., "answer": "... #### 42"}``.

Each problem is a short story about one person and one kind of thing, with one to three steps
(``STEPS``): they gain some, lose some, or get several groups of equal size. The answer is the worked
solution, one equation per step, then ``#### <final number>``, as GSM8K writes it. Numbers stay small
(start 2-20, changes 1-9, groups of 2-5 of 2-9) and no count goes below zero, so a small byte-level
model can learn them; the mix of step counts spreads the difficulty.

``generate(n, seed)`` is deterministic (numpy's PCG64 from ``seed``); ``write_splits(folder, seed)``
writes ``train.jsonl``, ``valid.jsonl`` and ``test.jsonl`` (``SPLITS`` problems each, no question in
two splits) and ``about.json`` with each file's SHA-256, so a result names the exact data it used.
"""
import hashlib
import json
from pathlib import Path

import numpy as np

SPLITS = {"train": 4000, "valid": 200, "test": 500}
STEPS = (1, 2, 3)
NAMES = (("Ava", "she"), ("Ben", "he"), ("Cara", "she"), ("Dev", "he"), ("Ema", "she"), ("Finn", "he"),
         ("Gia", "she"), ("Hugo", "he"), ("Iris", "she"), ("Jon", "he"), ("Lena", "she"), ("Milo", "he"),
         ("Nora", "she"), ("Omar", "he"), ("Rosa", "she"), ("Sam", "he"))
THINGS = ("apples", "marbles", "stickers", "books", "coins", "shells", "pencils", "cards", "eggs", "stamps")
GAIN = ("buys {n} more {x}", "finds {n} more {x}", "gets {n} {x} from a friend", "wins {n} {x}")
LOSE = ("gives {n} {x} away", "loses {n} {x}", "uses {n} {x}", "sells {n} {x}")
GROUPS = ("buys {k} boxes of {n} {x} each", "gets {k} bags with {n} {x} in each")


def _problem(rng):
    (name, pronoun), x = NAMES[rng.integers(len(NAMES))], THINGS[rng.integers(len(THINGS))]
    count = int(rng.integers(2, 21))
    story, work = [f"{name} has {count} {x}."], []
    steps = int(rng.choice(STEPS))
    for k in range(steps):
        kind = rng.choice(["gain", "lose", "groups"] if count > 0 else ["gain", "groups"])
        lead = f"Then {pronoun}" if k else pronoun.capitalize()
        if kind == "gain":
            n = int(rng.integers(1, 10))
            story.append(f"{lead} {GAIN[rng.integers(len(GAIN))].format(n=n, x=x)}.")
            work.append(f"{count} + {n} = {count + n}.")
            count += n
        elif kind == "lose":
            n = int(rng.integers(1, min(9, count) + 1))
            story.append(f"{lead} {LOSE[rng.integers(len(LOSE))].format(n=n, x=x)}.")
            work.append(f"{count} - {n} = {count - n}.")
            count -= n
        else:
            k_, n = int(rng.integers(2, 6)), int(rng.integers(2, 10))
            story.append(f"{lead} {GROUPS[rng.integers(len(GROUPS))].format(k=k_, n=n, x=x)}.")
            work.append(f"{k_} * {n} = {k_ * n}. {count} + {k_ * n} = {count + k_ * n}.")
            count += k_ * n
    story.append(f"How many {x} does {name} have now?")
    return {"question": " ".join(story), "answer": " ".join(work) + f" #### {count}"}


def generate(n, seed=0):
    """``n`` distinct problems (no repeated question), deterministic in ``seed``."""
    rng, seen, out = np.random.default_rng(seed), set(), []
    while len(out) < n:
        p = _problem(rng)
        if p["question"] not in seen:
            seen.add(p["question"])
            out.append(p)
    return out


def splits(seed=0, sizes=None):
    """``{split: problems}`` for ``sizes`` (default ``SPLITS``), consecutive slices of one ``generate`` call,
    so no question is in two splits."""
    sizes = dict(sizes or SPLITS)
    problems, out, start = generate(sum(sizes.values()), seed), {}, 0
    for split, n in sizes.items():
        out[split], start = problems[start:start + n], start + n
    return out


def write_splits(folder, seed=0, sizes=None):
    """Write ``train/valid/test.jsonl`` (disjoint questions) and ``about.json`` under ``folder``; return about."""
    from theory_bench.results.store import atomic_write_text
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    about = {"seed": int(seed), "generator": __name__, "splits": {}}
    for split, rows in splits(seed, sizes).items():
        n = len(rows)
        text = "".join(json.dumps(p) + "\n" for p in rows)
        atomic_write_text(folder / f"{split}.jsonl", text)
        about["splits"][split] = {"file": f"{split}.jsonl", "problems": n,
                                  "sha256": hashlib.sha256(text.encode()).hexdigest()}
    atomic_write_text(folder / "about.json", json.dumps(about, indent=1) + "\n")
    return about
