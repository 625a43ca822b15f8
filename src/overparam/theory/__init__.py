"""overparam.theory: the width / iteration / step-size requirements of the papers, cited.

:func:`bounds` evaluates every result of [zou-gu-2019, Table 1] and its Theorems 3.3, 3.8, 3.10,
Corollary 3.5 and Remark 3.7, and [du-2019-deep, Theorem 5.1], in log10; :func:`bounds_for`
measures their inputs on a dataset; :func:`theory_exponents` gives a result's width exponents.
"""

from overparam.theory.bounds import Bound as Bound
from overparam.theory.bounds import Constants as Constants
from overparam.theory.bounds import bounds as bounds
from overparam.theory.bounds import format_log10 as format_log10
from overparam.theory.bounds import solve_log_fixed_point as solve_log_fixed_point
from overparam.theory.bounds import sort_by_width as sort_by_width
from overparam.theory.bounds import theory_exponents as theory_exponents
from overparam.theory.bounds import to_frame as to_frame
from overparam.theory.bounds import to_records as to_records
from overparam.theory.measure import MeasuredInputs as MeasuredInputs
from overparam.theory.measure import bounds_for as bounds_for
from overparam.theory.measure import measure_inputs as measure_inputs
from overparam.theory.results import RESULTS as RESULTS
from overparam.theory.results import Algorithm as Algorithm
from overparam.theory.results import Network as Network
from overparam.theory.results import Result as Result

__all__ = [
    "RESULTS",
    "Algorithm",
    "Bound",
    "Constants",
    "MeasuredInputs",
    "Network",
    "Result",
    "bounds",
    "bounds_for",
    "format_log10",
    "measure_inputs",
    "solve_log_fixed_point",
    "sort_by_width",
    "theory_exponents",
    "to_frame",
    "to_records",
]
