"""Neural tangent kernels: empirical (structured, autograd) and infinite-width."""

from overparam.models.fc import FullyConnected as _FullyConnected
from overparam.ntk.empirical import Method as Method
from overparam.ntk.empirical import empirical as empirical
from overparam.ntk.structured import LayerFactors as LayerFactors
from overparam.ntk.structured import dense_chain_factors as _dense_chain_factors
from overparam.ntk.structured import register_rule as register_rule

register_rule(_FullyConnected, _dense_chain_factors)

__all__ = ["LayerFactors", "Method", "empirical", "register_rule"]
