"""Width, iteration and step-size requirements of the convergence theorems, in log10.

:func:`bounds` evaluates every result of :mod:`overparam.theory.results` (Table 1 of
[zou-gu-2019], its Theorems 3.3/3.8/3.10 and Corollary 3.5, the Remark 3.7 translations, and
[du-2019-deep, Theorem 5.1]) at given problem sizes. The numbers overflow floats (n = 10⁴ in
n²⁴ is 10⁹⁶), so everything is computed and reported as log10.

Conventions, each a choice the papers leave open:

* hidden constants of Ω(·)/O(·) are 1 unless set through :class:`Constants`;
* 2^{O(L)} is 2^{cL} with c = ``Constants.depth`` (default 1);
* the log³(m) of Ω̃(·) conditions (explicit in [zou-gu-2019, eq. (3.1), (3.2)], hidden in
  Allen-Zhu et al.'s Ω̃) is kept by solving ``m = A·log³ m`` for its largest root
  (:func:`solve_log_fixed_point`); ``log_factor=False`` drops it;
* log is natural, and log m inside O(·) is read as max(1, ln m).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from overparam.errors import ConfigError
from overparam.theory.results import (
    PAPER_ALIASES,
    RESULTS,
    RESULTS_BY_KEY,
    Result,
)

_LN10 = math.log(10.0)
_LOG10_E = math.log10(math.e)

# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Constants:
    """Hidden constants of the O(·)/Ω(·) statements; all 1 by default (the papers give none).

    Attributes:
        width: C in m ≥ C·f(n, L, φ, ...).
        iterations: C in T = C·g(...).
        step_size: C in η = C·h(...).
        depth: c in 2^{O(L)} = 2^{cL} of [du-2019-deep, Theorem 5.1].
    """

    width: float = 1.0
    iterations: float = 1.0
    step_size: float = 1.0
    depth: float = 1.0


@dataclass(frozen=True)
class Bound:
    """One result evaluated at given sizes: its width, iteration and step-size requirement.

    Values are log10 of the requirement; NaN where an input is missing or the paper states no
    formula, with the reason in ``missing``.

    Attributes:
        key: Row id, e.g. ``"zou-gu-2019/thm-3.3"``.
        paper: Author-year label.
        reference: Key in :mod:`overparam.references`.
        theorem: Location of the result, e.g. ``"Theorem 3.3"``.
        algorithm: ``"GD"`` or ``"SGD"``.
        network: ``"two-layer relu"``, ``"deep relu"`` or ``"deep smooth"``.
        width_log10: log10 of the required width m.
        iterations_log10: log10 of the iteration count T.
        step_size_log10: log10 of the step size η (at m = the required width).
        width_formula: e.g. ``"Omega(k n^8 L^12 log^3(m) / phi^4)"``.
        iterations_formula: e.g. ``"O(n^2 L^2 log(1/eps) / phi)"``.
        step_size_formula: e.g. ``"O(k / (L^2 m))"``, or ``"not stated"``.
        translated: Obtained through λ₀ ≥ φ/n² [zou-gu-2019, Remark 3.7].
        log_factor: The width includes the log³(m) factor (solved as a fixed point).
        missing: Why a value is NaN (``None`` when all three are finite).
        note: Caveats of the row.
    """

    key: str
    paper: str
    reference: str
    theorem: str
    algorithm: str
    network: str
    width_log10: float
    iterations_log10: float
    step_size_log10: float
    width_formula: str
    iterations_formula: str
    step_size_formula: str
    translated: bool
    log_factor: bool
    missing: str | None
    note: str

    @property
    def formula(self) -> str:
        """The three formulas as one line."""
        return (
            f"m = {self.width_formula}; T = {self.iterations_formula}; "
            f"eta = {self.step_size_formula}"
        )

    @property
    def available(self) -> bool:
        """Whether the width requirement could be computed."""
        return not math.isnan(self.width_log10)

    def theory_over_practice_log10(self, measured_width: float) -> float:
        """log10 of the factor by which this width bound exceeds a measured critical width.

        Raises:
            ConfigError: ``measured_width`` is not a positive finite number.
        """
        _check_positive("measured_width", measured_width)
        return self.width_log10 - math.log10(measured_width)

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready dict (NaN becomes ``None``), with ``formula`` added."""
        out: dict[str, Any] = asdict(self)
        out["formula"] = self.formula
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


# ---------------------------------------------------------------------------------------------
# The log^p(m) fixed point
# ---------------------------------------------------------------------------------------------


def solve_log_fixed_point(a_log10: float, power: float = 3.0) -> float:
    """Solve ``m = A·log^p(m)`` for its largest root, in log10: returns x = log10 m.

    The Ω̃ conditions of [zou-gu-2019, eq. (3.1), (3.2) and Theorem 3.10] read
    ``m = Ω(k n⁸ L¹² log³(m)/φ⁴)``: m appears on both sides. With ``A = C k n⁸ L¹²/φ⁴`` and
    x = log10 m this is ``x = a + p·log10(ℓ(x))`` with ℓ(x) = max(1, x ln 10) = max(1, ln m).
    h(x) = x − a − p·log10(x ln 10) is convex and increasing for ln m ≥ max(p, 1), so Newton's
    method started to the right of the root decreases monotonically onto it. When
    A < (e/p)^p no root with ln m ≥ p exists, m ≥ A·log^p(m) holds for every m ≥ e, and the
    answer is x = a (the flat part, where log m is read as 1).

    Args:
        a_log10: log10 A (any real; A itself may overflow a float).
        power: p ≥ 0, the power of log m.

    Returns:
        log10 of the largest m with m = A·max(1, ln m)^p, to relative precision ~1e-15.
    """
    if power < 0:
        raise ConfigError("power", power, "a number >= 0")
    if power == 0:
        return a_log10

    def h(x: float) -> float:
        return x - a_log10 - power * math.log10(x * _LN10)

    x_lo = max(power / _LN10, _LOG10_E)  # h is convex and increasing on [x_lo, inf)
    if h(x_lo) >= 0.0:
        return x_lo if h(x_lo) == 0.0 else min(a_log10, x_lo)
    x = max(a_log10, x_lo) + 1.0
    while h(x) <= 0.0:
        x *= 2.0
    for _ in range(200):
        step = h(x) / (1.0 - power / (x * _LN10))
        x -= step
        if abs(step) <= 1e-15 * abs(x):
            break
    return x


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------

#: Why a row is unavailable, per missing input (overridable by :func:`bounds_for`).
MISSING_HINTS: dict[str, str] = {
    "phi": "phi not given (minimum pairwise distance of the inputs, [zou-gu-2019, Assumption 3.2])",
    "lambda0": (
        "lambda0 not given (lambda_min(H^inf), [zou-gu-2019, Proposition 3.6]; "
        "the remark-3.7 row uses phi instead)"
    ),
    "lambda_min_K": "lambda_min_K not given (lambda_min(K^(L)), [du-2019-deep, eq. (7)])",
    "x_norm": "x_norm not given (||X||_2, spectral norm of the n x d data matrix)",
    "B": "batch not given (SGD minibatch size B)",
}


def _log10_or_none(value: float | None) -> float | None:
    return None if value is None else math.log10(value)


def _evaluate(
    result: Result,
    logv: Mapping[str, float | None],
    hints: Mapping[str, str],
    constants: Constants,
    log_factor: bool,
) -> Bound:
    nan = float("nan")
    reasons: list[str] = []
    missing = sorted(s for s in result.symbols - {"m", "log_m"} if logv.get(s) is None)
    reasons += [hints.get(s, f"{s} not given") for s in missing]
    log_power = {t: float(t.power("log_m")) + (3.0 if result.tilde else 0.0) for t in result.width}
    uses_log = log_factor and any(p > 0 for p in log_power.values())

    width = iterations = step = nan
    if not missing:
        known = {s: v for s, v in logv.items() if v is not None}
        width = max(
            solve_log_fixed_point(
                math.log10(constants.width) + t.without("log_m").log10(known),
                log_power[t] if log_factor else 0.0,
            )
            for t in result.width
        )
        known["m"] = width
        known["log_m"] = math.log10(max(1.0, width * _LN10))  # log m read as max(1, ln m)
        iterations = math.log10(constants.iterations) + result.iterations.log10(known)
        if result.step_size is not None:
            step = math.log10(constants.step_size) + result.step_size.log10(known)
    if result.step_size is None:
        reasons.append("step size not stated in the seed papers")
    eta_text = "not stated" if result.step_size is None else f"O({result.step_size.text()})"
    return Bound(
        key=result.key,
        paper=result.paper,
        reference=result.reference,
        theorem=result.theorem,
        algorithm=str(result.algorithm),
        network=str(result.network),
        width_log10=width,
        iterations_log10=iterations,
        step_size_log10=step,
        width_formula=result.width_text(),
        iterations_formula=f"O({result.iterations.text()})",
        step_size_formula=eta_text,
        translated=result.translated,
        log_factor=uses_log,
        missing="; ".join(reasons) or None,
        note=result.note,
    )


def _check_positive(field: str, value: float, *, upper: float | None = None) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and value > 0 and (upper is None or value <= upper)
    if not ok:
        allowed = "a finite number > 0" + ("" if upper is None else f" and <= {upper}")
        raise ConfigError(field, value, allowed)


def _check_int(field: str, value: int, allowed: str, lo: int, hi: int | None = None) -> None:
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= lo
    if not ok or (hi is not None and value > hi):
        raise ConfigError(field, value, allowed)


def _check_open_unit(field: str, value: float) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and 0.0 < value < 1.0
    if not ok:
        raise ConfigError(field, value, "a number in the open interval (0, 1)")


def _constants(constants: float | Constants) -> Constants:
    if not isinstance(constants, Constants):
        _check_positive("constants", constants)
        c = float(constants)
        return Constants(width=c, iterations=c, step_size=c)
    for name in ("width", "iterations", "step_size"):
        _check_positive(f"constants.{name}", getattr(constants, name))
    d = constants.depth
    if not (isinstance(d, numbers.Real) and math.isfinite(d) and d >= 0):
        raise ConfigError("constants.depth", d, "a finite number >= 0 (c in 2^(cL))")
    return constants


def bounds(
    *,
    n: int,
    depth: int,
    phi: float | None = None,
    k: int = 1,
    batch: int | None = None,
    eps: float = 1e-3,
    lambda0: float | None = None,
    lambda_min_K: float | None = None,
    x_norm: float | None = None,
    delta_fail: float = 0.01,
    constants: float | Constants = 1.0,
    log_factor: bool = True,
    _hints: Mapping[str, str] | None = None,
) -> list[Bound]:
    """Width, iteration and step-size requirements of every result, in log10.

    One row per result of :data:`overparam.theory.results.RESULTS`, in that order: the GD rows
    of [zou-gu-2019, Table 1] (Du et al. two-layer, Wu et al., Oymak & Soltanolkotabi, Du et al.
    deep, Allen-Zhu et al., Theorem 3.3), Corollary 3.5, the two-layer rows translated by
    [zou-gu-2019, Remark 3.7], [du-2019-deep, Theorem 5.1] and the SGD rows (Allen-Zhu et al. via
    Remark 3.9, Theorems 3.8 and 3.10). For example Theorem 3.3 gives ::

        m = Ω(k n⁸ L¹² log³(m) / φ⁴),   T = O(n² L² log(1/ε) / φ),   η = O(k / (L² m)).

    Rows whose inputs are missing are returned with NaN values and the reason in ``missing``.

    Args:
        n: Number of training examples n (≥ 1).
        depth: Number of hidden layers L (Du et al.'s H; ≥ 1). Two-layer rows ignore it.
        phi: Separation φ = min_{i≠j} ‖x_i − x_j‖₂ of unit-norm inputs, in (0, 2]
            [zou-gu-2019, Assumption 3.2]; Allen-Zhu et al.'s δ.
        k: Output dimension k (≥ 1). Du/Wu/Oymak rows are stated for k = 1.
        batch: SGD minibatch size B, 1 ≤ B ≤ n; ``None`` leaves the SGD rows unavailable.
        eps: Target training loss ε in (0, 1).
        lambda0: λ₀ = λ_min(H^∞) > 0 [zou-gu-2019, Proposition 3.6].
        lambda_min_K: λ_min(K^(L)) > 0 of [du-2019-deep, eq. (7)].
        x_norm: ‖X‖₂, spectral norm of the n×d data matrix (> 0).
        delta_fail: Failure probability δ of [du-2019-deep, Theorem 5.1], in (0, 1).
        constants: Hidden constants: one number for width, iterations and step size alike, or a
            :class:`Constants` (which also sets c in 2^{cL}).
        log_factor: Include the log³(m) of the Ω̃ conditions (fixed point); False drops it.
        _hints: Internal: replaces the reasons of :data:`MISSING_HINTS`.

    Returns:
        List of :class:`Bound`, one per result (14 rows).

    Raises:
        ConfigError: An argument is outside its range (names the field, value, allowed range).

    Example:
        >>> rows = bounds(n=100, depth=3, phi=0.1, log_factor=False)
        >>> [round(b.width_log10, 6) for b in rows if b.key == "zou-gu-2019/thm-3.3"]
        [25.725455]
    """
    _check_int("n", n, "an integer >= 1", 1)
    _check_int("depth", depth, "an integer >= 1 (number of hidden layers L)", 1)
    _check_int("k", k, "an integer >= 1 (output dimension)", 1)
    if phi is not None:
        _check_positive("phi", phi, upper=2.0)
    if batch is not None:
        _check_int("batch", batch, f"an integer in [1, n] = [1, {n}]", 1, n)
    _check_open_unit("eps", eps)
    _check_open_unit("delta_fail", delta_fail)
    for field, value in (("lambda0", lambda0), ("lambda_min_K", lambda_min_K), ("x_norm", x_norm)):
        if value is not None:
            _check_positive(field, value)
    consts = _constants(constants)

    logv: dict[str, float | None] = {
        "n": math.log10(n),
        "L": math.log10(depth),
        "k": math.log10(k),
        "phi": _log10_or_none(phi),
        "B": _log10_or_none(batch),
        "lambda0": _log10_or_none(lambda0),
        "lambda_min_K": _log10_or_none(lambda_min_K),
        "x_norm": _log10_or_none(x_norm),
        "delta": math.log10(delta_fail),
        "log_inv_eps": math.log10(math.log(1.0 / eps)),
        "log_Ln_over_delta": math.log10(math.log(depth * n / delta_fail)),
        "two_pow_cL": consts.depth * depth * math.log10(2.0),
    }
    hints = {**MISSING_HINTS, **(_hints or {})}
    return [_evaluate(r, logv, hints, consts, log_factor) for r in RESULTS]


# ---------------------------------------------------------------------------------------------
# Exponents, sorting, tables
# ---------------------------------------------------------------------------------------------

# Symbol -> (name in theory_exponents, sign): 1/phi counts powers of 1/φ.
_EXPONENT_NAMES: dict[str, tuple[str, int]] = {
    "n": ("n", 1),
    "L": ("L", 1),
    "phi": ("1/phi", -1),
    "k": ("k", 1),
    "B": ("B", 1),
    "x_norm": ("||X||_2", 1),
    "lambda0": ("1/lambda0", -1),
    "lambda_min_K": ("1/lambda_min_K", -1),
    "delta": ("1/delta", -1),
    "log_m": ("log m", 1),
    "log_Ln_over_delta": ("log(Ln/delta)", 1),
    "two_pow_cL": ("2^(cL)", 1),
}


def theory_exponents(paper: str) -> dict[str, float]:
    """Exponents of the width condition of one result, for drawing "theory slopes".

    ``paper`` is a row key of :func:`bounds` (``"zou-gu-2019/thm-3.8"``) or a reference key,
    which stands for that paper's main GD result (``"zou-gu-2019"`` is Theorem 3.3,
    ``"allen-zhu-2019"`` its row of [zou-gu-2019, Table 1]). For Theorem 3.3,
    m = Ω(k n⁸ L¹² log³(m)/φ⁴) gives ``{"n": 8, "L": 12, "1/phi": 4, "k": 1, "log m": 3}``.
    For [du-2019-deep, Theorem 5.1] the leading term 2^{O(L)} n⁴/λ_min⁴(K^(L)) is used. The
    log³(m) hidden in an Ω̃ is reported as ``"log m": 3``. L enters Du et al. through 2^{cL},
    reported as ``"2^(cL)": 1`` with ``"L": 0``.

    Returns:
        Dict with keys ``"n"``, ``"L"``, ``"1/phi"`` always present, plus the other symbols of
        the formula (``"k"``, ``"B"``, ``"1/lambda0"``, ``"||X||_2"``, ...).

    Raises:
        ConfigError: Unknown ``paper``; the message lists the valid names.
    """
    key = PAPER_ALIASES.get(paper, paper)
    if key not in RESULTS_BY_KEY:
        allowed = ", ".join([*PAPER_ALIASES, *RESULTS_BY_KEY])
        raise ConfigError("paper", paper, allowed)
    result = RESULTS_BY_KEY[key]
    out: dict[str, float] = {"n": 0.0, "L": 0.0, "1/phi": 0.0}
    for symbol, power in result.width[0].powers:
        name, sign = _EXPONENT_NAMES[symbol]
        out[name] = float(sign * power)
    if result.tilde:
        out["log m"] = out.get("log m", 0.0) + 3.0
    return out


def sort_by_width(rows: Iterable[Bound]) -> list[Bound]:
    """Rows by increasing width requirement; unavailable rows (NaN) last, in input order."""
    return sorted(rows, key=lambda b: (not b.available, b.width_log10 if b.available else 0.0))


def format_log10(x: float, digits: int = 1) -> str:
    """Render a log10 value as ``"3.2e+45"`` (``"n/a"`` for NaN), without overflowing."""
    if math.isnan(x):
        return "n/a"
    exponent = math.floor(x)
    mantissa = 10.0 ** (x - exponent)
    if round(mantissa, digits) >= 10.0:
        mantissa, exponent = mantissa / 10.0, exponent + 1
    return f"{mantissa:.{digits}f}e{exponent:+d}"


def to_records(rows: Sequence[Bound], measured_width: float | None = None) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts; with ``measured_width`` W, adds ``theory_over_practice_log10``
    = log10(m_theory / W), the factor by which each bound exceeds the measured critical width.
    """
    out = []
    for b in rows:
        record = b.to_dict()
        if measured_width is not None:
            ratio = b.theory_over_practice_log10(measured_width)
            record["theory_over_practice_log10"] = None if math.isnan(ratio) else ratio
        out.append(record)
    return out


def to_frame(rows: Sequence[Bound], measured_width: float | None = None) -> pd.DataFrame:
    """Rows as a pandas DataFrame, one row per result (NaN kept for unavailable values)."""
    frame = pd.DataFrame.from_records(to_records(rows, measured_width))
    numeric = ["width_log10", "iterations_log10", "step_size_log10"]
    if measured_width is not None:
        numeric.append("theory_over_practice_log10")
    return frame.astype(dict.fromkeys(numeric, "float64"))
