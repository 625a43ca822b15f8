"""fit_exponent recovers known exponents from noisy power laws, within its interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from overparam.errors import ConfigError
from overparam.sweep import exponent_table, fit_exponent


def _power_law(p: float, noise: float, seed: int, reps: int = 5, c: float = 3.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.repeat(np.geomspace(8, 512, 7), reps)
    y = c * x**p * np.exp(noise * rng.standard_normal(x.size))
    return pd.DataFrame({"x": x, "y": y})


def test_exact_power_law():
    fit = fit_exponent(_power_law(2.0, 0.0, 0), "x", "y", n_boot=50)
    assert fit.exponent == pytest.approx(2.0, abs=1e-12)
    assert fit.intercept == pytest.approx(np.log(3.0), abs=1e-10)
    assert fit.r2 == pytest.approx(1.0) and fit.low == pytest.approx(fit.high)


@pytest.mark.parametrize(("p", "seed"), [(0.5, 0), (-0.5, 1), (1.0, 2), (8.0, 3), (-1.5, 4)])
def test_recovers_the_exponent_within_its_interval(p, seed):
    fit = fit_exponent(_power_law(p, 0.2, seed), "x", "y", seed=seed)
    assert fit.covers(p), fit
    assert fit.low < fit.exponent < fit.high
    assert fit.high - fit.low < 0.2  # 35 points over two decades pin the slope down
    assert fit.n == 35 and fit.level == 0.95


def test_interval_coverage_is_about_the_nominal_level():
    # 95% intervals over 200 independent noisy data sets: coverage within a loose band.
    hits = sum(
        fit_exponent(_power_law(1.0, 0.3, s, reps=3), "x", "y", n_boot=400, seed=s).covers(1.0)
        for s in range(200)
    )
    assert 0.85 * 200 <= hits <= 200


def test_reciprocal_columns_and_bad_rows():
    df = pd.DataFrame({"phi": [0.1, 0.2, 0.4, 0.8], "m": [16e4, 1e4, 625.0, 39.0625]})
    fit = fit_exponent(df, "1/phi", "m", n_boot=50)
    assert fit.exponent == pytest.approx(4.0) and fit.x == "1/phi"
    messy = pd.concat([df, pd.DataFrame({"phi": [0.0, -1.0, np.nan], "m": [1.0, 1.0, 1.0]})])
    assert fit_exponent(messy, "1/phi", "m", n_boot=50).n == 4  # non-positive / NaN dropped


def test_errors():
    df = pd.DataFrame({"x": [1.0, 1.0, 1.0], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(ConfigError, match="2 distinct x"):
        fit_exponent(df, "x", "y")
    with pytest.raises(ConfigError, match="column"):
        fit_exponent(df, "width", "y")
    with pytest.raises(ConfigError, match="level"):
        fit_exponent(df, "x", "y", level=1.5)


def test_exponent_table_reports_theory_next_to_measurement():
    rng = np.random.default_rng(0)
    n = np.repeat([8, 16, 32, 64], 3)
    df = pd.DataFrame(
        {"n": n, "depth": 2, "width": 5 * n**2.0 * np.exp(0.05 * rng.standard_normal(n.size))}
    )
    table = exponent_table(df, "width", n_boot=200)
    assert list(table["symbol"]) == ["n"]  # depth does not vary, phi is absent
    row = table.iloc[0]
    assert row["low"] <= 2.0 <= row["high"]
    # [zou-gu-2019, Theorem 3.3]: n^8; [allen-zhu-2019] via [zou-gu-2019, Table 1]: n^24.
    assert (row["zou-gu-2019"], row["allen-zhu-2019"]) == (8.0, 24.0)
    both = exponent_table(df.assign(depth=np.tile([1, 2, 4], 4)), "width", n_boot=50)
    theory_l = both.set_index("symbol").loc["L", ["zou-gu-2019", "allen-zhu-2019"]]
    assert list(theory_l) == [12.0, 12.0]
