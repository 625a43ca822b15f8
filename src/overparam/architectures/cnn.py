"""``arch=cnn``: patch-wise convolutions, 1-D over the sphere's coordinates or 2-D over the
digits read as 1 x 8 x 8 images; allen-zhu's plain CNN (default) or du's convolutional ResNet."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from overparam.architectures.registry import VECTOR_DATA, Architecture, register
from overparam.data.dataset import Dataset, min_separation
from overparam.models.cnn import CNN
from overparam.ntk.structured_conv import conv_factors

if TYPE_CHECKING:
    from overparam.config import RunConfig


def digit_images(data: Dataset) -> Dataset:
    """Digits for a CNN: the 64 pixels only (the appended mu coordinate is not a pixel and is
    dropped), rescaled to unit norm ||x||_F = 1 (the papers' ||x_i|| = 1), to be read as 1 x 8 x 8
    images by :class:`overparam.models.CNN`."""
    X = data.X[:, :64]
    X = X / X.norm(dim=1, keepdim=True).clamp_min(1e-12)
    provenance = {**data.provenance, "image": "1x8x8, mu dropped, unit norm"}
    return dataclasses.replace(data, X=X, separation=min_separation(X), provenance=provenance)


def inputs(cfg: RunConfig, data: Dataset) -> Dataset:
    """Digits as images (:func:`digit_images`); every other source as a 1-D signal, unchanged."""
    return digit_images(data) if cfg.data == "digits" else data


def build(cfg: RunConfig, d: int, k: int) -> CNN:
    """The CNN of ``cfg``: ``width`` channels, input (1, 8, 8) for digits, else (1, d)."""
    return CNN(
        (1, 8, 8) if cfg.data == "digits" else (1, d),
        cfg.width,
        cfg.depth,
        cfg.kernel_size,
        k,
        parameterization=cfg.parameterization,
        activation=cfg.activation,
        trainable=cfg.trainable,
        c_res=cfg.c_res,
        dtype=cfg.dtype,
        device=cfg.device,
        seed=cfg.seeds()["init"],
    )


register(
    Architecture(
        name="cnn",
        parameterizations=("allen-zhu", "du"),
        data=VECTOR_DATA,
        build=build,
        model=CNN,
        ntk_rule=conv_factors,
        inputs=inputs,
    )
)
