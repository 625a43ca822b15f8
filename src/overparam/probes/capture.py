"""Hidden vectors and ReLU sign patterns of any ``torch.nn.Module``, read during its forward.

overparam's own networks return their pre-activations and hidden vectors
(``model(X, return_hidden=True)``). Any other module is read from the outside, without changing
it: a :class:`torch.overrides.TorchFunctionMode` sees every activation call, whether it comes
from a module (``nn.ReLU``, ``nn.LeakyReLU``, ``nn.PReLU``, ``nn.ReLU6``, ``nn.Hardtanh``,
``nn.GELU``, ...) or from a functional call in the user's ``forward`` (``torch.relu``,
``F.relu``, ``x.relu()``, ``F.leaky_relu``, ``F.gelu``, ``torch.tanh``, ...), and forward hooks
on the submodules name each call by the module it happens in.

* **Piecewise-linear activations** (:data:`PIECEWISE_LINEAR`: relu, leaky relu, prelu, relu6 /
  hardtanh) have a sign pattern: the linear piece each unit's pre-activation z falls in, the
  D_{i,l} = diag(1[z >= 0]) of [allen-zhu-2019, Theorems 3-4 proof] (hardtanh and relu6 have
  three pieces). The ``flips`` probe counts units whose piece changed since init.
* **Every recognized activation** (:data:`PIECEWISE_LINEAR` and :data:`SMOOTH`) contributes its
  output as a hidden vector h_l (flattened per sample), as do the outputs of any modules named
  by the user; ``norms``, ``separation`` and ``hidden_drift`` read those.

Names: an activation module is named by its path in the model (``"features.1"``); a functional
call by the module whose ``forward`` makes it and the function (``"block.relu"``, then
``"block.relu#2"`` for a second call in the same forward). Inputs are cloned before the call, so
in-place activations (``nn.ReLU(inplace=True)``, ``F.relu_``) are read correctly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.overrides import TorchFunctionMode

from overparam.errors import ConfigError


def _positive(args: tuple, kwargs: dict) -> torch.Tensor:
    return args[0] > 0


def _hardtanh_piece(args: tuple, kwargs: dict) -> torch.Tensor:
    z = args[0]
    lo = kwargs.get("min_val", args[1] if len(args) > 1 else -1.0)
    hi = kwargs.get("max_val", args[2] if len(args) > 2 else 1.0)
    return (z > lo).to(torch.int8) + (z > hi).to(torch.int8)


#: Piecewise-linear activations and the function giving each unit's linear piece from the
#: call's arguments (relu-like: z > 0; hardtanh / relu6: which of its three pieces).
PIECEWISE_LINEAR: dict[Callable[..., Any], tuple[str, Callable[[tuple, dict], torch.Tensor]]] = {
    F.relu: ("relu", _positive),
    torch.relu: ("relu", _positive),
    torch.relu_: ("relu", _positive),
    torch.Tensor.relu: ("relu", _positive),
    torch.Tensor.relu_: ("relu", _positive),
    F.leaky_relu: ("leaky_relu", _positive),
    torch._C._nn.leaky_relu_: ("leaky_relu", _positive),
    torch.prelu: ("prelu", _positive),
    F.hardtanh: ("hardtanh", _hardtanh_piece),
    torch._C._nn.hardtanh_: ("hardtanh", _hardtanh_piece),
    F.relu6: ("relu6", lambda a, k: _hardtanh_piece((a[0], 0.0, 6.0), {})),
}

#: Smooth activations: their outputs are hidden vectors, but they have no sign pattern.
SMOOTH: dict[Callable[..., Any], str] = {
    F.gelu: "gelu",
    torch._C._nn.gelu: "gelu",
    torch.tanh: "tanh",
    torch.Tensor.tanh: "tanh",
    torch.sigmoid: "sigmoid",
    torch.Tensor.sigmoid: "sigmoid",
    F.silu: "silu",
    F.softplus: "softplus",
    torch._C._nn.softplus: "softplus",
    F.elu: "elu",
    F.mish: "mish",
}

#: What :func:`capture` recognizes, for messages and the documentation.
RECOGNIZED = (
    "piecewise linear (sign flips): nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ReLU6, nn.Hardtanh, "
    "torch.relu, F.relu, F.relu_, Tensor.relu, F.leaky_relu, F.prelu, F.relu6, F.hardtanh; "
    "smooth (hidden vectors only): nn.GELU, nn.Tanh, nn.Sigmoid, nn.SiLU, nn.Softplus, nn.ELU, "
    "nn.Mish and their functional forms"
)


@dataclass(frozen=True)
class Captured:
    """One forward pass of a model read from the outside.

    Attributes:
        f: (n, k) output.
        pattern_layers / patterns: name and (n, units) linear-piece pattern of each
            piecewise-linear activation call, in call order.
        pre: the (n, units) pre-activations of those calls (same order).
        hidden_layers / hidden: name and (n, units) output of each recognized activation and of
            each module named in ``modules``, in call order.
    """

    f: torch.Tensor
    pattern_layers: tuple[str, ...]
    patterns: list[torch.Tensor]
    pre: list[torch.Tensor]
    hidden_layers: tuple[str, ...]
    hidden: list[torch.Tensor]


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.detach().reshape(t.shape[0], -1)


class _Recorder(TorchFunctionMode):
    """Records recognized activation calls, named by the innermost running module."""

    def __init__(self, root: str) -> None:
        super().__init__()
        self.stack: list[str] = [root]
        self.counts: dict[str, int] = {}
        self.patterns: list[tuple[str, torch.Tensor, torch.Tensor]] = []
        self.hidden: list[tuple[str, torch.Tensor]] = []
        self.leaf_activation: set[str] = set()

    def _name(self, fn: str) -> str:
        where = self.stack[-1]
        # An activation module is named by its own path; a functional call by the module
        # whose forward makes it, and the function.
        base = where if where in self.leaf_activation or not where else f"{where}.{fn}"
        base = base or fn
        self.counts[base] = self.counts.get(base, 0) + 1
        count = self.counts[base]
        return base if count == 1 else f"{base}#{count}"

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        piece = PIECEWISE_LINEAR.get(func)
        smooth = SMOOTH.get(func)
        if piece is None and smooth is None:
            return func(*args, **kwargs)
        z = args[0].detach().clone() if isinstance(args[0], torch.Tensor) else None
        pattern = None
        if piece is not None and z is not None:
            pattern = piece[1]((z, *args[1:]), kwargs)
        out = func(*args, **kwargs)
        if z is None or z.ndim == 0:
            return out
        name = self._name(piece[0] if piece is not None else str(smooth))
        if pattern is not None:
            self.patterns.append((name, _flat(pattern), _flat(z)))
        if isinstance(out, torch.Tensor):
            self.hidden.append((name, _flat(out).clone()))
        return out


_ACTIVATION_MODULES = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ReLU6,
    nn.Hardtanh,
    nn.GELU,
    nn.Tanh,
    nn.Sigmoid,
    nn.SiLU,
    nn.Softplus,
    nn.ELU,
    nn.Mish,
)


def capture(
    model: nn.Module,
    X: torch.Tensor,
    params: dict[str, torch.Tensor] | None = None,
    *,
    modules: Sequence[str] = (),
) -> Captured:
    """Run ``model`` on X (at ``params`` if given, by ``functional_call``) and read its
    activations from the outside (see the module docstring); the model is left unchanged.

    Args:
        model: any module mapping (n, ...) to (n, k).
        X: (n, ...) inputs.
        params: {name: tensor} to evaluate at (e.g. the initial weights), or None.
        modules: names (as in ``model.named_modules()``) whose outputs are also hidden vectors.

    Raises:
        ConfigError: a name in ``modules`` is not a submodule of ``model``.
    """
    named = dict(model.named_modules())
    unknown = [name for name in modules if name not in named]
    if unknown:
        options = ", ".join(n for n in named if n) or "(no submodules)"
        raise ConfigError("modules", unknown, f"names of submodules of the model: {options}")
    root = ""
    recorder = _Recorder(root)
    handles = []
    wanted = set(modules)

    def push(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any) -> None:
            recorder.stack.append(name)

        return hook

    def pop(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            recorder.stack.pop()
            if name in wanted and name not in recorder.leaf_activation and isinstance(
                output, torch.Tensor
            ):
                recorder.hidden.append((name, _flat(output).clone()))

        return hook

    for name, module in named.items():
        if not name:
            continue
        if isinstance(module, _ACTIVATION_MODULES):
            recorder.leaf_activation.add(name)
        handles.append(module.register_forward_pre_hook(push(name)))
        handles.append(module.register_forward_hook(pop(name)))
    try:
        with torch.no_grad(), recorder:
            f = model(X) if params is None else functional_call(model, params, (X,))
    finally:
        for h in handles:
            h.remove()
    return Captured(
        f=f.detach(),
        pattern_layers=tuple(name for name, _, _ in recorder.patterns),
        patterns=[p for _, p, _ in recorder.patterns],
        pre=[z for _, _, z in recorder.patterns],
        hidden_layers=tuple(name for name, _ in recorder.hidden),
        hidden=[h for _, h in recorder.hidden],
    )
