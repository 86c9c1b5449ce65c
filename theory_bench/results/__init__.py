"""Where runs go: the resumable Parquet result store, parallel execution and the figures."""
