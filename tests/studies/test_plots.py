"""The figure helpers draw theory lines through the data they are given."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from overparam.studies.plots import bound_line, fitted_line, mean_band, new_figure, theory_through


def test_plot_helpers_draw_through_the_data():
    fig, (ax,) = new_figure()
    stats = pd.DataFrame({"width": [64.0, 1024.0], "mean": [1.0, 0.25]})
    theory_through(ax, stats, "width", -0.5, label="theory")
    fitted_line(ax, [64, 1024], -0.5, 0.0)
    bound_line(ax, 1.0, label="bound")
    _, y = ax.lines[0].get_data()
    assert np.allclose(y[1] / y[0], (1024 / 64) ** -0.5)
    assert np.sqrt(y[0] * y[1]) == pytest.approx(0.5)
    assert ax.lines[0].get_linestyle() == "--" and ax.lines[1].get_linestyle() == ":"
    plt.close(fig)


def test_mean_band_is_the_geometric_mean_and_range_over_seeds():
    df = pd.DataFrame({"width": [8, 8, 16, 16], "y": [1.0, 4.0, 2.0, 2.0]})
    band = mean_band(df, "width", "y").set_index("width")
    assert band.loc[8, "mean"] == pytest.approx(2.0)
    assert (band.loc[8, "lo"], band.loc[8, "hi"]) == (1.0, 4.0)
    assert band.loc[16, "mean"] == pytest.approx(2.0)
