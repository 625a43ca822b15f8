"""Data under the papers' assumptions, checked against brute force and independent recomputation:
unit norm and last coordinate mu [zou-gu-2019, Assumption 3.1], separation phi
[zou-gu-2019, Assumption 3.2], exact close pairs, digits labels and label noise."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
import torch
from conftest import SIGMAS, binomial_band
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial import cKDTree
from scipy.spatial.distance import pdist

from overparam.data import close_pair, digits, min_separation, sphere
from overparam.errors import ConfigError


def brute_force_separation(X: torch.Tensor) -> float:
    """min_{i<j} ||x_i - x_j|| over all pairs, one pair at a time (no Gram-matrix shortcut)."""
    rows = X.tolist()
    return min(math.dist(a, b) for a, b in itertools.combinations(rows, 2))


def assert_on_slice(X: torch.Tensor, mu: float) -> None:
    """[zou-gu-2019, Assumption 3.1]: ||x|| = 1 and x_d = mu for every row."""
    torch.testing.assert_close(
        X.norm(dim=1), torch.ones(X.shape[0], dtype=X.dtype), atol=1e-12, rtol=0
    )
    assert torch.all(X[:, -1] == mu)


# ---------------------------------------------------------------------------------------------
# sphere
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "d", "mu", "sep"),
    [(40, 5, 0.5, 0.0), (40, 5, 0.3, 0.5), (20, 3, 0.8, 0.1), (25, 12, 0.1, 1.1), (2, 2, 0.5, 0)],
)
def test_sphere_points_satisfy_the_assumptions(n, d, mu, sep):
    ds = sphere(n, d, mu=mu, min_separation=sep, seed=7)
    assert ds.X.shape == (n, d) and ds.X.dtype == torch.float64
    assert_on_slice(ds.X, mu)
    truth = brute_force_separation(ds.X)
    assert ds.separation >= sep
    assert ds.separation == pytest.approx(truth, rel=1e-7, abs=1e-9)
    assert ds.provenance["generator"] == "sphere" and ds.provenance["seed"] == 7


def test_min_separation_equals_brute_force_and_pdist():
    X = torch.randn(300, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    X[17] = X[123] + 1e-3  # a known closest pair
    assert min_separation(X) == pytest.approx(brute_force_separation(X), rel=1e-6)
    assert min_separation(X) == pytest.approx(float(pdist(X.numpy()).min()), rel=1e-6)
    assert min_separation(X[:1]) == math.inf


def test_sphere_is_deterministic_and_labels_do_not_move_inputs():
    a, b = sphere(20, 6, seed=3), sphere(20, 6, seed=3)
    assert torch.equal(a.X, b.X) and torch.equal(a.y, b.y)
    assert not torch.equal(a.X, sphere(20, 6, seed=4).X)
    # inputs and labels are separate streams: another label kind leaves X unchanged
    for labels, k in (("sign", 1), ("onehot", 3), ("teacher", 2), ("gaussian", 4)):
        assert torch.equal(sphere(20, 6, labels=labels, k=k, seed=3).X, a.X), labels


def test_sphere_labels_have_their_stated_form():
    sign = sphere(200, 4, labels="sign", seed=1)
    assert set(sign.y.flatten().tolist()) == {-1.0, 1.0}
    assert torch.equal(sign.classes, (sign.y[:, 0] > 0).long())
    onehot = sphere(200, 4, labels="onehot", k=5, seed=1)
    assert torch.equal(onehot.y.sum(1), torch.ones(200, dtype=torch.float64))
    assert torch.equal(onehot.y.argmax(1), onehot.classes)
    teacher = sphere(200, 4, labels="teacher", k=2, seed=1)  # standardized per output
    torch.testing.assert_close(
        teacher.y.mean(0), torch.zeros(2, dtype=torch.float64), atol=1e-12, rtol=0
    )
    torch.testing.assert_close(
        teacher.y.std(0), torch.ones(2, dtype=torch.float64), atol=1e-12, rtol=0
    )
    gauss = sphere(4000, 3, labels="gaussian", seed=2)
    assert abs(float(gauss.y.mean())) < SIGMAS / math.sqrt(4000)


@pytest.mark.parametrize(
    ("n", "d", "sep", "branch"),
    [
        (100, 3, 1.5, "packing bound"),  # at most 3 points on a circle of radius sqrt(3)/2
        (17, 3, 0.3, "attempt budget"),  # <= 18 fit, random sequential packing reaches ~13
        (28, 4, 0.6, "attempt budget"),  # <= 32 fit on the 2-sphere
    ],
)
def test_infeasible_separation_fails_fast_with_config_error(n, d, sep, branch):
    start = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        sphere(n, d, min_separation=sep, seed=0)
    assert time.perf_counter() - start < 5.0, branch
    assert err.value.field == "min_separation"
    assert ("at most" in str(err.value)) == (branch == "packing bound")


@given(
    n=st.integers(2, 40),
    d=st.integers(2, 6),
    mu=st.floats(0.05, 0.95),
    sep=st.floats(0.0, 1.99),
    seed=st.integers(0, 2**31 - 1),
)
def test_sphere_either_separates_or_refuses_quickly(n, d, mu, sep, seed):
    """Any request returns data with separation >= sep, or a ConfigError, in bounded time."""
    start = time.perf_counter()
    try:
        ds = sphere(n, d, mu=mu, min_separation=sep, seed=seed)
    except ConfigError as e:
        assert e.field == "min_separation"
    else:
        assert ds.separation >= sep
        assert_on_slice(ds.X, mu)
    assert time.perf_counter() - start < 5.0


def test_tiny_separation_never_accepts_duplicates():
    """d = 2 leaves u in {-1, +1}; a chord whose square underflows must still reject u = u'."""
    ds = sphere(2, 2, mu=0.5, min_separation=2.2e-311, seed=0)
    assert ds.separation == pytest.approx(2 * math.sqrt(0.75), rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(n=0, d=3), "n"),
        (dict(n=4, d=1), "d"),
        (dict(n=4, d=3, mu=0.0), "mu"),
        (dict(n=4, d=3, mu=1.0), "mu"),
        (dict(n=4, d=3, min_separation=2.0), "min_separation"),
        (dict(n=4, d=3, k=0), "k"),
        (dict(n=4, d=3, labels="ordinal"), "labels"),
        (dict(n=4, d=3, labels="onehot", k=1), "k"),
    ],
)
def test_bad_sphere_arguments_raise_config_error(kwargs, field):
    with pytest.raises(ConfigError) as err:
        sphere(**kwargs)
    assert err.value.field == field


# ---------------------------------------------------------------------------------------------
# close_pair
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("phi", "mu", "d"), [(1e-3, 0.5, 6), (0.05, 0.2, 3), (0.4, 0.7, 10)])
def test_close_pair_has_exactly_distance_phi(phi, mu, d):
    ds = close_pair(12, d, phi=phi, mu=mu, min_separation=2 * phi, seed=5)
    base = sphere(12, d, mu=mu, min_separation=2 * phi, seed=5)
    assert_on_slice(ds.X, mu)
    assert float((ds.X[0] - ds.X[1]).norm()) == pytest.approx(phi, rel=1e-12)
    # only x_1 moved; labels untouched
    assert torch.equal(ds.X[0], base.X[0]) and torch.equal(ds.X[2:], base.X[2:])
    assert torch.equal(ds.y, base.y)
    # min_separation >= 2 phi makes phi the separation (triangle inequality)
    assert ds.separation == pytest.approx(phi, rel=1e-6)
    assert brute_force_separation(ds.X) == pytest.approx(phi, rel=1e-12)


def test_close_pair_at_the_largest_distance_is_antipodal_on_the_slice():
    mu = 0.6
    r = math.sqrt(1 - mu * mu)
    ds = close_pair(3, 4, phi=2 * r, mu=mu, seed=1)
    torch.testing.assert_close(ds.X[1, :-1], -ds.X[0, :-1], atol=1e-12, rtol=0)


@pytest.mark.parametrize(("n", "phi"), [(1, 0.1), (4, 0.0), (4, 1.8), (4, -0.1)])
def test_bad_close_pair_raises_config_error(n, phi):
    with pytest.raises(ConfigError):  # mu = 0.5: phi must be in (0, sqrt(3)]
        close_pair(n, 4, phi=phi, mu=0.5)


# ---------------------------------------------------------------------------------------------
# digits
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """Rows normalized independently of overparam: center, scale to sqrt(1 - mu^2), append mu;
    with their digit labels."""
    from sklearn.datasets import load_digits

    features, digit = load_digits(return_X_y=True)
    centered = features - features.mean(axis=0)
    mu = 0.5
    rows = centered * (math.sqrt(1 - mu * mu) / np.linalg.norm(centered, axis=1))[:, None]
    return np.hstack([rows, np.full((len(rows), 1), mu)]), digit


def true_digits(X: torch.Tensor, reference: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The digit of each row of X, by exact matching against the independently normalized set."""
    rows, digit = reference
    dist, nearest = cKDTree(rows).query(X.numpy())
    assert dist.max() < 1e-12, "a digits row matches no image"
    return digit[nearest]


@pytest.fixture(scope="module")
def clean_split():
    return digits(task="binary", seed=0)


def test_digits_rows_satisfy_assumption_3_1_and_match_sklearn(clean_split, sklearn_digits):
    train, test = clean_split
    assert (train.n, test.n, train.d) == (1437, 360, 65)  # 20% stratified hold-out of 1797
    assert_on_slice(train.X, 0.5)
    assert_on_slice(test.X, 0.5)
    for split in (train, test):
        digit = true_digits(split.X, sklearn_digits)
        expected = np.where(digit < 5, 1.0, -1.0)  # digits 0-4 -> +1, 5-9 -> -1
        assert np.array_equal(split.y[:, 0].numpy(), expected)
    assert train.separation == pytest.approx(float(pdist(train.X.numpy()).min()), rel=1e-6)
    assert train.separation > 0.05  # no duplicate images: Assumption 3.2 holds


def test_digits_multiclass_is_one_hot_of_the_digit(sklearn_digits):
    train, _ = digits(task="multiclass", n=300, seed=1)
    digit = true_digits(train.X, sklearn_digits)
    assert np.array_equal(train.y.argmax(1).numpy(), digit)
    assert torch.equal(train.y.sum(1), torch.ones(300, dtype=torch.float64))
    assert train.k == 10


def test_digits_label_noise_is_binomial_and_spares_the_test_split(clean_split, sklearn_digits):
    noisy_train, noisy_test = digits(task="binary", noise=0.5, seed=0)
    train, test = clean_split
    n = train.n
    # inputs and split are unchanged; only training labels move
    assert torch.equal(noisy_train.X, train.X) and torch.equal(noisy_test.X, test.X)
    assert torch.equal(noisy_test.y, test.y)
    corrupted = noisy_train.provenance["corrupted"]
    lo, hi = binomial_band(n, 0.5)  # each label is redrawn with probability 0.5
    assert lo <= corrupted <= hi, (corrupted, lo, hi)
    # a redrawn binary label is wrong half the time: flips ~ Binomial(n, 0.25)
    flipped = int((noisy_train.y != train.y).sum())
    lo, hi = binomial_band(n, 0.25)
    assert lo <= flipped <= hi, (flipped, lo, hi)
    assert flipped <= corrupted
    digit = true_digits(noisy_test.X, sklearn_digits)
    assert np.array_equal(noisy_test.y[:, 0].numpy(), np.where(digit < 5, 1.0, -1.0))


def test_digits_random_task_redraws_every_training_label(clean_split):
    train, _ = clean_split
    rnd, rnd_test = digits(task="random", seed=0)
    assert rnd.provenance["corrupted"] == train.n
    lo, hi = binomial_band(train.n, 0.5)
    assert lo <= int((rnd.y != train.y).sum()) <= hi
    assert torch.equal(rnd_test.y, clean_split[1].y)


def test_digits_subsample_is_a_prefix_and_deterministic(clean_split):
    sub, test = digits(task="binary", n=256, seed=0)
    assert torch.equal(sub.X, clean_split[0].X[:256])
    assert torch.equal(test.X, clean_split[1].X)
    other, _ = digits(task="binary", n=256, seed=1)
    assert not torch.equal(other.X, sub.X)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(task="ternary"), "task"),
        (dict(noise=1.5), "noise"),
        (dict(test_fraction=1.0), "test_fraction"),
        (dict(mu=1.0), "mu"),
        (dict(n=0), "n"),
        (dict(n=5000), "n"),
    ],
)
def test_bad_digits_arguments_raise_config_error(kwargs, field):
    with pytest.raises(ConfigError) as err:
        digits(**kwargs)
    assert err.value.field == field
