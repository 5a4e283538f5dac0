"""Geometry: kappa over a dataset, 2-D PCA of logits, per-class selection, flatness (App. C.1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.decomposition import PCA
from torch import Tensor, nn

from gair.errors import ConfigError
from gair.paper import attacks
from gair.paper import geometry as paper_geometry

torch.set_num_threads(1)


def mlp(seed: int = 0, d: int = 6, c: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 10), nn.Tanh(), nn.Linear(10, c)).double()


def data(model: nn.Module, n: int = 20, d: int = 6, seed: int = 1) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, d), generator=g, dtype=torch.float64)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:3] = (y[:3] + 1) % 4
    return x, y


# --------------------------------------------------------------------------- kappa over a dataset
def test_kappa_of_hand_built_threshold_model() -> None:
    # Class 1 exactly when x > 0.5; alpha 0.1, eps 0.35, K 5, no random start: a y = 0 point at
    # x is correct on x, x + .1, ... while below .5 (see test_attacks for the same table).
    model = nn.Linear(1, 2).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[-1.0], [1.0]]))
        model.bias.copy_(torch.tensor([0.5, -0.5]))
    x = torch.tensor([[0.62], [0.47], [0.33], [0.22], [0.12], [0.71]], dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 0, 0, 1])
    kappa, logits = paper_geometry.kappa_of(
        model, x, y, eps=0.35, alpha=0.1, steps=5, random_start=False, batch_size=4
    )
    assert kappa.tolist() == [0, 1, 2, 3, 5, 3]
    torch.testing.assert_close(logits, torch.cat([0.5 - x, x - 0.5], 1).float())


def test_kappa_of_batches_like_one_batch() -> None:
    model = mlp()
    x, y = data(model)
    kw = {"eps": 0.3, "alpha": 0.08, "steps": 5}
    kappa, logits = paper_geometry.kappa_of(model, x, y, random_start=False, batch_size=7, **kw)
    _, whole = attacks.ga_pgd(model, x, y, random_start=False, **kw)
    assert kappa.tolist() == whole.tolist()
    torch.testing.assert_close(logits, model(x).detach().float())
    assert len(set(kappa.tolist())) >= 3


def test_kappa_of_reads_uint8_images_as_unit_floats() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    g = torch.Generator().manual_seed(2)
    raw = torch.randint(0, 256, (10, 3, 2, 2), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 3, (10,), generator=g)
    kw = {"eps": 8 / 255, "alpha": 2 / 255, "steps": 3, "random_start": False}
    k8, l8 = paper_geometry.kappa_of(model, raw, y, **kw)
    kf, lf = paper_geometry.kappa_of(model, raw.float() / 255, y, **kw)
    assert k8.tolist() == kf.tolist()
    torch.testing.assert_close(l8, lf)


# --------------------------------------------------------------------------- PCA
def test_pca_2d_matches_sklearn_up_to_sign() -> None:
    rng = np.random.default_rng(0)
    # Anisotropic data so the two leading components are well separated.
    values = rng.normal(size=(60, 10)) * np.linspace(5, 0.5, 10) + rng.normal(size=10)
    ours = paper_geometry.pca_2d(torch.tensor(values, dtype=torch.float32)).numpy()
    ref = PCA(n_components=2).fit_transform(values)
    assert ours.shape == (60, 2)
    for j in range(2):
        sign = np.sign(ours[:, j] @ ref[:, j])
        np.testing.assert_allclose(ours[:, j], sign * ref[:, j], rtol=1e-4, atol=1e-4)


def test_pca_2d_sign_is_deterministic_and_one_dimensional_data_is_padded() -> None:
    rng = np.random.default_rng(1)
    values = torch.tensor(rng.normal(size=(30, 5)))
    a, b = paper_geometry.pca_2d(values), paper_geometry.pca_2d(-values)
    # Negating the data flips the scores of the sign-fixed components, not the components.
    torch.testing.assert_close(a, -b)
    line = torch.tensor([[0.0], [1.0], [3.0]])
    out = paper_geometry.pca_2d(line)
    assert out.shape == (3, 2)
    assert out[:, 1].abs().max().item() == 0.0
    # One loading, made positive: the scores are the centred values themselves.
    torch.testing.assert_close(out[:, 0], torch.tensor([-4 / 3, -1 / 3, 5 / 3]).double())
    with pytest.raises(ConfigError, match="at least 2 points, got 1"):
        paper_geometry.pca_2d(torch.zeros(1, 4))


# --------------------------------------------------------------------------- selection
def test_select_per_class_draws_a_seeded_random_sample_of_each_class() -> None:
    # App. A: "for each class ... we randomly sample 1000 training datapoints".
    y = torch.arange(10).repeat_interleave(100)[
        torch.randperm(1000, generator=torch.Generator().manual_seed(3))
    ]
    got = paper_geometry.select_per_class(y, 20, seed=0)
    assert torch.bincount(y[got], minlength=10).tolist() == [20] * 10
    assert got.tolist() == sorted(set(got.tolist()))  # distinct, sorted
    assert torch.equal(got, paper_geometry.select_per_class(y, 20, seed=0))
    assert not torch.equal(got, paper_geometry.select_per_class(y, 20, seed=1))
    # not the first 20 of each class in dataset order (what the earlier code took)
    first = [i for c in range(10) for i in torch.nonzero(y == c).squeeze(1)[:20].tolist()]
    assert set(got.tolist()) != set(first)
    # the draws reach the whole class, not only its beginning: about half of each class's
    # points lie past its 50th member, and the sample follows (a binomial, 200 draws)
    rank = torch.empty(1000, dtype=torch.long)
    for c in range(10):
        members = torch.nonzero(y == c).squeeze(1)
        rank[members] = torch.arange(len(members))
    late = int((rank[got] >= 50).sum())
    assert 70 <= late <= 130
    # a class with fewer points than asked gives all of them
    small = torch.tensor([0, 0, 1, 1, 1])
    assert paper_geometry.select_per_class(small, 5).tolist() == [0, 1, 2, 3, 4]
    assert paper_geometry.select_per_class(small, 1, num_classes=3).shape == (2,)
    with pytest.raises(ConfigError, match="per_class = 0"):
        paper_geometry.select_per_class(y, 0)


# --------------------------------------------------------------------------- gradient norms
def test_gradient_norms_match_per_sample_autograd_and_finite_differences() -> None:
    model = mlp()
    x, y = data(model, n=8)
    got = paper_geometry.gradient_norms(model, x, y)
    loop = []
    for i in range(x.shape[0]):
        xi = x[i : i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(xi), y[i : i + 1]), xi)
        loop.append(g.norm().item())
    assert got.tolist() == pytest.approx(loop, rel=1e-5)
    # Central differences of the float64 loss of one sample.
    h = 1e-6
    grad = []
    with torch.no_grad():
        for j in range(x.shape[1]):
            e = torch.zeros_like(x[:1])
            e[0, j] = h
            up = F.cross_entropy(model(x[:1] + e), y[:1])
            down = F.cross_entropy(model(x[:1] - e), y[:1])
            grad.append(((up - down) / (2 * h)).item())
    assert got[0].item() == pytest.approx(float(np.linalg.norm(grad)), rel=1e-4)


def test_flatness_is_the_mean_gradient_norm_at_friendly_and_pgd_points() -> None:
    model = mlp()
    x, y = data(model, n=10)
    eps, alpha, steps = 0.3, 0.08, 4
    torch.manual_seed(123)
    friendly, adversarial = paper_geometry.flatness(
        model, x, y, eps=eps, alpha=alpha, steps=steps, batch_size=4
    )
    # The same random starts, in the same order: per batch, early-stopped PGD then PGD.
    torch.manual_seed(123)
    fr, adv = [], []
    for s in range(0, 10, 4):
        xb, yb = x[s : s + 4], y[s : s + 4]
        x_fr, _ = attacks.early_stopped_pgd(model, xb, yb, eps=eps, alpha=alpha, steps=steps, tau=0)
        x_adv = attacks.pgd(model, xb, yb, eps=eps, alpha=alpha, steps=steps)
        fr.append(paper_geometry.gradient_norms(model, x_fr, yb))
        adv.append(paper_geometry.gradient_norms(model, x_adv, yb))
    assert friendly.dim() == 0 and adversarial.dim() == 0
    assert friendly.item() == pytest.approx(torch.cat(fr).mean().item(), rel=1e-6)
    assert adversarial.item() == pytest.approx(torch.cat(adv).mean().item(), rel=1e-6)
    assert friendly.item() != pytest.approx(adversarial.item(), rel=1e-3)
