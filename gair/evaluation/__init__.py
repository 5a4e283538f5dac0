"""Evaluation: the named attacks a checkpoint is evaluated under, and the jobs that run them.

- :mod:`~gair.evaluation.registry`: every evaluation attack by name (pattern, title, cost,
  budget, runner path), torch-free: the plan, tables and figures read it;
- :mod:`~gair.evaluation.kernels`: the runners, and a whole evaluation with the worst case;
- :mod:`~gair.evaluation.autoattack`: AutoAttack through its authors' package;
- :mod:`~gair.evaluation.evaluate` and :mod:`~gair.evaluation.geometry`: the ``evaluate`` and
  ``geometry`` commands, a checkpoint in, Parquet out;
- :mod:`~gair.evaluation.zoo` (torch-free) and :mod:`~gair.evaluation.published`: released
  checkpoints as config entries, loaded, evaluated and exported.
"""
