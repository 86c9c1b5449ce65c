"""cache=True: a second process loads the compiled run loop from disk instead of compiling it."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, numpy as np
import theory_bench as tb
from theory_bench.engine.loop_cache import loop_for
from tests.oracles import hinge_sample, make_hinge
A, y = make_hinge()
opt = tb.optimizers.StoSignSGD(0.1)
tr = tb.minimize(hinge_sample, np.zeros(10), opt, 1000, args=(A, y))
loop, path = loop_for(hinge_sample, opt.kernel)  # theory_bench.bench.hinge_sample_grad
print(json.dumps({"path": path, "hits": sum(loop.stats.cache_hits.values()),
                  "misses": sum(loop.stats.cache_misses.values()), "x": tr.x.tolist()}))
"""


def run_fresh_process(cache_dir):
    env = dict(os.environ, THEORY_BENCH_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_hits_the_cache(tmp_path):
    first, second = run_fresh_process(tmp_path), run_fresh_process(tmp_path)
    assert first["path"] == second["path"] == "jit-cached"
    assert first["misses"] == 1 and first["hits"] == 0
    assert second["misses"] == 0 and second["hits"] == 1
    assert first["x"] == second["x"]
    generated = list((tmp_path / "loops").glob("tb_loop_*.py"))
    assert len(generated) == 1 and "from theory_bench.bench import hinge_sample_grad" in generated[0].read_text()
