"""Neural tangent kernels: empirical (structured, autograd) and infinite-width."""

from overparam.models.cnn import CNN as _CNN
from overparam.models.fc import FullyConnected as _FullyConnected
from overparam.models.gnn import LinearGNN as _LinearGNN
from overparam.models.resnet import ResNet as _ResNet
from overparam.ntk.empirical import Method as Method
from overparam.ntk.empirical import empirical as empirical
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

__all__ = ["LayerFactors", "Method", "empirical", "register_rule"]
