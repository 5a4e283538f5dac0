"""The paper's mathematics: attacks, instance weights, losses, geometry and robustness.

Zhang, Zhu, Niu, Han, Sugiyama and Kankanhalli, *Geometry-aware Instance-reweighted
Adversarial Training*, ICLR 2021. Every numbered equation and algorithm of the paper, and the
function that computes it (tests/test_architecture.py checks that each exists and that its
docstring names its equation or algorithm):

    (function names relative to gair.paper)

    Eq. 1        AT's objective: mean adversarial loss    losses.weighted_ce
    Eq. 2        the most adversarial point (PGD-K)       attacks.pgd
    Eq. 3        FAT's friendly adversarial point         attacks.early_stopped_pgd
    Eq. 4        one PGD step, projected onto the ball    attacks.ga_pgd
    Eq. 5        GAIRAT's reweighted objective            losses.weighted_ce
    Eq. 6        the tanh weight omega(kappa)             weights.gair_weights
    Eq. 7        the linear weight                        weights.gair_weights
    Eq. 8        the sigmoid weight                       weights.gair_weights
    Eq. 9        MART                                     losses.mart_loss
    Eq. 10       GAIR-MART, omega on the margin's CE      losses.mart_loss
    Eq. 11       MART with omega on the KL term           losses.mart_loss
    Eq. 12       TRADES                                   losses.trades_loss
    Eq. 13       GAIR-RST                                 losses.gair_rst_loss
    Algorithm 1  GA-PGD, the adversarial point and kappa  attacks.ga_pgd
    Algorithm 2  GAIRAT's normalised weights              weights.instance_weights
    Algorithm 3  early-stopped PGD-K-tau with kappa       attacks.early_stopped_pgd
    Algorithm 4  geometry-aware PGD for TRADES            attacks.trades_pgd
    Algorithm 5  GAIR-TRADES                              losses.trades_loss

Besides the numbered ones, the appendices' measurements: flatness (App. C.1,
:func:`gair.paper.geometry.flatness`), the 2-D PCA of logits coloured by kappa (Figs. 3, 7, 8,
:func:`gair.paper.geometry.pca_2d`), PGD-20 and PGD+ test accuracy (App. C.3 and C.8,
:mod:`gair.paper.robustness`).

A training method (:mod:`gair.methods`) composes these: its attack is one of the attacks
above, its loss one of the losses with the weights above; nothing here knows a method.
Every function takes and returns tensors on the caller's device and reads nothing back to
the host; :mod:`gair.paper.weights` also takes numpy arrays (figures draw omega without
torch).
"""
