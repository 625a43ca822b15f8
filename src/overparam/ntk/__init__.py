"""Neural tangent kernels: empirical (structured, generic, autograd), the linearized network
and infinite-width kernels.

Each architecture's structured rule is registered by its declaration in
:mod:`overparam.architectures`.
"""

# Registers every architecture's structured rule (the package imports submodules of this one,
# never its names, so either may be imported first).
from overparam import architectures as _architectures  # noqa: F401
from overparam.ntk.analytic import Kernel as Kernel
from overparam.ntk.analytic import analytic as analytic
from overparam.ntk.analytic import analytic_rows as analytic_rows
from overparam.ntk.cnn_gram import cnn_gram as cnn_gram
from overparam.ntk.cnn_gram import cnn_ntk as cnn_ntk
from overparam.ntk.empirical import Method as Method
from overparam.ntk.empirical import empirical as empirical
from overparam.ntk.expectations import ExpectationMethod as ExpectationMethod
from overparam.ntk.expectations import gaussian_expectations as gaussian_expectations
from overparam.ntk.generic import FactoredLayer as FactoredLayer
from overparam.ntk.generic import GenericPlan as GenericPlan
from overparam.ntk.generic import generic_ntk as generic_ntk
from overparam.ntk.generic import generic_plan as generic_plan
from overparam.ntk.gram import SeparationCheck as SeparationCheck
from overparam.ntk.gram import du_gram as du_gram
from overparam.ntk.gram import h_infinity as h_infinity
from overparam.ntk.gram import lambda_max as lambda_max
from overparam.ntk.gram import lambda_min as lambda_min
from overparam.ntk.gram import min_distance as min_distance
from overparam.ntk.gram import separation_check as separation_check
from overparam.ntk.linearized import Linearized as Linearized
from overparam.ntk.linearized import linearization_gap as linearization_gap
from overparam.ntk.structured import LayerFactors as LayerFactors
from overparam.ntk.structured import register_rule as register_rule

__all__ = [
    "ExpectationMethod",
    "FactoredLayer",
    "GenericPlan",
    "Kernel",
    "LayerFactors",
    "Linearized",
    "Method",
    "SeparationCheck",
    "analytic",
    "analytic_rows",
    "cnn_gram",
    "cnn_ntk",
    "du_gram",
    "empirical",
    "gaussian_expectations",
    "generic_ntk",
    "generic_plan",
    "h_infinity",
    "lambda_max",
    "lambda_min",
    "linearization_gap",
    "min_distance",
    "register_rule",
    "separation_check",
]
