"""What the probes read from a network, as a :class:`typing.Protocol`.

Every overparam network implements :class:`ProbedModel` (:class:`overparam.models.base.
SpecNetwork` provides the methods, each model the attributes). A model that does not is measured
without it: in its stored units (c = 1), its parameters' layers named by their module path, its
hidden vectors ``h0, h1, ...``, every trained weight matrix counted as a hidden layer, and no
width, depth, parameterization or activation known.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from overparam.models.parameterization import LayerSpec


@runtime_checkable
class ProbedModel(Protocol):
    """The structure of a network the probes read, besides ``forward(X, return_hidden=True)``
    and ``named_parameters()`` (see :mod:`overparam.probes.context`).

    Attributes:
        width: m, the hidden width. depth: the paper's L.
        parameterization: the parameterization's name (or a StrEnum member).
        activation: the activation's name (or a StrEnum member); "relu" enables ReLU probes.
        specs: the dense layers; ``spec.activation`` marks a hidden layer (for omega).
    """

    width: int
    depth: int
    parameterization: Any
    activation: Any
    specs: Sequence[LayerSpec]

    def paper_scales(self) -> dict[str, float]:
        """{trained parameter name: c} with W_eff = c W in the papers' units."""
        ...

    def parameter_layers(self) -> dict[str, str]:
        """{parameter name: the paper's symbol of its layer}."""
        ...

    def hidden_layers(self) -> list[str]:
        """The paper's symbol of the layer that outputs each hidden vector h_l, in order."""
        ...

    def unit_hidden_norms(self) -> bool:
        """Whether every hidden vector's norm concentrates at ||x|| = 1 at init (the seed
        papers' normalization), so that [allen-zhu-2019, Lemma 7.1] bounds it around 1."""
        ...


def probed(model: Any) -> ProbedModel | None:
    """``model`` as a :class:`ProbedModel`, or None if it does not implement the protocol."""
    return model if isinstance(model, ProbedModel) else None
