"""Fine-tuning (docs/finetune.md): extract_answer on hand-written cases, the data the suite makes, the
byte tokenizer, the answer-only loss, ``theory-bench finetune`` end to end on a tiny random Llama the
test builds and saves (every parameter and LoRA, through transformers' Trainer), and the experiment
on a subset (its quick form: ``-m slow``)."""
import json
import re

import pytest

from theory_bench.workloads.math_problems import generate, write_splits

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")

from theory_bench.cli import main  # noqa: E402
from theory_bench.torch.finetune import AnswerData, extract_answer, read_jsonl, score  # noqa: E402


@pytest.mark.parametrize("text, expected", [
    ("3 + 4 = 7. #### 7", "7"), ("#### 1,234", "1234"), ("so #### -5 apples", "-5"), ("#### 2.50", "2.50"),
    ("#### $18", "18"), ("first #### 3 then #### 4", "4"), ("####12", "12"), ("#### .5", ".5"),
    ("no marker 42", None), ("#### ", None), ("#### apples", None), ("", None), (None, None), ("# 5", None)])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_score_is_exact_match_of_the_final_number():
    records = [{"question": "q", "answer": "#### 42"}] * 4
    acc, preds = score(records, ["... #### 42", "#### 42.0", "#### 41", "42"])
    assert acc == 0.5 and [p["predicted"] for p in preds] == ["42", "42.0", "41", None]


def test_the_problems_are_worked_right_and_the_splits_disjoint(tmp_path):
    for p in generate(300, seed=5):
        work, final = p["answer"].split(" #### ")
        steps = re.findall(r"(\d+) ([-+*]) (\d+) = (\d+)\.", work)
        assert steps and all(eval(f"{a} {op} {b}") == int(c) for a, op, b, c in steps)
        assert int(steps[-1][3]) == int(final) == int(extract_answer(p["answer"])) >= 0
        start = int(re.match(r"\w+ has (\d+) ", p["question"]).group(1))
        assert int(steps[0][0]) in (start, int(steps[0][0])) and p["question"].endswith("have now?")
    assert generate(50, 1) == generate(50, 1) != generate(50, 2)
    about = write_splits(tmp_path, seed=0, sizes={"train": 60, "valid": 10, "test": 20})
    splits = {k: read_jsonl(tmp_path / f"{k}.jsonl") for k in ("train", "valid", "test")}
    qs = [{r["question"] for r in v} for v in splits.values()]
    assert [len(q) for q in qs] == [60, 10, 20] and not (qs[0] & qs[1] or qs[0] & qs[2] or qs[1] & qs[2])
    assert json.loads((tmp_path / "about.json").read_text()) == about and len(about["splits"]["test"]["sha256"]) == 64


@pytest.mark.parametrize("line, match", [("{not json", "is not JSON"), ('{"question": "q"}', "needs string fields"),
                                         ('{"question": "q", "answer": "7"}', "no final number after '####'")])
def test_a_bad_data_line_is_named(tmp_path, line, match):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"question": "q", "answer": "#### 1"}\n' + line + "\n")
    with pytest.raises(ValueError, match=f"bad.jsonl:2.*{match}|{match}"):
        read_jsonl(f)
    with pytest.raises(ValueError, match="no data file"):
        read_jsonl(tmp_path / "missing.jsonl")


def test_the_byte_tokenizer_round_trips_and_the_loss_is_on_the_answer_only():
    from theory_bench.workloads.base_model import tokenizer
    tok = tokenizer()
    text = "Ava has 12 apples. é\n\t{}"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert ids == list(text.encode()) and tok.decode(ids) == text
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (256, 257, 258)
    data = AnswerData([{"question": "Q?", "answer": "1 + 1 = 2. #### 2"}], tok)
    row = data[0]
    n_prompt = len("Question: Q?\nAnswer:")
    assert row["labels"][:n_prompt] == [-100] * n_prompt and row["labels"][n_prompt:] == row["input_ids"][n_prompt:]
    assert row["input_ids"][-1] == tok.eos_token_id


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A random 2-layer Llama with the byte tokenizer, saved as a user's checkpoint would be."""
    from theory_bench.workloads.base_model import tokenizer
    path = tmp_path_factory.mktemp("ckpt")
    config = transformers.LlamaConfig(vocab_size=259, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=320,
                                      bos_token_id=256, eos_token_id=257, pad_token_id=258, tie_word_embeddings=True)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(path)
    tokenizer().save_pretrained(path)
    data = tmp_path_factory.mktemp("data")
    write_splits(data, sizes={"train": 64, "valid": 8, "test": 8})
    return path, data


@pytest.mark.parametrize("extra", [[], ["--lora", "2"]], ids=["every-parameter", "lora"])
def test_the_command_fine_tunes_a_checkpoint_and_writes_metrics(tiny_checkpoint, tmp_path, extra, capsys):
    path, data = tiny_checkpoint
    out = tmp_path / "out"
    code = main(["finetune", "--model", str(path), "--data", str(data), "--optimizer", "AdamW", "--lr", "1e-2",
                 "--steps", "8", "--batch", "8", "--out", str(out), *extra])
    assert code == 0 and "accuracy" in capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    assert 0 <= m["accuracy"] <= 1 and m["test_problems"] == 8 and m["config"]["lora"] == (2 if extra else None)
    assert m["train_losses"][-1] < m["train_losses"][0]                  # the Trainer trained
    assert m["data"]["test_sha256"] and {"torch", "transformers", "peft"} <= set(m["versions"])
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 8
    before = transformers.LlamaForCausalLM.from_pretrained(path)
    assert sum(p.numel() for p in before.parameters()) > 0                # the user's checkpoint is left as it was


@pytest.mark.parametrize("argv, match", [
    (["--model", "nowhere"], "no checkpoint folder"), (["--data", "missing.jsonl"], "no data file"),
    (["--device", "cuda"], "torch.cuda.is_available"), (["--optimizer", "Adam"], None)])
def test_the_command_refuses_bad_input_by_name(tiny_checkpoint, argv, match, capsys):
    if argv[1] == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    path, data = tiny_checkpoint
    args = {"--model": str(path), "--data": str(data)}
    args.update(dict(zip(argv[::2], argv[1::2])))
    if match is None:                              # argparse's own refusal of a name not among the choices
        with pytest.raises(SystemExit) as err:
            main(["finetune", *sum(([k, v] for k, v in args.items()), [])])
        assert err.value.code == 2 and "invalid choice: 'Adam'" in capsys.readouterr().err
        return
    assert main(["finetune", "--steps", "1", *sum(([k, v] for k, v in args.items()), [])]) == 2
    assert match in capsys.readouterr().err


def test_the_base_model_is_pretrained_once_and_cached(tmp_path, monkeypatch):
    from theory_bench.workloads import base_model as B
    first = B.base_model(steps=2, cache=tmp_path)
    assert (first / "config.json").is_file() and json.loads((first / "pretraining.json").read_text())["settings"]["steps"] == 2
    monkeypatch.setattr(B, "pretrain", lambda *a, **k: pytest.fail("pretrained again"))
    assert B.base_model(steps=2, cache=tmp_path) == first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".partial-")]


def test_experiment_on_a_subset_end_to_end(tmp_path, monkeypatch):
    """AdamW and StoSignSGD, every parameter and LoRA, 2 seeds of a few steps: the table has every row
    with the paper's gap beside the measured one, the figure is written."""
    pytest.importorskip("pytorch_optimizer")
    pytest.importorskip("lion_pytorch")
    from theory_bench.experiments import finetune as F
    from theory_bench.experiments.pipeline import run_experiment
    monkeypatch.setenv("THEORY_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(F, "OPTIMIZERS", ("AdamW", "SignSGD", "StoSignSGD"))
    monkeypatch.setattr(F, "horizon", lambda quick: (2, 3, 2, 6, False))
    claims, paths = run_experiment("finetune", quick=True, jobs=None, out=tmp_path / "results",
                                   figures_dir=tmp_path / "figures", progress=False)
    assert claims == []
    table = (tmp_path / "figures" / "finetune_table.md").read_text().splitlines()
    rows = [r for r in table if r.startswith("| ") and "every parameter" in r or "LoRA, rank" in r]
    assert len(rows) == 6 and sum("+3 to +5" in r for r in rows) == 4
    assert (tmp_path / "figures" / "finetune.png").stat().st_size > 1000
