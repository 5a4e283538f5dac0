"""The report layer: figures and tables from Parquet files and a manifest, never a checkpoint.

One home for each thing every report does:

- :mod:`~gair.report.manifest`: the one type between the plan and the report;
- :mod:`~gair.report.catalogue`: every figure, table and budget, declared beside its code
  with the run groups it needs (read without importing it);
- :mod:`~gair.report.read`: evaluation files (accuracies in **percent** from there on),
  metrics, geometry files, the note of what was trained and where it was computed;
- :mod:`~gair.report.stats`: statistics over seeds (median, std with ddof 1, count);
- :mod:`~gair.report.text` and :mod:`~gair.report.write`: numbers and tables as text, and
  every file written atomically;
- the renderers: :mod:`~gair.report.tables` (Tables 1-3, the trade-off),
  :mod:`~gair.report.audit`, :mod:`~gair.report.masking` (the gradient-masking checks),
  :mod:`~gair.report.published`, :mod:`~gair.report.budget`, and
  :mod:`gair.report.figures` (one module per family of figures);
- :mod:`~gair.report.commands`: ``python -m gair figure|table|budget NAME --manifest FILE
  --out PREFIX``.

Display names come from their catalogues: attacks from :mod:`gair.evaluation.registry`,
methods from :mod:`gair.methods`, models and datasets from the titles a run records in its
metrics. Nothing here imports torch.
"""
