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


def test_one_compiled_loop_per_oracle_serves_every_kernel():
    """The kernel is the loop's argument (a first-class function): three optimizers on one oracle run
    one loop, compiled once, and give what the Python loop gives."""
    import numpy as np
    from numba.core import types

    import theory_bench as tb
    from theory_bench.engine.kernel_argument import KernelArgument
    from theory_bench.engine.loop_cache import loop_for
    from tests.oracles import noisy_quadratic
    opts = (tb.optimizers.SGD(0.1), tb.optimizers.StoSignSGD(0.1), tb.optimizers.Adam(0.1))
    loop = loop_for(noisy_quadratic, opts[0].kernel)[0]
    before = set(loop.dispatcher.signatures)        # other tests in this process may have run other types
    for opt in opts:
        fast = tb.minimize(noisy_quadratic, np.zeros(4), opt, 200, args=(0.5,), seed=1)
        slow = tb.minimize(noisy_quadratic.py_func, np.zeros(4), opt, 200, args=(0.5,), seed=1)
        assert fast.path == "jit-cached" and slow.path == "python"
        np.testing.assert_array_equal(fast.xs, slow.xs)
    assert {id(loop_for(noisy_quadratic, opt.kernel)[0]) for opt in opts} == {id(loop)}
    assert isinstance(loop, KernelArgument)
    new = set(loop.dispatcher.signatures) - before
    assert len(new) <= 1 and all(isinstance(sig[0], types.FunctionType) for sig in loop.dispatcher.signatures)


def test_an_oracle_whose_output_does_not_fit_the_kernel_signature_gets_a_loop_of_its_own():
    """A strided gradient cannot be passed through the one kernel signature (C-contiguous vectors):
    the loop is compiled for the kernel itself, and the run is still the Python loop's."""
    import numpy as np
    from numba.core import types

    import theory_bench as tb
    from theory_bench.engine.loop_cache import loop_for
    from tests.oracles import strided_sign
    opt = tb.optimizers.SignSGD(0.1)
    fast = tb.minimize(strided_sign, np.zeros(3), opt, 100, args=(np.zeros(6),))
    slow = tb.minimize(strided_sign.py_func, np.zeros(3), opt, 100, args=(np.zeros(6),))
    np.testing.assert_array_equal(fast.xs, slow.xs)
    np.testing.assert_allclose(fast.x, 0.3, atol=0.2)
    loop = loop_for(strided_sign, opt.kernel)[0]
    assert [type(sig[0]) for sig in loop.dispatcher.signatures] == [types.Dispatcher]
