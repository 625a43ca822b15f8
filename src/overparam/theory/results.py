"""The published convergence results, as data: one :class:`Result` per row.

Each result is a width condition ``m = Ω(·)``, an iteration complexity ``T = O(·)`` and, where the
seeds state one, a step size ``η = O(·)``, every one a monomial in the problem parameters. The
rows, and where each formula was checked in the seed texts:

================================  ===========================================================
row key                           source of the formulas
================================  ===========================================================
du-2019-two-layer/table-1         [zou-gu-2019, Table 1] (Du et al. [11]); k = 1
wu-2019/table-1                   [zou-gu-2019, Table 1] (Wu et al. [19]); k = 1
oymak-2019/table-1                [zou-gu-2019, Table 1] (Oymak & Soltanolkotabi [17]); k = 1
du-2019-deep/table-1              [zou-gu-2019, Table 1] (Du et al. [9]); also Gu's slides
du-2019-deep/thm-5.1              [du-2019-deep, Theorem 5.1] as quoted in the 2021 lecture
allen-zhu-2019/table-1            [zou-gu-2019, Table 1 and Remark 3.4]; also Gu's slides
zou-gu-2019/thm-3.3               [zou-gu-2019, Theorem 3.3, eq. (3.1)]
zou-gu-2019/cor-3.5               [zou-gu-2019, Corollary 3.5]
<two-layer row>/remark-3.7        the three two-layer rows with λ₀ = φ/n² substituted
                                  [zou-gu-2019, Proposition 3.6 and Remark 3.7]
allen-zhu-2019/remark-3.9         [zou-gu-2019, Remark 3.9] (Allen-Zhu et al.'s SGD result)
zou-gu-2019/thm-3.8               [zou-gu-2019, Theorem 3.8, eq. (3.2)]
zou-gu-2019/thm-3.10              [zou-gu-2019, Theorem 3.10]
================================  ===========================================================

Symbols (the names used in :attr:`Monomial.powers`): ``n`` training examples, ``L`` hidden layers
(Du et al.'s H), ``phi`` the separation φ = min_{i≠j} ‖x_i − x_j‖₂, ``k`` output dimension, ``B``
minibatch size, ``lambda0`` = λ_min(H^∞) [zou-gu-2019, Proposition 3.6], ``lambda_min_K`` =
λ_min(K^(L)) [du-2019-deep, eq. (7)], ``x_norm`` = ‖X‖₂, ``delta`` the failure probability δ of
[du-2019-deep, Theorem 5.1], ``m`` the width, and the derived factors ``log_m`` = log m,
``log_inv_eps`` = log(1/ε), ``log_Ln_over_delta`` = log(Ln/δ), ``two_pow_cL`` = 2^{O(L)} = 2^{cL}.
All logarithms are natural.

Papers (keys of :mod:`overparam.references`): zou-gu-2019 = arXiv:1906.04688, allen-zhu-2019 =
arXiv:1811.03962, du-2019-deep = arXiv:1811.03804, du-2019-two-layer = arXiv:1810.02054, wu-2019 =
arXiv:1902.07111, oymak-2019 = arXiv:1902.04674.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

# ---------------------------------------------------------------------------------------------
# Symbols and monomials
# ---------------------------------------------------------------------------------------------

#: Display order and text of every symbol; also the set of valid symbol names.
SYMBOL_TEXT: dict[str, str] = {
    "k": "k",
    "two_pow_cL": "2^O(L)",
    "n": "n",
    "x_norm": "||X||_2",
    "L": "L",
    "m": "m",
    "B": "B",
    "log_m": "log(m)",
    "log_inv_eps": "log(1/eps)",
    "log_Ln_over_delta": "log(Ln/delta)",
    "phi": "phi",
    "lambda0": "lambda0",
    "lambda_min_K": "lambda_min(K^(L))",
    "delta": "delta",
}


def _power_text(symbol: str, power: Fraction) -> str:
    text = SYMBOL_TEXT[symbol]
    if power == 1:
        return text
    p = str(power) if power.denominator == 1 else f"({power})"
    if symbol.startswith("log_"):  # log^3(m), not log(m)^3
        return f"log^{p}{text[3:]}"
    return f"{text}^{p}"


@dataclass(frozen=True)
class Monomial:
    """A product ``Π symbol^power`` of the symbols in :data:`SYMBOL_TEXT`.

    Attributes:
        powers: ``(symbol, power)`` pairs in display order, no zero powers.
    """

    powers: tuple[tuple[str, Fraction], ...]

    def power(self, symbol: str) -> Fraction:
        """The exponent of ``symbol`` (0 when absent)."""
        return dict(self.powers).get(symbol, Fraction(0))

    @property
    def symbols(self) -> frozenset[str]:
        """The symbols this monomial depends on."""
        return frozenset(s for s, _ in self.powers)

    def log10(self, log10_values: Mapping[str, float]) -> float:
        """``Σ power · log10(value)``, given each symbol's log10 value."""
        return float(sum(float(p) * log10_values[s] for s, p in self.powers))

    def without(self, symbol: str) -> Monomial:
        """This monomial with ``symbol`` dropped."""
        return Monomial(tuple((s, p) for s, p in self.powers if s != symbol))

    def substitute(self, symbol: str, replacement: Monomial) -> Monomial:
        """Replace ``symbol`` by ``replacement`` (``symbol^p`` becomes ``replacement^p``)."""
        p = self.power(symbol)
        if p == 0:
            return self
        powers = dict(self.without(symbol).powers)
        for s, q in replacement.powers:
            powers[s] = powers.get(s, Fraction(0)) + p * q
        return mono(**powers)

    def text(self) -> str:
        """The monomial as a fraction, e.g. ``k n^8 L^12 log^3(m) / phi^4``."""
        num = [_power_text(s, p) for s, p in self.powers if p > 0]
        den = [_power_text(s, -p) for s, p in self.powers if p < 0]
        top = " ".join(num) if num else "1"
        if not den:
            return top
        bottom = den[0] if len(den) == 1 else "(" + " ".join(den) + ")"
        return f"{top} / {bottom}"


def mono(**powers: int | Fraction) -> Monomial:
    """Build a :class:`Monomial` from ``symbol=power`` keywords, e.g. ``mono(n=8, phi=-4)``."""
    unknown = set(powers) - set(SYMBOL_TEXT)
    if unknown:
        raise ValueError(f"unknown symbols {sorted(unknown)}; known: {list(SYMBOL_TEXT)}")
    ordered = tuple((s, Fraction(powers[s])) for s in SYMBOL_TEXT if s in powers and powers[s] != 0)
    return Monomial(ordered)


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


class Algorithm(StrEnum):
    """Training algorithm of a result [zou-gu-2019, Algorithm 1]."""

    GD = "GD"
    SGD = "SGD"


class Network(StrEnum):
    """The network class a result covers (the "Deep?" and "ReLU?" columns of Table 1)."""

    TWO_LAYER_RELU = "two-layer relu"
    DEEP_RELU = "deep relu"
    DEEP_SMOOTH = "deep smooth"


@dataclass(frozen=True)
class Result:
    """One published result: the formulas of a theorem, with its citation.

    Attributes:
        key: Stable id, ``"<reference key>/<location>"``.
        paper: Short author-year label, e.g. ``"Zou & Gu 2019"``.
        reference: Key in :mod:`overparam.references` of the paper that proved it.
        theorem: Where it is stated, e.g. ``"Theorem 3.3"``; for rows read off Table 1 of
            [zou-gu-2019], ``"via [zou-gu-2019, Table 1]"``.
        algorithm: GD or SGD.
        network: Two-layer or deep, ReLU or smooth.
        width: Terms of the width condition ``m = Ω(max(width))`` (one term except Theorem 5.1
            of [du-2019-deep]); a ``log_m`` power makes it a fixed-point equation in m.
        iterations: ``T = O(iterations)``.
        step_size: ``η = O(step_size)``; ``None`` where the seed papers state no step size.
        tilde: The width is an Ω̃(·); its hidden polylog is modelled as log³(m).
        translated: Obtained by substituting λ₀ = φ/n² [zou-gu-2019, Remark 3.7].
        note: Caveats to show with the row.
    """

    key: str
    paper: str
    reference: str
    theorem: str
    algorithm: Algorithm
    network: Network
    width: tuple[Monomial, ...]
    iterations: Monomial
    step_size: Monomial | None
    tilde: bool = False
    translated: bool = False
    note: str = ""

    @property
    def symbols(self) -> frozenset[str]:
        """Every symbol the three formulas depend on."""
        parts = [*self.width, self.iterations]
        if self.step_size is not None:
            parts.append(self.step_size)
        return frozenset().union(*(p.symbols for p in parts))

    def width_text(self) -> str:
        """``Omega(...)`` text of the width condition; common factors pulled out of a max."""
        omega = "Omega~" if self.tilde else "Omega"
        if len(self.width) == 1:
            return f"{omega}({self.width[0].text()})"
        first = dict(self.width[0].powers)
        common = {s: p for s, p in first.items() if all(t.power(s) == p for t in self.width)}
        rest = [t for t in self.width]
        for s in common:
            rest = [t.without(s) for t in rest]
        inner = "max{" + ", ".join(t.text() for t in rest) + "}"
        prefix = mono(**common).text() + " " if common else ""
        return f"{omega}({prefix}{inner})"

    def formula(self) -> str:
        """All three formulas as one line of text."""
        eta = f"O({self.step_size.text()})" if self.step_size is not None else "not stated"
        return f"m = {self.width_text()}; T = O({self.iterations.text()}); eta = {eta}"


# Table 1 of [zou-gu-2019] lists k = 1 for these (its caption); k does not enter their formulas.
_K1 = "stated for k = 1 [zou-gu-2019, Table 1 caption]"
_NO_ETA = "step size not stated in the seed papers"
# Remark 3.7 substitutes λ₀ = φ/n²; the constant C of Prop. 3.6 (λ₀ ≥ Cφ/n²) is taken as 1.
LAMBDA0_FROM_PHI = mono(phi=1, n=-2)

RESULTS_GD: tuple[Result, ...] = (
    Result(
        key="du-2019-two-layer/table-1",
        paper="Du et al. 2019a",
        reference="du-2019-two-layer",
        theorem="via [zou-gu-2019, Table 1]",
        algorithm=Algorithm.GD,
        network=Network.TWO_LAYER_RELU,
        width=(mono(n=6, lambda0=-4),),
        iterations=mono(n=2, log_inv_eps=1, lambda0=-2),
        step_size=None,
        note=f"{_K1}; {_NO_ETA}",
    ),
    Result(
        key="wu-2019/table-1",
        paper="Wu et al. 2019",
        reference="wu-2019",
        theorem="via [zou-gu-2019, Table 1]",
        algorithm=Algorithm.GD,
        network=Network.TWO_LAYER_RELU,
        width=(mono(n=6, lambda0=-4),),
        iterations=mono(n=1, log_inv_eps=1, lambda0=-1),
        step_size=None,
        note=f"{_K1}; {_NO_ETA}",
    ),
    Result(
        key="oymak-2019/table-1",
        paper="Oymak & Soltanolkotabi 2019",
        reference="oymak-2019",
        theorem="via [zou-gu-2019, Table 1]",
        algorithm=Algorithm.GD,
        network=Network.TWO_LAYER_RELU,
        width=(mono(n=1, x_norm=6, lambda0=-4),),
        iterations=mono(x_norm=2, log_inv_eps=1, lambda0=-1),
        step_size=None,
        note=f"{_K1}; {_NO_ETA}",
    ),
    Result(
        key="du-2019-deep/table-1",
        paper="Du et al. 2019b",
        reference="du-2019-deep",
        theorem="via [zou-gu-2019, Table 1]",
        algorithm=Algorithm.GD,
        network=Network.DEEP_SMOOTH,
        width=(mono(two_pow_cL=1, n=4, lambda_min_K=-4),),
        iterations=mono(two_pow_cL=1, n=2, log_inv_eps=1, lambda_min_K=-2),
        step_size=mono(two_pow_cL=-1, n=-2, lambda_min_K=1),
        note=f"{_K1}; eta from [du-2019-deep, Theorem 5.1]; 2^O(L) read as 2^(cL)",
    ),
    Result(
        key="allen-zhu-2019/table-1",
        paper="Allen-Zhu et al. 2019",
        reference="allen-zhu-2019",
        theorem="via [zou-gu-2019, Table 1]",
        algorithm=Algorithm.GD,
        network=Network.DEEP_RELU,
        width=(mono(k=1, n=24, L=12, phi=-8),),
        iterations=mono(n=6, L=2, log_inv_eps=1, phi=-2),
        step_size=None,
        tilde=True,
        note="Omega~ polylog modelled as log^3(m); eta = Theta(d delta/(poly(n,L) m)) has an "
        "unstated poly [allen-zhu-2019, Theorem 1]",
    ),
    Result(
        key="zou-gu-2019/thm-3.3",
        paper="Zou & Gu 2019",
        reference="zou-gu-2019",
        theorem="Theorem 3.3",
        algorithm=Algorithm.GD,
        network=Network.DEEP_RELU,
        width=(mono(k=1, n=8, L=12, log_m=3, phi=-4),),
        iterations=mono(n=2, L=2, log_inv_eps=1, phi=-1),
        step_size=mono(k=1, L=-2, m=-1),
    ),
    Result(
        key="zou-gu-2019/cor-3.5",
        paper="Zou & Gu 2019",
        reference="zou-gu-2019",
        theorem="Corollary 3.5",
        algorithm=Algorithm.GD,
        network=Network.TWO_LAYER_RELU,
        width=(mono(k=1, n=8, log_m=3, phi=-4),),
        iterations=mono(n=2, log_inv_eps=1, phi=-1),
        step_size=mono(k=1, m=-1),
    ),
)

RESULT_DU_THM_5_1 = Result(
    key="du-2019-deep/thm-5.1",
    paper="Du et al. 2019b",
    reference="du-2019-deep",
    theorem="Theorem 5.1",
    algorithm=Algorithm.GD,
    network=Network.DEEP_SMOOTH,
    width=(
        mono(two_pow_cL=1, n=4, lambda_min_K=-4),
        mono(two_pow_cL=1, n=1, delta=-1),
        mono(two_pow_cL=1, n=2, log_Ln_over_delta=1, lambda_min_K=-2),
    ),
    # L(θ(t)) ≤ (1 − ηλ/2)^t L(θ(0)) gives T = 2 log(1/ε)/(ηλ) = O(2^O(L) n² log(1/ε)/λ²).
    iterations=mono(two_pow_cL=1, n=2, log_inv_eps=1, lambda_min_K=-2),
    step_size=mono(two_pow_cL=-1, n=-2, lambda_min_K=1),
    note="holds with probability 1 - delta; T from the rate (1 - eta lambda/2)^t; H = L",
)

RESULTS_SGD: tuple[Result, ...] = (
    Result(
        key="allen-zhu-2019/remark-3.9",
        paper="Allen-Zhu et al. 2019",
        reference="allen-zhu-2019",
        theorem="via [zou-gu-2019, Remark 3.9]",
        algorithm=Algorithm.SGD,
        network=Network.DEEP_RELU,
        width=(mono(k=1, n=24, L=12, B=1, phi=-8),),
        iterations=mono(n=7, L=2, log_inv_eps=1, B=-1, phi=-2),
        step_size=None,
        tilde=True,
        note=f"Omega~ polylog modelled as log^3(m); T is an O~ (polylog dropped); {_NO_ETA}",
    ),
    Result(
        key="zou-gu-2019/thm-3.8",
        paper="Zou & Gu 2019",
        reference="zou-gu-2019",
        theorem="Theorem 3.8",
        algorithm=Algorithm.SGD,
        network=Network.DEEP_RELU,
        width=(mono(k=1, n=17, L=12, log_m=3, B=-4, phi=-8),),
        iterations=mono(n=5, L=2, log_m=1, log_inv_eps=2, B=-1, phi=-2),
        step_size=mono(k=1, B=1, phi=1, n=-3, m=-1, log_m=-1),
    ),
    Result(
        key="zou-gu-2019/thm-3.10",
        paper="Zou & Gu 2019",
        reference="zou-gu-2019",
        theorem="Theorem 3.10",
        algorithm=Algorithm.SGD,
        network=Network.TWO_LAYER_RELU,
        width=(mono(k=Fraction(5, 2), n=11, log_m=3, phi=-5, B=-1),),
        iterations=mono(n=5, log_m=1, log_inv_eps=1, B=-1, phi=-2),
        step_size=mono(k=1, B=1, phi=1, n=-3, m=-1, log_m=-1),
    ),
)


def translate_remark_3_7(result: Result) -> Result:
    """Rewrite a λ₀-result in terms of φ by λ₀ = φ/n² [zou-gu-2019, Proposition 3.6, Remark 3.7].

    Proposition 3.6 gives λ₀ ≥ Cφn⁻² under unit-norm data, so a condition polynomial in 1/λ₀ is
    implied by the same condition with λ₀ replaced by φ/n² (C folded into the hidden constant).
    Remark 3.7 states the results: Du et al. becomes Ω(n¹⁴/φ⁴) and O(n⁶ log(1/ε)/φ²); Oymak &
    Soltanolkotabi becomes Ω(n⁹‖X‖₂⁶/φ⁴) and O(n²‖X‖₂² log(1/ε)/φ).
    """

    def sub(m: Monomial) -> Monomial:
        return m.substitute("lambda0", LAMBDA0_FROM_PHI)

    return dataclasses.replace(
        result,
        key=result.key.split("/")[0] + "/remark-3.7",
        theorem=result.theorem.replace("Table 1]", "Table 1, Remark 3.7]"),
        width=tuple(sub(t) for t in result.width),
        iterations=sub(result.iterations),
        step_size=None if result.step_size is None else sub(result.step_size),
        translated=True,
        note=(result.note + "; " if result.note else "") + "lambda0 >= phi/n^2 (Prop. 3.6)",
    )


def _label_translation(result: Result) -> Result:
    """Remark 3.7 states the translations of Du et al. and Oymak & Soltanolkotabi only; Wu et
    al.'s row is the same substitution λ₀ ≥ φ/n² of Proposition 3.6, made here."""
    if result.reference != "wu-2019":
        return result
    theorem = "via [zou-gu-2019, Table 1, Proposition 3.6] (substituted here, not in Remark 3.7)"
    return dataclasses.replace(result, theorem=theorem)


RESULTS_TRANSLATED: tuple[Result, ...] = tuple(
    _label_translation(translate_remark_3_7(r)) for r in RESULTS_GD if "lambda0" in r.symbols
)

#: Every row, in the order of the issue: GD, Remark 3.7 translations, Du Thm 5.1, SGD.
RESULTS: tuple[Result, ...] = (*RESULTS_GD, *RESULTS_TRANSLATED, RESULT_DU_THM_5_1, *RESULTS_SGD)
RESULTS_BY_KEY: dict[str, Result] = {r.key: r for r in RESULTS}

#: Reference keys accepted by :func:`overparam.theory.theory_exponents` for the paper's main
#: GD result.
PAPER_ALIASES: dict[str, str] = {
    "zou-gu-2019": "zou-gu-2019/thm-3.3",
    "allen-zhu-2019": "allen-zhu-2019/table-1",
    "du-2019-deep": "du-2019-deep/table-1",
    "du-2019-two-layer": "du-2019-two-layer/table-1",
    "wu-2019": "wu-2019/table-1",
    "oymak-2019": "oymak-2019/table-1",
}
