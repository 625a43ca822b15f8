"""The seed papers' parameterizations, computed in one place.

Every fully connected network in overparam is a chain of dense layers

    z_l = a_l * W_l h_{l-1} + b_mult_l * b_l,        h_l = s_l * sigma(z_l)   (l < last),

with stored weights W_l ~ N(0, std_l^2) entrywise and f(x) = z_last. A
:class:`Parameterization` fixes the layer list, each layer's init std ``std_l``, forward
multiplier ``a_l``, post-activation scale ``s_l``, which layers train by default, and the loss
with its reduction. ``depth`` is the paper's own L (or H) in each case:

=============  ==============================  ====================================================
name           paper                           network (depth = L)
=============  ==============================  ====================================================
allen-zhu      [allen-zhu-2019, Def. 2.3]      h_0 = relu(A x), h_l = relu(W_l h_{l-1}), f = B h_L;
                                               A, W_l ~ N(0, 2/m), B ~ N(0, 1/k); trains W_1..W_L;
                                               loss 1/2 sum_i ||f(x_i) - y_i||^2
zou-gu         [zou-gu-2019, Algorithm 1]      f = V relu(W_L ... relu(W_1 x)); W_l ~ N(0, 2/m),
                                               V ~ N(0, 1/k); trains W_1..W_L;
                                               loss (1/n) sum_i 1/2 ||f(x_i) - y_i||^2
du             [du-2019-deep, Section 5]       x^(h) = sqrt(c_sigma/m) sigma(W^(h) x^(h-1)),
                                               W ~ N(0, 1), f = a^T x^(H), a ~ N(0, 1); trains all;
                                               loss 1/2 sum_i (f(x_i) - y_i)^2
cao-gu         [cao-gu-2019, Algorithm 2]      f = sqrt(m) W_L relu(W_{L-1} ... relu(W_1 x));
                                               W_l ~ N(0, 2/m) (l < L), W_L ~ N(0, 1/m); trains all;
                                               logistic loss log(1 + exp(-y f)), mean over samples
ntk            [jacot-2018], neural-tangents    z = (weight_std / sqrt(fan_in)) W h + bias_std b,
                                               W, b ~ N(0, 1); depth = hidden layers; trains all
standard       neural-tangents 'standard'       z = W h + b, W ~ N(0, weight_std^2 / fan_in),
                                               b ~ N(0, bias_std^2); trains all
=============  ==============================  ====================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from overparam.errors import ConfigError
from overparam.models.activations import Activation, c_sigma


class Parameterization(StrEnum):
    """One documented parameterization per seed paper (see the module table)."""

    ALLEN_ZHU = "allen-zhu"
    ZOU_GU = "zou-gu"
    DU = "du"
    CAO_GU = "cao-gu"
    NTK = "ntk"
    STANDARD = "standard"


SEED_PAPERS = (
    Parameterization.ALLEN_ZHU,
    Parameterization.ZOU_GU,
    Parameterization.DU,
    Parameterization.CAO_GU,
)


def parse_parameterization(value: str | Parameterization) -> Parameterization:
    """Return ``value`` as a :class:`Parameterization`, or raise a :class:`ConfigError`."""
    try:
        return Parameterization(value)
    except ValueError:
        allowed = ", ".join(p.value for p in Parameterization)
        raise ConfigError("parameterization", value, allowed) from None


@dataclass(frozen=True)
class LayerSpec:
    """One dense layer z = multiplier * W h + bias_multiplier * b, then h' = post_scale * sigma(z).

    Attributes:
        name: the paper's symbol ("A", "W1", "V", "a", "B", "out").
        fan_in, fan_out: W has shape (fan_out, fan_in).
        std: init std of W's stored entries.
        multiplier: forward multiplier a_l (sqrt(m) on Cao & Gu's output, 1/sqrt(fan_in) for ntk).
        post_scale: s_l multiplying sigma(z) (sqrt(c_sigma/m) for Du et al.); 1 elsewhere.
        activation: whether sigma follows (False on the output layer).
        role: "input" (Allen-Zhu's A), "hidden" or "output".
        bias: whether the layer has a bias; bias_std, bias_multiplier as for W.
    """

    name: str
    fan_in: int
    fan_out: int
    std: float
    multiplier: float = 1.0
    post_scale: float = 1.0
    activation: bool = True
    role: str = "hidden"
    bias: bool = False
    bias_std: float = 0.0
    bias_multiplier: float = 1.0


def layer_specs(
    parameterization: Parameterization | str,
    d: int,
    width: int,
    depth: int,
    out: int = 1,
    *,
    activation: Activation | str = Activation.RELU,
    weight_std: float = math.sqrt(2.0),
    bias_std: float | None = None,
    readout_std: float = 1.0,
) -> list[LayerSpec]:
    """The layer list of ``parameterization`` (see the module table).

    Args:
        d: input dimension; width: m; depth: the paper's L (H for du; hidden layers for ntk /
            standard); out: output dimension k.
        weight_std, bias_std, readout_std: sigma_w, sigma_b and the readout's sigma_w for the
            ``ntk`` / ``standard`` conventions; ignored by the seed papers' parameterizations,
            which have no bias.

    Raises:
        ConfigError: depth too small for the parameterization, or a bias asked of a seed paper.
    """
    p = parse_parameterization(parameterization)
    m, k = width, out
    if p in SEED_PAPERS and bias_std is not None:
        raise ConfigError(
            "bias_std", bias_std, f"None for {p.value} (its paper has no bias); use ntk/standard"
        )
    if p is Parameterization.CAO_GU and depth < 2:
        raise ConfigError("depth", depth, "an integer >= 2 for cao-gu (L counts the output layer)")
    if depth < 1:
        raise ConfigError("depth", depth, "an integer >= 1")

    if p is Parameterization.ALLEN_ZHU:
        s = math.sqrt(2.0 / m)
        return [
            LayerSpec("A", d, m, s, role="input"),
            *(LayerSpec(f"W{l}", m, m, s) for l in range(1, depth + 1)),
            LayerSpec("B", m, k, math.sqrt(1.0 / k), activation=False, role="output"),
        ]
    if p is Parameterization.ZOU_GU:
        s = math.sqrt(2.0 / m)
        return [
            *(LayerSpec(f"W{l}", d if l == 1 else m, m, s) for l in range(1, depth + 1)),
            LayerSpec("V", m, k, math.sqrt(1.0 / k), activation=False, role="output"),
        ]
    if p is Parameterization.DU:
        post = math.sqrt(c_sigma(Activation(activation)) / m)
        return [
            *(
                LayerSpec(f"W{h}", d if h == 1 else m, m, 1.0, post_scale=post)
                for h in range(1, depth + 1)
            ),
            LayerSpec("a", m, k, 1.0, activation=False, role="output"),
        ]
    if p is Parameterization.CAO_GU:
        s = math.sqrt(2.0 / m)
        return [
            *(LayerSpec(f"W{l}", d if l == 1 else m, m, s) for l in range(1, depth)),
            LayerSpec(
                f"W{depth}",
                m,
                k,
                math.sqrt(1.0 / m),
                multiplier=math.sqrt(m),
                activation=False,
                role="output",
            ),
        ]
    # ntk / standard (neural-tangents' stax.Dense conventions)
    has_bias = bias_std is not None
    b_std = 0.0 if bias_std is None else float(bias_std)
    specs = []
    for l in range(1, depth + 2):
        fan_in = d if l == 1 else m
        fan_out = k if l == depth + 1 else m
        w = readout_std if l == depth + 1 else weight_std
        last = l == depth + 1
        name = "out" if last else f"W{l}"
        role = "output" if last else "hidden"
        if p is Parameterization.NTK:
            spec = LayerSpec(
                name,
                fan_in,
                fan_out,
                1.0,
                multiplier=w / math.sqrt(fan_in),
                activation=not last,
                role=role,
                bias=has_bias,
                bias_std=1.0,
                bias_multiplier=b_std,
            )
        else:
            spec = LayerSpec(
                name,
                fan_in,
                fan_out,
                w / math.sqrt(fan_in),
                activation=not last,
                role=role,
                bias=has_bias,
                bias_std=b_std,
                bias_multiplier=1.0,
            )
        specs.append(spec)
    return specs


def default_trainable(parameterization: Parameterization | str) -> str:
    """The trained set each paper analyses: "hidden" for allen-zhu and zou-gu (A, B / V fixed,
    [allen-zhu-2019, Def. 2.3], [zou-gu-2019, Algorithm 1]); "all" otherwise."""
    p = parse_parameterization(parameterization)
    return "hidden" if p in (Parameterization.ALLEN_ZHU, Parameterization.ZOU_GU) else "all"


def default_loss(parameterization: Parameterization | str) -> tuple[str, str]:
    """(loss, reduction) prescribed by each paper: sum-square for allen-zhu [Def. 2.3 objective]
    and du [du-2019-deep, eq. (2)]; mean-square for zou-gu [Section 3]; mean logistic for cao-gu;
    mean-square (1/2 mean ||.||^2) for ntk / standard."""
    p = parse_parameterization(parameterization)
    if p is Parameterization.CAO_GU:
        return "logistic", "mean"
    if p in (Parameterization.ALLEN_ZHU, Parameterization.DU):
        return "square", "sum"
    return "square", "mean"


def kernel_scale(parameterization: Parameterization | str, width: int) -> float:
    """Factor by which the empirical NTK grows with width: Theta / kernel_scale has a finite
    m -> infinity limit. It is m when the readout is not scaled down by 1/sqrt(m)
    (allen-zhu, zou-gu; cao-gu, whose Theta^(L) = m^-1 E<grad f, grad f> [cao-gu-2019, Def. 4.1]),
    and 1 for du and ntk. ``standard`` has no finite limit; m is returned by convention."""
    p = parse_parameterization(parameterization)
    return 1.0 if p in (Parameterization.DU, Parameterization.NTK) else float(width)
