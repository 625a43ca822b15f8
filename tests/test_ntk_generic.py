"""The generic empirical NTK against independent truth: the structured rules and the autograd
reference on overparam's networks, and Jacobians built sample by sample with
torch.autograd.functional.jacobian (flattened and contracted by hand) on arbitrary modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian
from torch.func import functional_call

from overparam.errors import ConfigError
from overparam.models import CNN, FullyConnected, ResNet
from overparam.ntk import Method, empirical, generic_ntk, generic_plan
from overparam.ntk.empirical import resolve_method

F64 = torch.float64


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def explicit_jacobian(model: nn.Module, X: torch.Tensor) -> dict[str, torch.Tensor]:
    """{trained name: (n, k, numel)}, one torch.autograd.functional.jacobian per sample."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    everything = {n: p.detach() for n, p in model.named_parameters()}
    rows = []
    for x in X:

        def f(*values, x=x):
            return functional_call(
                model, {**everything, **dict(zip(names, values, strict=True))}, (x[None],)
            )

        jac = jacobian(f, tuple(everything[n] for n in names))
        rows.append([j.reshape(-1, everything[n].numel()) for n, j in zip(names, jac, strict=True)])
    return {n: torch.stack([r[i] for r in rows]) for i, n in enumerate(names)}


def explicit_ntk(model: nn.Module, X: torch.Tensor, X2: torch.Tensor | None = None):
    """Theta (n, n2, k, k) = sum over parameters of J_i J_j^T, and the per-parameter parts."""
    J1 = explicit_jacobian(model, X)
    J2 = J1 if X2 is None else explicit_jacobian(model, X2)
    parts = {n: torch.einsum("iap,jbp->ijab", J1[n], J2[n]) for n in J1}
    return sum(parts.values()), parts


def full(theta: torch.Tensor) -> torch.Tensor:
    """(n, n2) one-output kernels as (n, n2, 1, 1)."""
    return theta[:, :, None, None] if theta.ndim == 2 else theta


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


def cnn_pool(k: int = 2) -> nn.Module:
    """Conv2d + ReLU(inplace) + MaxPool2d + Linear on (n, 1, 8, 8) images."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(27, k),
    ).to(F64)  # fmt: skip


def layernorm_mlp() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Linear(4, 6), nn.LayerNorm(6), nn.GELU(), nn.Linear(6, 5), nn.PReLU(), nn.Linear(5, 1)
    ).to(F64)


def two_output() -> nn.Module:
    torch.manual_seed(2)
    return nn.Sequential(nn.Linear(4, 7), nn.Tanh(), nn.Linear(7, 7), nn.Sigmoid(), nn.Linear(7, 2))


class Attention(nn.Module):
    """A transformer-ish block on (n, T, d): Linear q, k, v, softmax attention over the T
    positions of each sample, a residual, LayerNorm, a learned position embedding, mean pool."""

    def __init__(self, d: int = 5, T: int = 3, k: int = 2) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.pos = nn.Parameter(0.1 * torch.randn(T, d))
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d, bias=False), nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.pos
        scores = self.q(x) @ self.k(x).transpose(1, 2) / x.shape[-1] ** 0.5
        h = self.norm(x + torch.softmax(scores, -1) @ self.v(x))
        return self.head(h.mean(1))


class WidePairs(nn.Module):
    """A Linear on (n, 2, 24): 2 positions, wide enough that the position-pair form is cheaper
    than per-sample weight gradients; a second call of the same layer (weight sharing)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(4)
        self.lin = nn.Linear(24, 24)
        self.out = nn.Linear(24, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.lin(x))
        h = torch.tanh(self.lin(h))
        return self.out(h.sum(1))


class SeqFirst(nn.Module):
    """A Linear fed (T, n, d): its first dimension is not the samples."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.lin = nn.Linear(4, 4)
        self.out = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.lin(x.transpose(0, 1))).transpose(0, 1)
        return self.out(h.mean(1))


class DirectWeight(nn.Module):
    """Holds a Linear but never calls it: F.linear on its weight (like MultiheadAttention's
    out_proj)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(6)
        self.lin = nn.Linear(3, 4)
        self.out = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(nn.functional.linear(x, self.lin.weight, self.lin.bias)))


def models() -> list:
    """pytest params (model, X) of arbitrary modules and their inputs."""

    def x(*shape: int, seed: int) -> torch.Tensor:
        return torch.randn(*shape, dtype=F64, generator=gen(seed))

    return [
        pytest.param(cnn_pool(), x(5, 1, 8, 8, seed=0), id="cnn"),
        pytest.param(layernorm_mlp(), x(5, 4, seed=1), id="ln"),
        pytest.param(two_output().to(F64), x(5, 4, seed=2), id="k2"),
        pytest.param(Attention().to(F64), x(4, 3, 5, seed=3), id="attn"),
        pytest.param(WidePairs().to(F64), x(4, 2, 24, seed=4), id="pairs"),
        pytest.param(SeqFirst().to(F64), x(4, 3, 4, seed=5), id="seq-first"),
        pytest.param(DirectWeight().to(F64), x(4, 3, seed=6), id="direct"),
    ]


# ---------------------------------------------------------------------------------------------
# Against the structured rules and the autograd reference
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "act", "trainable", "k", "bias"),
    [
        ("ntk", "tanh", "all", 1, 0.3),
        ("ntk", "relu", "hidden", 3, 0.3),
        ("zou-gu", "relu", None, 1, None),
        ("allen-zhu", "relu", None, 2, None),
        ("du", "gelu", "all", 2, None),
        ("standard", "tanh", None, 3, 0.2),
    ],
)
def test_fc_generic_equals_structured_and_autograd(param, act, trainable, k, bias):
    X = torch.randn(6, 5, dtype=F64, generator=gen(0))
    X2 = torch.randn(4, 5, dtype=F64, generator=gen(1))
    model = FullyConnected(
        5, 12, 3, k, parameterization=param, activation=act, trainable=trainable, bias_std=bias,
        dtype=F64, seed=3,
    )  # fmt: skip
    for x2 in (None, X2):
        g, g_parts = empirical(model, X, x2, method="generic", per_layer=True)
        s, s_parts = empirical(model, X, x2, method="structured", per_layer=True)
        a = empirical(model, X, x2, method="autograd")
        assert g.shape == s.shape
        assert rel(g, s) < 1e-10
        assert rel(g, a) < 1e-10
        assert set(g_parts) == set(s_parts) == model.trained
        for name, part in g_parts.items():
            assert float((part - s_parts[name]).norm()) < 1e-10 * float(s.norm())


@pytest.mark.parametrize(
    "build",
    [
        lambda: (CNN((2, 6), 3, 2, out=2, parameterization="du", activation="tanh", dtype=F64),
                 torch.randn(4, 2, 6, dtype=F64, generator=gen(2))),
        lambda: (ResNet(5, 8, 2, 2, dtype=F64), torch.randn(4, 5, dtype=F64, generator=gen(3))),
    ],
    ids=["cnn-dense-on-patches", "resnet"],
)  # fmt: skip
def test_overparam_networks_generic_equals_structured(build):
    """overparam's CNN applies Dense to (n, p, q C) patches: factors over positions."""
    model, X = build()
    assert rel(empirical(model, X, method="generic"), empirical(model, X)) < 1e-10


# ---------------------------------------------------------------------------------------------
# Against explicit Jacobians on arbitrary modules
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "X"), models())
def test_against_explicit_jacobians(model, X):
    theta, parts = empirical(model, X, method="generic", per_layer=True)
    ref, ref_parts = explicit_ntk(model, X)
    assert rel(full(theta), ref) < 1e-10
    assert rel(full(sum(parts.values())), ref) < 1e-12
    by_layer: dict[str, torch.Tensor] = {}
    for name, part in ref_parts.items():
        layer = name.rsplit(".", 1)[0]
        by_layer[layer] = by_layer.get(layer, 0) + part
    assert set(parts) == set(by_layer)
    for layer, part in parts.items():
        assert float((full(part) - by_layer[layer]).norm()) < 1e-10 * float(ref.norm())


def test_paths_taken():
    """Each model exercises the path it was built for (so the tests above cover them all)."""
    X = torch.randn(3, 2, 24, dtype=F64)
    pairs = generic_plan(WidePairs().to(F64), X)
    assert [(f.name, f.positions, f.formed) for f in pairs.factored] == [
        ("lin", 4, False),  # two calls of 2 positions, position pairs
        ("out", 1, False),
    ]
    conv = generic_plan(cnn_pool(), torch.randn(3, 1, 8, 8, dtype=F64))
    assert [(f.name, f.positions, f.formed) for f in conv.factored] == [
        ("0", 36, True),
        ("4", 1, False),
    ]
    attn = generic_plan(Attention().to(F64), torch.randn(3, 3, 5, dtype=F64))
    assert {f.name for f in attn.factored} == {"q", "k", "v", "head"}
    assert set(attn.functional) == {"pos", "norm.weight", "norm.bias"}
    assert generic_plan(SeqFirst().to(F64), torch.randn(3, 3, 4, dtype=F64)).functional == (
        "lin.weight", "lin.bias",
    )  # fmt: skip
    direct = generic_plan(DirectWeight().to(F64), torch.randn(3, 3, dtype=F64))
    assert direct.functional == ("lin.weight", "lin.bias")


def test_frozen_parameters_are_excluded():
    model = two_output().to(F64)
    model[0].weight.requires_grad_(False)
    model[2].bias.requires_grad_(False)
    X = torch.randn(5, 4, dtype=F64, generator=gen(7))
    theta, parts = empirical(model, X, method="generic", per_layer=True)
    ref, _ = explicit_ntk(model, X)  # trained parameters only
    assert rel(theta, ref) < 1e-10
    assert set(parts) == {"0", "2", "4"}  # layer 0 still has its bias, layer 2 its weight


def test_one_dimensional_output_is_one_kernel():
    class Squeezed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = layernorm_mlp()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)[:, 0]

    model = Squeezed()
    X = torch.randn(4, 4, dtype=F64, generator=gen(8))
    theta = empirical(model, X)
    assert theta.shape == (4, 4)
    assert rel(full(theta), explicit_ntk(model, X)[0]) < 1e-10


# ---------------------------------------------------------------------------------------------
# Options: trace, X2, memory, out, dtype
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "X"), models())
def test_trace_is_the_trace_of_the_full_kernel(model, X):
    theta = full(empirical(model, X, method="generic"))
    traced, parts = empirical(model, X, method="generic", trace=True, per_layer=True)
    assert traced.shape == theta.shape[:2]
    assert rel(traced, theta.diagonal(dim1=2, dim2=3).sum(-1)) < 1e-12
    assert rel(sum(parts.values()), traced) < 1e-12
    assert rel(empirical(model, X, method="autograd", trace=True), traced) < 1e-10


@pytest.mark.parametrize(("model", "X"), models()[:5])
def test_x2_is_the_off_diagonal_block_of_the_concatenation(model, X):
    X2 = X.flip(0)[:3] * 0.7 + 0.1
    both = full(empirical(model, torch.cat([X, X2]), method="generic"))
    block = full(empirical(model, X, X2, method="generic"))
    n = X.shape[0]
    assert block.shape[:2] == (n, 3)
    assert rel(block, both[:n, n:]) < 1e-12
    assert rel(full(empirical(model, X2, X, method="generic")), both[n:, :n]) < 1e-12


@pytest.mark.parametrize(("model", "X"), [models()[3], models()[4]])
def test_small_memory_forces_many_blocks_with_the_same_result(model, X):
    one = empirical(model, X, method="generic")
    p = generic_plan(model, X, max_memory=2_000)
    assert not p.cached and p.block < X.shape[0]
    assert p.peak_bytes <= 2_000 or p.block == 1  # one row is the least it can do
    tiny = empirical(model, X, method="generic", max_memory=2_000)
    assert rel(tiny, one) < 1e-13
    X2 = X[:2] + 0.5
    assert rel(
        empirical(model, X, X2, method="generic", max_memory=2_000),
        empirical(model, X, X2, method="generic"),
    ) < 1e-13  # fmt: skip


def test_features_kept_with_small_blocks():
    """Room for the features of all rows and little more: kept, in Gram blocks of few rows."""
    model, X = WidePairs().to(F64), torch.randn(7, 2, 24, dtype=F64, generator=gen(9))
    p = generic_plan(model, X)
    features = 8 * p.feature_elems * 7
    budget = 2 * features
    small = generic_plan(model, X, max_memory=budget)
    assert small.cached and 1 < small.block < 7
    rest = budget - features
    assert (
        8 * small.block**2 * small.pair_elems
        <= rest
        < 8 * (small.block + 1) ** 2 * small.pair_elems
    )
    assert small.peak_bytes <= budget
    assert rel(empirical(model, X, max_memory=budget), empirical(model, X)) < 1e-13


def test_out_receives_the_kernel(tmp_path):
    model, X = two_output().to(F64), torch.randn(5, 4, dtype=F64, generator=gen(10))
    ref = empirical(model, X)
    target = torch.zeros(5, 5, 2, 2, dtype=F64)
    assert empirical(model, X, out=target, max_memory=3_000) is target
    assert rel(target, ref) < 1e-13
    mm = np.lib.format.open_memmap(tmp_path / "k.npy", mode="w+", dtype=np.float64, shape=(5, 5))
    empirical(model, X, trace=True, out=mm)
    mm.flush()
    np.testing.assert_allclose(np.load(tmp_path / "k.npy"), ref.diagonal(dim1=2, dim2=3).sum(-1))
    with pytest.raises(ConfigError) as err:
        empirical(model, X, out=torch.zeros(5, 5))
    assert err.value.field == "out"


def test_float32_matches_float64():
    model = cnn_pool()
    X = torch.randn(4, 1, 8, 8, dtype=F64, generator=gen(11))
    ref = empirical(model, X)
    model32 = cnn_pool().float()
    got = empirical(model32, X.float())
    assert got.dtype == torch.float32
    assert rel(got.double(), ref) < 1e-5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    cases = [
        (cnn_pool(), torch.randn(6, 1, 8, 8, dtype=F64)),
        (Attention().to(F64), torch.randn(5, 3, 5, dtype=F64)),
    ]
    for model, X in cases:
        ref = empirical(model, X, method="generic")
        got = empirical(model.cuda(), X.cuda(), method="generic")
        assert got.device.type == "cuda"
        assert rel(got.cpu(), ref) < 1e-10


# ---------------------------------------------------------------------------------------------
# The model is left as it was; refusals
# ---------------------------------------------------------------------------------------------


def test_model_is_unchanged_and_no_hooks_remain():
    model = Attention().to(F64)
    X = torch.randn(4, 3, 5, dtype=F64, generator=gen(12))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    with torch.no_grad():  # the kernel needs gradients: they are enabled inside
        theta = empirical(model, X, method="generic", per_layer=True, trace=True)[0]
    assert rel(theta, empirical(model, X, method="autograd", trace=True)) < 1e-10
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]) and p.requires_grad == flags[n] and p.grad is None
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
    assert model.training  # not switched to eval


def test_batchnorm_in_training_mode_is_refused():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 1)).to(F64)
    X = torch.randn(5, 3, dtype=F64, generator=gen(13))
    for method in ("auto", "generic", "autograd"):
        with pytest.raises(ConfigError, match="BatchNorm1d") as err:
            empirical(model, X, method=method)
        assert err.value.field == "model"
    model.eval()  # running statistics: samples decouple
    assert rel(full(empirical(model, X)), explicit_ntk(model, X)[0]) < 1e-10


def test_dropout_in_training_mode_is_refused():
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 1)).to(F64)
    with pytest.raises(ConfigError, match="dropout"):
        empirical(model, torch.randn(4, 3, dtype=F64))


def test_coupling_between_samples_is_refused():
    class Centered(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x - x.mean(0))

    with pytest.raises(ConfigError, match="coupling"):
        empirical(Centered().to(F64), torch.randn(4, 3, dtype=F64, generator=gen(14)))


def test_bad_outputs_are_refused():
    class Pair(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x: torch.Tensor):
            return self.lin(x), x

    with pytest.raises(ConfigError, match="tensor") as err:
        empirical(Pair().to(F64), torch.randn(4, 3, dtype=F64))
    assert err.value.field == "model"


def test_methods_dispatch():
    fc = FullyConnected(5, 8, 2, dtype=F64)
    seq = two_output().to(F64)
    assert resolve_method(fc, "auto") is Method.STRUCTURED
    assert resolve_method(seq, "auto") is Method.GENERIC
    assert resolve_method(seq, Method.AUTOGRAD) is Method.AUTOGRAD
    with pytest.raises(ConfigError) as err:
        empirical(seq, torch.randn(3, 4, dtype=F64), method="structured")
    assert err.value.field == "method" and err.value.value == "structured"
    assert "Sequential" in err.value.allowed
    assert all(m in err.value.allowed for m in ("auto", "generic", "autograd"))


def test_generic_ntk_returns_the_full_kernel_and_parts():
    model, X = two_output().to(F64), torch.randn(4, 4, dtype=F64, generator=gen(15))
    theta, parts = generic_ntk(model, X, per_layer=True)
    assert theta.shape == (4, 4, 2, 2) and set(parts) == {"0", "2", "4"}
    assert rel(theta, explicit_ntk(model, X)[0]) < 1e-10
