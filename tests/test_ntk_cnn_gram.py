"""The infinite-width CNN kernels of :mod:`overparam.ntk.cnn_gram`: the empirical NTK of wide
CNNs approaches them like m^(-1/2), a 1 x 1 kernel on one position reduces them to the fully
connected kernels to 1e-12, the patch sum against its definition, circular against zero padding
in closed form, and input validation."""

from __future__ import annotations

import itertools
import math
import tracemalloc

import numpy as np
import pytest
import torch

from overparam.errors import ConfigError
from overparam.models import CNN, kernel_scale
from overparam.models.cnn import patch_index
from overparam.ntk import empirical
from overparam.ntk.analytic import analytic
from overparam.ntk.cnn_gram import _patch_sum, cnn_gram, cnn_kernels, cnn_ntk, peak_bytes
from overparam.ntk.gram import du_gram, lambda_min
from overparam.ntk.resnet_gram import du_resnet_gram


def unit_rows(n: int, d: int, seed: int) -> torch.Tensor:
    X = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return X / X.norm(dim=1, keepdim=True)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# -- wide networks ------------------------------------------------------------------------------


def width_errors(
    shape: tuple[int, ...],
    widths: tuple[int, ...],
    seeds: int,
    n: int = 6,
    depth: int = 2,
    kernel_size: int = 3,
    **kw,
) -> np.ndarray:
    """RMS over seeds of ||Theta_m / kernel_scale - K||_F / ||K||_F at each width."""
    form = kw.get("parameterization", "allen-zhu")
    X = unit_rows(n, math.prod(shape), 0)
    K = cnn_ntk(X, shape, depth, kernel_size=kernel_size, **kw)
    rms = []
    for m in widths:
        errors = []
        for seed in range(seeds):
            net = CNN(shape, m, depth, kernel_size, dtype=torch.float64, seed=seed, **kw)
            theta = empirical(net, X).numpy() / kernel_scale(form, m)
            errors.append(rel(theta, K))
        rms.append(math.sqrt(np.mean(np.square(errors))))
    return np.array(rms)


def slope(widths: tuple[int, ...], errors: np.ndarray) -> float:
    return float(np.polyfit(np.log(widths), np.log(errors), 1)[0])


# Widths on a doubling ladder: the fit spans 32x, so the slope's sampling error is ~0.1.
WIDTHS = (16, 32, 64, 128, 256, 512)
CONVERGENCE = {
    "allen-zhu-1d": ((1, 8), {}),
    "allen-zhu-2d": ((1, 4, 4), {"depth": 1}),
    "du-relu": ((1, 8), {"parameterization": "du"}),
    "du-tanh": ((1, 8), {"parameterization": "du", "activation": "tanh"}),
}


@pytest.mark.parametrize("case", list(CONVERGENCE))
def test_empirical_ntk_approaches_the_limit_like_root_m(case):
    shape, kw = CONVERGENCE[case]
    errors = width_errors(shape, WIDTHS, seeds=4, **kw)
    assert -0.7 <= slope(WIDTHS, errors) <= -0.3, errors


WIDE = {
    "allen-zhu-1d": ((1, 8), {}),
    "allen-zhu-2d": ((1, 4, 4), {}),
    "du-relu": ((1, 8), {"parameterization": "du", "depth": 3}),
    "du-tanh": ((1, 8), {"parameterization": "du", "activation": "tanh", "depth": 3}),
    "allen-zhu-zeros-all-even": (
        (2, 6),
        {"padding": "zeros", "trainable": "all", "kernel_size": 2},
    ),
    "du-2d-zeros-softplus": (
        (2, 3, 3),
        {"parameterization": "du", "activation": "softplus", "padding": "zeros", "c_res": 2.0},
    ),
    "du-tanh-last-layer": (
        (1, 8),
        {"parameterization": "du", "activation": "tanh", "depth": 3, "trainable": ["W3"]},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(WIDE))
def test_empirical_ntk_approaches_the_limit_like_root_m_wide(case):
    shape, kw = WIDE[case]
    widths = (*WIDTHS, 1024)
    errors = width_errors(shape, widths, seeds=8, n=8, **kw)
    assert -0.7 <= slope(widths, errors) <= -0.3, errors


def test_cnn_gram_is_the_last_layer_part_of_the_du_ntk():
    X = unit_rows(5, 8, 1)
    gram = cnn_gram(X, (1, 8), 2, activation="tanh", padding="zeros")
    ntk = cnn_ntk(
        X, (1, 8), 2, parameterization="du", activation="tanh", padding="zeros", trainable="W2"
    )
    np.testing.assert_allclose(gram, ntk, rtol=1e-13, atol=0)
    assert lambda_min(gram) > 0


# -- one position, 1 x 1 kernel: the fully connected network ----------------------------------


@pytest.mark.parametrize("trainable", [None, "all", ["A", "W2"]])
@pytest.mark.parametrize("depth", [1, 3])
def test_one_position_allen_zhu_is_the_fully_connected_kernel(depth, trainable):
    X = unit_rows(7, 5, 2) * torch.linspace(0.5, 2.0, 7)[:, None]
    if trainable == ["A", "W2"] and depth < 2:
        trainable = ["A", "W1"]
    k = cnn_kernels(X, (5, 1), depth, kernel_size=1, trainable=trainable)
    fc = analytic(X, depth=depth, parameterization="allen-zhu", trainable=trainable)
    np.testing.assert_allclose(k.ntk, fc.ntk, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(k.nngp, fc.nngp, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("depth", [2, 4])
def test_one_position_du_gram_is_the_resnet_gram(depth, activation):
    X = unit_rows(6, 4, 3)
    ours = cnn_gram(X, (4, 1), depth, kernel_size=1, activation=activation, c_res=1.5)
    ref = du_resnet_gram(X, depth, activation=activation, c_res=1.5)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)


# relu is closed-form on both sides; for a smooth activation analytic() takes its diagonal from
# the polar rule at rho = 1 (accurate to ~1e-11, expectations.QUADRATURE_ORDER), cnn_kernels from
# the same rule at c = a (accurate to ~1e-15 there), hence the looser tolerance.
@pytest.mark.parametrize(("activation", "rtol"), [("relu", 1e-12), ("softplus", 1e-10)])
def test_one_position_du_depth_one_is_the_fully_connected_du_kernel(activation, rtol):
    X = unit_rows(6, 4, 4)
    k = cnn_kernels(X, (4, 1), 1, kernel_size=1, parameterization="du", activation=activation)
    fc = analytic(X, depth=1, parameterization="du", activation=activation)
    np.testing.assert_allclose(k.ntk, fc.ntk, rtol=rtol, atol=1e-14)
    np.testing.assert_allclose(k.nngp, fc.nngp, rtol=rtol, atol=1e-14)
    gram = du_gram(X, depth=1, activation=activation)
    np.testing.assert_allclose(k.gram, gram, rtol=1e-12, atol=1e-14)


# -- the patch sum and padding ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spatial", "kernel", "padding"),
    [((5,), 3, "circular"), ((6,), 2, "zeros"), ((3, 4), 3, "zeros"), ((4, 3), 2, "circular")],
)
def test_patch_sum_is_its_definition(spatial, kernel, padding):
    """P[M](i, s; j, s') = sum_o M(i, s + o; j, s' + o), coordinates computed here directly."""
    n, p = 2, math.prod(spatial)
    M = np.random.default_rng(0).standard_normal((n, p, n, p))
    ours = _patch_sum(M, patch_index(spatial, (kernel,) * len(spatial), padding).numpy())
    coords = list(itertools.product(*(range(s) for s in spatial)))
    offsets = list(
        itertools.product(range(-(kernel // 2), kernel - kernel // 2), repeat=len(spatial))
    )

    def at(c, o):
        moved = [a + b for a, b in zip(c, o, strict=True)]
        if padding == "circular":
            moved = [a % s for a, s in zip(moved, spatial, strict=True)]
        elif any(a < 0 or a >= s for a, s in zip(moved, spatial, strict=True)):
            return None
        return coords.index(tuple(moved))

    ref = np.zeros_like(M)
    for s, t in itertools.product(range(p), repeat=2):
        for o in offsets:
            a, b = at(coords[s], o), at(coords[t], o)
            if a is not None and b is not None:
                ref[:, s, :, t] += M[:, a, :, b]
    np.testing.assert_allclose(ours, ref, rtol=1e-14, atol=1e-14)


def test_end_impulses_are_neighbours_only_with_circular_padding():
    """du, H = 1, relu, x_1 = e_0, x_2 = e_{d-1}: with circular padding the patches at s = 0 and
    s = d - 1 read both impulses (uncorrelated, so E[relu u relu v] = sqrt(ab) / (2 pi) with
    a = b = 1), giving NTK_12 = NNGP_12 = c_sigma * 2 / (2 pi) = 2 / pi; zero padding separates
    them (0). The diagonal is 2 sum_s ||phi_s(x)||^2: 2 q = 6 with circular padding, 2 (q - 1)
    = 4 with zero padding (an end entry is read by two patches)."""
    d = 7
    X = np.zeros((2, d))
    X[0, 0], X[1, d - 1] = 1.0, 1.0
    circ = cnn_kernels(X, (1, d), 1, parameterization="du", padding="circular")
    zero = cnn_kernels(X, (1, d), 1, parameterization="du", padding="zeros")
    np.testing.assert_allclose(circ.ntk, [[6.0, 2 / math.pi], [2 / math.pi, 6.0]], rtol=1e-14)
    np.testing.assert_allclose(circ.nngp[0, 1], 2 / math.pi, rtol=1e-14)
    np.testing.assert_allclose(zero.ntk, [[4.0, 0.0], [0.0, 4.0]], rtol=1e-14, atol=1e-15)


def test_zero_padding_diagonal_loses_the_end_entries():
    """du, H = 1, relu: NTK_ii = 2 sum_s ||phi_s(x_i)||^2 = 2 (3 ||x_i||^2 - x_i0^2 - x_i,d-1^2)
    with zero padding and 6 ||x_i||^2 with circular padding (kernel 3)."""
    X = unit_rows(4, 9, 5).numpy()
    zero = cnn_ntk(X, (1, 9), 1, parameterization="du", padding="zeros")
    circ = cnn_ntk(X, (1, 9), 1, parameterization="du", padding="circular")
    np.testing.assert_allclose(np.diag(zero), 2 * (3 - X[:, 0] ** 2 - X[:, -1] ** 2), rtol=1e-13)
    np.testing.assert_allclose(np.diag(circ), 6.0, rtol=1e-13)


@pytest.mark.parametrize("parameterization", ["allen-zhu", "du"])
def test_padding_is_invisible_to_inputs_far_from_the_boundary(parameterization):
    """Two conv layers of kernel 3 read 2 positions either side: inputs supported on 2..d-3
    never meet the padding, so circular and zero padding give the same kernels."""
    d = 10
    X = np.zeros((4, d))
    X[:, 2 : d - 2] = unit_rows(4, d - 4, 6).numpy()
    kw = {"parameterization": parameterization, "trainable": "all"}
    circ = cnn_kernels(X, (1, d), 2 if parameterization == "du" else 1, padding="circular", **kw)
    zero = cnn_kernels(X, (1, d), 2 if parameterization == "du" else 1, padding="zeros", **kw)
    np.testing.assert_allclose(zero.ntk, circ.ntk, rtol=1e-13)
    np.testing.assert_allclose(zero.nngp, circ.nngp, rtol=1e-13)
    X[0, 0] = 0.3  # one boundary entry: now they differ
    assert rel(cnn_ntk(X, (1, d), 1, padding="zeros"), cnn_ntk(X, (1, d), 1)) > 1e-3


@pytest.mark.parametrize(
    ("shape", "kw"),
    [
        ((1, 4, 4), {}),
        ((1, 6), {"parameterization": "du", "activation": "tanh", "padding": "zeros"}),
    ],
)
def test_kernels_are_positive_semidefinite(shape, kw):
    kw = {"depth": 2, **kw}
    X = unit_rows(8, math.prod(shape), 7)
    k = cnn_kernels(X, shape, **kw)
    for M in (k.ntk, k.nngp, k.gram):
        assert lambda_min(M) >= -1e-12 * np.abs(M).max()


def test_image_and_flat_inputs_agree():
    X = unit_rows(4, 18, 8)
    flat = cnn_ntk(X, (2, 3, 3), 2)
    image = cnn_ntk(X.reshape(4, 2, 3, 3), (2, 3, 3), 2)
    np.testing.assert_array_equal(flat, image)


# -- bad input ----------------------------------------------------------------------------------


X8 = np.ones((3, 8))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"X": X8, "in_shape": (1, 2, 2, 2)}, "in_shape"),
        ({"X": X8, "in_shape": (0, 8)}, "in_shape"),
        ({"X": np.ones((3, 9))}, "X"),
        ({"X": np.ones(8)}, "X"),
        ({"X": np.ones((3, 2, 4))}, "X"),
        ({"X": np.full((3, 8), np.nan)}, "X"),
        ({"X": "abc"}, "X"),
        ({"X": X8, "depth": 0}, "depth"),
        ({"X": X8, "depth": True}, "depth"),
        ({"X": X8, "kernel_size": 0}, "kernel_size"),
        ({"X": X8, "kernel_size": 9}, "kernel_size"),
        ({"X": X8, "padding": "reflect"}, "padding"),
        ({"X": X8, "parameterization": "zou-gu"}, "parameterization"),
        ({"X": X8, "parameterization": "nope"}, "parameterization"),
        ({"X": X8, "activation": "tanh"}, "activation"),
        ({"X": X8, "activation": "cube", "parameterization": "du"}, "activation"),
        ({"X": X8, "parameterization": "du", "c_res": 0.0}, "c_res"),
        ({"X": X8, "trainable": ["W9"]}, "trainable"),
        ({"X": np.zeros((2, 4096)), "in_shape": (1, 64, 64)}, "X"),
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    args = {"in_shape": (1, 8), "depth": 1, **kwargs}
    with pytest.raises(ConfigError) as err:
        cnn_ntk(args.pop("X"), args.pop("in_shape"), args.pop("depth"), **args)
    assert err.value.field == field
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("parameterization", "padding"), [("allen-zhu", "circular"), ("du", "zeros")]
)
def test_peak_memory_estimate_bounds_the_allocations(parameterization, padding):
    X = unit_rows(8, 36, 9).numpy()
    tracemalloc.start()
    try:
        cnn_kernels(X, (1, 6, 6), 2, parameterization=parameterization, padding=padding)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = peak_bytes(8, 36)
    assert 0.5 * estimate < peak <= estimate


def test_too_large_input_names_the_size():
    with pytest.raises(ConfigError, match="8192 rows"):
        cnn_ntk(np.zeros((2, 4096)), (1, 64, 64), 1)
