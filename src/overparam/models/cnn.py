"""Convolutional relu networks, 1-D and 2-D, as the seed papers analyse them.

A convolution is a dense layer applied to every patch. For a feature map h with p positions and
C channels (stored channels-last, (n, p, C)), the patch operator phi gathers, at every position,
the q = prod(kernel) neighbours of all channels: phi(h) is (n, p, q C) [du-2019-deep, Section 7,
the patch matrix phi(x)]. A layer is then z = a phi(h) W^T with one shared W of shape (m, q C).
Padding is circular by default: every position then appears in exactly q patches, so
sum_p ||phi(h)_p||^2 = q ||h||_F^2 exactly and the init variances below preserve ||h||_F in
expectation at every depth; ``padding="zeros"`` gives the zero padding of "same" convolutions
(norms shrink by the boundary fraction per layer).

=========  ==========================================  ============================================
form       paper                                       network (depth = the paper's L or H)
=========  ==========================================  ============================================
allen-zhu  [allen-zhu-2019, CNN extension; init of     h_0 = relu(A * x), h_l = relu(W_l * h_{l-1})
           Def. 2.3 with fan-in q m]                   (l = 1..L), y = B vec(h_L);
                                                       A, W_l ~ N(0, 2/(q m)), B ~ N(0, 1/k);
                                                       trains W_1..W_L
du         [du-2019-deep, Section 7, convolutional     x^(1) = sqrt(c_sigma/m) sigma(W^(1) * x),
           ResNet]                                     x^(h) = x^(h-1)
                                                         + c_res/(H sqrt(m)) sigma(W^(h) * x^(h-1)),
                                                       f = <a, x^(H)>; W, a ~ N(0, 1); trains all
=========  ==========================================  ============================================

Allen-Zhu et al.'s 2/m is the relu variance that keeps ||h|| ~ 1 (their Lemma 7.1) when each
output sums m inputs; a convolution sums q m, hence 2/(q m) (He init of the conv fan-in).
Du et al.'s form keeps their N(0, 1) weights and sqrt(c_sigma/m) scale, so the first layer
multiplies the norm by about sqrt(q) (E||x^(1)||^2 = sum_p ||phi_p(x)||^2 = q ||x||^2 with
circular padding: every input entry is read by q patches), and f = <a, x^(H)> is O(sqrt(q)).

Inputs are (n, C, *spatial) images or their flattening (n, C * prod(spatial)) in the same
channel-major order (what :class:`overparam.data.Dataset` stores). For scikit-learn's digits use
``in_shape=(1, 8, 8)``; a 1-D signal of length d is ``in_shape=(1, d)``.
"""

from __future__ import annotations

import itertools
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

CNN_PARAMETERIZATIONS = (Parameterization.ALLEN_ZHU, Parameterization.DU)
PADDINGS = ("circular", "zeros")


def patch_index(spatial: Sequence[int], kernel: Sequence[int], padding: str) -> torch.Tensor:
    """(p, q) flat indices of every position's patch; index p stands for a zero (padding).

    Position and offset orders are row-major; the kernel is centred (offsets -(k//2) ..
    k - 1 - k//2 along each axis), so odd kernels are symmetric and the output has p positions.
    """
    rows = []
    offsets = list(itertools.product(*(range(-(k // 2), k - k // 2) for k in kernel)))
    p = math.prod(spatial)
    for pos in itertools.product(*(range(s) for s in spatial)):
        row = []
        for off in offsets:
            coord = [c + o for c, o in zip(pos, off, strict=True)]
            if padding == "circular":
                coord = [c % s for c, s in zip(coord, spatial, strict=True)]
            elif any(c < 0 or c >= s for c, s in zip(coord, spatial, strict=True)):
                row.append(p)
                continue
            flat = 0
            for c, s in zip(coord, spatial, strict=True):
                flat = flat * s + c
            row.append(flat)
        rows.append(row)
    return torch.tensor(rows, dtype=torch.long)


def extract_patches(h: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """phi(h): (n, p, C) feature map -> (n, p, q C) patches (offset-major, then channel)."""
    n, p, c = h.shape
    padded = torch.cat([h, h.new_zeros(n, 1, c)], dim=1)
    return padded[:, index, :].reshape(n, p, index.shape[1] * c)


def patch_adjoint(g: torch.Tensor, index: torch.Tensor, channels: int) -> torch.Tensor:
    """The adjoint of :func:`extract_patches` on the last three axes: (..., p, q C) -> (..., p, C).

    Each patch entry is added back to the position it was read from (padding entries dropped).
    """
    *lead, p, _ = g.shape
    q = index.shape[1]
    flat = g.reshape(-1, p * q, channels)
    out = flat.new_zeros(flat.shape[0], p + 1, channels)
    out.index_add_(1, index.reshape(-1), flat)
    return out[:, :p].reshape(*lead, p, channels)


def cnn_specs(
    parameterization: Parameterization | str,
    in_channels: int,
    positions: int,
    channels: int,
    depth: int,
    q: int,
    out: int = 1,
    *,
    activation: Activation | str = Activation.RELU,
    c_res: float = 1.0,
) -> list[LayerSpec]:
    """The layer list of a :class:`CNN`: a conv layer is a dense layer on patches, fan_in = q C;
    the readout acts on vec(h), fan_in = p m.

    Args:
        in_channels: C. positions: p. channels: m. depth: L (allen-zhu) or H (du).
        q: entries of a patch per channel, prod(kernel) (9 for a 3x3 kernel).

    Raises:
        ConfigError: a parameterization without a CNN in the seeds, depth < 1, c_res <= 0.
    """
    p = parse_parameterization(parameterization)
    if p not in CNN_PARAMETERIZATIONS:
        raise ConfigError(
            "parameterization", p.value, "allen-zhu or du for a CNN (the seed papers' CNNs)"
        )
    if not isinstance(depth, int) or depth < 1:
        raise ConfigError("depth", depth, "an integer >= 1")
    m, k = channels, out
    if p is Parameterization.ALLEN_ZHU:
        s = math.sqrt(2.0 / (q * m))
        return [
            LayerSpec("A", q * in_channels, m, s, role="input"),
            *(LayerSpec(f"W{l}", q * m, m, s) for l in range(1, depth + 1)),
            LayerSpec("B", positions * m, k, math.sqrt(1.0 / k), activation=False, role="output"),
        ]
    if not (math.isfinite(c_res) and c_res > 0):
        raise ConfigError("c_res", c_res, "a positive number")
    first = math.sqrt(c_sigma(Activation(activation)) / m)
    branch = c_res / (depth * math.sqrt(m))
    return [
        LayerSpec("W1", q * in_channels, m, 1.0, post_scale=first),
        *(LayerSpec(f"W{h}", q * m, m, 1.0, post_scale=branch) for h in range(2, depth + 1)),
        LayerSpec("a", positions * m, k, 1.0, activation=False, role="output"),
    ]


def _shape(in_shape: Sequence[int] | int) -> tuple[int, ...]:
    shape = (1, in_shape) if isinstance(in_shape, int) else tuple(in_shape)
    if len(shape) not in (2, 3) or any(not isinstance(s, int) or s < 1 for s in shape):
        raise ConfigError(
            "in_shape", in_shape, "(C, length) for 1-D or (C, height, width) for 2-D, all >= 1"
        )
    return shape


class CNN(SpecNetwork):
    """A 1-D or 2-D convolutional relu network in allen-zhu's or du's form (module docstring).

    Args:
        in_shape: (C, length) or (C, height, width); an int d means (1, d).
        channels: m, the channels of every hidden feature map (the papers' width).
        depth: L hidden conv layers after the input conv A (allen-zhu); H conv layers, the
            first not residual (du).
        kernel_size: the kernel's side (the same along every spatial axis).
        out: output dimension k.
        parameterization: ``allen-zhu`` (plain CNN) or ``du`` (convolutional ResNet).
        activation: relu for allen-zhu; any :class:`Activation` for du.
        trainable: "hidden", "all", layer names, or None for the paper's default.
        padding: ``circular`` (default; exact norm identity) or ``zeros``.
        c_res: du's residual constant.
        seed: init seed (CPU float64 draw, then cast).

    ``forward(x)`` maps (n, C, *spatial) or (n, C * prod(spatial)) to (n, k).
    ``forward(x, return_hidden=True)`` also returns the flattened pre-activations (n, p m) and
    hidden feature maps (n, p m) of every conv layer (channels-last order), plus the output.

    Example:
        >>> net = CNN((1, 8, 8), channels=16, depth=3, kernel_size=3)
        >>> net(torch.randn(5, 64)).shape
        torch.Size([5, 1])
    """

    index: torch.Tensor  # buffer: (p, q) patch indices, from patch_index

    def __init__(
        self,
        in_shape: Sequence[int] | int,
        channels: int,
        depth: int,
        kernel_size: int = 3,
        out: int = 1,
        parameterization: Parameterization | str = Parameterization.ALLEN_ZHU,
        activation: Activation | str = Activation.RELU,
        trainable: str | Sequence[str] | None = None,
        *,
        padding: str = "circular",
        c_res: float = 1.0,
        dtype: torch.dtype | str = torch.float32,
        device: str | torch.device = "cpu",
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.in_shape = _shape(in_shape)
        for field, value in (("channels", channels), ("out", out), ("kernel_size", kernel_size)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(field, value, "an integer >= 1")
        if padding not in PADDINGS:
            raise ConfigError("padding", padding, ", ".join(PADDINGS))
        spatial = self.in_shape[1:]
        if padding == "circular" and any(kernel_size > s for s in spatial):
            raise ConfigError(
                "kernel_size", kernel_size, f"at most the input's side {min(spatial)} (circular)"
            )
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
        self.form = self.parameterization.value
        self.kernel = (kernel_size,) * len(spatial)
        self.q = math.prod(self.kernel)
        self.positions = math.prod(spatial)
        self.d = math.prod(self.in_shape)
        self.width, self.channels, self.depth, self.out = channels, channels, depth, out
        self.kernel_size, self.padding = kernel_size, padding
        self.c_res = c_res if self.form == "du" else None
        self.specs = cnn_specs(
            self.parameterization,
            self.in_shape[0],
            self.positions,
            channels,
            depth,
            self.q,
            out,
            activation=self.activation,
            c_res=c_res,
        )
        self.register_buffer("index", patch_index(spatial, self.kernel, padding), persistent=False)
        self.sigma = torch_fn(self.activation)
        self.build_layers(trainable, default_trainable(self.parameterization), seed, dtype, device)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """(n, C, *spatial) or (n, C * p) inputs as the channels-last map (n, p, C)."""
        c = self.in_shape[0]
        if x.ndim < 2 or x[0].numel() != self.d:
            raise ConfigError(
                "x", tuple(x.shape), f"(n, {self.d}) or (n, {', '.join(map(str, self.in_shape))})"
            )
        return x.reshape(x.shape[0], c, self.positions).transpose(1, 2)

    def forward(
        self, x: torch.Tensor, return_hidden: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        layers = self.dense_layers()
        n = x.shape[0]
        h = self.feature_map(x)
        pre: list[torch.Tensor] = []
        hidden: list[torch.Tensor] = []
        for i, layer in enumerate(layers[:-1]):
            z = layer(extract_patches(h, self.index))  # (n, p, m)
            if self.form == "du" and i > 0:
                h = h + layer.spec.post_scale * self.sigma(z)
            else:
                h = self.sigma(z) * layer.spec.post_scale
            if return_hidden:
                pre.append(z.reshape(n, -1))
                hidden.append(h.reshape(n, -1))
        f = layers[-1](h.reshape(n, -1))
        if return_hidden:
            pre.append(f)
            return f, pre, hidden
        return f

    def extra_repr(self) -> str:
        return (
            f"form={self.form}, in_shape={self.in_shape}, channels={self.channels}, "
            f"depth={self.depth}, kernel={self.kernel}, padding={self.padding}, out={self.out}, "
            f"trained={sorted(self.trained)}"
        )
