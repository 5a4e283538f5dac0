"""``python -m gair bench``: the reference agrees with our attack, the JSON is complete, and
FLOP counts match hand-computed values. No assertion here depends on a measured time."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from gair.cli import main
from gair.errors import ConfigError
from gair.paper import attacks
from gair.tools.bench.cli import parse, to_argv
from gair.tools.bench.config import BenchConfig, parse_shape
from gair.tools.bench.flops import count_flops, peak_tflops
from gair.tools.bench.reference import reference_ga_pgd
from gair.tools.bench.timing import time_interleaved

# The bench's MLP as TINY builds it: 2 inputs, 2 hidden layers of 16, 10 classes.
MLP_LAYERS = [(2, 16), (16, 16), (16, 10)]
TINY = ["--model", "mlp", "--depth", "2", "--width", "16", "--dataset-shape", "2",
        "--batch-size", "8", "--steps", "2", "--threads", "1"]  # fmt: skip


@pytest.mark.parametrize("seed", [0, 2])
def test_reference_kappa_equals_ours(seed: int) -> None:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 3)).eval()
    with torch.no_grad():  # steep hidden units whose kinks pass through points of [0, 1]^2
        model[0].weight.normal_(0.0, 8.0)
        model[0].bias.copy_(-(model[0].weight * torch.rand(32, 2)).sum(1))
    x = torch.rand(64, 2)
    with torch.no_grad():
        y = model(x).argmax(1)  # every point starts correct: kappa spreads over [0, K]
    budget = {"eps": 0.3, "alpha": 0.1, "steps": 6}
    x_ours, k_ours = attacks.ga_pgd(
        model, x, y, generator=torch.Generator().manual_seed(seed), **budget
    )
    start = attacks.random_start(x, budget["eps"], torch.Generator().manual_seed(seed))
    x_ref, k_ref = reference_ga_pgd(model, x, y, start=start, **budget)
    assert torch.equal(k_ours, k_ref.long())
    assert torch.equal(x_ours, x_ref)
    # The comparison means something only if kappa is not constant.
    assert k_ours.unique().numel() > 3
    assert int(k_ours.min()) >= 0 and int(k_ours.max()) <= budget["steps"]


def test_reference_kappa_counts_start_but_not_last_iterate() -> None:
    # A model that is always right: kappa = K (x^0 .. x^(K-1) checked, x^K never).
    class AlwaysFirst(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            first = (x.sum(1) * self.w)[:, None] * 0 + 1
            return torch.cat([first, torch.zeros_like(first)], 1)

    x = torch.rand(5, 3)
    _, kappa = reference_ga_pgd(AlwaysFirst(), x, torch.zeros(5, dtype=torch.long), eps=0.1,
                                alpha=0.05, steps=4)  # fmt: skip
    assert kappa.tolist() == [4.0] * 5
    _, kappa = reference_ga_pgd(AlwaysFirst(), x, torch.ones(5, dtype=torch.long), eps=0.1,
                                alpha=0.05, steps=4)  # fmt: skip
    assert kappa.tolist() == [0.0] * 5


@pytest.mark.parametrize(("a", "b", "n"), [(7, 3, 1), (16, 5, 4)])
def test_linear_flops(a: int, b: int, n: int) -> None:
    layer = nn.Linear(a, b)
    x = torch.rand(n, a)
    with torch.no_grad():
        assert count_flops(lambda: layer(x)) == 2 * a * b * n


def test_conv_flops_and_input_gradient_flops() -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    x = torch.rand(2, 3, 6, 6, requires_grad=True)
    per_pass = 2 * 3 * 8 * 9 * 6 * 6 * 2
    with torch.no_grad():
        assert count_flops(lambda: conv(x)) == per_pass
    # Forward + the input gradient alone (what our attack takes) is two passes; torch.autograd.grad
    # under the counter is the case that fails with the stock module tracker.
    assert count_flops(lambda: torch.autograd.grad(conv(x).sum(), x)) == 2 * per_pass


def test_bench_json_has_expected_keys_and_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--json", "--iters", "1", "--warmup", "0", *TINY]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("config", "timing", "train_step", "attack", "pgd20_eval", "early_stopped_pgd",
                "kappa_check", "flops", "peak"):  # fmt: skip
        assert key in result
    for section in ("train_step", "attack"):
        assert result[section]["images_per_s"] > 0
        assert result[section]["reference_images_per_s"] > 0
        assert result[section]["speedup"] > 0
    assert result["pgd20_eval"]["images_per_s"] > 0
    early = result["early_stopped_pgd"]
    assert early["masked"]["images_per_s"] > 0 and early["compact"]["images_per_s"] > 0
    assert early["identical"] is True
    assert result["kappa_check"]["identical_kappa"] is True
    assert result["config"]["model"] == "mlp" and result["config"]["batch_size"] == 8
    assert result["config"]["depth"] == 2 and result["config"]["width"] == 16
    assert result["timing"]["clock"] == "perf_counter"
    assert result["peak"]["fraction_of_peak"] == "unknown"  # no GPU peak for a CPU
    # Hand count for the MLP (per image): F = one forward = sum of 2 * in * out.
    fwd = sum(2 * a * b for a, b in MLP_LAYERS)
    first = 2 * MLP_LAYERS[0][0] * MLP_LAYERS[0][1]
    k = 2
    flops = result["flops"]
    assert flops["forward_per_image"] == fwd
    # Ours: K x (forward + input gradient), then forward + weight gradients + input gradients
    # of every layer but the first (the training input needs none).
    assert flops["train_step_per_image"] == 2 * k * fwd + 3 * fwd - first
    # Reference: its attack backward also fills the weight gradients (3 passes per step).
    assert flops["reference_train_step_per_image"] == 3 * k * fwd + 3 * fwd - first


def test_bench_text_report_and_non_gapgd_method(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--method", "fat", "--iters", "1", "--warmup", "0", *TINY]) == 0
    out = capsys.readouterr().out
    assert "identical kappa: n/a" in out
    assert "early-stopped PGD-2-0" in out and "identical results: yes" in out


def test_time_interleaved_drops_warmup() -> None:
    calls = {"a": 0, "b": 0}

    def bump(name: str) -> None:
        calls[name] += 1

    times = time_interleaved(
        {"a": lambda: bump("a"), "b": lambda: bump("b")}, torch.device("cpu"), iters=3, warmup=2
    )
    assert calls == {"a": 5, "b": 5}
    assert len(times["a"]) == 3 and len(times["b"]) == 3
    assert all(t >= 0 for t in times["a"] + times["b"])


def test_peak_table_lookup() -> None:
    assert peak_tflops("NVIDIA H100 80GB HBM3")["bf16"] == pytest.approx(989.4)
    assert peak_tflops("NVIDIA H100 PCIe")["label"] == "H100 PCIe"
    assert peak_tflops("NVIDIA H200")["fp32"] == pytest.approx(66.9)
    assert peak_tflops("NVIDIA A100-SXM4-80GB")["label"] == "A100"
    assert peak_tflops("NVIDIA A10")["label"] == "A10"
    assert peak_tflops("NVIDIA GeForce GTX 1080") is None


def test_bad_input_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="3x32"):
        parse_shape("3x32")
    with pytest.raises(ConfigError, match="square"):
        parse_shape("3x32x16")
    assert parse_shape("1x28x28") == (1, 28, 28)
    assert main(["bench", "--model", "nope", *TINY[2:]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "nope" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "config",
    [
        BenchConfig(),
        BenchConfig(model="wrn", depth=32, width=10, batch_size=128, device="cuda", amp="bf16",
                    channels_last=True, compile=True, cudnn_benchmark=True, tau=10, iters=3,
                    warmup=0, threads=2, seed=5, classes=100, shape=(3, 8, 8)),
        BenchConfig(model="mlp", method="at", shape=(2,), classes=2, steps=3),
    ],
)  # fmt: skip
def test_a_config_written_as_flags_parses_back_to_itself(config: BenchConfig) -> None:
    """What a benchmark in its own process runs (the GPU check's compiled rows) is the config
    it was given: every setting written as a flag, and only the settings."""
    assert parse(to_argv(config)) == (config, False)
    assert parse([*to_argv(config), "--json"]) == (config, True)
