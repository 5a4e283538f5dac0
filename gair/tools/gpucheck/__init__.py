"""``python -m gair gpucheck --out DIR``: the first minutes on a GPU node, in one command.

Does every path work here, how fast is it, and what will the paper cost? In this order:

1. **tests**: the CUDA tests (``pytest -m gpu``, tests/test_cuda.py) in a subprocess;
2. **bench**: ``gair bench`` (:mod:`gair.tools.bench`) for ResNet-18 and WRN-32-10, GAIRAT
   with PGD-10, in fp32, TF32, bf16 and bf16 + channels-last: images/s of the training step
   and its fraction of the device's dense peak (the bench's FLOP count and peak table);
3. **epoch**: one training epoch of Table 1's WRN-32-10 (its AT run of seed 0, as
   config/paper.yaml resolves it) through ``python -m gair train``, on CIFAR-10 files in the
   real on-disk format that the check writes itself (random pixels and labels, from
   tests/realformat.py: the time is real, the accuracy is not), stopped after the epoch; beside
   it the cost model's epoch (gair/plan/cost.py) and Table 1's cost at the measured rate;
4. **compile**: the bench rows bf16 + channels-last + torch.compile, each as
   ``python -m gair bench`` in a process of its own;
5. **preflight**: the preflight of ``table1`` (one seed) through Snakemake, where Snakemake
   and pyautoattack are importable.

Everything shares one time budget (``--budget-s``, 450 s by default, so that the check ends
within 8 minutes on an H100): a part that cannot fit in what is left is not started, and the
report says so. The report, DIR/gpucheck.md (and every number in DIR/gpucheck.json), is
rewritten atomically after each part, so a check that is stopped still leaves one.

``--shrink`` shrinks every size (models, batches, attack steps, files) so that the check runs
on the CPU in under two minutes; continuous integration runs it so. Its numbers say nothing
about any device. It leaves out torch.compile (about a minute of compiling on a 2-core CPU;
``pytest -m compile`` covers it).

The check needs the repository (its tests, config and workflow) and imports Snakemake,
pyautoattack and robustbench nowhere (its parts start them as processes), so it runs in an
environment without them; docs/performance.md says how they travel as wheels.

``sizes.py`` says what the check sizes (full and shrunk) and the bench's modes; ``check.py``
holds a check's state, its report files and its subprocesses; ``throughput.py`` the bench and
compile parts; ``parts.py`` the tests, epoch and preflight parts; ``report.py`` the Markdown
report; ``cli.py`` the command.
"""
