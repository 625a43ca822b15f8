"""Networks in the seed papers' parameterizations."""

from overparam.models.activations import Activation as Activation
from overparam.models.activations import c_sigma as c_sigma
from overparam.models.cnn import CNN as CNN
from overparam.models.fc import FullyConnected as FullyConnected
from overparam.models.gnn import LinearGNN as LinearGNN
from overparam.models.parameterization import LayerSpec as LayerSpec
from overparam.models.parameterization import Parameterization as Parameterization
from overparam.models.parameterization import default_loss as default_loss
from overparam.models.parameterization import default_trainable as default_trainable
from overparam.models.parameterization import kernel_scale as kernel_scale
from overparam.models.parameterization import layer_specs as layer_specs
from overparam.models.resnet import ResNet as ResNet

__all__ = [
    "CNN",
    "Activation",
    "FullyConnected",
    "LayerSpec",
    "LinearGNN",
    "Parameterization",
    "ResNet",
    "c_sigma",
    "default_loss",
    "default_trainable",
    "kernel_scale",
    "layer_specs",
]
