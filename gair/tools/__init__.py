"""Tools around the pipeline: GPU pinning (:mod:`~gair.tools.gpu`, one free GPU per job
through lock files), the benchmark (:mod:`gair.tools.bench`) and the prepared check of a GPU
node (:mod:`gair.tools.gpucheck`)."""
