"""Which steps a probe or a down-sampled curve looks at."""

from __future__ import annotations

import numpy as np


def log_spaced(steps: int, points: int = 50) -> list[int]:
    """About ``points`` distinct steps in [0, steps], log-spaced, always including 0 and steps."""
    if steps <= 0:
        return [0]
    grid = np.unique(np.round(np.geomspace(1, steps + 1, points) - 1).astype(int))
    return sorted({0, steps, *grid.tolist()})


def every(steps: int, k: int) -> list[int]:
    """Steps 0, k, 2k, ... and the last one."""
    return sorted({*range(0, steps + 1, max(k, 1)), steps})
