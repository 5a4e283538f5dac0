"""``python -m gair bench``: throughput of the training step, the attack and PGD-20 evaluation.

On random data of a given shape, for one model, method, batch size and device, this measures
images/s of

- the full training step (the method's attack in eval mode, its loss in train mode, one SGD
  step, the device-side epoch statistics), exactly as :mod:`gair.train.loop` runs it;
- the attack alone;
- PGD-20 evaluation (``gair.paper.robustness.pgd_correct``);
- early-stopped PGD-K-tau (Algorithm 3) masked and compacted, with a check that both give the
  same points and kappa;

and FLOPs per image (``torch.utils.flop_counter.FlopCounterMode``) of one forward pass and of
the training step, and on CUDA the fraction of the device's peak.

For GA-PGD methods (Algorithm 1: ``at``, ``gairat``, ``mart`` and its variants) the same step
is also run the straightforward way, in the same process and interleaved with ours so that
background load hits both alike: kappa counted by a Python loop over the batch (one host read
per element per step), the attack's backward pass through the whole graph (parameter gradients
included), a host-side random start, fp32 eager, and the loss read back once per batch. The
ratio ours/reference is printed, and both attacks are run from the same random start on the
same input to check that their kappa is identical.

Timing uses CUDA events on a GPU and ``time.perf_counter`` otherwise; warm-up iterations are
excluded and the median of the timed repeats is reported.

One :class:`~gair.tools.bench.config.BenchConfig` says what to measure; ``measurements.py``
holds one function per measurement, ``reference.py`` the straightforward step, ``timing.py``
the clocks, ``flops.py`` the FLOP counter and the devices' peaks, ``summary.py`` the printed
table and ``cli.py`` the command.
"""
