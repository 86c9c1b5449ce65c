"""The result store: one tidy Parquet file per (configuration, seed), written atomically.

Layout under the results folder (default ``results/``)::

    <experiment>/runs/<config-key>/<seed-id>.parquet   one run: columns t, metric, value
                                                        (t = -1: a scalar; t = -2: a vector's entries, in order)
    <experiment>/configs/<config-key>.json              the configuration of that key
    <experiment>/manifest.json                           the last invocation: config, versions, times

``<config-key>`` is a hash of the run's configuration (problem, optimizer, hyperparameters,
horizon, checkpoints), ``<seed-id>`` names the seed (``SeedSequence`` entropy and spawn key).
A run is written to a temporary file and renamed into place, so a killed sweep leaves no
half-written table, and a rerun skips every run whose file exists: an interrupted sweep resumes.
Each file carries a SHA-256 of its rows (t, metric, value) in its Parquet metadata, checked on
every read, so a truncated, bit-flipped or foreign file is a ``StoreError`` that names it, never
numbers read as results (files written before the checksum existed are read without one).
``table(experiment)`` gathers every run into one tidy DataFrame: experiment, problem,
optimizer, config (JSON), key, seed, t, metric, value.
"""
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from theory_bench.results import strict_json

SCALAR_T = -1          # the t of a per-run scalar (wall time, compile time)
VECTOR_T = -2          # the t of every entry of a per-run vector not over the checkpoints (the final iterate)


class StoreError(RuntimeError):
    """A file in the results folder that is not what the store wrote; the message names it."""


class MissingResults(LookupError):
    """Results asked for (to plot or check) that were never computed."""


def config_key(config):
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def seed_id(seed):
    if isinstance(seed, np.random.SeedSequence):
        return f"{seed.entropy}-{'.'.join(map(str, seed.spawn_key)) or 'root'}"
    return str(int(seed))


def _atomic_write_bytes(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def atomic_write_text(path, text):
    _atomic_write_bytes(Path(path), text.encode())


CHECKSUM = b"theory_bench_sha256"


def checksum(frame):
    """SHA-256 of a run's rows: the t column, the metric names and the values, in order."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(frame.t.to_numpy(), dtype=np.int64).tobytes())
    h.update("\0".join(map(str, frame.metric)).encode())
    h.update(np.ascontiguousarray(frame.value.to_numpy(), dtype=np.float64).tobytes())
    return h.hexdigest().encode()


def checked_parquet(frame):
    """``frame`` as Parquet bytes, with the checksum of its rows in the file's metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), CHECKSUM: checksum(frame)})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


class ResultStore:
    def __init__(self, root, experiment):
        self.root = Path(root)
        self.experiment = experiment
        self.dir = self.root / experiment

    def _path(self, config, seed):
        return self.dir / "runs" / config_key(config) / f"{seed_id(seed)}.parquet"

    def has(self, config, seed):
        return self._path(config, seed).exists()

    def put(self, config, seed, result):
        """Store one run: ``result`` maps metric -> array over ``result['t']`` (or a scalar)."""
        import pandas as pd
        t = np.asarray(result["t"])
        rows = []
        for metric, v in result.items():
            if metric == "t":
                continue
            v = np.asarray(v, dtype=np.float64)
            if v.ndim == 0:
                rows.append(pd.DataFrame({"t": [SCALAR_T], "metric": metric, "value": [float(v)]}))
            elif v.shape == t.shape:
                rows.append(pd.DataFrame({"t": t, "metric": metric, "value": v}))
            elif v.ndim == 1:
                rows.append(pd.DataFrame({"t": np.full(v.shape, VECTOR_T), "metric": metric, "value": v}))
            else:
                raise ValueError(f"metric {metric!r} has shape {v.shape}; the store keeps scalars and 1-d arrays: "
                                 "flatten it or store one metric per row")
        frame = pd.concat(rows, ignore_index=True)
        key = config_key(config)
        cfg = self.dir / "configs" / f"{key}.json"
        if not cfg.exists():
            atomic_write_text(cfg, json.dumps(config, sort_keys=True, indent=1))
        _atomic_write_bytes(self._path(config, seed), checked_parquet(frame))

    def get(self, config, seed):
        """One stored run back as ``{"t": ..., metric: array or scalar}``."""
        path = self._path(config, seed)
        if not path.exists():
            raise MissingResults(f"no stored run for seed {seed_id(seed)} of {config}")
        frame = self._read(path)
        out = {}
        series = frame[frame.t > SCALAR_T]
        if len(series):
            first = series.metric.iloc[0]
            out["t"] = series[series.metric == first].t.to_numpy()
        for metric, rows in frame.groupby("metric", sort=False):
            vals = rows.value.to_numpy()
            out[metric] = vals[0] if rows.t.iloc[0] == SCALAR_T else vals       # a series or a vector
        return out

    def _read(self, path):
        import pyarrow.parquet as pq
        try:
            table = pq.read_table(path)
            columns = table.column_names
            if columns == ["t", "metric", "value"]:
                frame = table.to_pandas()
                stored = (table.schema.metadata or {}).get(CHECKSUM)
                if stored is not None and stored != checksum(frame):
                    raise ValueError("its rows do not match the checksum written with them")
        except Exception as err:
            raise StoreError(f"{path} is not a readable theory-bench result ({type(err).__name__}: {err}); "
                             "delete it and rerun to recompute that run") from None
        if columns != ["t", "metric", "value"]:
            raise StoreError(f"{path} has columns {columns}, not t, metric, value; "
                             "it was not written by theory-bench: move it out of the results folder")
        return frame

    def table(self):
        """Every stored run of this experiment as one tidy DataFrame."""
        import pandas as pd
        frames = []
        runs = self.dir / "runs"
        if not runs.exists():
            raise MissingResults(f"no results for {self.experiment!r} under {self.root}; "
                                 f"run `theory-bench run {self.experiment}` first")
        for key_dir in sorted(runs.iterdir()):
            cfg_path = self.dir / "configs" / f"{key_dir.name}.json"
            if not key_dir.is_dir() or not cfg_path.exists():
                raise StoreError(f"{key_dir} is not a run folder of theory-bench (no {cfg_path.name}); "
                                 "move it out of the results folder")
            try:
                config = json.loads(cfg_path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise StoreError(f"{cfg_path} is not valid JSON ({err}); delete it and rerun") from None
            if config_key(config) != key_dir.name:
                raise StoreError(f"{cfg_path} does not hash to its key {key_dir.name} (it was changed or corrupted); "
                                 "delete it and rerun: the store writes it again with the next run")
            for f in sorted(key_dir.iterdir()):
                if f.name.startswith("."):
                    continue                  # a temporary file of a run that was killed
                if f.suffix != ".parquet":
                    raise StoreError(f"{f} is not a result file (expected <seed>.parquet); move it away")
                frame = self._read(f)
                frame.insert(0, "seed", f.stem)
                frame.insert(0, "key", key_dir.name)
                frame.insert(0, "config", json.dumps(config, sort_keys=True))
                frame.insert(0, "optimizer", config.get("optimizer"))
                frame.insert(0, "problem", config.get("problem", config.get("model")))
                frame.insert(0, "experiment", self.experiment)
                frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def write_manifest(self, manifest):
        atomic_write_text(self.dir / "manifest.json", strict_json.dumps(manifest, indent=1, sort_keys=True, default=str))
