"""``arch=resnet``: Du et al.'s ResNet [du-2019-deep, Sec. 6] (default) or Allen-Zhu et al.'s."""

from __future__ import annotations

from typing import TYPE_CHECKING

from overparam.architectures.registry import VECTOR_DATA, Architecture, register
from overparam.models.resnet import ResNet
from overparam.ntk.resnet_gram import du_resnet_gram
from overparam.ntk.structured_resnet import resnet_factors

if TYPE_CHECKING:
    from overparam.config import RunConfig


def build(cfg: RunConfig, d: int, k: int) -> ResNet:
    """The ResNet of ``cfg`` (tau for allen-zhu, c_res for du)."""
    return ResNet(
        d,
        cfg.width,
        cfg.depth,
        k,
        parameterization=cfg.parameterization,
        activation=cfg.activation,
        trainable=cfg.trainable,
        tau=cfg.tau,
        c_res=cfg.c_res,
        dtype=cfg.dtype,
        device=cfg.device,
        seed=cfg.seeds()["init"],
    )


register(
    Architecture(
        name="resnet",
        # du first: the ResNet with an explicit infinite-width Gram [du-2019-deep, Def. 6.1]
        parameterizations=("du", "allen-zhu"),
        data=VECTOR_DATA,
        build=build,
        model=ResNet,
        ntk_rule=resnet_factors,
        gram=du_resnet_gram,
    )
)
