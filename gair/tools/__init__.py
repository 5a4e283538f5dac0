"""Tools around the pipeline: GPU pinning (:mod:`~gair.tools.gpu`, one free GPU per job
through lock files) and the benchmark (:mod:`gair.tools.bench`)."""
