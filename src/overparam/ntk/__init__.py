"""Neural tangent kernels: empirical (structured, autograd) and infinite-width."""

from overparam.models.cnn import CNN as _CNN
from overparam.models.fc import FullyConnected as _FullyConnected
from overparam.models.gnn import LinearGNN as _LinearGNN
from overparam.models.resnet import ResNet as _ResNet
from overparam.ntk.analytic import Kernel as Kernel
from overparam.ntk.analytic import analytic as analytic
from overparam.ntk.analytic import analytic_rows as analytic_rows
from overparam.ntk.empirical import Method as Method
from overparam.ntk.empirical import empirical as empirical
from overparam.ntk.expectations import ExpectationMethod as ExpectationMethod
from overparam.ntk.expectations import gaussian_expectations as gaussian_expectations
from overparam.ntk.gram import SeparationCheck as SeparationCheck
from overparam.ntk.gram import du_gram as du_gram
from overparam.ntk.gram import h_infinity as h_infinity
from overparam.ntk.gram import lambda_max as lambda_max
from overparam.ntk.gram import lambda_min as lambda_min
from overparam.ntk.gram import min_distance as min_distance
from overparam.ntk.gram import separation_check as separation_check
from overparam.ntk.structured import LayerFactors as LayerFactors
from overparam.ntk.structured import dense_chain_factors as _dense_chain_factors
from overparam.ntk.structured import register_rule as register_rule
from overparam.ntk.structured_conv import conv_factors as _conv_factors
from overparam.ntk.structured_gnn import gnn_factors as _gnn_factors
from overparam.ntk.structured_resnet import resnet_factors as _resnet_factors

register_rule(_FullyConnected, _dense_chain_factors)
register_rule(_ResNet, _resnet_factors)
register_rule(_CNN, _conv_factors)
register_rule(_LinearGNN, _gnn_factors)

__all__ = [
    "ExpectationMethod",
    "Kernel",
    "LayerFactors",
    "Method",
    "SeparationCheck",
    "analytic",
    "analytic_rows",
    "du_gram",
    "empirical",
    "gaussian_expectations",
    "h_infinity",
    "lambda_max",
    "lambda_min",
    "min_distance",
    "register_rule",
    "separation_check",
]
