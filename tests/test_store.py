"""The result store: atomic runs, resume after an interruption, clear errors on foreign files."""
import json

import numpy as np
import pandas as pd
import pytest

import theory_bench.experiments.runs as runs
from theory_bench.experiments.context import Context
from theory_bench.experiments.runs import spec
from theory_bench.results.store import MissingResults, ResultStore, StoreError

SPEC = spec("skewed_linear", "StoSignSGD", 500, problem_kw=dict(d=3), checkpoints=[10, 100, 500])


def timing_free(table):
    return table[~table.metric.isin(["wall_s", "compile_s"])].sort_values(["key", "seed", "metric", "t"]).reset_index(drop=True)


def test_put_get_round_trip(tmp_path):
    store = ResultStore(tmp_path, "exp")
    r = runs.run_one(SPEC, 0)
    store.put(SPEC, 0, r)
    back = store.get(SPEC, 0)
    np.testing.assert_array_equal(back["t"], r["t"])
    np.testing.assert_array_equal(back["regret"], r["regret"])
    assert back["wall_s"] == pytest.approx(r["wall_s"])
    table = store.table()
    assert set(table.columns) == {"experiment", "problem", "optimizer", "config", "key", "seed", "t", "metric", "value"}
    assert json.loads(table.config.iloc[0])["problem"] == "skewed_linear"


def test_vectors_round_trip_and_other_shapes_are_refused(tmp_path):
    """A precision run's per-coordinate vectors (final iterate, last move) come back whole, whatever
    their length against the checkpoints; a 2-d metric is an error, not a silent drop."""
    s = spec("skewed_linear", "StoSignSGD", 500, problem_kw=dict(d=7), checkpoints=[10, 100, 500],
             precision=dict(weights="bf16"))
    store = ResultStore(tmp_path, "exp")
    r = runs.run_one(s, 0)
    store.put(s, 0, r)
    back = store.get(s, 0)
    assert back["x_final"].shape == (7,) and back["last_move"].shape == (7,)
    np.testing.assert_array_equal(back["x_final"], r["x_final"])
    np.testing.assert_array_equal(back["t"], r["t"])
    with pytest.raises(ValueError, match="'bad' has shape"):
        store.put(s, 1, {**r, "bad": np.zeros((2, 2))})


def test_interrupted_sweep_resumes_to_the_same_table(tmp_path, monkeypatch):
    seeds = 6
    clean = ResultStore(tmp_path / "clean", "exp")
    Context(jobs=1, store=clean).runs(SPEC, seeds)

    real, calls = runs.run_one, []

    def dies_on_the_fourth(s, seed):
        calls.append(seed)
        if len(calls) == 4:
            raise KeyboardInterrupt("killed midway")
        return real(s, seed)

    broken = ResultStore(tmp_path / "broken", "exp")
    monkeypatch.setattr(runs, "run_one", dies_on_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        Context(jobs=1, store=broken).runs(SPEC, seeds)
    assert len(list((broken.dir / "runs").rglob("*.parquet"))) == 3        # the finished ones, whole
    monkeypatch.setattr(runs, "run_one", real)
    calls.clear()
    monkeypatch.setattr(runs, "run_one", lambda s, seed: calls.append(seed) or real(s, seed))
    Context(jobs=1, store=broken).runs(SPEC, seeds)
    assert len(calls) == 3                                                 # only the missing runs
    pd.testing.assert_frame_equal(timing_free(broken.table()), timing_free(clean.table()))


def test_no_temporary_files_are_left_and_stray_ones_are_ignored(tmp_path):
    store = ResultStore(tmp_path, "exp")
    Context(jobs=1, store=store).runs(SPEC, 2)
    files = list((tmp_path / "exp").rglob("*"))
    assert not [f for f in files if f.name.startswith(".")]
    key_dir = next((tmp_path / "exp" / "runs").iterdir())
    (key_dir / ".0.parquet.123.tmp").write_bytes(b"half a file")            # what a kill -9 leaves
    assert len(store.table().seed.unique()) == 2


def test_missing_results_say_how_to_compute_them(tmp_path):
    with pytest.raises(MissingResults, match=r"not in .*; run `theory-bench run exp` first"):
        Context(jobs=1, store=ResultStore(tmp_path, "exp"), compute=False).runs(SPEC, 2)
    with pytest.raises(MissingResults, match="run `theory-bench run exp` first"):
        ResultStore(tmp_path, "exp").table()


def test_corrupt_and_foreign_files_are_named(tmp_path):
    store = ResultStore(tmp_path, "exp")
    Context(jobs=1, store=store).runs(SPEC, 1)
    key_dir = next((tmp_path / "exp" / "runs").iterdir())
    run_file = next(key_dir.glob("*.parquet"))
    run_file.write_bytes(b"not parquet")
    with pytest.raises(StoreError, match=rf"{run_file.name} is not a readable theory-bench result"):
        store.table()
    run_file.unlink()
    (key_dir / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match=r"notes.txt is not a result file"):
        store.table()
    (key_dir / "notes.txt").unlink()
    pd.DataFrame({"a": [1]}).to_parquet(key_dir / "0.parquet")
    with pytest.raises(StoreError, match=r"0.parquet has columns \['a'\], not t, metric, value"):
        store.table()
    (key_dir / "0.parquet").unlink()
    (tmp_path / "exp" / "runs" / "stranger").mkdir()
    with pytest.raises(StoreError, match=r"stranger is not a run folder of theory-bench"):
        store.table()
