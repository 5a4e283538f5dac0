"""Tests for gair.models: shapes, parameter counts, gradients, layouts, errors."""

from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gair.errors import ConfigError
from gair.models import MODELS, build_model, count_parameters, model_info, model_names, model_title
from gair.models.resnet import PreActResNet
from gair.models.wrn import wrn_blocks_per_stage


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    # The test machine is small and shared; one thread keeps timings predictable.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# Small shapes of every model, so that tests which need many forward/backward passes stay fast.
SMALL: dict[str, dict[str, int]] = {
    "smallcnn": {},
    "resnet18": {"width": 8},
    "resnet34": {"width": 8},
    "resnet50": {"width": 8},
    "preactresnet18": {"width": 8},
    "wrn": {"depth": 10, "width": 1},
    "vgg13": {"width": 8},
    "mlp": {},
}


def _input(name: str, n: int, channels: int, size: int) -> torch.Tensor:
    if name == "mlp":
        return torch.rand(n, channels)
    return torch.rand(n, channels, size, size)


# ----------------------------------------------------------------------------------------------
# Parameter counts derived by hand from the layer shapes.


def conv(cin: int, cout: int, k: int, bias: bool = False) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def bn(c: int) -> int:
    return 2 * c  # weight and bias; running statistics are buffers


def lin(i: int, o: int) -> int:
    return i * o + o


def resnet_count(blocks: list[int], bottleneck: bool, cin: int = 3, classes: int = 10) -> int:
    total = conv(cin, 64, 3) + bn(64)
    inp = 64
    for stage, n in enumerate(blocks):
        p = 64 * 2**stage
        out = 4 * p if bottleneck else p
        for j in range(n):
            stride = 2 if stage > 0 and j == 0 else 1
            if bottleneck:
                total += conv(inp, p, 1) + bn(p) + conv(p, p, 3) + bn(p) + conv(p, out, 1) + bn(out)
            else:
                total += conv(inp, p, 3) + bn(p) + conv(p, p, 3) + bn(p)
            if stride != 1 or inp != out:
                total += conv(inp, out, 1) + bn(out)
            inp = out
    return total + lin(inp, classes)


def preact18_count(classes: int = 10) -> int:
    total = conv(3, 64, 3)
    inp = 64
    for stage in range(4):
        p = 64 * 2**stage
        for j in range(2):
            total += bn(inp) + conv(inp, p, 3) + bn(p) + conv(p, p, 3)
            if stage > 0 and j == 0:
                total += conv(inp, p, 1)
            inp = p
    return total + lin(512, classes)


def wrn_count(n: int, k: int, cin: int = 3, classes: int = 10) -> int:
    ch = [16, 16 * k, 32 * k, 64 * k]
    total = conv(cin, 16, 3)
    for s in range(3):
        a, b = ch[s], ch[s + 1]
        total += bn(a) + conv(a, b, 3) + bn(b) + conv(b, b, 3)
        if a != b:
            total += conv(a, b, 1)
        total += (n - 1) * (2 * bn(b) + 2 * conv(b, b, 3))
    return total + bn(ch[3]) + lin(ch[3], classes)


def smallcnn_count(cin: int = 3, classes: int = 10, side: int = 4) -> int:
    pairs = [(cin, 64), (64, 64), (64, 128), (128, 128), (128, 196), (196, 196)]
    total = sum(conv(i, o, 3, bias=True) + bn(o) for i, o in pairs)
    return total + lin(196 * side * side, 256) + lin(256, classes)


def vgg13_count(cin: int = 3, classes: int = 10) -> int:
    chans = [64, 64, 128, 128, 256, 256, 512, 512, 512, 512]
    total, c = 0, cin
    for o in chans:
        total += conv(c, o, 3, bias=True) + bn(o)
        c = o
    return total + lin(512, classes)


def test_hand_counts_match_published_values() -> None:
    # Published counts for the CIFAR networks; checks the hand formulas themselves.
    assert resnet_count([2, 2, 2, 2], False) == 11_173_962
    assert preact18_count() == 11_171_146
    assert wrn_count(5, 10) == 46_160_474
    assert wrn_count(4, 10) == 36_479_194  # WRN-28-10


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("resnet18", resnet_count([2, 2, 2, 2], False)),
        ("resnet34", resnet_count([3, 4, 6, 3], False)),
        ("resnet50", resnet_count([3, 4, 6, 3], True)),
        ("preactresnet18", preact18_count()),
        ("vgg13", vgg13_count()),
        ("smallcnn", smallcnn_count()),
        ("mlp", lin(2, 64) + 2 * lin(64, 64) + lin(64, 10)),
    ],
)
def test_parameter_counts(name: str, expected: int) -> None:
    model = build_model(name, in_channels=2 if name == "mlp" else 3)
    assert count_parameters(model) == expected


def test_resnet18_count_is_the_published_one() -> None:
    assert count_parameters(build_model("resnet18")) == 11_173_962
    assert count_parameters(build_model("preactresnet18")) == 11_171_146


def test_preact_final_bn_adds_one_batchnorm() -> None:
    assert count_parameters(PreActResNet(final_bn=True)) == preact18_count() + bn(512)


def test_counts_follow_in_channels_classes_and_input_size() -> None:
    assert count_parameters(build_model("resnet18", in_channels=1, num_classes=100)) == (
        resnet_count([2, 2, 2, 2], False, cin=1, classes=100)
    )
    small = build_model("smallcnn", in_channels=1, num_classes=7, input_size=8)
    assert count_parameters(small) == smallcnn_count(cin=1, classes=7, side=1)
    mnist = build_model("smallcnn", in_channels=1, input_size=28)
    assert count_parameters(mnist) == smallcnn_count(cin=1, side=3)
    mlp = build_model("mlp", in_channels=5, num_classes=3, depth=2, width=16)
    assert count_parameters(mlp) == lin(5, 16) + lin(16, 16) + lin(16, 3)


def test_count_parameters_trainable_only() -> None:
    model = build_model("mlp", in_channels=2)
    model.net[1].weight.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == count_parameters(model) - 2 * 64


def test_wrn_34_10_count_and_forward() -> None:
    # The only WRN-34-10 built in the test suite.
    torch.manual_seed(0)
    model = build_model("wrn")
    assert count_parameters(model) == 46_160_474
    assert count_parameters(model) == wrn_count(5, 10)
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 8, 8))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


def test_small_wrn_counts_standard_and_madry() -> None:
    for depth, n in [(10, 1), (16, 2), (8, 1), (14, 2)]:
        model = build_model("wrn", depth=depth, width=2, num_classes=5)
        assert count_parameters(model) == wrn_count(n, 2, classes=5), depth


# ----------------------------------------------------------------------------------------------
# WRN depth rule.


@pytest.mark.parametrize(
    ("depth", "blocks"), [(34, 5), (28, 4), (10, 1), (40, 6), (32, 5), (26, 4), (8, 1)]
)
def test_wrn_blocks_per_stage(depth: int, blocks: int) -> None:
    assert wrn_blocks_per_stage(depth) == blocks


@pytest.mark.parametrize("depth", [30, 33, 4, 2, 0, -2, 35])
def test_wrn_invalid_depth(depth: int) -> None:
    with pytest.raises(ConfigError, match=r"34.*32"):
        build_model("wrn", depth=depth, width=1)


# ----------------------------------------------------------------------------------------------
# Shapes.


@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_logits_shape_default_models(name: str, in_channels: int) -> None:
    kwargs = SMALL[name] if name == "wrn" else {}  # WRN-34-10 is covered above
    model = build_model(name, in_channels=in_channels, num_classes=7, **kwargs).eval()
    with torch.no_grad():
        for size in (8, 32):
            out = model(_input(name, 2, in_channels, size))
            assert out.shape == (2, 7), (name, size)
            assert torch.isfinite(out).all()


def test_odd_sizes_run() -> None:
    for name in ("resnet18", "preactresnet18", "wrn", "vgg13", "smallcnn"):
        model = build_model(name, in_channels=1, **SMALL[name]).eval()
        with torch.no_grad():
            for size in (9, 28):
                assert model(torch.rand(2, 1, size, size)).shape == (2, 10), (name, size)


def _capture(module: nn.Module) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    module.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    return seen


def test_cifar_shapes_at_32() -> None:
    x = torch.rand(2, 3, 32, 32)
    resnet = build_model("resnet18").eval()
    feats = _capture(resnet.layer4)
    with torch.no_grad():
        logits = resnet(x)
    # CIFAR ResNet: 512 x 4 x 4 before a 4x4 average pool.
    assert feats[0].shape == (2, 512, 4, 4)
    manual = resnet.linear(F.avg_pool2d(feats[0], 4).flatten(1))
    torch.testing.assert_close(logits, manual)

    wrn = build_model("wrn", depth=10, width=2).eval()
    feats = _capture(wrn.block3)
    with torch.no_grad():
        wrn(x)
    assert feats[0].shape == (2, 128, 8, 8)

    vgg = build_model("vgg13").eval()
    feats = _capture(vgg.features)
    with torch.no_grad():
        vgg(x)
    assert feats[0].shape == (2, 512, 1, 1)

    cnn = build_model("smallcnn").eval()
    feats = _capture(cnn.features)
    with torch.no_grad():
        cnn(x)
    assert feats[0].shape == (2, 196, 4, 4)
    assert cnn.fc1.in_features == 196 * 4 * 4


# ----------------------------------------------------------------------------------------------
# Gradients, determinism, layouts.


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradient_reaches_input(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, in_channels=3, **SMALL[name]).eval()
    x = _input(name, 2, 3, 8).requires_grad_(True)
    loss = F.cross_entropy(model(x), torch.tensor([0, 1]))
    (grad,) = torch.autograd.grad(loss, x)
    assert grad.shape == x.shape
    assert torch.isfinite(grad).all()
    assert grad.abs().sum() > 0


def test_mlp_gradient_matches_finite_differences() -> None:
    torch.manual_seed(0)
    model = build_model("mlp", in_channels=2).double()
    x = torch.rand(1, 2, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(model(x)[0, 3], x)
    h = 1e-6
    for i in range(2):
        e = torch.zeros_like(x)
        e[0, i] = h
        with torch.no_grad():
            fd = (model(x + e)[0, 3] - model(x - e)[0, 3]) / (2 * h)
        assert abs(grad[0, i].item() - fd.item()) < 1e-6


@pytest.mark.parametrize("name", sorted(MODELS))
def test_deterministic_under_seed(name: str) -> None:
    def params(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(seed)
        return list(build_model(name, **SMALL[name]).state_dict().values())

    a, b, c = params(3), params(3), params(4)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not all(torch.equal(u, v) for u, v in zip(a, c, strict=True))


@pytest.mark.parametrize("name", ["resnet18", "preactresnet18", "wrn", "vgg13", "smallcnn"])
def test_channels_last_and_autocast(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, **SMALL[name]).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
    model_cl = model.to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    out = model_cl(x_cl)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    (grad,) = torch.autograd.grad(out.sum(), x_cl)
    assert torch.isfinite(grad).all()

    x_amp = x.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_amp = model_cl(x_amp)
    assert out_amp.dtype == torch.bfloat16
    # bfloat16 keeps about 3 significant digits; the logits must still track float32.
    assert (out_amp.float() - ref).abs().max() <= 0.05 * (ref.abs().max() + 1)
    (grad_amp,) = torch.autograd.grad(F.cross_entropy(out_amp.float(), torch.tensor([0, 1])), x_amp)
    assert torch.isfinite(grad_amp).all()
    assert grad_amp.abs().sum() > 0


def test_train_mode_backward_with_batchnorm() -> None:
    model = build_model("resnet18", width=8).train()
    x = torch.rand(4, 3, 8, 8, requires_grad=True)
    F.cross_entropy(model(x), torch.tensor([0, 1, 2, 3])).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in model.parameters())


# ----------------------------------------------------------------------------------------------
# Registry and errors.


def test_model_names() -> None:
    expected = {
        "smallcnn",
        "resnet18",
        "resnet34",
        "resnet50",
        "preactresnet18",
        "wrn",
        "vgg13",
        "mlp",
    }
    assert set(model_names()) == expected
    assert model_names() == list(MODELS)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ConfigError) as info:
        build_model("resnet101")
    message = str(info.value)
    assert "resnet101" in message
    for name in model_names():
        assert name in message
    assert "\n" not in message


def test_name_is_case_insensitive() -> None:
    assert count_parameters(build_model("MLP", in_channels=2)) == count_parameters(
        build_model("mlp", in_channels=2)
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"in_channels": 0},
        {"num_classes": 0},
        {"num_classes": -3},
        {"in_channels": 2.0},
        {"num_classes": True},
        {"input_size": 4},
    ],
)
def test_bad_common_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        build_model("resnet18", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("resnet18", {"depth": 34}),
        ("resnet18", {"width": 0}),
        ("vgg13", {"depth": 16}),
        ("smallcnn", {"width": 32}),
        ("smallcnn", {"depth": 6}),
        ("mlp", {"depth": 0}),
        ("wrn", {"width": 0}),
    ],
)
def test_bad_shape_arguments(name: str, kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        build_model(name, **kwargs)


def test_own_depth_is_accepted() -> None:
    a = build_model("resnet18", depth=18, width=8)
    b = build_model("resnet18", width=8)
    assert count_parameters(a) == count_parameters(b)


# ----------------------------------------------------------------------------------------------
# The catalogue: one record per model, read without torch.


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_record_builds_its_model_and_has_a_cost(name: str) -> None:
    info = model_info(name)
    assert info.name == name and info.title and info.cost() > 0
    model = build_model(name, in_channels=2 if info.input == "vector" else 3, **SMALL[name])
    x = _input(name, 2, 2 if info.input == "vector" else 3, 32)
    assert model(x).shape == (2, 10)
    assert model_title(name) == info.title or info.shape_title


def test_the_cost_model_by_hand() -> None:
    """Forward GMACs per image: the records' constants, and for Wide ResNets 1.31 G per block
    per stage at widen factor 10, (d - 2) // 6 blocks: WRN-34-10 5, WRN-28-10 4; widen factor
    20 costs four times as much."""
    assert model_info("resnet18").cost() == 0.56 and model_info("smallcnn").cost() == 0.13
    wrn = model_info("wrn")
    assert wrn.cost() == pytest.approx(1.31 * 5) and wrn.cost(34, 10) == pytest.approx(6.55)
    assert wrn.cost(28, 10) == pytest.approx(5.24) and wrn.cost(32, 10) == pytest.approx(6.55)
    assert wrn.cost(34, 20) == pytest.approx(4 * 6.55)
    with pytest.raises(ConfigError, match=r"model 'resnet19' is unknown; valid models are"):
        model_info("resnet19")
