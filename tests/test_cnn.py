"""CNN: patch convolutions against torch's conv1d / conv2d, structured NTK against autograd,
gradients against finite differences, the norm identity of circular padding, training on digits
with GD and SGD, and input validation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from overparam.config import build_config
from overparam.errors import ConfigError
from overparam.models import CNN
from overparam.models.cnn import extract_patches, patch_adjoint, patch_index
from overparam.ntk import empirical
from overparam.run import build_data, run, setup
from overparam.train.losses import accuracy

SHAPES = [(1, 7), (2, 5), (1, 4, 4), (2, 3, 4)]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def images(n: int, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(
        n, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


# -- the patch operator is a convolution -------------------------------------------------------


def torch_conv(x: torch.Tensor, W: torch.Tensor, kernel: int, padding: str) -> torch.Tensor:
    """Reference: torch's cross-correlation with the CNN's (m, q C) weight reshaped to
    (m, C, k[, k]) (patch entries are offset-major, then channel)."""
    c, spatial = x.shape[1], x.shape[2:]
    m = W.shape[0]
    w = W.reshape(m, *((kernel,) * len(spatial)), c).movedim(-1, 1)
    pad = kernel // 2
    conv = F.conv1d if len(spatial) == 1 else F.conv2d
    if padding == "circular":
        x = F.pad(x, (pad, pad) * len(spatial), mode="circular")
        return conv(x, w)
    return conv(x, w, padding=pad)


@pytest.mark.parametrize(
    ("shape", "padding"), list(itertools.product(SHAPES, ["circular", "zeros"]))
)
def test_first_layer_is_torch_convolution(shape, padding):
    x = images(3, shape, 0)
    net = CNN(shape, 4, 1, 3, padding=padding, dtype=torch.float64, seed=1)
    with torch.no_grad():
        _, pre, _ = net(x, return_hidden=True)
    W = net.layers[0].weight.detach() * net.specs[0].multiplier
    ref = torch_conv(x, W, 3, padding)  # (n, m, *spatial)
    ours = pre[0].reshape(3, net.positions, 4).transpose(1, 2).reshape(ref.shape)
    assert rel(ours, ref) < 1e-12


def test_patch_adjoint_is_the_adjoint():
    gen = torch.Generator().manual_seed(2)
    for spatial, padding in itertools.product([(6,), (3, 4)], ["circular", "zeros"]):
        index = patch_index(spatial, (3,) * len(spatial), padding)
        p = index.shape[0]
        h = torch.randn(2, p, 3, generator=gen, dtype=torch.float64)
        g = torch.randn(2, p, 9 if len(spatial) == 1 else 27, generator=gen, dtype=torch.float64)
        lhs = (extract_patches(h, index) * g).sum()
        rhs = (h * patch_adjoint(g, index, 3)).sum()
        assert float(abs(lhs - rhs)) < 1e-12 * float(abs(lhs))


def test_circular_padding_norm_identity():
    """sum_p ||phi_p(h)||^2 = q ||h||_F^2 exactly with circular padding."""
    h = torch.randn(2, 12, 3, dtype=torch.float64)
    index = patch_index((3, 4), (3, 3), "circular")
    P = extract_patches(h, index)
    np.testing.assert_allclose((P**2).sum((1, 2)), 9 * (h**2).sum((1, 2)), rtol=1e-12)


def test_allen_zhu_init_preserves_norm():
    """Var 2/(q m) keeps ||h_l||_F ~ ||x|| layer after layer with circular padding
    [allen-zhu-2019, Lemma 7.1]; zero padding loses the boundary's share at every layer."""
    x = images(16, (1, 8, 8), 3)
    x = x / x.flatten(1).norm(dim=1)[:, None, None, None]

    def mean_norms(padding: str) -> np.ndarray:
        rows = []
        for seed in range(6):
            net = CNN((1, 8, 8), 64, 4, 3, padding=padding, dtype=torch.float64, seed=seed)
            with torch.no_grad():
                _, _, hidden = net(x, return_hidden=True)
            rows.append([float(h.norm(dim=1).mean()) for h in hidden])
        return np.exp(np.log(np.array(rows)).mean(0))  # geometric mean over seeds, per layer

    circular, zeros = mean_norms("circular"), mean_norms("zeros")
    assert np.all((circular > 0.9) & (circular < 1.1)), circular
    assert zeros[-1] < 0.8 < circular[-1], zeros


# -- structured NTK ----------------------------------------------------------------------------


def ntk_cases():
    forms = [("allen-zhu", "relu"), ("du", "relu"), ("du", "tanh")]
    for shape, (param, act), padding, k in itertools.product(
        SHAPES, forms, ["circular", "zeros"], [1, 2]
    ):
        yield pytest.param(
            shape, param, act, padding, k, id=f"{shape}-{param}-{act}-{padding}-k{k}"
        )


@pytest.mark.parametrize(("shape", "param", "act", "padding", "k"), list(ntk_cases()))
def test_structured_equals_autograd(shape, param, act, padding, k):
    X, X2 = images(4, shape, 5), images(3, shape, 6)
    net = CNN(shape, 3, 2, 3, k, parameterization=param, activation=act, trainable="all",
              padding=padding, dtype=torch.float64, seed=7)  # fmt: skip
    for x2 in (None, X2):
        fast, fast_parts = empirical(net, X, x2, per_layer=True)
        ref, ref_parts = empirical(net, X, x2, method="autograd", per_layer=True)
        assert rel(fast, ref) < 1e-10
        assert set(fast_parts) == set(ref_parts) == net.trained
        for name, part in fast_parts.items():
            assert float((part - ref_parts[name]).norm()) < 1e-10 * float(ref.norm())


@pytest.mark.parametrize("param", ["allen-zhu", "du"])
def test_structured_default_trained_set_and_flat_inputs(param):
    X = images(5, (1, 4, 4), 8)
    net = CNN((1, 4, 4), 3, 3, 3, parameterization=param, dtype=torch.float64, seed=9)
    fast = empirical(net, X.flatten(1))
    assert rel(fast, empirical(net, X, method="autograd")) < 1e-10


# -- gradients against finite differences ------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "param", "padding"),
    [((1, 6), "allen-zhu", "zeros"), ((1, 4, 4), "allen-zhu", "circular"),
     ((2, 3, 4), "du", "zeros"), ((1, 5), "du", "circular")],
)  # fmt: skip
def test_gradients_against_finite_differences(shape, param, padding):
    """Central differences of the loss 1/2 ||f - y||^2 for 5 entries of every layer."""
    X = images(3, shape, 10)
    y = torch.randn(3, 2, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    act = "relu" if param == "allen-zhu" else "softplus"
    net = CNN(shape, 3, 2, 3, 2, parameterization=param, activation=act, trainable="all",
              padding=padding, dtype=torch.float64, seed=12)  # fmt: skip

    def loss() -> torch.Tensor:
        return 0.5 * ((net(X) - y) ** 2).sum()

    grads = torch.autograd.grad(loss(), list(net.parameters()))
    gen = torch.Generator().manual_seed(13)
    eps = 1e-6
    for p, g in zip(net.parameters(), grads, strict=True):
        flat = p.data.view(-1)
        for i in torch.randint(0, flat.numel(), (5,), generator=gen).tolist():
            old = float(flat[i])
            with torch.no_grad():
                flat[i] = old + eps
                up = float(loss())
                flat[i] = old - eps
                down = float(loss())
                flat[i] = old
            fd = (up - down) / (2 * eps)
            assert abs(fd - float(g.view(-1)[i])) < 1e-6 * max(1.0, abs(fd)), (p.shape, i)


# -- data and training -------------------------------------------------------------------------


def test_digits_as_images():
    cfg = build_config(arch="cnn", data="digits", n=30)
    train, test = build_data(cfg)
    assert train.X.shape == (30, 64) and test is not None and test.X.shape[1] == 64
    np.testing.assert_allclose(train.X.norm(dim=1), 1.0, rtol=1e-12)
    # the image is the fc input without its mu coordinate, rescaled to unit norm
    fc_train, _ = build_data(build_config(data="digits", n=30))
    pixels = fc_train.X[:, :64]
    torch.testing.assert_close(train.X, pixels / pixels.norm(dim=1, keepdim=True))


JVP_WARNING = "ignore:`torch.jit.script` is deprecated:DeprecationWarning"


@pytest.mark.filterwarnings(JVP_WARNING)
@pytest.mark.parametrize(
    ("param", "algorithm"), [("allen-zhu", "gd"), ("du", "gd"), ("allen-zhu", "sgd")]
)
def test_trains_on_digits(param, algorithm):
    batch = 8 if algorithm == "sgd" else None
    cfg = build_config(
        arch="cnn", data="digits", parameterization=param, n=24, width=4, depth=2, steps=30,
        algorithm=algorithm, batch=batch, dtype="float64",
    )  # fmt: skip
    s = setup(cfg)
    h = run(cfg, setup_=s)
    assert h.status == "max_steps"
    assert h.final_loss < 0.7 * h.initial_loss
    with torch.no_grad():
        assert h.test_accuracy == accuracy(s.model(s.test.X), s.test.y)


@pytest.mark.filterwarnings(JVP_WARNING)
def test_trains_on_sphere_as_1d_signal():
    cfg = build_config(arch="cnn", n=10, d=8, width=4, depth=2, steps=30, dtype="float64")
    h = run(cfg)
    assert h.final_loss < 0.7 * h.initial_loss


def test_errors():
    with pytest.raises(ConfigError, match="parameterization"):
        CNN((1, 8), 4, 2, parameterization="zou-gu")
    with pytest.raises(ConfigError, match="in_shape"):
        CNN((1, 2, 3, 4), 4, 2)
    with pytest.raises(ConfigError, match="kernel_size"):
        CNN((1, 2), 4, 2, kernel_size=3)
    with pytest.raises(ConfigError, match="padding"):
        CNN((1, 8), 4, 2, padding="reflect")
    with pytest.raises(ConfigError, match="x"):
        CNN((1, 8), 4, 2)(torch.randn(2, 9))
    with pytest.raises(ConfigError, match="parameterization"):
        build_config(arch="cnn", parameterization="ntk")
    assert build_config(arch="cnn").parameterization == "allen-zhu"


@pytest.mark.parametrize(
    "kw",
    [
        dict(arch="cnn", n=8, d=6, width=4, depth=2),
        dict(arch="cnn", parameterization="du", n=8, d=6, width=4, depth=2),
    ],
)
def test_every_probe_that_applies_runs(kw):
    """``probes=("all",)`` through the probes' model interface (return_hidden, specs,
    parameter_layers, trained): every probe records rows."""
    from overparam.probes import probe_names

    cfg = build_config(**kw, steps=6, lr=0.01, probes=("all",), probe_every=2, dtype="float64")
    h = run(cfg)
    recorded = {r["probe"] for r in h.records}
    assert h.status == "max_steps"
    assert {"norms", "movement", "ntk_drift", "linearization"} <= recorded <= set(probe_names())
    assert "flips" in recorded
