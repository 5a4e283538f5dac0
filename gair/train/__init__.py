"""Training: one run from its spec to its folder (metrics, checkpoints), resumable.

- :mod:`~gair.train.loop`: the loop, one readable file (EpochStats, train_step, Run);
- :mod:`~gair.train.build`: a spec turned into live objects (device, data, model) and a
  checkpoint back into them;
- :mod:`~gair.train.checkpoint`: checkpoints written atomically and read so that they cannot
  run code; :mod:`~gair.train.optim`: the SGD step;
- :mod:`~gair.train.preflight`: a few real steps of a run, timed, and the hours they project;
- :mod:`~gair.train.cli`: ``python -m gair train``.
"""
