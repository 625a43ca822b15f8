"""The architecture registry: each arch builds the network its constructor gives, its structured
NTK is the autograd NTK, the config offers exactly the registered archs, a new arch registered at
run time trains and is measured like any model, and the probes read models through their
ProbedModel protocol."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from probe_helpers import one
from torch import nn

from overparam import architectures
from overparam.architectures import Architecture, register, unregister
from overparam.config import (
    ARCH_DEFAULT_DATA,
    ARCH_PARAMETERIZATIONS,
    RunConfig,
    build_config,
    field_allowed,
)
from overparam.errors import ConfigError
from overparam.models import CNN, FullyConnected, LinearGNN, ResNet
from overparam.ntk import empirical
from overparam.ntk.structured import rule_for
from overparam.probes.context import paper_scales
from overparam.probes.protocol import ProbedModel
from overparam.run import build_data, build_graph, build_model, run, setup

F64 = torch.float64
BUILTIN = ("cnn", "fc", "gnn", "resnet")


def same_parameters(a: nn.Module, b: nn.Module) -> None:
    """Same class, same parameter names, values (bitwise), dtypes and trained set."""
    assert type(a) is type(b)
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    assert list(pa) == list(pb)
    for name in pa:
        assert pa[name].dtype == pb[name].dtype, name
        assert torch.equal(pa[name], pb[name]), name
        assert pa[name].requires_grad == pb[name].requires_grad, name
    for (na, ba), (nb, bb) in zip(a.named_buffers(), b.named_buffers(), strict=True):
        assert na == nb and torch.equal(ba, bb)


# ---------------------------------------------------------------------------------------------
# Every built-in arch: the same network as its constructor, and an exact structured NTK
# ---------------------------------------------------------------------------------------------


def direct(cfg: RunConfig, d: int, k: int) -> nn.Module:
    """The network of ``cfg`` by a direct constructor call (what build_model gave before the
    registry)."""
    common = dict(dtype=cfg.dtype, device=cfg.device, seed=cfg.seeds()["init"])
    if cfg.arch == "resnet":
        return ResNet(
            d, cfg.width, cfg.depth, k, parameterization=cfg.parameterization,
            activation=cfg.activation, trainable=cfg.trainable, tau=cfg.tau, c_res=cfg.c_res,
            **common,
        )  # fmt: skip
    if cfg.arch == "cnn":
        return CNN(
            (1, 8, 8) if cfg.data == "digits" else (1, d), cfg.width, cfg.depth,
            cfg.kernel_size, k, parameterization=cfg.parameterization,
            activation=cfg.activation, trainable=cfg.trainable, c_res=cfg.c_res, **common,
        )  # fmt: skip
    if cfg.arch == "gnn":
        graph = build_graph(cfg)
        return LinearGNN(
            graph.d, cfg.width, cfg.depth, k, cfg.skip, S=graph.S, features=graph.X,
            parameterization=cfg.parameterization, trainable=cfg.trainable, **common,
        )  # fmt: skip
    return FullyConnected(
        d, cfg.width, cfg.depth, k, parameterization=cfg.parameterization,
        activation=cfg.activation, trainable=cfg.trainable, weight_std=cfg.weight_std,
        bias_std=cfg.bias_std, readout_std=cfg.readout_std, **common,
    )  # fmt: skip


BUILD_CASES = [
    dict(arch="fc", n=6, d=4, width=8, depth=2, seed=3),
    dict(arch="fc", parameterization="ntk", bias_std=0.5, k=2, n=6, d=4, width=8, depth=3),
    dict(arch="fc", parameterization="du", activation="softplus", n=6, d=4, width=8),
    dict(arch="resnet", n=6, d=4, width=8, depth=3, c_res=0.5, trainable="all"),
    dict(arch="resnet", parameterization="allen-zhu", tau=0.2, n=6, d=4, width=8, depth=2),
    dict(arch="cnn", n=6, d=6, width=3, depth=2),
    dict(arch="cnn", parameterization="du", data="digits", n=6, width=3, depth=2),
    dict(arch="gnn", n=10, d=3, width=4, depth=2, skip=True),
    dict(arch="gnn", data="karate", parameterization="ntk", width=4, depth=1),
]


@pytest.mark.parametrize("kw", BUILD_CASES, ids=lambda kw: "-".join(map(str, kw.values())))
def test_every_arch_builds_the_network_of_its_constructor(kw):
    cfg = build_config(dtype="float64", **kw)
    train, _ = build_data(cfg)
    got = build_model(cfg, train.d, train.k)
    assert isinstance(got, architectures.get(cfg.arch).model)
    same_parameters(got, direct(cfg, train.d, train.k))
    same_parameters(setup(cfg).model, got)


def test_the_built_in_archs_are_registered():
    assert set(BUILTIN) <= set(architectures.names())
    assert {kw["arch"] for kw in BUILD_CASES} == set(BUILTIN)


NTK_CASES = [(name, p) for name in BUILTIN for p in architectures.get(name).parameterizations]


def tiny_config(arch: str, parameterization: str) -> RunConfig:
    if arch == "gnn":
        return build_config(
            arch=arch, parameterization=parameterization, n=8, d=3, width=4, depth=2,
            skip=parameterization == "ntk", trainable="all", dtype="float64",
        )  # fmt: skip
    extra = {"bias_std": 0.3} if parameterization in ("ntk", "standard") else {}
    return build_config(
        arch=arch, parameterization=parameterization, n=5, d=6, k=2, width=4, depth=2,
        trainable="all", dtype="float64", **extra,
    )  # fmt: skip


@pytest.mark.parametrize("arch, parameterization", NTK_CASES)
def test_every_arch_has_a_structured_ntk_equal_to_autograd(arch, parameterization):
    cfg = tiny_config(arch, parameterization)
    train, _ = build_data(cfg)
    model = build_model(cfg, train.d, train.k)
    assert rule_for(model) is architectures.get(arch).ntk_rule
    structured = empirical(model, train.X, method="structured")
    reference = empirical(model, train.X, method="autograd")
    assert structured.shape == reference.shape
    scale = float(reference.abs().max())
    assert scale > 0
    torch.testing.assert_close(structured, reference, rtol=0, atol=1e-10 * scale)


def test_the_infinite_width_grams_are_the_declared_ones():
    from overparam.ntk import du_gram
    from overparam.ntk.resnet_gram import du_resnet_gram

    grams = {a.name: a.gram for a in architectures.architectures() if a.name in BUILTIN}
    assert grams == {"fc": du_gram, "resnet": du_resnet_gram, "cnn": None, "gnn": None}


@pytest.mark.slow
@pytest.mark.parametrize(
    "first", ["overparam.ntk", "overparam.config", "overparam.architectures", "overparam.models"]
)
def test_every_rule_is_registered_whichever_module_is_imported_first(first):
    # A fresh interpreter: the registry and the ntk package import each other's submodules.
    code = (
        f"import {first}\n"
        "import overparam.ntk\n"
        "from overparam.ntk.structured import STRUCTURED_RULES\n"
        "print(sorted(c.__name__ for c in STRUCTURED_RULES))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[0] == str(
        sorted(["CNN", "FullyConnected", "LinearGNN", "ResNet"])
    )


# ---------------------------------------------------------------------------------------------
# The config reads the registry
# ---------------------------------------------------------------------------------------------


def test_config_allows_exactly_the_registered_archs():
    names = architectures.names()
    assert tuple(ARCH_PARAMETERIZATIONS) == names == tuple(ARCH_DEFAULT_DATA)
    assert field_allowed("arch") == ", ".join(names)
    with pytest.raises(ConfigError) as err:
        build_config(arch="transformer")
    assert (err.value.field, err.value.allowed) == ("arch", ", ".join(names))
    for name in names:
        arch = architectures.get(name)
        assert ARCH_PARAMETERIZATIONS[name] == arch.parameterizations
        assert ARCH_DEFAULT_DATA[name] == arch.data[0]
        cfg = build_config(arch=name)
        assert (cfg.parameterization, cfg.data) == (arch.parameterizations[0], arch.data[0])


def test_fc_allows_every_parameterization_with_zou_gu_first():
    from overparam.models import Parameterization

    allowed = ARCH_PARAMETERIZATIONS["fc"]
    assert allowed[0] == "zou-gu" == build_config().parameterization
    assert sorted(allowed) == sorted(p.value for p in Parameterization)


def test_data_an_arch_does_not_read_names_the_right_field():
    with pytest.raises(ConfigError) as err:
        build_config(data="sbm")  # the default arch (fc) given a graph: the arch is wrong
    assert (err.value.field, err.value.allowed) == ("arch", "gnn for data=sbm")
    with pytest.raises(ConfigError) as err:
        build_config(arch="gnn", data="digits")  # the graph arch given vectors: the data is
    assert (err.value.field, err.value.allowed) == ("data", "sbm, karate for arch=gnn")


# ---------------------------------------------------------------------------------------------
# A toy architecture registered at run time: no structured rule, outside the protocol
# ---------------------------------------------------------------------------------------------


class Toy(nn.Module):
    """f(x) = V relu(W x + b) + c: nn.Linear layers drawn N(0, 1 / fan_in) from ``seed``."""

    def __init__(self, d: int, m: int, k: int, *, seed: int, dtype: str) -> None:
        super().__init__()
        self.hidden = nn.Linear(d, m, dtype=getattr(torch, dtype))
        self.out = nn.Linear(m, k, dtype=getattr(torch, dtype))
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in (self.hidden, self.out):
                for p in layer.parameters():
                    w = torch.randn(p.shape, generator=gen, dtype=F64)
                    p.copy_(w / math.sqrt(layer.in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)))


def build_toy(cfg: RunConfig, d: int, k: int) -> Toy:
    return Toy(d, cfg.width, k, seed=cfg.seeds()["init"], dtype=cfg.dtype)


@pytest.fixture
def toy():
    arch = register(
        Architecture(name="toy", parameterizations=("standard",), data=("sphere",), build=build_toy)
    )
    yield arch
    unregister("toy")


def toy_ntk(model: Toy, X: torch.Tensor) -> torch.Tensor:
    """The closed-form NTK of a one-output Toy: for z = W x + b, g = v * relu'(z),
    Theta = (<x, x'> + 1) <g, g'> + <relu(z), relu(z')> + 1."""
    z = model.hidden(X)
    g = model.out.weight[0] * (z > 0).to(X.dtype)
    h = torch.relu(z)
    return (X @ X.T + 1.0) * (g @ g.T) + h @ h.T + 1.0


def test_a_registered_arch_is_a_config_choice_that_builds(toy):
    assert "toy" in field_allowed("arch").split(", ")
    assert ARCH_PARAMETERIZATIONS["toy"] == ("standard",)
    cfg = build_config(arch="toy", n=6, d=3, width=5, dtype="float64")
    assert (cfg.parameterization, cfg.data) == ("standard", "sphere")
    s = setup(cfg)
    same_parameters(s.model, Toy(3, 5, 1, seed=cfg.seeds()["init"], dtype="float64"))
    same_parameters(architectures.build(cfg, 3, 1), s.model)
    with pytest.raises(ConfigError) as err:
        build_config(arch="toy", parameterization="du")
    assert (err.value.field, err.value.allowed) == ("parameterization", "standard for arch=toy")
    with pytest.raises(ConfigError) as err:
        build_config(arch="toy", data="digits")
    readers = [a.name for a in architectures.architectures() if "digits" in a.data]
    assert (err.value.field, err.value.allowed) == ("arch", f"{', '.join(readers)} for data=digits")


def test_an_unregistered_arch_is_no_longer_a_choice(toy):
    unregister("toy")
    assert "toy" not in architectures.names()
    with pytest.raises(ConfigError) as err:
        build_config(arch="toy")
    assert err.value.field == "arch"


def test_a_registered_arch_without_a_rule_gets_the_autograd_ntk(toy):
    cfg = build_config(arch="toy", n=6, d=3, width=5, dtype="float64")
    train, _ = build_data(cfg)
    model = architectures.build(cfg, train.d, train.k)
    assert rule_for(model) is None
    expected = toy_ntk(model, train.X).detach()
    got = empirical(model, train.X, method="autograd")
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    fallback = empirical(model, train.X)  # the default (auto) takes the generic path
    torch.testing.assert_close(fallback, expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(ConfigError, match="method"):
        empirical(model, train.X, method="structured")


def test_a_model_outside_the_protocol_is_measured_in_stored_units(toy):
    cfg = build_config(
        arch="toy", n=6, d=3, width=5, dtype="float64", steps=3, lr=0.1, probes=("movement",),
        probe_every=1,
    )  # fmt: skip
    start = build_toy(cfg, 3, 1)
    assert not isinstance(start, ProbedModel)
    assert paper_scales(start) == {n: 1.0 for n, _ in start.named_parameters()}
    history = run(cfg, keep_params=True)
    assert history.status != "diverged"
    for layer in ("hidden", "out"):
        w0, wt = start.get_parameter(f"{layer}.weight"), history.final_params[f"{layer}.weight"]
        got = one(history, "movement", "frobenius", cfg.steps, f"{layer}.weight")["value"]
        assert got == pytest.approx(float((wt - w0.detach()).norm()), rel=1e-12)
    assert one(history, "movement", "frobenius", 0, "hidden.weight")["value"] == 0.0
    assert all(r["bound"] is None for r in history.records)  # no paper's bound applies


# ---------------------------------------------------------------------------------------------
# Every project model implements ProbedModel
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kw", BUILD_CASES, ids=lambda kw: "-".join(map(str, kw.values())))
def test_every_project_model_implements_the_probed_protocol(kw):
    cfg = build_config(dtype="float64", **kw)
    train, _ = build_data(cfg)
    model = build_model(cfg, train.d, train.k)
    assert isinstance(model, ProbedModel)
    trained = [n for n, p in model.named_parameters() if p.requires_grad]
    scales = paper_scales(model)
    assert list(scales) == trained
    seed_paper = cfg.parameterization in ("allen-zhu", "zou-gu", "du", "cao-gu")
    assert model.unit_hidden_norms() == (cfg.arch == "fc" and seed_paper)
    if cfg.arch != "fc":  # stored units
        assert set(scales.values()) == {1.0}


def old_paper_scales(model: FullyConnected) -> dict[str, float]:
    """The fully connected scales as probes/context.py computed them before the protocol:
    c = multiplier * s_l for a weight, bias_multiplier * s_l for a bias (s_l = 1 on the output)."""
    specs = {s.name: s for s in model.specs}
    layer_of = model.parameter_layers()
    out = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        spec = specs[layer_of[name]]
        post = spec.post_scale if spec.activation else 1.0
        base = spec.bias_multiplier if name.endswith("bias") else spec.multiplier
        out[name] = float(base * post)
    return out


@pytest.mark.parametrize(
    "parameterization, extra",
    [("zou-gu", {}), ("du", {}), ("ntk", {"bias_std": 0.4}), ("ntk", {"trainable": "hidden"})],
)
def test_fully_connected_paper_scales_are_the_old_formula(parameterization, extra):
    m = 12
    model = FullyConnected(5, m, 3, 2, parameterization=parameterization, dtype=F64, **extra)
    scales = paper_scales(model)
    assert scales == model.paper_scales() == old_paper_scales(model)
    if parameterization == "du":  # N(0, 1) weights, s = sqrt(2/m): N(0, 2/m) in papers' units
        assert scales["layers.1.weight"] == pytest.approx(math.sqrt(2 / m))
    if parameterization == "zou-gu":
        assert set(scales.values()) == {1.0}
