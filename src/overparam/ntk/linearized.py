"""The linearized network: the first-order Taylor model of a network around theta_0.

[lee-2019, Section 2.2, eq. (5)]: with omega = theta - theta_0,

    f_lin(theta; x) = f(theta_0; x) + J(theta_0; x) (theta - theta_0),     J = d f / d theta,

an affine function of theta whose gradient-descent dynamics are governed by the empirical NTK
Theta_0 = J(theta_0) J(theta_0)^T [jacot-2018, Section 4] at every step (the kernel of f_lin
is constant). :class:`Linearized` evaluates it with one forward-mode product
(``torch.func.jvp`` of theta -> f(theta; x) at theta_0 in the direction theta - theta_0), so no
Jacobian is formed; its trainable parameters are theta itself, named as in the original model,
and ``loss.backward()`` gives J(theta_0)^T dL/df_lin, so any torch training loop (overparam's
:func:`overparam.train.loop.train` included) trains it like the network.
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, jvp

from overparam.errors import ConfigError

_FORWARD_AD_READY = False


def preload_forward_ad() -> None:
    """Load torch's forward-mode AD decompositions once, silencing the DeprecationWarning
    ("torch.jit.script is deprecated") torch emits while loading them on the first jvp of a
    process (it would abort that jvp under warnings-as-errors)."""
    global _FORWARD_AD_READY
    if _FORWARD_AD_READY:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*torch.jit.script.*", category=DeprecationWarning
        )
        jvp(torch.sin, (torch.zeros(1),), (torch.ones(1),))
    _FORWARD_AD_READY = True


class Linearized(nn.Module):
    """f_lin(theta; x) = f(theta_0; x) + J(theta_0; x)(theta - theta_0) of ``model``.

    The trained parameters of ``model`` (``requires_grad``) are linearized; frozen parameters
    and buffers keep their values in theta_0. ``named_parameters()`` yields theta under the
    original names ("layers.0.weight", ...), initialized to theta_0, so probes and the train
    loop compare them with the original's. theta_0 is a detached copy taken at construction:
    later changes to ``model`` do not move it, and ``model`` itself is never modified.

    Args:
        model: any ``nn.Module``; its forward is evaluated by ``functional_call`` on a private
            deep copy (its training mode, e.g. of dropout, is the copy's at construction).

    Example:
        >>> lin = Linearized(net)
        >>> loss = ((lin(X) - y) ** 2).sum() / 2
        >>> loss.backward()  # lin's grads are J(theta_0)^T (f_lin - y)
        >>> trained = lin.to_model()  # a copy of net with theta loaded

    Raises:
        ConfigError: ``model`` has no trained parameter, or a parameter name that clashes with
            an attribute of ``nn.Module``.
    """

    # Set with object.__setattr__, outside the module tree (see __init__).
    _base: nn.Module
    _names: tuple[str, ...]
    _trained: frozenset[str]

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise ConfigError("model", type(model).__name__, "a torch.nn.Module")
        names = [n for n, p in model.named_parameters() if p.requires_grad]
        if not names:
            raise ConfigError("model", type(model).__name__, "a model with trained parameters")
        # The base is kept outside the module tree so its parameters (theta_0) are not
        # parameters of the linearization; _apply moves it with .to() / .double() / .cuda().
        base = copy.deepcopy(model)
        for p in base.parameters():
            p.requires_grad_(False)
        object.__setattr__(self, "_base", base)
        object.__setattr__(self, "_names", tuple(names))
        object.__setattr__(self, "_trained", frozenset(names))
        params = dict(base.named_parameters())
        for name in names:
            self._register_theta(name, nn.Parameter(params[name].detach().clone()))

    def _register_theta(self, name: str, value: nn.Parameter) -> None:
        """Register ``value`` at the dotted path ``name`` through plain container modules."""
        *path, leaf = name.split(".")
        node: nn.Module = self
        for part in path:
            child = node._modules.get(part)
            if child is None:
                if hasattr(node, part):
                    raise ConfigError(
                        "model", f"parameter {name!r}", f"names that do not clash ({part!r} does)"
                    )
                child = nn.Module()
                node.add_module(part, child)
            node = child
        if hasattr(node, leaf) and leaf not in node._parameters:
            raise ConfigError(
                "model", f"parameter {name!r}", f"names that do not clash ({leaf!r} does)"
            )
        node.register_parameter(leaf, value)

    def _apply(self, fn, recurse: bool = True):  # nn.Module's signature
        super()._apply(fn, recurse)
        self._base._apply(fn, recurse)
        return self

    # -- evaluation ------------------------------------------------------------------------

    def theta0(self) -> dict[str, torch.Tensor]:
        """{name: theta_0} of the linearized parameters (detached)."""
        params = dict(self._base.named_parameters())
        return {n: params[n].detach() for n in self._names}

    def base_forward(self, x: Any) -> torch.Tensor:
        """f(theta_0; x): the network at the linearization point."""
        with torch.no_grad():
            return functional_call(self._base, self.theta0(), (x,))

    def at(self, theta: dict[str, torch.Tensor], x: Any) -> torch.Tensor:
        """f_lin(theta; x) for given theta ({name: tensor} of every linearized parameter).

        Args:
            theta: values of the linearized parameters (the keys of :meth:`theta0`); gradients
                flow to them. x: the model's input, e.g. (n, d).

        Returns:
            f(theta_0; x) + J(theta_0; x)(theta - theta_0), the model's output shape (n, k).
        """
        missing = set(self._names) - set(theta)
        if missing:
            raise ConfigError("theta", sorted(missing)[0], f"values for {list(self._names)}")
        preload_forward_ad()
        theta0 = self.theta0()
        tangent = {n: theta[n] - theta0[n] for n in self._names}

        def f(params: dict[str, torch.Tensor]) -> torch.Tensor:
            return functional_call(self._base, params, (x,))

        f0, df = jvp(f, (theta0,), (tangent,))[:2]
        return f0 + df

    def forward(self, x: Any) -> torch.Tensor:
        """f_lin(theta; x) at the current parameters theta."""
        return self.at(dict(self.named_parameters()), x)

    # -- back to a network -----------------------------------------------------------------

    def to_model(self) -> nn.Module:
        """A fresh deep copy of the original model with the current theta loaded (frozen
        parameters and buffers as at construction; ``requires_grad`` as in the original)."""
        model = copy.deepcopy(self._base)
        theta = dict(self.named_parameters())
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in self._trained:
                    p.copy_(theta[name])
                    p.requires_grad_(True)
        return model


def linearization_gap(model: nn.Module, linearized: Linearized, X: Any) -> float:
    """||f(theta; X) - f_lin(theta; X)|| / ||f(theta; X) - f(theta_0; X)|| (Frobenius norms).

    theta is ``model``'s current trained parameters, theta_0 and J(theta_0) are
    ``linearized``'s; the ratio is the relative second-order remainder of the Taylor model
    [lee-2019, Section 2.2, eq. (5)]: O(||theta - theta_0||) for a smooth network, 0 for a
    network linear in its parameters. Returns 0.0 when theta = theta_0 (both norms 0) and inf
    when only the denominator vanishes.

    Args:
        model: a network with the same trained parameter names as the one ``linearized`` was
            built from. linearized: the linearization at theta_0. X: inputs (n, ...).

    Raises:
        ConfigError: ``model``'s trained parameter names differ from ``linearized``'s.
    """
    theta = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    if set(theta) != set(linearized.theta0()):
        raise ConfigError(
            "model",
            sorted(theta),
            f"a model with the linearized parameters {sorted(linearized.theta0())}",
        )
    with torch.no_grad():
        f = model(X)
        f0 = linearized.base_forward(X)
    f_lin = linearized.at(theta, X).detach()
    num, den = float((f - f_lin).norm()), float((f - f0).norm())
    if den == 0.0:
        return 0.0 if num == 0.0 else math.inf
    return num / den
