"""overparam.sweep: grids of runs from a TOML spec, resumable against the results store.

- :func:`load_spec` / :func:`shipped_specs`: specs (``overparam/specs/*.toml``), validated;
- :func:`run_sweep`: run or resume a spec with the ``local``, ``batched`` or ``ray`` executor;
- :func:`critical_width`: the smallest width at which GD reaches a target, on a log2 grid
  refined by bisection;
- :func:`fit_exponent` / :func:`exponent_table`: log-log exponents with bootstrap intervals,
  next to the theorems' exponents.
"""

from overparam.sweep.batched import run_batched as run_batched
from overparam.sweep.batched import train_batched as train_batched
from overparam.sweep.critical import CriticalWidth as CriticalWidth
from overparam.sweep.critical import critical_width as critical_width
from overparam.sweep.executors import EXECUTORS as EXECUTORS
from overparam.sweep.executors import make_executor as make_executor
from overparam.sweep.fit import ExponentFit as ExponentFit
from overparam.sweep.fit import exponent_table as exponent_table
from overparam.sweep.fit import fit_exponent as fit_exponent
from overparam.sweep.runner import SweepResult as SweepResult
from overparam.sweep.runner import run_sweep as run_sweep
from overparam.sweep.spec import SweepSpec as SweepSpec
from overparam.sweep.spec import load_spec as load_spec
from overparam.sweep.spec import parse_spec as parse_spec
from overparam.sweep.spec import shipped_specs as shipped_specs

__all__ = [
    "EXECUTORS",
    "CriticalWidth",
    "ExponentFit",
    "SweepResult",
    "SweepSpec",
    "critical_width",
    "exponent_table",
    "fit_exponent",
    "load_spec",
    "make_executor",
    "parse_spec",
    "run_batched",
    "run_sweep",
    "shipped_specs",
    "train_batched",
]
