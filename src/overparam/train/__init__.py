"""Training: GD, SGD and online SGD as the seed papers state them (a whole run from a config,
probes included, is :mod:`overparam.run`)."""

from overparam.train.history import History as History
from overparam.train.loop import Callback as Callback
from overparam.train.loop import TrainState as TrainState
from overparam.train.loop import train as train
from overparam.train.losses import Loss as Loss
from overparam.train.losses import Objective as Objective
from overparam.train.losses import Reduction as Reduction
from overparam.train.losses import make_objective as make_objective
from overparam.train.step_size import auto_lr as auto_lr

__all__ = [
    "Callback",
    "History",
    "Loss",
    "Objective",
    "Reduction",
    "TrainState",
    "auto_lr",
    "make_objective",
    "train",
]
