"""The empirical NTK of any ``torch.nn.Module``: per-layer factors where the layer allows them,
per-sample Jacobians through ``torch.func`` for every other trained parameter.

The kernel [jacot-2018, Section 4] of the trained parameters theta is

    Theta_ij^{ab} = sum_p  d f_a(x_i) / d theta_p  *  d f_b(x'_j) / d theta_p,   (n, n2, k, k).

**Factored layers.** A dense map z_t = c W h_t + c_b b applied at positions t = 1..T of one
sample (T = 1 for an (n, d) input; the sequence positions of an (n, T, d) input; the patches of
a convolution) has d f_a / d W = c sum_t g_ta h_t^T and d f_a / d b = c_b sum_t g_ta, with
g_ta = d f_a / d z_t. Its contribution to the kernel is therefore

    Theta_ij^{ab} += sum_{t, s} (c^2 <h_it, h_js> + c_b^2) <g_ita, g_jsb>,

built from the layer inputs H (one forward pass, a forward hook) and the output gradients G
(k backward passes of sum_i f_a(x_i), one per output a). G is per sample because samples do not
interact: d (sum_i f_a(x_i)) / d z_it = d f_a(x_i) / d z_it. No (n, P) Jacobian is formed. The
layers handled so are ``nn.Linear`` (c = c_b = 1), overparam's ``models.base.Dense``
(c = ``spec.multiplier``, c_b = ``spec.bias_multiplier``) and ``nn.Conv1d`` / ``nn.Conv2d``
(groups 1, zero or no padding; h_t = the patch at output position t, read by ``unfold``). When
T > 1 and the per-sample weight gradient sum_t g_ta h_t^T (k m d entries) is cheaper to contract
than the T^2 position pairs, that gradient is formed instead and enters as a Jacobian block.

**Every other trained parameter** (LayerNorm, PReLU, embeddings, a custom module's own tensors,
a layer whose parameter is shared or whose input does not keep the sample dimension first) gets
per-sample Jacobians by ``vmap(jacrev)`` through ``functional_call``, restricted to those
parameters, in chunks of samples.

**Requirements.** ``model`` maps (n, ...) to (n, k) (or (n,), read as k = 1) and sample i's
output depends on sample i only: no coupling across the batch. BatchNorm in training mode
couples samples (batch statistics) and is refused, as is dropout in training mode (a random
function has no kernel); call ``model.eval()``. Other coupling is caught when it shows: two
no-grad probe passes on 3 and 5 rows must give the same outputs on their 3 common rows. A layer
is factored only if its input's first dimension is the number of rows in both passes; one that
works on a fixed axis (a sequence-first layout, a graph's nodes) goes to ``torch.func``. A
factored layer's parameters must enter the output only through that layer's own forward (a
module that reads ``self.lin.weight`` directly *besides* calling ``self.lin`` is measured
wrong; one whose forward never runs, like ``MultiheadAttention.out_proj``, goes to
``torch.func``).

**Memory.** With e bytes per element, per sample s feature elements (sum over factored layers
of T (d_in + k d_out), k P_l for formed weight gradients, k P_rest for the torch.func
parameters), g graph elements (the summed sizes of every module's output, measured by the
probe passes) and q elements per pair of samples (2 k^2 for the block and one contribution,
k^2 more with ``per_layer``, plus the largest layer temporary: 1 + k^2 for T = 1,
T^2 (1 + 2 k^2) for a position-pair layer; k^2 -> 1 with ``trace``), the peak beyond the
(n, n2, k, k) result (and its per-layer parts) is

    e [ 2 n_block (s + (k + 2) g)  +  n_block^2 q ]                            (streamed)
    e [ (n + n2) s  +  max(n_chunk (s + (k + 2) g), n_block^2 q) ]       (features kept),

and :func:`generic_plan` picks n_block (and n_chunk) so that this stays under ``max_memory``:
features of all rows (n + n2 rows; n when X2 is None) are kept when they take at most half of
it, otherwise they are recomputed for each (row block, column block) pair.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, jacrev, vmap
from torch.nn.modules.batchnorm import _BatchNorm

from overparam.errors import ConfigError
from overparam.models.base import Dense

# Default bytes for features, Gram blocks and Jacobian chunks when max_memory is not given.
DEFAULT_MAX_MEMORY = 2 * 2**30
# Rows of the two probe forward passes: a layer whose first dimension is a fixed axis (a
# sequence, the nodes of a graph) cannot match both, so it is not mistaken for a batched one.
PROBE_ROWS = (3, 5)
# Start of the UserWarning vmap emits for an op without a batching rule.
VMAP_FALLBACK_MSG = "There is a performance drop because we have not yet implemented"


# ------------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------------


def check_no_sample_coupling(model: nn.Module) -> None:
    """Refuse modules whose output on sample i depends on other samples or on chance.

    Raises:
        ConfigError: ``model`` holds a BatchNorm in training mode (batch statistics couple the
            samples) or a dropout module with p > 0 in training mode.
    """
    for name, module in model.named_modules():
        if isinstance(module, _BatchNorm) and module.training:
            raise ConfigError(
                "model",
                f"{type(model).__name__} with {type(module).__name__} {name or '(root)'!r} in "
                "training mode",
                "a model without coupling between samples: call model.eval() so BatchNorm uses "
                "its running statistics",
            )
        if isinstance(module, nn.modules.dropout._DropoutNd) and module.training and module.p > 0:
            raise ConfigError(
                "model",
                f"{type(model).__name__} with {type(module).__name__} {name or '(root)'!r} in "
                "training mode",
                "a deterministic model: call model.eval() to switch dropout off",
            )


def layer_names(model: nn.Module) -> dict[str, str]:
    """{parameter name: layer name} for ``per_layer`` results: the model's own
    ``parameter_layers()`` when it has one (overparam's networks: the paper's symbols), else the
    parameter name without its last component ("0.weight" -> "0")."""
    names = getattr(model, "parameter_layers", None)
    if callable(names):
        return names()
    return {n: n.rsplit(".", 1)[0] for n, _ in model.named_parameters()}


# ------------------------------------------------------------------------------------------------
# Plan: which parameter takes which path, and the block sizes
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FactoredLayer:
    """One layer whose kernel contribution comes from its inputs and output gradients.

    Attributes:
        name: the module's name in ``model.named_modules()``.
        kind: "linear" (nn.Linear, Dense) or "conv1d" / "conv2d".
        weight / bias: the trained parameter names, or None (frozen or absent).
        multiplier / bias_multiplier: c and c_b of z = c W h + c_b b.
        positions: T, positions per sample summed over the layer's calls.
        formed: True when the per-sample weight gradients (k, d_out d_in) are formed instead of
            the T^2 position pairs.
    """

    name: str
    kind: str
    weight: str | None
    bias: str | None
    multiplier: float
    bias_multiplier: float
    positions: int
    formed: bool
    module: nn.Module = field(repr=False, compare=False)


@dataclass(frozen=True)
class GenericPlan:
    """How :func:`generic_ntk` computes a kernel (see the module docstring for the bound).

    Attributes:
        k: outputs. factored: the factored layers. functional: trained parameter names given to
            ``torch.func``. cached: features of all rows kept (else recomputed per block pair).
        chunk: rows per forward / backward pass. block: rows (and columns) per Gram block.
        feature_elems, graph_elems, pair_elems: s, g, q of the memory bound.
        peak_bytes: the bound's estimate.
    """

    k: int
    factored: tuple[FactoredLayer, ...]
    functional: tuple[str, ...]
    cached: bool
    chunk: int
    block: int
    feature_elems: int
    graph_elems: int
    pair_elems: int
    peak_bytes: int


def _own(module: nn.Module, attr: str, trained: dict[int, str], shared: set[int]) -> str | None:
    p = module._parameters.get(attr)
    if p is None or id(p) not in trained or id(p) in shared:
        return None
    return trained[id(p)]


def _candidates(model: nn.Module) -> list[tuple[str, str, nn.Module, str | None, str | None]]:
    """(module name, kind, module, weight name, bias name) of every layer that may factor."""
    trained = {id(p): n for n, p in model.named_parameters() if p.requires_grad}
    seen: dict[int, int] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        seen[id(p)] = seen.get(id(p), 0) + 1
    shared = {i for i, count in seen.items() if count > 1}
    out = []
    for name, m in model.named_modules():
        kind = _kind(m)
        if kind is None:
            continue
        w, b = _own(m, "weight", trained, shared), _own(m, "bias", trained, shared)
        if w is not None or b is not None:
            out.append((name, kind, m, w, b))
    return out


def _kind(m: nn.Module) -> str | None:
    t = type(m)
    if isinstance(m, Dense) and t.forward is Dense.forward:
        return "linear"
    if isinstance(m, nn.Linear) and t.forward is nn.Linear.forward:
        return "linear"
    for conv, kind in ((nn.Conv1d, "conv1d"), (nn.Conv2d, "conv2d")):
        if (
            isinstance(m, conv)
            and t.forward is conv.forward
            and getattr(t, "_conv_forward", None) is conv._conv_forward
            and m.groups == 1
            and m.padding_mode == "zeros"
            and m.padding != "same"
        ):
            return kind
    return None


def _fan(m: nn.Module) -> tuple[int, int]:
    """(d_out, d_in) of a factored layer's weight (d_in = C_in x kernel for a convolution)."""
    w = cast(torch.Tensor, m.weight)
    return int(w.shape[0]), int(w[0].numel())


def _multipliers(m: nn.Module) -> tuple[float, float]:
    if isinstance(m, Dense):
        return float(m.spec.multiplier), float(m.spec.bias_multiplier)
    return 1.0, 1.0


def _first_input(args: tuple, kwargs: dict) -> Any:
    if args:
        return args[0]
    return next(iter(kwargs.values()), None)


def _positions(kind: str, m: nn.Module, x: Any, z: Any, rows: int) -> int | None:
    """T of one call (positions per sample), or None if the call is not batched by sample."""
    if not isinstance(x, torch.Tensor) or not isinstance(z, torch.Tensor):
        return None
    if kind == "linear":
        d_in = _fan(m)[1]
        if x.ndim < 2 or x.shape[0] != rows or x.shape[-1] != d_in or z.shape[0] != rows:
            return None
        return x.numel() // (rows * d_in)
    ndim = 3 if kind == "conv1d" else 4
    if x.ndim != ndim or x.shape[0] != rows or z.shape[0] != rows:
        return None
    return int(z[0, 0].numel())


def _probe_pass(
    model: nn.Module, X: torch.Tensor, candidates: list, rows: int
) -> tuple[torch.Tensor, list[int | None], int]:
    """One no-grad forward pass on ``rows`` rows of X (cycled): the output, each candidate's T
    (None: not batched by sample, or never called) and the graph elements per sample."""
    Xp = X[torch.arange(rows, device=X.device) % X.shape[0]]
    positions: list[int | None] = [0] * len(candidates)
    graph = [Xp.numel()]
    handles = []

    def watch(i: int, kind: str):
        def hook(module, args, kwargs, output):
            t = _positions(kind, module, _first_input(args, kwargs), output, rows)
            seen = positions[i]
            positions[i] = None if (t is None or seen is None) else seen + t

        return hook

    def count(module, args, output):
        if isinstance(output, torch.Tensor):
            graph[0] += output.numel()

    try:
        for i, (_, kind, m, _, _) in enumerate(candidates):
            handles.append(m.register_forward_hook(watch(i, kind), with_kwargs=True))
        for m in model.modules():
            handles.append(m.register_forward_hook(count))
        with torch.no_grad():
            out = model(Xp)
    except RuntimeError as err:
        raise ConfigError(
            "model",
            f"{type(model).__name__} failing on {rows} rows of X ({err})",
            "a model that maps any number n of rows (n, ...) to (n, k)",
        ) from err
    finally:
        for h in handles:
            h.remove()
    _output_width(model, out, rows)
    return out, [None if t == 0 else t for t in positions], -(-graph[0] // rows)


def _probe(model: nn.Module, X: torch.Tensor, candidates: list) -> tuple[int, list, int]:
    """k, each candidate's T (None: handled by torch.func) and the graph elements per sample,
    from two no-grad passes on PROBE_ROWS[0] and PROBE_ROWS[1] rows.

    A layer counts as batched by sample only if its input's first dimension follows the number
    of rows in both passes (a fixed axis cannot equal both). The first rows of both passes are
    the same samples, so their outputs must agree: if not, samples interact.
    """
    small, large = PROBE_ROWS
    out_s, pos_s, _ = _probe_pass(model, X, candidates, small)
    out_l, pos_l, graph = _probe_pass(model, X, candidates, large)
    tol = 1e-4 if out_s.dtype in (torch.float16, torch.bfloat16, torch.float32) else 1e-9
    scale = float(out_l.abs().max()) if out_l.numel() else 0.0
    if not torch.allclose(
        out_s, out_l[:small], rtol=tol, atol=tol * max(scale, 1e-30), equal_nan=True
    ):
        raise ConfigError(
            "model",
            f"{type(model).__name__} whose output on a sample changes with the other samples "
            "in the batch",
            "a model without coupling between samples (each output row depends on its own "
            "input row only)",
        )
    positions = [a if a == b else None for a, b in zip(pos_s, pos_l, strict=True)]
    return _output_width(model, out_l, large), positions, graph


def _output_width(model: nn.Module, out: Any, rows: int) -> int:
    if not isinstance(out, torch.Tensor) or out.ndim not in (1, 2) or out.shape[0] != rows:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(
            "model",
            f"{type(model).__name__} returning {shape} for {rows} inputs",
            "a model mapping (n, ...) inputs to an (n, k) or (n,) tensor",
        )
    return 1 if out.ndim == 1 else int(out.shape[1])


def _layer_cost(d_in: int, d_out: int, k: int, T: int, trace: bool) -> tuple[int, int]:
    """(pair FLOPs of the position-pair form, pair FLOPs of formed weight gradients)."""
    kk = k if trace else k * k
    return T * T * (d_in + kk * d_out + kk), kk * d_in * d_out + kk * d_out


def generic_plan(
    model: nn.Module,
    X: torch.Tensor,
    X2: torch.Tensor | None = None,
    *,
    trace: bool = False,
    per_layer: bool = False,
    max_memory: int | None = None,
) -> GenericPlan:
    """Decide, for :func:`generic_ntk`, which trained parameters factor and the block sizes.

    Args:
        model, X, X2, trace, per_layer, max_memory: as :func:`generic_ntk`.

    Returns:
        The :class:`GenericPlan`; ``peak_bytes`` is the module docstring's bound for it.
    """
    check_no_sample_coupling(model)
    candidates = _candidates(model)
    k, positions, graph = _probe(model, X, candidates)
    factored: list[FactoredLayer] = []
    for (name, kind, m, w, bias), T in zip(candidates, positions, strict=True):
        if T is None:
            continue
        mult, bmult = _multipliers(m)
        d_out, d_in = _fan(m)
        pairs, formed = _layer_cost(d_in, d_out, k, T, trace)
        formed_wins = T > 1 and w is not None and formed < pairs
        factored.append(FactoredLayer(name, kind, w, bias, mult, bmult, T, formed_wins, m))
    covered = {p for layer in factored for p in (layer.weight, layer.bias) if p is not None}
    functional = tuple(
        n for n, p in model.named_parameters() if p.requires_grad and n not in covered
    )
    sizes = {n: p.numel() for n, p in model.named_parameters()}
    kk = 1 if trace else k * k
    s = k * sum(sizes[n] for n in functional)
    temp = 1
    for layer in factored:
        d_out, d_in = _fan(layer.module)
        T = layer.positions
        if layer.formed:
            s += k * (d_out * d_in + d_out)
        else:
            s += T * (d_in + k * d_out)
            temp = max(temp, 1 + kk if T == 1 else T * T * (1 + 2 * kk))
    q = 2 * kk + max(temp, kk) + (kk if per_layer else 0)
    e = X.element_size()
    budget = int(max_memory or DEFAULT_MAX_MEMORY)
    n = X.shape[0]
    n2 = n if X2 is None else X2.shape[0]
    rows_kept = n if X2 is None else n + n2
    capture = s + (k + 2) * graph  # per-sample elements of one forward / backward pass
    cached = e * s * rows_kept <= budget // 2
    if cached:
        rest = budget - e * s * rows_kept  # for one capture pass, then for one Gram block
        chunk = max(1, min(n, rest // (e * capture)))
        block = max(1, min(max(n, n2), math.isqrt(rest // (e * q))))
        peak = e * (rows_kept * s + max(chunk * capture, block * block * q))
    else:
        # e q b^2 + 2 e capture b <= budget, solved for b.
        a, c = e * q, 2 * e * capture
        rows = int((-c + math.sqrt(c * c + 4 * a * budget)) / (2 * a))
        block = chunk = max(1, min(max(n, n2), rows))
        peak = e * (2 * block * capture + block * block * q)
    return GenericPlan(k, tuple(factored), functional, cached, chunk, block, s, graph, q, int(peak))


# ------------------------------------------------------------------------------------------------
# Features of a set of rows
# ------------------------------------------------------------------------------------------------


@dataclass
class _Factor:
    """One factored layer's features: A (b, T, d) = c h (None: bias only), G (k, b, T, m)."""

    key: str
    A: torch.Tensor | None
    bias_sq: float
    G: torch.Tensor


@dataclass
class _Features:
    """Features of b rows: factors, and Jacobian blocks {key: (b, k, P)}."""

    factors: list[_Factor]
    jac: dict[str, torch.Tensor]

    def rows(self, r: slice) -> _Features:
        return _Features(
            [
                _Factor(f.key, None if f.A is None else f.A[r], f.bias_sq, f.G[:, r])
                for f in self.factors
            ],
            {key: j[r] for key, j in self.jac.items()},
        )

    @staticmethod
    def cat(parts: list[_Features]) -> _Features:
        first = parts[0]
        factors = [
            _Factor(
                f.key,
                None if f.A is None else torch.cat([_inputs(p.factors[i]) for p in parts]),
                f.bias_sq,
                torch.cat([p.factors[i].G for p in parts], dim=1),
            )
            for i, f in enumerate(first.factors)
        ]
        jac = {key: torch.cat([p.jac[key] for p in parts]) for key in first.jac}
        return _Features(factors, jac)


def _inputs(f: _Factor) -> torch.Tensor:
    """A of a factor that has one (a trained weight)."""
    if f.A is None:
        raise ValueError(f"factor {f.key!r} has no layer inputs (bias only)")
    return f.A


def _patches(layer: FactoredLayer, x: torch.Tensor) -> torch.Tensor:
    """(b, T, d_in) layer inputs: rows of an (b, ..., d) tensor, or unfolded conv patches."""
    if layer.kind == "linear":
        return x.reshape(x.shape[0], -1, x.shape[-1])
    m = cast(nn.Conv1d | nn.Conv2d, layer.module)
    size, dil, stride = tuple(m.kernel_size), tuple(m.dilation), tuple(m.stride)
    pad = (0,) * len(size) if m.padding == "valid" else tuple(cast(tuple[int, ...], m.padding))
    if layer.kind == "conv1d":  # as a conv2d of height 1
        x = x.unsqueeze(2)
        size, dil, stride, pad = (1, *size), (1, *dil), (1, *stride), (0, *pad)
    return F.unfold(x, size, dilation=dil, padding=pad, stride=stride).transpose(1, 2)


def _out_grads(layer: FactoredLayer, g: torch.Tensor) -> torch.Tensor:
    """(b, T, d_out) gradients with respect to the layer's output at each position."""
    if layer.kind == "linear":
        return g.reshape(g.shape[0], -1, g.shape[-1])
    return g.reshape(g.shape[0], g.shape[1], -1).transpose(1, 2)


def _factored_features(
    model: nn.Module, p: GenericPlan, Xb: torch.Tensor, keys: dict[str, str]
) -> tuple[list[_Factor], dict[str, list[torch.Tensor]]]:
    """Forward pass with hooks on the factored layers, then k backward passes."""
    b = Xb.shape[0]
    # Per layer and call: (T of the call or None, the inputs c h as (b, T, d_in) or None when
    # the weight is frozen, the output z).
    records: list[list[tuple[int | None, torch.Tensor | None, torch.Tensor]]] = [
        [] for _ in p.factored
    ]
    handles = []

    def keep(i: int, layer: FactoredLayer):
        def hook(module, args, kwargs, output):
            x = _first_input(args, kwargs)
            T = _positions(layer.kind, module, x, output, b)
            A = None
            if T is not None and layer.weight is not None:
                # A fresh tensor (unfold, or the product): later in-place changes of the
                # layer's input cannot reach it.
                A = _patches(layer, x.detach()) * layer.multiplier
            records[i].append((T, A, output))
            # Downstream layers get a copy, so an in-place op after the layer (ReLU(inplace))
            # leaves z, whose gradient is taken below, untouched.
            return output.clone()

        return hook

    try:
        for i, layer in enumerate(p.factored):
            handles.append(layer.module.register_forward_hook(keep(i, layer), with_kwargs=True))
        out = model(Xb)
    finally:
        for h in handles:
            h.remove()
    if not isinstance(out, torch.Tensor) or out.shape[0] != b:
        _output_width(model, out, b)
    out = out.reshape(b, -1)
    for recs, layer in zip(records, p.factored, strict=True):
        calls = [T for T, _, _ in recs]
        if None in calls or sum(T or 0 for T in calls) != layer.positions:
            raise ConfigError(
                "model",
                f"{type(model).__name__} layer {layer.name!r} seen with {b} rows",
                "layers whose inputs keep the sample dimension first, the same at every batch size",
            )
    zs = [z for recs in records for _, _, z in recs]
    live = [i for i, z in enumerate(zs) if z.requires_grad]
    grads: list[list[torch.Tensor]] = [[] for _ in zs]
    for a in range(p.k):
        got = torch.autograd.grad(
            out[:, a].sum(), [zs[i] for i in live], retain_graph=a < p.k - 1, allow_unused=True
        )
        for i, g in zip(live, got, strict=True):
            grads[i].append(torch.zeros_like(zs[i]) if g is None else g)
    del out
    factors: list[_Factor] = []
    jac: dict[str, list[torch.Tensor]] = {}
    at = 0
    for recs, layer in zip(records, p.factored, strict=True):
        A_parts, G_parts = [], []
        for _, A, z in recs:
            gs = grads[at] or [torch.zeros_like(z.detach())] * p.k
            G_parts.append(torch.stack([_out_grads(layer, g) for g in gs]))
            A_parts.append(A)
            at += 1
        A_kept = [a for a in A_parts if a is not None]
        A = torch.cat(A_kept, dim=1) if layer.weight is not None else None  # (b, T, d_in)
        G = torch.cat(G_parts, dim=2)  # (k, b, T, d_out)
        _layer_features(layer, A, G, keys, factors, jac)
    return factors, jac


def _layer_features(
    layer: FactoredLayer,
    A: torch.Tensor | None,
    G: torch.Tensor,
    keys: dict[str, str],
    factors: list[_Factor],
    jac: dict[str, list[torch.Tensor]],
) -> None:
    """Append one layer's factors (or formed weight gradients) to ``factors`` / ``jac``."""
    bias_sq = layer.bias_multiplier**2
    wkey = None if layer.weight is None else keys[layer.weight]
    bkey = None if layer.bias is None else keys[layer.bias]
    if layer.formed and A is not None and wkey is not None:
        b = A.shape[0]
        # d f_a / d W = c sum_t g_ta h_t^T per sample: (b, k, d_out d_in).
        jw = torch.einsum("kbtm,btd->bkmd", G, A).reshape(b, G.shape[0], -1)
        jac.setdefault(wkey, []).append(jw)
        if bkey is not None:
            jac.setdefault(bkey, []).append(layer.bias_multiplier * G.sum(2).transpose(0, 1))
        return
    if wkey is not None and wkey == bkey:
        factors.append(_Factor(wkey, A, bias_sq, G))
        return
    if wkey is not None:
        factors.append(_Factor(wkey, A, 0.0, G))
    if bkey is not None:  # bias alone: sum_{t,s} c_b^2 <g_t, g'_s> = c_b^2 <sum_t g_t, sum_s g'_s>
        factors.append(_Factor(bkey, None, bias_sq, G.sum(2, keepdim=True)))


def _functional_jacobians(
    model: nn.Module, names: tuple[str, ...], Xb: torch.Tensor, chunk: int
) -> dict[str, torch.Tensor]:
    """{name: (b, k, numel)} per-sample Jacobians of the named parameters by vmap(jacrev)."""
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = dict(model.named_buffers())
    wrt = {n: params[n] for n in names}

    def f_single(chosen: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, {**params, **buffers, **chosen}, (x[None],)).reshape(-1)

    parts = [
        per_sample_jacobians(f_single, wrt, Xb[i : i + chunk]) for i in range(0, Xb.shape[0], chunk)
    ]
    return {n: torch.cat([j[n] for j in parts]).flatten(2) for n in names}


def per_sample_jacobians(
    f_single: Any, wrt: dict[str, torch.Tensor], X: torch.Tensor
) -> dict[str, torch.Tensor]:
    """{name: (b, k, *shape)}: ``jacrev(f_single)(wrt, x)`` for each row x of X (b, ...).

    Batched by ``vmap``; where vmap has no rule for an op (it raises, e.g. PReLU's backward in
    torch 2.x), the rows are done one by one with the same ``jacrev``.
    """
    jac = jacrev(f_single)
    with warnings.catch_warnings():
        # vmap's notice that an op (e.g. CPU flash attention) runs through its slow per-sample
        # fallback: a speed remark, the values are exact.
        warnings.filterwarnings("ignore", message=VMAP_FALLBACK_MSG, category=UserWarning)
        try:
            return vmap(jac, in_dims=(None, 0))(wrt, X)
        except RuntimeError:
            rows = [jac(wrt, x) for x in X]
    return {n: torch.stack([r[n] for r in rows]) for n in wrt}


def _features(
    model: nn.Module, p: GenericPlan, Xb: torch.Tensor, keys: dict[str, str]
) -> _Features:
    """All features of the rows Xb (b, ...), in forward / backward passes of ``p.chunk`` rows."""
    pieces = []
    for i in range(0, Xb.shape[0], p.chunk):
        Xc = Xb[i : i + p.chunk]
        factors: list[_Factor] = []
        jac: dict[str, list[torch.Tensor]] = {}
        if p.factored:
            factors, jac = _factored_features(model, p, Xc, keys)
        if p.functional:
            for name, j in _functional_jacobians(model, p.functional, Xc, p.chunk).items():
                jac.setdefault(keys[name], []).append(j)
        pieces.append(_Features(factors, {key: torch.cat(js, dim=2) for key, js in jac.items()}))
    return pieces[0] if len(pieces) == 1 else _Features.cat(pieces)


# ------------------------------------------------------------------------------------------------
# Gram blocks
# ------------------------------------------------------------------------------------------------


def _factor_block(a: _Factor, b: _Factor, trace: bool) -> torch.Tensor:
    """sum_{t,s} (<A_it, A_js> + c_b^2) <G_ita, G_jsb>: (b1, b2, k, k), or (b1, b2) traced."""
    k, b1, T, m = a.G.shape
    b2, S = b.G.shape[1], b.G.shape[2]
    if T == 1 and S == 1:
        hh = a.bias_sq if a.A is None else a.A[:, 0] @ _inputs(b)[:, 0].T + a.bias_sq
        ga, gb = a.G[:, :, 0], b.G[:, :, 0]  # (k, b, m)
        if trace:
            return hh * (
                ga.transpose(0, 1).reshape(b1, k * m) @ gb.transpose(0, 1).reshape(b2, k * m).T
            )
        if k == 1:
            return (hh * (ga[0] @ gb[0].T))[:, :, None, None]
        gg = (ga.reshape(k * b1, m) @ gb.reshape(k * b2, m).T).reshape(k, b1, k, b2)
        hh = hh[:, :, None, None] if isinstance(hh, torch.Tensor) else hh
        return hh * gg.permute(1, 3, 0, 2)
    aa = torch.einsum("itd,jsd->ijts", _inputs(a), _inputs(b)) + a.bias_sq  # (b1, b2, T, S)
    if trace:
        ga = a.G.permute(1, 2, 0, 3).reshape(b1 * T, k * m)
        gb = b.G.permute(1, 2, 0, 3).reshape(b2 * S, k * m)
        gg = (ga @ gb.T).reshape(b1, T, b2, S).permute(0, 2, 1, 3)
        return (aa * gg).sum((2, 3))
    gg = (a.G.reshape(k * b1 * T, m) @ b.G.reshape(k * b2 * S, m).T).reshape(k, b1, T, k, b2, S)
    return torch.einsum("ijts,aitcjs->ijac", aa, gg)


def _jac_block(j1: torch.Tensor, j2: torch.Tensor, trace: bool) -> torch.Tensor:
    """<J_ia, J_jb> for J (b, k, P): (b1, b2, k, k), or (b1, b2) traced."""
    b1, k, P = j1.shape
    b2 = j2.shape[0]
    if trace:
        return j1.reshape(b1, k * P) @ j2.reshape(b2, k * P).T
    return (
        (j1.reshape(b1 * k, P) @ j2.reshape(b2 * k, P).T).reshape(b1, k, b2, k).permute(0, 2, 1, 3)
    )


def _block(
    f1: _Features, f2: _Features, trace: bool, per_layer: bool
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Theta[rows of f1, rows of f2] and its parts; one contribution alive at a time."""
    pairs = [
        (a.key, lambda a=a, b=b: _factor_block(a, b, trace))
        for a, b in zip(f1.factors, f2.factors, strict=True)
    ]
    pairs += [
        (key, lambda j=j, key=key: _jac_block(j, f2.jac[key], trace)) for key, j in f1.jac.items()
    ]
    total: torch.Tensor | None = None
    parts: dict[str, torch.Tensor] = {}
    for key, contribution in pairs:
        c = contribution()
        if per_layer:
            parts[key] = c if key not in parts else parts[key] + c
        if total is None:
            total = c.clone() if per_layer else c  # a part must not alias the sum
        else:
            total.add_(c)
    return total, parts  # type: ignore[return-value]


def _write(target: Any, rows: slice, cols: slice, blk: torch.Tensor) -> None:
    """Write a block into a torch tensor or a NumPy (memory-mapped) array."""
    if isinstance(target, torch.Tensor):
        target[rows, cols] = blk.to(target.dtype)
    else:
        target[rows, cols] = blk.detach().cpu().numpy()


def _mirror(blk: torch.Tensor, trace: bool) -> torch.Tensor:
    return blk.T if trace else blk.permute(1, 0, 3, 2)


# ------------------------------------------------------------------------------------------------
# Entry point
# ------------------------------------------------------------------------------------------------


def generic_ntk(
    model: nn.Module,
    X: torch.Tensor,
    X2: torch.Tensor | None = None,
    *,
    trace: bool = False,
    per_layer: bool = False,
    max_memory: int | None = None,
    out: Any = None,
) -> tuple[Any, dict[str, torch.Tensor]]:
    """The empirical NTK [jacot-2018, Section 4] of any sample-wise ``model`` (module docstring).

    Args:
        model: an ``nn.Module`` mapping (n, ...) to (n, k) or (n,) with no coupling between
            samples; its parameters with ``requires_grad`` are the ones differentiated. It is
            not modified (hooks are removed, no parameter is copied into it or given a grad).
        X: (n, ...) inputs of any trailing shape (images (n, C, H, W), sequences (n, T, d)).
        X2: (n2, ...) inputs, or None for X2 = X (symmetric: only blocks on or above the
            diagonal are computed, the rest mirrored).
        trace: return sum_a Theta^{aa}, (n, n2), instead of the full (n, n2, k, k).
        per_layer: also return each layer's contribution, keyed by :func:`layer_names`.
        max_memory: bytes for features, Gram blocks and Jacobian chunks (default 2 GiB).
        out: optional preallocated tensor or NumPy memmap of the result's shape receiving it.

    Returns:
        ``(theta, parts)``: theta (n, n2, k, k), or (n, n2) with ``trace`` (``out`` when given);
        parts {layer name: contribution of the same shape} (empty without ``per_layer``); the
        parts sum to theta.

    Raises:
        ConfigError: ``model`` couples samples, is random, or does not return (n, k); ``out``
            has the wrong shape.
    """
    if not any(q.requires_grad for q in model.parameters()):
        raise ConfigError("model", type(model).__name__, "a model with trained parameters")
    names = layer_names(model) if per_layer else {}
    # Without per_layer every contribution shares one key, so Jacobian blocks are concatenated
    # into one Gram product.
    keys = {
        n: (names.get(n, n.rsplit(".", 1)[0]) if per_layer else "")
        for n, _ in model.named_parameters()
    }
    p = generic_plan(model, X, X2, trace=trace, per_layer=per_layer, max_memory=max_memory)
    sym = X2 is None
    X2_: torch.Tensor = X if X2 is None else X2
    n, n2 = X.shape[0], X2_.shape[0]
    shape = (n, n2) if trace else (n, n2, p.k, p.k)
    dtype = next((q.dtype for q in model.parameters() if q.is_floating_point()), X.dtype)
    if out is not None and tuple(out.shape) != shape:
        raise ConfigError("out", tuple(out.shape), f"an array of shape {shape}")
    total = out if out is not None else torch.empty(shape, dtype=dtype, device=X.device)
    parts: dict[str, torch.Tensor] = {}
    with torch.enable_grad():
        if p.cached:
            F1 = _features(model, p, X, keys)
            F2 = F1 if sym else _features(model, p, X2_, keys)
            rows_of = (lambda r: F1.rows(r)), (lambda r: F2.rows(r))
        else:
            rows_of = (
                lambda r: _features(model, p, X[r], keys),
                lambda r: _features(model, p, X2_[r], keys),
            )
        b = p.block
        for i in range(0, n, b):
            rows = slice(i, min(i + b, n))
            f1 = rows_of[0](rows)
            for j in range(i if sym else 0, n2, b):
                cols = slice(j, min(j + b, n2))
                f2 = f1 if (sym and i == j) else rows_of[1](cols)
                blk, blk_parts = _block(f1, f2, trace, per_layer)
                _write(total, rows, cols, blk)
                for key, part in blk_parts.items():
                    if key not in parts:
                        parts[key] = torch.zeros(shape, dtype=dtype, device=X.device)
                    parts[key][rows, cols] = part
                if sym and j != i:
                    _write(total, cols, rows, _mirror(blk, trace))
                    for key, part in blk_parts.items():
                        parts[key][cols, rows] = _mirror(part, trace)
    return total, parts
