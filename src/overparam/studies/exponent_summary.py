"""The ``scaling-laws`` headline: every measured exponent of m* and T* (and of the two lemmas'
quantities) with its 95% bootstrap interval, beside the exponents the theorems state
([zou-gu-2019, Table 1]: Theorem 3.3 and, in B, Theorem 3.8; Allen-Zhu et al. through Table 1
and Remark 3.9). This is the table the README shows; ``overparam report --format md`` prints it
from any store."""

from __future__ import annotations

import math

import pandas as pd

from overparam.theory.results import RESULTS_BY_KEY

SYMBOLS = ("n", "L", "1/phi", "B")
RULE_COLUMNS = {"theory": "η = 1/(L²m) (Thm 3.3)", "auto": "η = auto",
                "sgd": "SGD, η = auto·B/n"}  # fmt: skip
#: (Zou & Gu, Allen-Zhu et al.) result keys for the GD sweeps and for B
GD_KEYS = ("zou-gu-2019/thm-3.3", "allen-zhu-2019/table-1")
SGD_KEYS = ("zou-gu-2019/thm-3.8", "allen-zhu-2019/remark-3.9")
LEMMA_ROWS = {"grad_ratio_init": ("‖∇L‖²/L at init", "Lemma 4.1"),
              "movement": ("ω by the target", "Lemma 4.2")}  # fmt: skip
TEXT = {"n": "n", "L": "L", "1/phi": "1/φ", "B": "B"}


def stated_exponent(key: str, part: str, symbol: str) -> float:
    """The polynomial exponent in ``symbol`` of a result's width (``part="m"``) or iteration
    count (``"T"``), log factors left out."""
    result = RESULTS_BY_KEY[key]
    mono = result.width[0] if part == "m" else result.iterations
    if symbol == "1/phi":
        return -float(mono.power("phi"))
    return float(mono.power(symbol))


def cell(exponent: float, low: float, high: float, censored: int = 0) -> str:
    """``1.04 [0.74, 1.33]``, with the number of censored points when there are any."""
    if not math.isfinite(exponent):
        return ""
    text = f"{_num(exponent)} [{_num(low)}, {_num(high)}]"
    return text + (f" ({censored} censored)" if censored else "")


def _cell(r: pd.Series, censored: bool = False) -> str:
    n = int(r["censored"]) if censored else 0
    return cell(float(r["exponent"]), float(r["low"]), float(r["high"]), n)


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.2f}".replace("-", "−")


def _stated(x: float) -> str:
    return f"{x:g}".replace("-", "−")


def summary(exponents: pd.DataFrame, lemma_exponents: pd.DataFrame) -> pd.DataFrame:
    """One row per (quantity, symbol) measured: a cell per step-size rule, the resolvable
    exponent and the theorems' exponents."""
    rows: list[dict[str, str]] = []
    for quantity, part in (("m*", "m"), ("T*", "T")):
        for symbol in SYMBOLS if not exponents.empty else ():
            d = exponents[(exponents["quantity"] == quantity) & (exponents["symbol"] == symbol)]
            if d.empty:
                continue
            zou, allen = SGD_KEYS if symbol == "B" else GD_KEYS
            row = {"exponent of": quantity, "in": TEXT[symbol]}
            for rule, column in RULE_COLUMNS.items():
                r = d[d["rule"] == rule]
                row[column] = "" if r.empty else _cell(r.iloc[0], censored=True)
            row["resolvable"] = f"{d['resolvable'].min():.1f}"
            thm = "Thm 3.8" if symbol == "B" else "Thm 3.3"
            row["Zou & Gu"] = f"{_stated(stated_exponent(zou, part, symbol))} ({thm})"
            row["Allen-Zhu et al."] = _stated(stated_exponent(allen, part, symbol))
            rows.append(row)
    for quantity, (label, lemma) in LEMMA_ROWS.items():
        for symbol in ("n", "1/phi") if not lemma_exponents.empty else ():
            d = lemma_exponents[(lemma_exponents["quantity"] == quantity)
                                & (lemma_exponents["symbol"] == symbol)]  # fmt: skip
            if d.empty:
                continue
            row = {"exponent of": label, "in": TEXT[symbol]}
            for rule, column in RULE_COLUMNS.items():
                r = d[d["rule"] == rule]
                row[column] = "" if r.empty else _cell(r.iloc[0])
            row["resolvable"] = ""
            row["Zou & Gu"] = f"{_stated(float(d['lemma'].iloc[0]))} ({lemma})"
            row["Allen-Zhu et al."] = ""
            rows.append(row)
    return pd.DataFrame(rows)
