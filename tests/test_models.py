"""Networks: init statistics, forward formulas, hidden norms at init and gradients, each checked
against the papers' own statements or an independent computation (quadrature, finite
differences, a second implementation written from the equations)."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import central_difference, mean_band, variance_band
from scipy import integrate

from overparam.data import sphere
from overparam.errors import ConfigError
from overparam.models import Activation, FullyConnected, Parameterization, c_sigma, default_loss
from overparam.train import make_objective

ALL = [p.value for p in Parameterization]
SMOOTH = [a.value for a in Activation if a is not Activation.RELU]


def by_name(model: FullyConnected) -> dict[str, torch.nn.Module]:
    return {s.name: layer for s, layer in zip(model.specs, model.layers, strict=True)}


# ---------------------------------------------------------------------------------------------
# The papers' statements, written out independently of overparam.models.parameterization
# ---------------------------------------------------------------------------------------------


def paper_init(p: str, d: int, m: int, L: int, k: int, ws: float, rs: float, bs: float | None):
    """{layer: (shape, variance of the stored entries, forward multiplier)} as each paper states
    it, plus {layer: (variance of stored bias, bias multiplier)}."""
    weights, biases = {}, {}
    if p == "allen-zhu":  # [allen-zhu-2019, Def. 2.3]: A, W_l ~ N(0, 2/m), B ~ N(0, 1/k)
        weights["A"] = ((m, d), 2.0 / m, 1.0)
        weights.update({f"W{l}": ((m, m), 2.0 / m, 1.0) for l in range(1, L + 1)})
        weights["B"] = ((k, m), 1.0 / k, 1.0)
    elif p == "zou-gu":  # [zou-gu-2019, Algorithm 1]: W_l ~ N(0, 2/m), V ~ N(0, 1/k)
        weights.update({f"W{l}": ((m, d if l == 1 else m), 2.0 / m, 1.0) for l in range(1, L + 1)})
        weights["V"] = ((k, m), 1.0 / k, 1.0)
    elif p == "du":  # [du-2019-deep, Section 5]: W^(h) ~ N(0, 1), a ~ N(0, 1)
        weights.update({f"W{h}": ((m, d if h == 1 else m), 1.0, 1.0) for h in range(1, L + 1)})
        weights["a"] = ((k, m), 1.0, 1.0)
    elif p == "cao-gu":  # [cao-gu-2019]: W_l ~ N(0, 2/m) for l < L, W_L ~ N(0, 1/m), f = sqrt(m)..
        weights.update({f"W{l}": ((m, d if l == 1 else m), 2.0 / m, 1.0) for l in range(1, L)})
        weights[f"W{L}"] = ((k, m), 1.0 / m, math.sqrt(m))
    elif p == "ntk":  # [jacot-2018]: stored N(0, 1), multiplier sigma_w / sqrt(fan_in)
        for l in range(1, L + 1):
            fan_in = d if l == 1 else m
            weights[f"W{l}"] = ((m, fan_in), 1.0, ws / math.sqrt(fan_in))
        weights["out"] = ((k, m), 1.0, rs / math.sqrt(m))
        if bs is not None:
            biases = {name: (1.0, bs) for name in weights}
    elif p == "standard":  # W ~ N(0, sigma_w^2 / fan_in), b ~ N(0, sigma_b^2)
        for l in range(1, L + 1):
            fan_in = d if l == 1 else m
            weights[f"W{l}"] = ((m, fan_in), ws**2 / fan_in, 1.0)
        weights["out"] = ((k, m), rs**2 / m, 1.0)
        if bs is not None:
            biases = {name: (bs**2, 1.0) for name in weights}
    else:
        raise KeyError(f"no paper statement written for {p!r}: add it here")
    return weights, biases


def paper_forward(model: FullyConnected, x: torch.Tensor, ws: float, rs: float, bs: float | None):
    """f(x) from each paper's equation, reading only the stored weights."""
    p, m, L = model.parameterization.value, model.width, model.depth
    W = {name: layer.weight for name, layer in by_name(model).items()}
    b = {name: layer.bias for name, layer in by_name(model).items()}
    sigma = {
        "relu": torch.relu,
        "tanh": torch.tanh,
        "softplus": torch.nn.functional.softplus,
        "sigmoid": torch.sigmoid,
        "gelu": torch.nn.functional.gelu,
        "swish": torch.nn.functional.silu,
        "erf": torch.erf,
    }[model.activation.value]
    if p == "allen-zhu":
        h = torch.relu(x @ W["A"].T)
        for l in range(1, L + 1):
            h = torch.relu(h @ W[f"W{l}"].T)
        return h @ W["B"].T
    if p == "zou-gu":
        h = x
        for l in range(1, L + 1):
            h = torch.relu(h @ W[f"W{l}"].T)
        return h @ W["V"].T
    if p == "du":
        h = x
        for l in range(1, L + 1):
            h = math.sqrt(quad_c_sigma(model.activation.value) / m) * sigma(h @ W[f"W{l}"].T)
        return h @ W["a"].T
    if p == "cao-gu":
        h = x
        for l in range(1, L):
            h = torch.relu(h @ W[f"W{l}"].T)
        return math.sqrt(m) * h @ W[f"W{L}"].T
    names = [f"W{l}" for l in range(1, L + 1)] + ["out"]
    h = x
    for i, name in enumerate(names):
        fan_in = h.shape[1]
        scale = (rs if name == "out" else ws) / math.sqrt(fan_in) if p == "ntk" else 1.0
        z = scale * h @ W[name].T
        if bs is not None:
            z = z + (bs if p == "ntk" else 1.0) * b[name]
        h = z if i == len(names) - 1 else sigma(z)
    return h


def quad_c_sigma(act: str) -> float:
    """1 / E_{z~N(0,1)}[sigma(z)^2] by adaptive quadrature (independent of Gauss-Hermite)."""
    fn = {
        "relu": lambda z: max(z, 0.0),
        "tanh": math.tanh,
        "softplus": lambda z: math.log1p(math.exp(-abs(z))) + max(z, 0.0),
        "sigmoid": lambda z: 1.0 / (1.0 + math.exp(-z)),
        "gelu": lambda z: z * 0.5 * (1.0 + math.erf(z / math.sqrt(2.0))),
        "swish": lambda z: z / (1.0 + math.exp(-z)),
        "erf": math.erf,
    }[act]
    density = 1.0 / math.sqrt(2.0 * math.pi)
    val, _ = integrate.quad(lambda z: fn(z) ** 2 * density * math.exp(-0.5 * z * z), -40, 40)
    return 1.0 / val


# ---------------------------------------------------------------------------------------------
# Init statistics
# ---------------------------------------------------------------------------------------------

D, M, DEPTH, K = 32, 512, 3, 4
WS, RS = 1.7, 0.8


def _bias_std(p: str) -> float | None:
    return 0.5 if p in ("ntk", "standard") else None


@pytest.mark.parametrize("p", ALL)
def test_initial_weights_match_paper_variance_and_mean(p):
    bs = _bias_std(p)
    model = FullyConnected(
        D,
        M,
        DEPTH,
        K,
        parameterization=p,
        weight_std=WS,
        readout_std=RS,
        bias_std=bs,
        dtype=torch.float64,
        seed=5,
    )
    weights, biases = paper_init(p, D, M, DEPTH, K, WS, RS, bs)
    layers = by_name(model)
    assert list(layers) == list(weights), "layer list differs from the paper's"
    for name, (shape, var, mult) in weights.items():
        w = layers[name].weight.detach()
        assert tuple(w.shape) == shape, name
        count = w.numel()
        second_moment = float((w * w).mean())
        assert abs(second_moment - var) <= variance_band(var, count), (name, second_moment, var)
        assert abs(float(w.mean())) <= mean_band(var, count), (name, float(w.mean()))
        assert layers[name].spec.multiplier == pytest.approx(mult, rel=1e-15), name
    for name, layer in layers.items():
        if name not in biases:
            assert layer.bias is None, name
            continue
        var, mult = biases[name]
        b = layer.bias.detach()
        # fan_out entries only (k = 4 for the readout): the band is wide there but still
        # excludes a factor-2 error for the hidden biases (m = 512 entries).
        assert abs(float((b * b).mean()) - var) <= variance_band(var, b.numel()), name
        assert abs(float(b.mean())) <= mean_band(var, b.numel()), name
        assert layer.spec.bias_multiplier == pytest.approx(mult, rel=1e-15), name


def test_variance_check_detects_a_wrong_scale():
    """The band is narrow enough to reject sqrt(2) too large a std on the smallest layer."""
    w = torch.randn(K, M, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    var = 1.0 / K
    wrong = 2.0 * var * float((w * w).mean())
    assert abs(wrong - var) > variance_band(var, w.numel())


@pytest.mark.parametrize("p", ALL)
def test_default_trained_layers_are_the_papers(p):
    model = FullyConnected(4, 8, 2, parameterization=p)
    weights, _ = paper_init(p, 4, 8, 2, 1, math.sqrt(2.0), 1.0, None)
    if p in ("allen-zhu", "zou-gu"):  # A, B / V stay at init in both analyses
        expected = {n for n in weights if n.startswith("W")}
    else:
        expected = set(weights)
    assert model.trained == expected
    trained = {n.split(".")[1] for n in model.trainable_parameters()}
    assert trained == {str(i) for i, s in enumerate(model.specs) if s.name in expected}


@pytest.mark.parametrize(
    ("p", "act", "bias"),
    [(p, "relu", False) for p in ALL]
    + [(p, a, False) for p in ("du", "ntk", "standard") for a in SMOOTH]
    + [("ntk", "tanh", True), ("standard", "gelu", True)],
)
def test_forward_is_the_papers_equation(p, act, bias):
    bs = 0.3 if bias else None
    model = FullyConnected(
        6,
        24,
        3,
        2,
        parameterization=p,
        activation=act,
        weight_std=WS,
        readout_std=RS,
        bias_std=bs,
        dtype=torch.float64,
        seed=3,
    )
    x = sphere(10, 6, seed=4).X
    with torch.no_grad():
        torch.testing.assert_close(
            model(x), paper_forward(model, x, WS, RS, bs), rtol=1e-12, atol=1e-12
        )


@pytest.mark.parametrize("act", [a.value for a in Activation])
def test_c_sigma_matches_quadrature(act):
    """c_sigma = 1 / E[sigma(z)^2]  [du-2019-deep, Section 5]; 2 for relu exactly."""
    assert c_sigma(Activation(act)) == pytest.approx(quad_c_sigma(act), rel=1e-9)
    if act == "relu":
        assert c_sigma(Activation.RELU) == 2.0


def test_du_with_relu_is_zou_gu_at_init():
    """With k = 1 and relu, sqrt(2/m) relu(W x), W ~ N(0, 1) is relu(W' x), W' ~ N(0, 2/m):
    the same seed must give the same hidden vectors and output (general case = special case)."""
    x = sphere(10, 7, seed=1).X
    du = FullyConnected(7, 64, 3, parameterization="du", dtype=torch.float64, seed=9)
    zg = FullyConnected(7, 64, 3, parameterization="zou-gu", dtype=torch.float64, seed=9)
    with torch.no_grad():
        f_du, _, h_du = du(x, return_hidden=True)
        f_zg, _, h_zg = zg(x, return_hidden=True)
    torch.testing.assert_close(f_du, f_zg, rtol=1e-12, atol=1e-12)
    for a, b in zip(h_du, h_zg, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_ntk_and_standard_agree_at_init_and_gradients_differ_by_the_multiplier():
    """Same function at init; d/dW_stored under ntk = (sigma_w / sqrt(fan_in)) * d/dW under
    standard, by the chain rule [jacot-2018]."""
    x, y = sphere(10, 7, seed=1).X, torch.ones(10, 1, dtype=torch.float64)
    kw = dict(weight_std=1.3, readout_std=0.9, bias_std=0.2, dtype=torch.float64, seed=2)
    ntk = FullyConnected(7, 32, 2, parameterization="ntk", **kw)
    std = FullyConnected(7, 32, 2, parameterization="standard", **kw)
    obj = make_objective("square", "mean", 1)
    f_ntk, f_std = ntk(x), std(x)
    torch.testing.assert_close(f_ntk, f_std, rtol=1e-12, atol=1e-12)
    g_ntk = torch.autograd.grad(obj(f_ntk, y), [layer.weight for layer in ntk.layers])
    g_std = torch.autograd.grad(obj(f_std, y), [layer.weight for layer in std.layers])
    for layer, gn, gs in zip(ntk.layers, g_ntk, g_std, strict=True):
        torch.testing.assert_close(gn, layer.spec.multiplier * gs, rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# Hidden norms at init  [allen-zhu-2019, Lemma 7.1]
# ---------------------------------------------------------------------------------------------


WIDE = 4096
# du with relu computes exactly zou-gu's hidden vectors from the same seed (see
# test_du_with_relu_is_zou_gu_at_init), so the wide check runs du with a smooth activation.
WIDE_CASES = [("allen-zhu", "relu"), ("zou-gu", "relu"), ("du", "tanh")]


@pytest.fixture(scope="module")
def wide_hidden() -> dict[tuple[str, str], list[torch.Tensor]]:
    """Hidden vectors h_l (n = 8, m = 4096, depth 2) per (parameterization, activation).
    Drawing a 4096 x 4096 float64 layer costs ~1 s on one core, so each net is built once."""
    x = sphere(8, 16, seed=1).X
    out = {}
    for p, act in WIDE_CASES:
        model = FullyConnected(
            16, WIDE, 2, parameterization=p, activation=act, dtype=torch.float64, seed=3
        )
        with torch.no_grad():
            _, _, hidden = model(x, return_hidden=True)
        out[p, act] = hidden
        del model
    return out


@pytest.mark.parametrize(("p", "act"), WIDE_CASES)
def test_hidden_norms_near_one_at_width_4096(p, act, wide_hidden):
    """||h_l|| in [1 - eps, 1 + eps] for every layer l and sample [allen-zhu-2019, Lemma 7.1].
    Each relu layer adds a relative fluctuation sqrt(Var[relu(z)^2]) / (2 E[relu(z)^2] sqrt(m))
    = sqrt(5 / (4 m)) = 0.017 to ||h|| at m = 4096, so after 3 layers the std is 0.03; the bound
    0.15 is 5 of those (the max over 8 samples is typically 2-3 std, ~0.08)."""
    hidden = wide_hidden[p, act]
    assert len(hidden) == 2 + (1 if p == "allen-zhu" else 0)  # allen-zhu adds h_0 = relu(Ax)
    norms = torch.stack([h.norm(dim=1) for h in hidden])  # (layers, n = 8)
    eps = float((norms - 1.0).abs().max())
    print(f"\n{p}/{act}: m={WIDE}, {len(hidden)} hidden layers, n=8: eps = {eps:.4f}")
    assert eps < 0.15, f"eps = {eps}"


# ---------------------------------------------------------------------------------------------
# Gradients against central finite differences (float64)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "act", "bias"),
    [(p, "relu", False) for p in ALL]
    + [("du", "tanh", False), ("ntk", "softplus", True), ("standard", "gelu", True)],
)
def test_gradient_matches_central_differences(p, act, bias, tiny_sphere, tiny_sign_sphere):
    data = tiny_sign_sphere if p == "cao-gu" else tiny_sphere  # logistic needs +-1 labels
    model = FullyConnected(
        data.d,
        10,
        3,
        1,
        parameterization=p,
        activation=act,
        bias_std=0.4 if bias else None,
        dtype=torch.float64,
        seed=21,
    )
    loss, reduction = default_loss(p)
    objective = make_objective(loss, reduction, 1)
    X, y = data.X, data.y
    with torch.no_grad():
        _, pre0, _ = model(X, return_hidden=True)
    masks0 = [z > 0 for z in pre0]
    flips = []

    def value() -> torch.Tensor:
        out, pre, _ = model(X, return_hidden=True)
        if act == "relu":  # piecewise polynomial: the FD step must not cross a kink
            flips.append(sum(int(((z > 0) != m0).sum()) for z, m0 in zip(pre, masks0, strict=True)))
        return objective(out, y)

    params = dict(model.trainable_parameters())
    grads = torch.autograd.grad(objective(model(X), y), list(params.values()))
    for (name, param), g in zip(params.items(), grads, strict=True):
        fd = central_difference(value, param)
        scale = float(g.abs().max()) + 1e-12
        torch.testing.assert_close(fd, g, rtol=1e-6, atol=1e-7 * scale, msg=name)
    assert sum(flips) == 0, "an FD step crossed a relu kink: pick another seed"


# ---------------------------------------------------------------------------------------------
# Argument errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(width=0), "width"),
        (dict(depth=0), "depth"),
        (dict(d=-1), "d"),
        (dict(parameterization="mup"), "parameterization"),
        (dict(activation="elu"), "activation"),
        (dict(parameterization="allen-zhu", activation="tanh"), "activation"),
        (dict(parameterization="cao-gu", depth=1), "depth"),
        (dict(parameterization="zou-gu", bias_std=0.1), "bias_std"),
        (dict(trainable="W9"), "trainable"),
        (dict(dtype="float16"), "dtype"),
    ],
)
def test_bad_model_arguments_raise_config_error(kwargs, field):
    args = dict(d=4, width=8, depth=2) | kwargs
    with pytest.raises(ConfigError) as err:
        FullyConnected(args.pop("d"), args.pop("width"), args.pop("depth"), **args)
    assert err.value.field == field
