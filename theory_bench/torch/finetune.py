"""Fine-tuning a causal LM on math word problems with transformers' ``Trainer`` and the suite's optimizers
(docs/finetune.md): what ``theory-bench finetune`` and the ``finetune`` experiment run.

- Data: GSM8K's JSONL format, one ``{"question": ..., "answer": "... #### 42"}`` per line
  (``read_jsonl``). ``extract_answer(text)`` is the number after the last ``####``, commas removed,
  or None. Accuracy is GSM8K's convention: the exact match of that number in the greedy generation
  against the reference's (``accuracy``).
- Prompt: ``"Question: {question}\\nAnswer:"``; the loss is on the answer tokens only (the prompt's
  labels are -100), the answer ends with the tokenizer's EOS.
- Training (``finetune``): ``transformers.Trainer`` with ``optimizers=(opt, scheduler)``: ``opt`` by
  name (``theory_bench.torch.named``: AdamW, SignSGD, Lion, StoSignSGD) over the trainable
  parameters, the scheduler ``get_cosine_schedule_with_warmup`` (5% warm-up, cosine to 0).
  ``lora=R`` wraps the model in peft's LoRA (rank R, alpha 2R, every linear layer of the blocks),
  else every parameter is trained.
- ``run(model, data, ...)``: a checkpoint folder (``from_pretrained``, weights and tokenizer) and a
  data folder (``train.jsonl``, ``test.jsonl``) or one file (its last 10% held out), and writes
  ``metrics.json`` (``accuracy`` in [0, 1], the configuration, the data's SHA-256 and package
  versions) and ``predictions.jsonl`` to ``out``.
Nothing here downloads: the model and tokenizer load from a local path.
"""
import hashlib
import json
import math
import re
import time
from pathlib import Path

import torch

from theory_bench.results.versions import package_versions

PROMPT = "Question: {question}\nAnswer:"
HOLDOUT = 0.1
WARMUP = 0.05
_ANSWER = re.compile(r"####\s*\$?\s*(-?[\d,]*\.?\d+)")


def extract_answer(text):
    """The final number after the last ``####`` in ``text`` (commas and a leading ``$`` removed, a
    trailing ``.0`` kept as written), as a string; None if there is none."""
    if not isinstance(text, str):
        return None
    found = _ANSWER.findall(text)
    if not found:
        return None
    number = found[-1].replace(",", "")
    return number if re.fullmatch(r"-?\d*\.?\d+", number) else None


def read_jsonl(path):
    """The problems of a JSONL file, each ``{"question": str, "answer": str}`` whose answer has a final
    number after ``####``; a bad line is named with its number and the fix."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no data file {str(path)!r}: give a JSONL file of {{\"question\", \"answer\"}} lines "
                         "(GSM8K's format) or a folder with train.jsonl and test.jsonl")
    out = []
    for k, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{k} is not JSON ({err.msg}); each line must be one JSON object") from None
        if not (isinstance(row, dict) and isinstance(row.get("question"), str) and isinstance(row.get("answer"), str)):
            raise ValueError(f"{path}:{k} needs string fields \"question\" and \"answer\", got {line[:80]!r}")
        if extract_answer(row["answer"]) is None:
            raise ValueError(f"{path}:{k}: the answer has no final number after '####' (GSM8K ends each answer "
                             f"with '#### 42'): {row['answer'][-60:]!r}")
        out.append({"question": row["question"], "answer": row["answer"]})
    if not out:
        raise ValueError(f"{path} holds no problems")
    return out


def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class AnswerData(torch.utils.data.Dataset):
    """Prompt + answer + EOS as token ids, labels -100 on the prompt (the loss is on the answer only)."""

    def __init__(self, records, tokenizer, max_length=320):
        self.rows = []
        for r in records:
            prompt = tokenizer(PROMPT.format(question=r["question"]), add_special_tokens=False)["input_ids"]
            answer = tokenizer(" " + r["answer"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            ids = (prompt + answer)[:max_length]
            labels = ([-100] * len(prompt) + answer)[:max_length]
            self.rows.append((ids, labels))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        ids, labels = self.rows[i]
        return {"input_ids": ids, "labels": labels}


class Collate:
    """Right-padding to the longest row of the batch (labels padded with -100)."""

    def __init__(self, pad_id):
        self.pad_id = pad_id

    def __call__(self, rows):
        n = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), n), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), n), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        for k, r in enumerate(rows):
            m = len(r["input_ids"])
            ids[k, :m], labels[k, :m], mask[k, :m] = torch.tensor(r["input_ids"]), torch.tensor(r["labels"]), 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


@torch.no_grad()
def generate_answers(model, tokenizer, records, batch=64, max_new_tokens=64):
    """The greedy completions of each record's prompt (left-padded batches, stopped at EOS)."""
    model.eval()
    device = next(model.parameters()).device
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    out = []
    try:
        for k in range(0, len(records), batch):
            prompts = [PROMPT.format(question=r["question"]) for r in records[k:k + batch]]
            enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
            out += tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    model.train()
    return out


def accuracy(model, tokenizer, records, batch=64, max_new_tokens=64):
    """``(accuracy, predictions)``: the share of records whose greedy answer's final number equals the
    reference's (GSM8K's exact match, as numbers: 42 and 42.0 match), and each record's generation and
    extracted number."""
    return score(records, generate_answers(model, tokenizer, records, batch, max_new_tokens))


def score(records, texts):
    """``(accuracy, predictions)`` of generated ``texts`` against the records' reference answers."""
    preds = [{"question": r["question"], "reference": extract_answer(r["answer"]), "generated": t,
              "predicted": extract_answer(t)} for r, t in zip(records, texts)]
    correct = sum(p["predicted"] is not None and float(p["predicted"]) == float(p["reference"]) for p in preds)
    return correct / len(records), preds


def with_lora(model, rank):
    """``model`` wrapped in peft's LoRA of ``rank`` (alpha 2 rank, no dropout) on every linear layer of the
    blocks (peft's ``"all-linear"``: the output head is left out); only the adapters train."""
    from peft import LoraConfig, get_peft_model
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"lora rank must be an int >= 1, got {rank!r}")
    return get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules="all-linear",
                                            task_type="CAUSAL_LM"))


def finetune(model, tokenizer, train_records, optimizer="StoSignSGD", lr=1e-3, steps=300, batch=16, lora=None, seed=0,
             device="cpu", output_dir=None, max_length=320):
    """Train ``model`` on ``train_records`` with transformers' ``Trainer``; return ``(model, log)``: the
    (LoRA-wrapped) model and the training losses. ``model`` is changed in place."""
    import tempfile

    import transformers
    from transformers import get_cosine_schedule_with_warmup

    from theory_bench.torch.device_check import check_device
    from theory_bench.torch.named import make
    device = check_device(device)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    torch.manual_seed(seed)
    if lora:
        model = with_lora(model, lora)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make(optimizer, params, lr, seed)
    sched = get_cosine_schedule_with_warmup(opt, max(1, int(WARMUP * steps)), steps)
    with tempfile.TemporaryDirectory() as tmp:
        args = transformers.TrainingArguments(
            output_dir=str(output_dir or tmp), max_steps=steps, per_device_train_batch_size=batch,
            save_strategy="no", report_to="none", use_cpu=torch.device(device).type == "cpu", seed=seed,
            data_seed=seed, logging_steps=max(1, steps // 20), disable_tqdm=True, dataloader_num_workers=0,
            remove_unused_columns=False)
        trainer = transformers.Trainer(model=model, args=args, train_dataset=AnswerData(train_records, tokenizer, max_length),
                                       data_collator=Collate(tokenizer.pad_token_id), optimizers=(opt, sched))
        trainer.remove_callback(transformers.trainer_callback.PrinterCallback)     # the losses are returned, not printed
        trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return model, losses


def split_data(data):
    """``(train records, test records, description)`` from a folder (train.jsonl, test.jsonl) or one file
    whose last ``HOLDOUT`` share is held out for the test."""
    data = Path(data)
    if data.is_dir():
        train, test = data / "train.jsonl", data / "test.jsonl"
        if not train.is_file() or not test.is_file():
            raise ValueError(f"the data folder {str(data)!r} needs train.jsonl and test.jsonl (GSM8K's layout)")
        return read_jsonl(train), read_jsonl(test), {"train": str(train), "train_sha256": sha256_of(train),
                                                    "test": str(test), "test_sha256": sha256_of(test)}
    rows = read_jsonl(data)
    cut = len(rows) - max(1, int(HOLDOUT * len(rows)))
    if cut < 1:
        raise ValueError(f"{data} holds {len(rows)} problem(s): too few to hold out a test share; give a folder "
                         "with train.jsonl and test.jsonl")
    return rows[:cut], rows[cut:], {"file": str(data), "sha256": sha256_of(data),
                                    "split": f"the last {len(rows) - cut} problems held out for the test"}


def versions():
    """The versions of the packages a fine-tuning run depends on (those installed)."""
    names = ("torch", "transformers", "accelerate", "peft", "theory-bench", "lion-pytorch", "pytorch_optimizer")
    return {k: v for k, v in package_versions(names).items() if v is not None}


def run(model, data, optimizer="StoSignSGD", lr=1e-3, steps=300, lora=None, device="cpu", out="finetune", batch=16,
        seed=0, limit=None):
    """Fine-tune the checkpoint at ``model`` on ``data`` and write ``out/metrics.json`` and
    ``out/predictions.jsonl``; return the metrics. ``limit``: test on the first ``limit`` problems only."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from theory_bench.results.store import atomic_write_text
    t0 = time.perf_counter()
    path = Path(model)
    if not (path / "config.json").is_file():
        raise ValueError(f"--model {str(path)!r} is no checkpoint folder (no config.json): give a folder written by "
                         "save_pretrained, weights and tokenizer (nothing is downloaded)")
    train, test, about = split_data(data)
    if limit:
        test = test[:limit]
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    lm = AutoModelForCausalLM.from_pretrained(path)
    lm, losses = finetune(lm, tok, train, optimizer, lr, steps, batch, lora, seed, device)
    acc, preds = accuracy(lm, tok, test)
    metrics = {"accuracy": acc, "correct": round(acc * len(test)), "test_problems": len(test),
               "final_train_loss": losses[-1] if losses else None, "train_losses": losses,
               "config": {"model": str(path), "optimizer": optimizer, "lr": lr, "steps": steps, "lora": lora,
                          "batch": batch, "seed": seed, "device": str(device), "schedule": "5% warm-up, cosine to 0"},
               "data": about, "versions": versions(), "wall_s": time.perf_counter() - t0}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "predictions.jsonl", "".join(json.dumps(p) + "\n" for p in preds))
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    return metrics
