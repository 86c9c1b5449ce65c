"""The base model fine-tuning starts from: a small Llama, pretrained by the suite on offline text, cached.

- ``tokenizer()``: a byte-level tokenizer built offline (``tokenizers``' byte-level BPE with no merges:
  one token per byte, 256 of them, plus ``<bos>`` 256, ``<eos>`` 257 and ``<pad>`` 258), wrapped as a
  ``transformers.PreTrainedTokenizerFast`` so that ``save_pretrained`` / ``AutoTokenizer.from_pretrained``
  work as for any checkpoint.
- ``CONFIG``: ``workloads/tiny_llama.json``, a ``LlamaConfig``: width 64, 4 layers, 4 heads, SwiGLU
  MLP of 176, RoPE, tied embeddings (0.22M parameters).
- ``pretraining_text()``: the Python standard library's source (``data.stdlib_corpus``, English in its
  comments and docstrings) interleaved with arithmetic drills (``a + b = c.``, ``a - b = c.``,
  ``a * b = c.`` for small numbers), as a pretrained model has met arithmetic before it is
  fine-tuned on word problems. No word problem is in it.
- ``base_model(steps)``: the path of the pretrained checkpoint (``save_pretrained``: config, weights,
  tokenizer), trained once with AdamW (warm-up, cosine) and cached under the suite's cache folder
  (``$THEORY_BENCH_CACHE_DIR``), keyed by the config, the text's SHA-256, the steps and torch's version;
  written to a temporary folder and renamed, so an interrupted pretraining leaves no half checkpoint.
"""
import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

CONFIG = Path(__file__).with_name("tiny_llama.json")
SPECIALS = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}
PRETRAIN = {"steps": 1500, "batch": 16, "context": 128, "lr": 3e-3, "seed": 0}
DRILL_BYTES = 2 ** 20


def tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet(), key=lambda c: _byte_of(c))
    tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIALS)
    fast.add_special_tokens({"additional_special_tokens": []})
    return fast


def _byte_of(char):
    """The byte a character of the byte-level alphabet stands for (GPT-2's bytes_to_unicode, inverted)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    if ord(char) in keep:
        return ord(char)
    others = [b for b in range(256) if b not in keep]
    return others[ord(char) - 256]


def drills(n_bytes=DRILL_BYTES, seed=0):
    """Arithmetic drill sentences, ``n_bytes`` of them: sums and differences of numbers up to 60
    (never below zero) and products of 2..9 by 2..9."""
    rng, parts, size = np.random.default_rng(seed), [], 0
    while size < n_bytes:
        op = rng.integers(3)
        if op == 2:
            a, b = rng.integers(2, 10, 2)
            s = f"{a} * {b} = {a * b}. "
        else:
            a, b = sorted(rng.integers(0, 61, 2))[::-1] if op == 1 else rng.integers(0, 61, 2)
            s = f"{a} - {b} = {a - b}. " if op == 1 else f"{a} + {b} = {a + b}. "
        parts.append(s)
        size += len(s)
    return "".join(parts).encode()


def pretraining_text():
    """``(bytes, sha256)``: the stdlib corpus's training bytes and the drills, interleaved in 4 KiB pieces."""
    from theory_bench.workloads.data import stdlib_corpus
    code = stdlib_corpus()[0].tobytes()[: 2 * DRILL_BYTES]
    drill = drills()
    piece, out = 4096, []
    for k in range(0, max(len(code), len(drill)), piece):
        out += [code[k:k + piece], drill[k // 2:k // 2 + piece // 2]]
    blob = b"".join(out)
    return blob, hashlib.sha256(blob).hexdigest()


def config():
    from transformers import LlamaConfig
    return LlamaConfig(**{k: v for k, v in json.loads(CONFIG.read_text()).items() if k != "architectures"})


def _key(text_sha, settings):
    raw = json.dumps({"config": json.loads(CONFIG.read_text()), "text": text_sha, "pretrain": settings,
                      "torch": torch.__version__.split("+")[0]}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def pretrain(text, settings, log=None):
    """A ``LlamaForCausalLM`` of ``CONFIG`` trained on byte windows of ``text`` (AdamW, 5% warm-up, cosine to 10%)."""
    from transformers import LlamaForCausalLM
    torch.manual_seed(settings["seed"])
    model = LlamaForCausalLM(config())
    data = np.frombuffer(text, dtype=np.uint8)
    rng = np.random.default_rng(settings["seed"])
    opt = torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=0.01)
    T, warm = settings["steps"], max(1, settings["steps"] // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: (t + 1) / warm if t < warm else 0.1 + 0.45 * (1 + math.cos(math.pi * (t - warm) / max(1, T - warm))))
    n = settings["context"]
    for t in range(T):
        starts = rng.integers(0, len(data) - n, settings["batch"])
        x = torch.from_numpy(np.stack([data[s:s + n] for s in starts]).astype(np.int64))
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if log and (t % 250 == 0 or t == T - 1):
            log(f"pretraining step {t + 1}/{T}: loss {loss.item():.3f} nats/byte")
    return model


def cached(key, cache=None):
    """The folder of the pretrained checkpoint whose cache key (``base_model(...).name``) is ``key``, if it is
    in the cache; None otherwise (without reading the pretraining text)."""
    from theory_bench.engine.cache_dir import cache_root
    folder = Path(cache or cache_root("finetune-base")) / key
    return folder if (folder / "config.json").exists() else None


def base_model(steps=None, cache=None, log=None):
    """The cached pretrained checkpoint's folder (made on first use: minutes on 2 cores)."""
    from theory_bench.engine.cache_dir import cache_root
    settings = dict(PRETRAIN, **({"steps": int(steps)} if steps else {}))
    text, sha = pretraining_text()
    folder = Path(cache or cache_root("finetune-base")) / _key(sha, settings)
    if (folder / "config.json").exists():
        return folder
    model = pretrain(text, settings, log)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer().save_pretrained(tmp)
        (tmp / "pretraining.json").write_text(json.dumps({"settings": settings, "text_sha256": sha,
                                                          "text_bytes": len(text)}, indent=1))
        os.replace(tmp, folder)
    except OSError:
        if (folder / "config.json").exists():        # another process finished first: theirs is the same
            shutil.rmtree(tmp, ignore_errors=True)
            return folder
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder
