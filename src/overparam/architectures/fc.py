"""``arch=fc``: the fully connected networks of the seed papers, in every parameterization."""

from __future__ import annotations

from typing import TYPE_CHECKING

from overparam.architectures.registry import VECTOR_DATA, Architecture, register
from overparam.models.fc import FullyConnected
from overparam.models.parameterization import Parameterization
from overparam.ntk.gram import du_gram
from overparam.ntk.structured import dense_chain_factors

if TYPE_CHECKING:
    from overparam.config import RunConfig


def build(cfg: RunConfig, d: int, k: int) -> FullyConnected:
    """The FullyConnected network of ``cfg``."""
    return FullyConnected(
        d,
        cfg.width,
        cfg.depth,
        k,
        parameterization=cfg.parameterization,
        activation=cfg.activation,
        trainable=cfg.trainable,
        weight_std=cfg.weight_std,
        bias_std=cfg.bias_std,
        readout_std=cfg.readout_std,
        dtype=cfg.dtype,
        device=cfg.device,
        seed=cfg.seeds()["init"],
    )


register(
    Architecture(
        name="fc",
        # every parameterization; zou-gu [zou-gu-2019, Algorithm 1] is the default
        parameterizations=(
            Parameterization.ZOU_GU.value,
            *(p.value for p in Parameterization if p is not Parameterization.ZOU_GU),
        ),
        data=VECTOR_DATA,
        build=build,
        model=FullyConnected,
        ntk_rule=dense_chain_factors,
        gram=du_gram,
    )
)
