"""Fully connected residual networks in the two seed papers' residual forms.

``allen-zhu`` [allen-zhu-2019, ResNet extension; init of Def. 2.3]: the fully connected network of
Def. 2.3 with an identity path around every hidden layer,

    h_0 = relu(A x),   g_l = h_{l-1} + tau W_l h_{l-1},   h_l = relu(g_l)  (l = 1..L),   y = B h_L,

A, W_l ~ N(0, 2/m), B ~ N(0, 1/k), and the residual scale tau = 1 / (sqrt(L) log m) by default
(the paper takes tau <= 1 / Omega(sqrt(L) log m); settable). Trains W_1..W_L; A and B stay fixed.

``du`` [du-2019-deep, Section 6, eq. for f_res]: one fully connected layer, then H - 1 residual
blocks whose branch is scaled by c_res / (H sqrt(m)),

    x^(1) = sqrt(c_sigma / m) sigma(W^(1) x),
    x^(h) = x^(h-1) + (c_res / (H sqrt(m))) sigma(W^(h) x^(h-1))   (h = 2..H),
    f(x) = a^T x^(H),

W^(h), a ~ N(0, 1) entrywise, c_sigma = 1 / E[sigma(z)^2] (2 for relu), c_res a small constant
(1 here; settable). Trains all layers. Its infinite-width Gram K^(H) is
:func:`overparam.ntk.resnet_gram.du_resnet_gram`.

``depth`` is the paper's own count: L residual layers for allen-zhu (as L hidden layers of the
fully connected network), H layers in all (the first one not residual) for du. Both forms keep
the hidden norms ||h_l|| within constant factors of ||h_0|| for any depth at init (the residual
scale makes the product of per-layer factors converge), whereas the fully connected network with
the same width and init variances lets log ||h_L|| drift like a random walk of L steps of variance
O(1/m) -- the exponential-in-depth constants [du-2019-deep, Section 5, 2^O(H)] that the residual
form removes [du-2019-deep, Theorem 6.1: width and step size polynomial in H].
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from overparam.errors import ConfigError
from overparam.models.activations import Activation, c_sigma, parse_activation, torch_fn
from overparam.models.base import (
    SpecNetwork,
)
from overparam.models.parameterization import (
    LayerSpec,
    Parameterization,
    default_trainable,
    parse_parameterization,
)

# The residual forms of the two papers; other parameterizations have no ResNet in the seeds.
RESNET_PARAMETERIZATIONS = (Parameterization.ALLEN_ZHU, Parameterization.DU)


def default_tau(depth: int, width: int) -> float:
    """tau = 1 / (sqrt(L) log m)  [allen-zhu-2019, ResNet extension: tau <= 1/Omega(sqrt(L) log m)].

    ``log m`` is the natural log, floored at 1 so that tiny widths do not blow tau up.
    """
    return 1.0 / (math.sqrt(depth) * max(math.log(width), 1.0))


def resnet_specs(
    parameterization: Parameterization | str,
    d: int,
    width: int,
    depth: int,
    out: int = 1,
    *,
    activation: Activation | str = Activation.RELU,
    tau: float | None = None,
    c_res: float = 1.0,
) -> list[LayerSpec]:
    """The layer list of a :class:`ResNet` (see the module docstring).

    Residual layers carry their branch scale: allen-zhu's W_l has ``multiplier`` tau
    (g_l = h_{l-1} + tau W_l h_{l-1}); du's W^(h), h >= 2, has ``post_scale`` c_res / (H sqrt(m))
    (x^(h) = x^(h-1) + post_scale sigma(W^(h) x^(h-1))). Layers are named by the papers' symbols:
    A, W1..WL, B (allen-zhu); W1..WH, a (du).

    Raises:
        ConfigError: a parameterization without a residual form, depth < 1, tau <= 0, c_res <= 0.
    """
    p = parse_parameterization(parameterization)
    if p not in RESNET_PARAMETERIZATIONS:
        raise ConfigError(
            "parameterization",
            p.value,
            "allen-zhu or du for a ResNet (the seed papers' residual forms)",
        )
    if not isinstance(depth, int) or depth < 1:
        raise ConfigError("depth", depth, "an integer >= 1")
    m, k = width, out
    if p is Parameterization.ALLEN_ZHU:
        t = default_tau(depth, width) if tau is None else tau
        if not (math.isfinite(t) and t > 0):
            raise ConfigError("tau", tau, "a positive number, or None for 1/(sqrt(L) log m)")
        s = math.sqrt(2.0 / m)
        return [
            LayerSpec("A", d, m, s, role="input"),
            *(LayerSpec(f"W{l}", m, m, s, multiplier=t) for l in range(1, depth + 1)),
            LayerSpec("B", m, k, math.sqrt(1.0 / k), activation=False, role="output"),
        ]
    if tau is not None:
        raise ConfigError("tau", tau, "None for du (tau is allen-zhu's residual scale)")
    if not (math.isfinite(c_res) and c_res > 0):
        raise ConfigError("c_res", c_res, "a positive number")
    first = math.sqrt(c_sigma(Activation(activation)) / m)
    branch = c_res / (depth * math.sqrt(m))
    return [
        LayerSpec("W1", d, m, 1.0, post_scale=first),
        *(LayerSpec(f"W{h}", m, m, 1.0, post_scale=branch) for h in range(2, depth + 1)),
        LayerSpec("a", m, k, 1.0, activation=False, role="output"),
    ]


class ResNet(SpecNetwork):
    """A fully connected ResNet in allen-zhu's or du's residual form (module docstring).

    Args:
        d: input dimension. width: m. depth: L residual layers (allen-zhu) or H layers (du).
        out: output dimension k.
        parameterization: ``allen-zhu`` or ``du``.
        activation: relu for allen-zhu (its proofs are for relu); any :class:`Activation` for du.
        trainable: "hidden", "all", a list of layer names, or None for the paper's default
            (allen-zhu: W_1..W_L; du: all).
        tau: allen-zhu's residual scale; None for 1 / (sqrt(L) log m).
        c_res: du's residual constant.
        seed: init seed (CPU float64 draw, then cast: same network on every device and dtype).

    ``forward(x)`` maps (n, d) to (n, k). ``forward(x, return_hidden=True)`` also returns the
    pre-activations (allen-zhu: g_0 = A x, g_1..g_L and y; du: z_h = W^(h) x^(h-1) and f), each
    (n, fan_out), and the hidden vectors (h_0..h_L; x^(1)..x^(H)), each (n, m).

    Example:
        >>> net = ResNet(16, 64, 50, parameterization="du")
        >>> net(torch.randn(4, 16)).shape
        torch.Size([4, 1])
    """

    def __init__(
        self,
        d: int,
        width: int,
        depth: int,
        out: int = 1,
        parameterization: Parameterization | str = Parameterization.DU,
        activation: Activation | str = Activation.RELU,
        trainable: str | Sequence[str] | None = None,
        *,
        tau: float | None = None,
        c_res: float = 1.0,
        dtype: torch.dtype | str = torch.float32,
        device: str | torch.device = "cpu",
        seed: int = 0,
    ) -> None:
        super().__init__()
        for field, value in (("d", d), ("width", width), ("out", out)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(field, value, "an integer >= 1")
        self.parameterization = parse_parameterization(parameterization)
        self.activation = parse_activation(activation)
        if (
            self.parameterization is Parameterization.ALLEN_ZHU
            and self.activation is not Activation.RELU
        ):
            raise ConfigError(
                "activation",
                self.activation.value,
                "relu for allen-zhu (its proofs are for relu); smooth activations with du",
            )
        self.d, self.width, self.depth, self.out = d, width, depth, out
        self.specs = resnet_specs(
            self.parameterization,
            d,
            width,
            depth,
            out,
            activation=self.activation,
            tau=tau,
            c_res=c_res,
        )
        self.form = self.parameterization.value
        self.tau = self.specs[1].multiplier if self.form == "allen-zhu" else None
        self.c_res = c_res if self.form == "du" else None
        self.sigma = torch_fn(self.activation)
        self.build_layers(trainable, default_trainable(self.parameterization), seed, dtype, device)

    def forward(
        self, x: torch.Tensor, return_hidden: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        layers = self.dense_layers()
        pre: list[torch.Tensor] = []
        hidden: list[torch.Tensor] = []
        if self.form == "allen-zhu":
            g = layers[0](x)  # g_0 = A x
            h = torch.relu(g)
            pre.append(g)
            hidden.append(h)
            for layer in layers[1:-1]:
                g = h + layer(h)  # h_{l-1} + tau W_l h_{l-1} (tau is the layer's multiplier)
                h = torch.relu(g)
                pre.append(g)
                hidden.append(h)
        else:
            first = layers[0]
            z = first(x)
            h = self.sigma(z) * first.spec.post_scale
            pre.append(z)
            hidden.append(h)
            for layer in layers[1:-1]:
                z = layer(h)
                h = h + layer.spec.post_scale * self.sigma(z)
                pre.append(z)
                hidden.append(h)
        f = layers[-1](h)
        if return_hidden:
            pre.append(f)
            return f, pre, hidden
        return f

    def extra_repr(self) -> str:
        scale = f"tau={self.tau:.4g}" if self.form == "allen-zhu" else f"c_res={self.c_res}"
        return (
            f"form={self.form}, activation={self.activation.value}, d={self.d}, "
            f"width={self.width}, depth={self.depth}, out={self.out}, {scale}, "
            f"trained={sorted(self.trained)}"
        )
