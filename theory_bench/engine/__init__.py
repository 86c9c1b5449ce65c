"""The engine: what runs one optimizer on one oracle for a whole horizon.

``minimize`` validates, seeds and calls the run loop (``run_loop``), compiled once per (oracle,
kernel) and cached on disk (``loop_cache``, ``codegen``, ``cache_dir``); ``counter_rng`` draws the
sign noise, ``seeding`` splits seeds, ``schedules`` gives ``eta_t``, ``checkpoints`` says where to
record, ``trace`` holds what was recorded, ``window`` is the in-loop stationarity measure.
``optimizer`` is the contract every optimizer of the suite fulfils and ``protocol`` runs a user's
own. Nothing here imports the rest of the package.
"""
