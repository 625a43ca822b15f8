"""Kernel probes: the empirical NTK barely moves, gradient descent contracts the loss at the
kernel's rate, and the labels' complexity under the kernel.

All three use :func:`overparam.ntk.empirical` (structured, exact) over the trained
parameters, in float64 for the linear algebra. Theta is the n x n kernel
<df(x_i)/dW, df(x_j)/dW> (n k x n k for k outputs, row i * k + a), in the model's stored units,
which is what gradient descent on the stored weights sees.
"""

from __future__ import annotations

import math

import torch

from overparam.probes.base import LOWER, UPPER, Probe, register
from overparam.probes.context import Context, flat_kernel
from overparam.train.loop import TrainState


def eigh64(K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (ascending) and eigenvectors of the symmetric part of K, in float64."""
    K = K.to(torch.float64)
    return torch.linalg.eigh(0.5 * (K + K.T))


def quadratic_inverse(K: torch.Tensor, y: torch.Tensor) -> float:
    """y^T K^-1 y for symmetric K (n, n) and y (n,) or (n, k) (summed over columns);
    inf if K is singular to float64 precision."""
    lam, Q = eigh64(K)
    if float(lam[0]) <= 1e-12 * max(float(lam[-1]), 1e-300):
        return math.inf
    a = Q.T @ y.to(torch.float64).reshape(K.shape[0], -1)
    return float(((a * a) / lam[:, None]).sum())


def contraction_ratio(value: float | None, bound: float | None) -> float | None:
    """log(bound) / log(value) for per-step contraction factors in (0, 1): the guaranteed
    decay rate over the measured one, <= 1 exactly when value <= bound."""
    if value is None or bound is None or not (0.0 < value < 1.0 and 0.0 < bound < 1.0):
        return None
    return math.log(bound) / math.log(value)


# ---------------------------------------------------------------------------------------------
# ntk_drift
# ---------------------------------------------------------------------------------------------


@register
class NTKDrift(Probe):
    """``ntk_drift``: how far the empirical NTK moves during training.

    Rows at each evaluated step:

    * ``relative_drift``: ||Theta_t - Theta_0||_F / ||Theta_0||_F, kind upper, bound m^(-1/2)
      ([lee-2019, Theorem 2.1]: sup_t ||Theta_t - Theta_0||_F = O(m^(-1/2)) for an O(1)
      kernel; constant 1). Exactly 0 while the weights do not move.
    * ``lambda_min``: lambda_min(Theta_t), kind lower, bound lambda_min(Theta_0) / 2
      ([du-2019-deep, Theorem 5.1 proof; du-2019-two-layer, Lemma 3.2]: the Gram matrix keeps
      lambda_min(H(t)) >= lambda_0 / 2 along the trajectory). The papers' lambda_0 is the
      infinite-width lambda_min(K^(H)); the empirical lambda_min(Theta_0) stands in for it,
      so the check is scale-free. Du et al.'s Gram matrix is the last layer's part of Theta;
      the whole trained-parameter kernel is used here.
    """

    name = "ntk_drift"
    lemma = "[lee-2019, Theorem 2.1]; [du-2019-deep, Theorem 5.1]"
    formula = (
        "||Theta_t - Theta_0||_F / ||Theta_0||_F <= m^(-1/2);  lambda_min(Theta_t) >= lambda_0 / 2"
    )

    def start(self, state: TrainState) -> None:
        self.theta0 = self.ctx.kernel0()
        self.norm0 = float(self.theta0.norm())
        self.lambda0 = float(eigh64(self.theta0)[0][0])

    def measure(self, state: TrainState, grads: dict[str, torch.Tensor] | None = None) -> None:
        theta = self.ctx.kernel(state)
        m = self.ctx.info.m or 1
        drift = float((theta - self.theta0).norm()) / max(self.norm0, 1e-300)
        self.record(state, "relative_drift", drift, 1.0 / math.sqrt(m), kind=UPPER)
        lam = float(eigh64(theta)[0][0])
        self.record(state, "lambda_min", lam, self.lambda0 / 2.0, kind=LOWER)


# ---------------------------------------------------------------------------------------------
# rate
# ---------------------------------------------------------------------------------------------


@register
class Rate(Probe):
    """``rate``: the loss's per-step contraction against Du et al.'s rate, and the kernel
    prediction of the whole loss curve.

    For the square loss L = c sum_i 1/2 ||f(x_i) - y_i||^2 (c = 1 sum, 1/n mean) and GD with
    step eta, the kernel regime predicts residuals r_t = u_t - y ([arora-2019, Section 4];
    [du-2019-two-layer] for two layers)

        r_t = (I - eta c Theta_0)^t r_0,    L_t^pred = c/2 ||r_t||^2,

    exact for the linearized network, computed from the eigendecomposition of Theta_0 in
    float64. [du-2019-deep, Theorem 5.1] guarantees L_t <= (1 - eta lambda_0 / 2)^t L_0
    (for their sum loss; eta c for ours), with lambda_0 here lambda_min(Theta_0). Rows:

    * ``predicted_loss``: L_t^pred (no bound);
    * ``loss_curve_error``: ||L^pred_{0..t} - L_{0..t}||_2 / ||L_{0..t}||_2 over all steps so
      far, the relative error of the predicted loss curve (no bound);
    * ``contraction``: (L_t / L_0)^(1/t), the average per-step factor (t > 0), kind upper,
      bound 1 - eta c lambda_min(Theta_0) / 2;
    * ``fitted_contraction``: exp(slope) of a least-squares line through log L_s, s = 0..t
      (t >= 2), same bound.

    For the two contraction rows ratio = log(bound) / log(value), the guaranteed decay rate
    over the measured one (<= 1 exactly when the theorem's inequality holds). Applies to the
    square loss under full-batch GD (the other losses and algorithms have no such formula;
    ``skip_reason`` says which).
    """

    name = "rate"
    lemma = "[du-2019-deep, Theorem 5.1]; [arora-2019, Section 4]"
    formula = "L_t <= (1 - eta lambda_0 / 2)^t L_0;  u_t - y = (I - eta Theta_0)^t (u_0 - y)"

    def applies(self, ctx: Context) -> str | None:
        if not ctx.info.square:
            return "rate's formulas are for the square loss"
        if ctx.info.algorithm != "gd":
            return f"rate's formulas are for full-batch GD, not {ctx.info.algorithm}"
        return None

    def start(self, state: TrainState) -> None:
        info = self.ctx.info
        lam, Q = eigh64(self.ctx.kernel0())
        with torch.no_grad():
            f0 = self.ctx.initial().f.to(torch.float64)
        r0 = (f0 - self.ctx.y.to(torch.float64)).reshape(-1)
        self.factor = (1.0 - info.lr * info.c * lam) ** 2  # per-step factor of each mode's loss
        self.weights = 0.5 * info.c * (Q.T @ r0) ** 2  # loss carried by each mode at t = 0
        self.rho = 1.0 - info.lr * info.c * float(lam[0]) / 2.0
        self.predicted: list[float] = []

    def predicted_curve(self, t: int) -> list[float]:
        """L_s^pred for s = 0..t (extended incrementally)."""
        if not self.predicted:
            self._w = self.weights.clone()
            self.predicted.append(float(self._w.sum()))
        while len(self.predicted) <= t:
            self._w = self._w * self.factor
            self.predicted.append(float(self._w.sum()))
        return self.predicted[: t + 1]

    def measure(self, state: TrainState, grads: dict[str, torch.Tensor] | None = None) -> None:
        t = state.step
        pred = torch.tensor(self.predicted_curve(t), dtype=torch.float64)
        actual = torch.tensor(state.history.losses[: t + 1], dtype=torch.float64)
        self.record(state, "predicted_loss", float(pred[-1]), None)
        err = float((pred - actual).norm()) / max(float(actual.norm()), 1e-300)
        self.record(state, "loss_curve_error", err, None)
        if t >= 1 and actual[0] > 0 and actual[-1] > 0:
            avg = float((actual[-1] / actual[0]) ** (1.0 / t))
            self.record(state, "contraction", avg, self.rho, kind=UPPER, ratio=contraction_ratio)
        if t >= 2 and bool((actual > 0).all()):
            s = torch.arange(t + 1, dtype=torch.float64)
            logs = actual.log()
            slope = float(
                ((s - s.mean()) * (logs - logs.mean())).sum() / ((s - s.mean()) ** 2).sum()
            )
            self.record(
                state,
                "fitted_contraction",
                math.exp(slope),
                self.rho,
                kind=UPPER,
                ratio=contraction_ratio,
            )


# ---------------------------------------------------------------------------------------------
# label_complexity
# ---------------------------------------------------------------------------------------------


def _kernel_scale(ctx: Context) -> float:
    """The width scaling of Theta for the run's parameterization (1 for unknown models)."""
    from overparam.models.parameterization import kernel_scale

    param, m = ctx.info.parameterization, ctx.info.m
    if param is None or m is None:
        return 1.0
    try:
        return kernel_scale(param, m)
    except ValueError:
        return 1.0


@register
class LabelComplexity(Probe):
    """``label_complexity``: y^T K^-1 y for the infinite-width two-layer Gram H^infinity and for
    the network's NTK at init; recorded once per run, at step 0.

    * ``y_Hinf_inv_y``: y^T (H^inf)^-1 y, with H^inf_ij = x_i.x_j (pi - arccos(x_i.x_j)) / (2 pi)
      ([arora-2019, Theorem 5.1]; [du-2019-two-layer, eq. (3)];
      :func:`overparam.ntk.gram.h_infinity`), kind upper, bound
      ||y||^2 / lambda_min(H^inf) (its largest value over labels of the same norm: ratio near 1
      means labels as hard as the kernel allows, e.g. random ones).
    * ``arora_bound``: sqrt(2 y^T (H^inf)^-1 y / n), the leading term of Arora et al.'s
      generalization bound (no bound).
    * ``y_Theta_inv_y``: y^T (Theta_0 / s)^-1 y with s the parameterization's width scaling
      (:func:`overparam.models.parameterization.kernel_scale`: m for allen-zhu, zou-gu,
      cao-gu, matching Theta^(L) = m^-1 E<grad f, grad f> of [cao-gu-2019]), kind upper, bound
      ||y||^2 / lambda_min(Theta_0 / s).
    * ``cao_gu_bound``: L sqrt(y^T (Theta_0 / s)^-1 y / n), the data-dependent term of
      [cao-gu-2019, Corollary (NTK bound)] with constant 1 (no bound).

    For k outputs, y^T K^-1 y sums over the k label columns (H^inf acts on each), and Theta's
    version uses the full (n k x n k) kernel. y^T K^-1 y is inf when K is singular.
    """

    name = "label_complexity"
    lemma = "[arora-2019, Theorem 5.1]; [cao-gu-2019, Corollary (NTK bound)]"
    formula = "y^T (H^inf)^-1 y <= ||y||^2 / lambda_min(H^inf);  L sqrt(y^T Theta^-1 y / n)"

    def applies(self, ctx: Context) -> str | None:
        if ctx.X.ndim != 2:
            return (
                "H^inf is the two-layer Gram of input vectors x in R^d; inputs of shape "
                f"{tuple(ctx.X.shape[1:])} per sample are not vectors"
            )
        return None

    def on_step(self, state: TrainState) -> None:
        """Recorded once, in :meth:`start`."""

    def on_end(self, state: TrainState) -> None:
        """Recorded once, in :meth:`start`."""

    def measure(self, state: TrainState, grads: dict[str, torch.Tensor] | None = None) -> None:
        """Unused (see :meth:`start`)."""

    def start(self, state: TrainState) -> None:
        info = self.ctx.info
        y = self.ctx.y.to(torch.float64)
        y2 = float((y * y).sum())
        from overparam.ntk.gram import h_infinity

        H = flat_kernel(torch.as_tensor(h_infinity(self.ctx.X.detach().cpu())))
        lam_min = float(eigh64(H)[0][0])
        value = quadratic_inverse(H, y.cpu())
        bound = y2 / lam_min if lam_min > 0 else math.inf
        self.record(state, "y_Hinf_inv_y", value, bound, kind=UPPER)
        self.record(state, "arora_bound", math.sqrt(2.0 * value / info.n), None)
        theta = (self.ctx.kernel0() / _kernel_scale(self.ctx)).cpu()
        lam_min = float(eigh64(theta)[0][0])
        value = quadratic_inverse(theta, y.reshape(-1).cpu())
        bound = y2 / lam_min if lam_min > 0 else math.inf
        self.record(state, "y_Theta_inv_y", value, bound, kind=UPPER)
        L = info.L or 1
        self.record(state, "cao_gu_bound", L * math.sqrt(value / info.n), None)
