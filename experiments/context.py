"""What an experiment runs with: quick or full, seeds, processes, the result store, progress."""
from dataclasses import dataclass

from theory_bench.experiments.runs import run_many, run_seeds, seeds_for


@dataclass
class Context:
    quick: bool = False
    jobs: int | None = None
    store: object = None          # a theory_bench.results.store.ResultStore, or None (results in memory)
    compute: bool = True          # False: only read the store (``theory-bench plot``)
    seeds: int | None = None      # overrides every experiment's number of seeds
    progress: object = None       # a tqdm bar, updated once per finished run
    scheduler: str | None = None  # a Dask scheduler address or "dask-local"; None: local processes

    def n_seeds(self, default):
        return self.seeds or default

    def runs(self, s, n_seeds, fn=None):
        """Every seed's run of the configuration ``s`` (computed by ``fn(s, seed)``, default
        ``runs.run_one``), through the store."""
        return run_seeds(s, seeds_for(self.n_seeds(n_seeds)), self.jobs, self.store, self.compute, self.progress, fn,
                          self.scheduler)

    def runs_many(self, items, fn=None):
        """``[(s, n_seeds or seeds)]`` -> one stacked result per item, every missing run computed in one pool
        (``runs.run_many``). ``n_seeds`` (an int) means this context's seeds; a list is used as given."""
        items = [(s, seeds_for(self.n_seeds(n)) if isinstance(n, int) else n) for s, n in items]
        return run_many(items, self.jobs, self.store, self.compute, self.progress, fn, self.scheduler)
