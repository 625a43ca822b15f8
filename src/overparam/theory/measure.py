"""The inputs of the bounds, measured on a dataset: n, k, φ, ‖X‖₂, λ₀ and λ_min(K^(L)).

:func:`bounds_for` fills :func:`overparam.theory.bounds` from data instead of guesses:

* φ = min_{i≠j} ‖x_i − x_j‖₂ [zou-gu-2019, Assumption 3.2] (the dataset's ``separation``);
* ‖X‖₂, the largest singular value of the n×d input matrix [zou-gu-2019, Table 1, Remark 3.7];
* λ₀ = λ_min(H^∞), H^∞_ij = E_{w~N(0,I)}[x_iᵀx_j σ'(wᵀx_i) σ'(wᵀx_j)]
  [zou-gu-2019, Proposition 3.6] (Du et al.'s two-layer Gram matrix);
* λ_min(K^(L)) of the recursive Gram matrix [du-2019-deep, Definition 5.1, eq. (7)], with H = L.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from overparam.errors import ConfigError
from overparam.theory.bounds import Bound, Constants, bounds
from overparam.theory.results import RESULTS_BY_KEY

# relu: K^(L) in closed form (~1 s for the 1437 digits). Du et al.'s Theorem 5.1 assumes a smooth
# analytic activation [du-2019-deep, Condition 3.1]; softplus is one, but its K^(L) needs 2-D
# quadrature per pair (minutes beyond a few hundred points), so it is opt-in. The Du rows' note
# says which activation was used.
DEFAULT_DU_ACTIVATION = "relu"


@dataclass(frozen=True)
class MeasuredInputs:
    """What :func:`bounds_for` measured on a dataset.

    Attributes:
        n: Training examples.
        k: Output dimension (columns of y).
        depth: L, the depth K^(L) was computed at.
        phi: min_{i≠j} ‖x_i − x_j‖₂ (0 when two inputs coincide).
        x_norm: ‖X‖₂.
        lambda0: λ_min(H^∞); 0 when below rounding level (n·eps·trace), i.e. singular.
        lambda_min_K: λ_min(K^(L)) for ``activation`` (0 when singular, as λ₀); ``None`` when
            not computed.
        activation: Activation of K^(L).
        provenance: The dataset's provenance.
    """

    n: int
    k: int
    depth: int
    phi: float
    x_norm: float
    lambda0: float
    lambda_min_K: float | None
    activation: str
    provenance: dict[str, Any] = field(default_factory=dict)


def _train_split(dataset: Any) -> Any:
    # digits() returns (train, test); the theorems are about the training set.
    if isinstance(dataset, tuple):
        if len(dataset) != 2:
            raise ConfigError("dataset", f"tuple of {len(dataset)}", "a Dataset or (train, test)")
        return dataset[0]
    return dataset


def _lambda_min(gram: np.ndarray, lambda_min: Any) -> float:
    # An eigenvalue below rounding level (n * eps * trace, as numpy's matrix_rank) is 0: the
    # Gram matrix is singular, e.g. for duplicate inputs.
    lam = float(lambda_min(gram))
    tol = gram.shape[0] * np.finfo(np.float64).eps * float(np.trace(gram))
    return 0.0 if lam <= tol else lam


def measure_inputs(
    dataset: Any,
    depth: int,
    *,
    activation: str = DEFAULT_DU_ACTIVATION,
    du_kernel: bool = True,
) -> MeasuredInputs:
    """Measure n, k, φ, ‖X‖₂, λ₀ and λ_min(K^(L)) of a dataset's inputs, in float64.

    Args:
        dataset: A :class:`overparam.data.Dataset` (X: (n, d) unit-norm rows, y: (n, k)), or
            the ``(train, test)`` pair of :func:`overparam.data.digits` (train is used).
        depth: L, number of hidden layers, for K^(L) [du-2019-deep, eq. (7)] (≥ 1).
        activation: Activation of K^(L). Theorem 5.1 of [du-2019-deep] needs a smooth one
            (e.g. ``"softplus"``); the default relu has a closed form and is fast.
        du_kernel: Compute λ_min(K^(L)) (False skips it, leaving it ``None``).

    Returns:
        :class:`MeasuredInputs`.

    Raises:
        ConfigError: ``depth`` < 1 or an unsupported activation.
    """
    from overparam.ntk.gram import du_gram, h_infinity, lambda_min

    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ConfigError("depth", depth, "an integer >= 1 (number of hidden layers L)")
    data = _train_split(dataset)
    X = data.X.detach().to("cpu").double().numpy()
    y = data.y
    k = int(y.shape[1]) if y.ndim == 2 else 1
    lam_k = None
    if du_kernel:
        lam_k = _lambda_min(du_gram(X, depth=depth, activation=activation), lambda_min)
    return MeasuredInputs(
        n=int(X.shape[0]),
        k=k,
        depth=depth,
        phi=float(data.separation),
        x_norm=float(np.linalg.norm(X, 2)),
        lambda0=_lambda_min(h_infinity(X), lambda_min),
        lambda_min_K=lam_k,
        activation=str(activation),
        provenance=dict(getattr(data, "provenance", {}) or {}),
    )


def _usable(value: float | None, upper: float = math.inf) -> float | None:
    if value is None or not math.isfinite(value) or value <= 0.0 or value > upper:
        return None
    return value


def bounds_for(
    dataset: Any,
    depth: int,
    *,
    batch: int | None = None,
    eps: float = 1e-3,
    delta_fail: float = 0.01,
    constants: float | Constants = 1.0,
    log_factor: bool = True,
    activation: str = DEFAULT_DU_ACTIVATION,
    du_kernel: bool = True,
) -> list[Bound]:
    """:func:`overparam.theory.bounds` with n, k, φ, ‖X‖₂, λ₀, λ_min(K^(L)) measured on data.

    A measured value the theorems cannot use (φ = 0 for duplicate inputs, λ ≤ 0 in floating
    point) leaves the rows that need it unavailable, with the measured value in ``missing``.

    Args:
        dataset: A :class:`overparam.data.Dataset`, a ``(train, test)`` pair (train is used), or
            :class:`MeasuredInputs` from :func:`measure_inputs` (nothing is re-measured).
        depth: L, number of hidden layers (≥ 1).
        batch, eps, delta_fail, constants, log_factor: As in :func:`overparam.theory.bounds`.
        activation, du_kernel: As in :func:`measure_inputs`.

    Returns:
        The rows of :func:`overparam.theory.bounds`.

    Raises:
        ConfigError: Bad arguments, or ``MeasuredInputs`` measured at another depth.

    Example:
        >>> from overparam.data import digits
        >>> rows = bounds_for(digits(n=200), depth=2, du_kernel=False)  # doctest: +SKIP
    """
    if isinstance(dataset, MeasuredInputs):
        inputs = dataset
        if inputs.depth != depth:
            raise ConfigError("depth", depth, f"{inputs.depth}, the depth K^(L) was measured at")
    else:
        inputs = measure_inputs(dataset, depth, activation=activation, du_kernel=du_kernel)
    phi = _usable(inputs.phi, upper=2.0)
    lambda0 = _usable(inputs.lambda0)
    lambda_k = _usable(inputs.lambda_min_K)
    hints = {}
    if phi is None:
        hints["phi"] = (
            f"measured phi = {inputs.phi:.3g} is outside (0, 2] (0: duplicate inputs, "
            "[zou-gu-2019, Assumption 3.2] fails)"
        )
    if lambda0 is None:
        hints["lambda0"] = f"measured lambda0 = {inputs.lambda0:.3g} is not > 0"
    if lambda_k is None:
        hints["lambda_min_K"] = (
            "lambda_min_K not computed (du_kernel=False)"
            if inputs.lambda_min_K is None
            else f"measured lambda_min(K^(L)) = {inputs.lambda_min_K:.3g} is not > 0"
        )
    rows = bounds(
        n=inputs.n,
        depth=depth,
        phi=phi,
        k=inputs.k,
        batch=batch,
        eps=eps,
        lambda0=lambda0,
        lambda_min_K=lambda_k,
        x_norm=inputs.x_norm,
        delta_fail=delta_fail,
        constants=constants,
        log_factor=log_factor,
        _hints=hints,
    )
    if inputs.lambda_min_K is None:
        return rows
    note = f"K^(L) measured with {inputs.activation}"
    if inputs.activation == "relu":
        note += " (relu is outside [du-2019-deep, Condition 3.1])"
    return [
        dataclasses.replace(b, note=f"{b.note}; {note}")
        if "lambda_min_K" in RESULTS_BY_KEY[b.key].symbols
        else b
        for b in rows
    ]
