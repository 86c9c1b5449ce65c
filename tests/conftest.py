import os

pytest_plugins = ["pytester"]

# Under pytest-xdist the cores are already busy with one test per worker: a sweep inside a test runs
# in its worker's own process (THEORY_BENCH_JOBS=1) instead of starting a pool of its own, which would
# only compete for the same cores and compile every loop once more in each pool process.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("THEORY_BENCH_JOBS", "1")
