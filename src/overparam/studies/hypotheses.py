"""Hypotheses of the cited theorems that several studies share, declared once."""

from __future__ import annotations

from overparam.studies.claims import Hypothesis

#: Activations meeting [du-2019-deep, Condition 3.1]: analytic, not a polynomial, with sigma and
#: sigma' Lipschitz (ReLU is not differentiable at 0).
SMOOTH_ACTIVATIONS = ("softplus", "sigmoid", "tanh", "gelu", "swish")

DU_SMOOTH = Hypothesis(
    "activation",
    allowed=SMOOTH_ACTIVATIONS,
    reason=r"du-2019-deep, Condition 3.1: analytic, non-polynomial, Lipschitz and smooth $\sigma$",
)
LEE_SMOOTH = Hypothesis(
    "activation",
    allowed=SMOOTH_ACTIVATIONS,
    reason=r"lee-2019, Theorem 2.1: $\sigma$ Lipschitz with a Lipschitz derivative",
)
RELU = Hypothesis(
    "activation",
    allowed=("relu",),
    reason="the ReLU networks the theorem is proved for",
)
CAO_GU_ALGORITHM_2 = Hypothesis(
    "algorithm",
    allowed=("online-sgd",),
    reason="cao-gu-2019, Algorithm 2: one pass of online SGD from Gaussian init",
)
ZOU_GU_NETWORK = Hypothesis(
    "parameterization",
    allowed=("zou-gu",),
    reason="zou-gu-2019, Section 3: the network, initialization and loss of its theorems",
)
ZOU_GU_STEP = Hypothesis(
    "lr",
    allowed=("theory",),
    reason=r"zou-gu-2019, Theorem 3.3 and Lemma 4.2: $\eta = O(k / (L^2 m))$",
)
