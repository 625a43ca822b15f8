"""Generalization of over-parameterized deep networks [cao-gu-2019]: Algorithm 2's expected 0-1
test error, the NTK bound of Corollary 3.10 and the NTRF class of Theorem 3.3."""

from overparam.generalization.bound import DEFAULT_DELTA as DEFAULT_DELTA
from overparam.generalization.bound import JITTERS as JITTERS
from overparam.generalization.bound import FactoredKernel as FactoredKernel
from overparam.generalization.bound import NtkBound as NtkBound
from overparam.generalization.bound import bound_terms as bound_terms
from overparam.generalization.bound import factor as factor
from overparam.generalization.bound import ntk_bound as ntk_bound
from overparam.generalization.bound import theta_analytic as theta_analytic
from overparam.generalization.bound import theta_empirical as theta_empirical
from overparam.generalization.evaluate import Evaluation as Evaluation
from overparam.generalization.evaluate import Prepared as Prepared
from overparam.generalization.evaluate import evaluate as evaluate
from overparam.generalization.evaluate import measure_labels as measure_labels
from overparam.generalization.evaluate import prepare as prepare
from overparam.generalization.ntrf import NtrfFeatures as NtrfFeatures
from overparam.generalization.ntrf import NtrfFit as NtrfFit
from overparam.generalization.ntrf import ntrf_features as ntrf_features
from overparam.generalization.ntrf import ntrf_fit as ntrf_fit
from overparam.generalization.ntrf import ntrf_predict as ntrf_predict
from overparam.generalization.ntrf import ntrf_weights as ntrf_weights
from overparam.generalization.ntrf import theorem_bound as theorem_bound
from overparam.generalization.online import ExpectedError as ExpectedError
from overparam.generalization.online import OnlineRun as OnlineRun
from overparam.generalization.online import algorithm2 as algorithm2
from overparam.generalization.online import expected_test_error as expected_test_error
from overparam.generalization.online import run_config as run_config
from overparam.generalization.online import sphere_task as sphere_task
from overparam.generalization.online import task_data as task_data

__all__ = [
    "DEFAULT_DELTA",
    "JITTERS",
    "Evaluation",
    "ExpectedError",
    "FactoredKernel",
    "NtkBound",
    "NtrfFeatures",
    "NtrfFit",
    "OnlineRun",
    "Prepared",
    "algorithm2",
    "bound_terms",
    "evaluate",
    "expected_test_error",
    "factor",
    "measure_labels",
    "ntk_bound",
    "ntrf_features",
    "ntrf_fit",
    "ntrf_predict",
    "ntrf_weights",
    "prepare",
    "run_config",
    "sphere_task",
    "task_data",
    "theorem_bound",
    "theta_analytic",
    "theta_empirical",
]
