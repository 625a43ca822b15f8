"""Study ``generalization``: Algorithm 2's test error against Cao & Gu's NTK and NTRF bounds.

[cao-gu-2019, Theorem 3.3, Corollary 3.10]. On scikit-learn's digits (binary: 0-4 vs 5-9)
with label noise in {0, 0.1, 0.2, 0.5, 1.0} and on a sphere task whose labels are the sign of a
random teacher network, it puts side by side

* the expected 0-1 test error of Algorithm 2 (one pass of online SGD, logistic loss, uniformly
  random output iterate) on the ``cao-gu`` network;
* the NTK bound L sqrt(y^T (Theta^(L))^-1 y / n) + sqrt(log(1/delta) / n) (constants 1), from
  the analytic Theta^(L) and from the empirical Theta / m at the run's width and init;
* the NTRF training loss at R = sqrt(y^T Theta^-1 y) and Theorem 3.3's right-hand side
  4 * loss + L R / sqrt(n) + sqrt(log(1/delta) / n),

against noise, and against n (where the bound carries n^(-1/2)).

The expected test error E[L_D^{0-1}(W^)] is estimated two ways. Digits runs go through ``plan``
(stored by the sweep machinery): each stores the test error of the iterate it returned, an
unbiased but noisy estimate, averaged over ``seeds`` in the tables and figures. ``measure``
reruns Algorithm 2 at ``measure_seeds`` and evaluates every iterate on the held-out set, so its
``expected_test_error`` is the exact mean over the uniform output draw for that training sample
and init: the claims are judged on these rows, one per (data, noise, n, seed), each a draw of
the sample the theorem's "with probability 1 - delta" is over. The kernels, bounds and NTRF fits
are in ``measure`` too. The sphere task needs a held-out split that ``RunConfig`` does not
describe, so its runs exist only in ``measure`` (``source="measure"``).

A bound of 1 or more on a 0-1 error cannot fail: such points are vacuous (``Ratio(trivial=1)``).
The bound's own dependence on n follows from its formula (slope -1/2 + half the slope of
y^T Theta^-1 y), so it is shown as context, not judged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from overparam.config import RunConfig, build_config
from overparam.studies.claims import Claim, Fraction, Monotone, Rank, Ratio, Slope, loglog_fit
from overparam.studies.hypotheses import CAO_GU_ALGORITHM_2
from overparam.studies.plan import sweep
from overparam.studies.study import Context, Evidence, FigureSpec, Scale, Study, StudyData
from overparam.sweep.spec import SweepSpec

NAME = "generalization"
NOISES = (0.0, 0.1, 0.2, 0.5, 1.0)
DATASETS = ("digits", "sphere")
KERNELS = ("analytic", "empirical")
DEPTH = 2  # Cao & Gu's L: one hidden layer plus the sqrt(m)-scaled output layer
DELTA = 0.05
DIGITS_N_TRAIN = 1437  # digits' training split at test_fraction 0.2 (1797 - 360)
# The NTRF fit's certified tolerance in the study: losses are reported to 4 decimals.
NTRF_TOL = 1e-4
SPHERE_D = 6  # a low input dimension, so one pass over ~10^3 samples learns the teacher
#: The stated band of empirical / analytic bound at the run's width (a factor 1.25 either way).
KERNEL_BAND = (0.8, 1.25)
COR = "cao-gu-2019, Corollary 3.10"
THM = "cao-gu-2019, Theorem 3.3"


@dataclass(frozen=True)
class Size:
    """Sizes of one scale."""

    width: int
    digits_n: int
    digits_ns: tuple[int, ...]
    seeds: tuple[int, ...]
    measure_seeds: tuple[int, ...]
    ntrf_seeds: tuple[int, ...]
    sphere_n: int
    sphere_ns: tuple[int, ...]
    n_test: int

    @property
    def lr(self) -> float:
        # eta = 1/m: the scale of Theorem 3.3's eta = kappa R / (m sqrt(n)) with kappa R / sqrt(n)
        # set to 1; one step then moves f by O(1) (the empirical NTK is ~ m Theta^(L)).
        return 1.0 / self.width


SIZES: dict[str, Size] = {
    "quick": Size(
        width=256,
        digits_n=300,
        digits_ns=(75, 150, 300),
        seeds=(0, 1),
        measure_seeds=(0,),
        ntrf_seeds=(0,),
        sphere_n=200,
        sphere_ns=(50, 100, 200),
        n_test=300,
    ),
    "full": Size(
        width=512,
        digits_n=DIGITS_N_TRAIN,
        digits_ns=(100, 200, 400, 800, DIGITS_N_TRAIN),
        seeds=(0, 1, 2, 3),
        measure_seeds=(0, 1),
        ntrf_seeds=(0,),
        sphere_n=800,
        sphere_ns=(100, 200, 400, 800, 1600),
        n_test=500,
    ),
}


def _base(s: Size, data: str, n: int) -> dict:
    return dict(
        data=data,
        d=SPHERE_D,
        labels="teacher",
        n=n,
        width=s.width,
        depth=DEPTH,
        parameterization="cao-gu",
        algorithm="online-sgd",
        lr=s.lr,
        steps=n,  # one pass: Algorithm 2 processes each of the n samples once
    )


def config(data: str, noise: float, n: int, seed: int, s: Size) -> RunConfig:
    """The cao-gu Algorithm 2 run of one study point."""
    return build_config(**_base(s, data, n), noise=noise, seed=seed)


def plan_for(s: Size, scale: Scale) -> list[SweepSpec]:
    """Digits runs: every noise level at the full n (part ``noise``), and every smaller n at
    noise 0 (part ``n<n>``: steps = n couples the two, so one spec per n), for each seed."""
    specs = [
        sweep(NAME, scale, base=_base(s, "digits", s.digits_n), part="noise",
              grid={"noise": list(NOISES), "seed": list(s.seeds)})
    ]  # fmt: skip
    for n in s.digits_ns:
        if n != s.digits_n:
            base = {**_base(s, "digits", n), "noise": 0.0}
            specs.append(sweep(NAME, scale, base=base, part=f"n{n}", grid={"seed": list(s.seeds)}))
    return specs


def plan(scale: Scale) -> list[SweepSpec]:
    return plan_for(SIZES[scale], scale)


# ---------------------------------------------------------------------------------------------
# measure
# ---------------------------------------------------------------------------------------------


def _points(data: str, s: Size) -> list[tuple[float, int, str]]:
    full_n = s.digits_n if data == "digits" else s.sphere_n
    ns = s.digits_ns if data == "digits" else s.sphere_ns
    pts = [(noise, full_n, "noise") for noise in NOISES]
    pts += [(0.0, n, "n") for n in ns if n != full_n]
    return pts


def measure_size(s: Size, *, data: tuple[str, ...] = DATASETS) -> pd.DataFrame:
    """The study's measurements at one size (see :func:`measure`)."""
    import torch

    from overparam.generalization import measure_labels, prepare, run_config

    rows = []
    for name in data:
        by_n: dict[int, list[tuple[float, str]]] = {}
        for noise, n, part in _points(name, s):
            by_n.setdefault(n, []).append((noise, part))
        for seed in s.measure_seeds:
            for n, items in sorted(by_n.items()):
                ntrf = seed in s.ntrf_seeds and any(p == "noise" for _, p in items)
                prep = None
                for noise, part in items:
                    cfg = config(name, noise, n, seed, s)
                    # E over the output draw, exactly: every iterate on the held-out set.
                    run, at_init, train_set, _ = run_config(cfg, n_test=s.n_test)
                    row = {
                        "data": name,
                        "noise": noise,
                        "seed": seed,
                        "sweep": part,
                        "algorithm": cfg.algorithm,
                        "parameterization": cfg.parameterization,
                        "expected_test_error": run.expected_test_error,
                    }
                    if name == "sphere":  # no stored run holds the sphere's held-out error
                        row.update(source="measure", test_error=run.test_error)
                    X = train_set.X.to(torch.float64)
                    if prep is None or not torch.equal(prep.X, X):
                        prep = prepare(at_init, X, DEPTH, ntrf=ntrf)
                    row.update(
                        measure_labels(
                            prep, train_set.y, model_at_init=at_init, delta=DELTA,
                            ntrf_tol=NTRF_TOL,
                        )
                    )  # fmt: skip
                    rows.append(row)
    return pd.DataFrame.from_records(rows)


def measure(scale: Scale) -> pd.DataFrame:
    """One row per (data, noise, n, seed): y^T Theta^-1 y, the NTK bound (analytic and
    empirical kernels), the NTRF loss and Theorem 3.3's bound, and Algorithm 2's expected test
    error computed exactly over the output draw (``expected_test_error``: the mean test error of
    the n iterates); sphere rows add the returned iterate's ``test_error``."""
    return measure_size(SIZES[scale])


# ---------------------------------------------------------------------------------------------
# claims
# ---------------------------------------------------------------------------------------------


def _claims_for(data: str) -> list[Claim]:
    out = [
        Claim(
            f"bound-noise-{data}-{kind}",
            rf"{data}: the NTK bound ({kind} $\Theta$) increases with label noise",
            cite=COR,
            quantity=f"bound_{kind}",
            test=Monotone("increasing", x="noise"),
        )
        for kind in KERNELS
    ]
    out += [
        Claim(
            f"random-labels-{data}",
            f"{data}: "
            r"$y^\top \Theta^{-1} y$ is larger for random labels (noise 1) than for true labels",
            cite=COR,
            quantity="complexity_random",
            test=Fraction(1.0, other="complexity_true", op=">", min_defined=1),
        ),
        Claim(
            f"tracks-{data}",
            f"{data}: the expected test error ranks like the NTK bound across noise levels",
            cite=COR,
            quantity="expected_test_error",
            test=Rank(0.8, "bound_analytic"),
            hypotheses=(CAO_GU_ALGORITHM_2,),
        ),
        Claim(
            f"bound-above-{data}",
            f"{data}: "
            r"$\mathbb{E}[\text{test error}] \le L \sqrt{y^\top \Theta^{-1} y / n} "
            r"+ \sqrt{\log(1/\delta) / n}$ (constants 1)",
            cite=COR,
            quantity="expected_test_error",
            test=Ratio(bound="bound_analytic", trivial=1.0),
            hypotheses=(CAO_GU_ALGORITHM_2,),
        ),
        Claim(
            f"ntrf-{data}",
            f"{data}: "
            r"$\mathbb{E}[\text{test error}] \le 4 \cdot (\text{best NTRF loss}) + LR/\sqrt{n} "
            r"+ \sqrt{\log(1/\delta) / n}$ (constants 1)",
            cite=THM,
            quantity="expected_test_error",
            test=Ratio(bound="ntrf_bound", trivial=1.0),
            hypotheses=(CAO_GU_ALGORITHM_2,),
        ),
        Claim(
            f"kernel-{data}",
            rf"{data}: the empirical $\Theta/m$ at the run's width gives the analytic bound "
            f"(within a factor {KERNEL_BAND[1]:g})",
            cite="jacot-2018, Theorem 1",
            quantity="bound_empirical",
            test=Ratio(bound="bound_analytic", at_least=KERNEL_BAND[0], at_most=KERNEL_BAND[1]),
        ),
        Claim(
            f"error-rate-{data}",
            f"{data}: the test error falls with $n$ at least as fast as the bound (noise 0): "
            r"slope of $\mathbb{E}[\text{error}] / \text{bound}$ in $n$ $\le 0$",
            cite=COR,
            quantity="error_over_bound",
            test=Slope(0.0, 0.1, kind="at_most", x="n"),
            hypotheses=(CAO_GU_ALGORITHM_2,),
        ),
    ]
    return out


CLAIMS: tuple[Claim, ...] = tuple(c for data in DATASETS for c in _claims_for(data))


# ---------------------------------------------------------------------------------------------
# evidence
# ---------------------------------------------------------------------------------------------


def _prepared(meas: pd.DataFrame) -> pd.DataFrame:
    if meas is None or meas.empty:
        return pd.DataFrame()
    m = meas.copy()
    m["n"] = m["n"].astype(int)
    m["noise"] = m["noise"].astype(float)
    m["seed"] = m["seed"].astype(int)
    return m


def _noise_n(m: pd.DataFrame) -> int:
    """The n of the noise sweep (rows marked sweep="noise"; else the largest n)."""
    if "sweep" in m and (m["sweep"] == "noise").any():
        return int(m.loc[m["sweep"] == "noise", "n"].iloc[0])
    return int(m["n"].max())


def random_vs_true(m: pd.DataFrame) -> pd.DataFrame:
    """Per seed at the noise sweep's n: y^T Theta^-1 y (analytic) at noise 1 and at noise 0."""
    m = m[m["n"] == _noise_n(m)] if not m.empty else m
    if m.empty or not {0.0, 1.0} <= set(m["noise"]) or "complexity_analytic" not in m:
        return pd.DataFrame(columns=["seed", "complexity_random", "complexity_true"])
    p = m.pivot_table(index="seed", columns="noise", values="complexity_analytic")
    out = pd.DataFrame({"complexity_random": p[1.0], "complexity_true": p[0.0]})
    return out.reset_index()


def n_rows(m: pd.DataFrame) -> pd.DataFrame:
    """The noise-0 rows (the n sweep and the noise sweep's clean point) with
    error_over_bound = expected test error / analytic bound."""
    r = m[m["noise"] == 0.0].drop_duplicates(subset=["n", "seed"]).copy()
    if r.empty or "bound_analytic" not in r:
        return r
    r["error_over_bound"] = r["expected_test_error"] / r["bound_analytic"]
    return r.sort_values(["n", "seed"]).reset_index(drop=True)


def claim_frames(meas: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{claim key: the measurement rows its test judges} (see the module docstring)."""
    m = _prepared(meas)
    frames: dict[str, pd.DataFrame] = {}
    if m.empty:
        return frames
    for data in DATASETS:
        d = m[m["data"] == data]
        if d.empty:
            continue
        at_n = d[d["n"] == _noise_n(d)]
        for kind in KERNELS:
            frames[f"bound-noise-{data}-{kind}"] = at_n
        frames[f"random-labels-{data}"] = random_vs_true(d)
        frames[f"tracks-{data}"] = at_n
        frames[f"bound-above-{data}"] = d
        if "ntrf_bound" in d:
            frames[f"ntrf-{data}"] = d[d["ntrf_bound"].notna()]
        frames[f"kernel-{data}"] = d
        frames[f"error-rate-{data}"] = n_rows(d)
    return frames


def _test_errors(runs: pd.DataFrame, meas: pd.DataFrame) -> pd.DataFrame:
    """(data, noise, n, seed, test_error): digits from stored runs, sphere from measurements."""
    frames = []
    if not runs.empty and "test_accuracy" in runs:
        r = runs[runs["test_accuracy"].notna()]
        if "status" in r:
            r = r[r["status"] == "done"]
        if "data" in r:
            r = r[r["data"] == "digits"]
        frames.append(
            pd.DataFrame(
                {
                    "data": "digits",
                    "noise": r["noise"].astype(float),
                    "n": r["n"].astype(int),
                    "seed": r["seed"].astype(int),
                    "test_error": 1.0 - r["test_accuracy"].astype(float),
                }
            )
        )
    if not meas.empty and "test_error" in meas:
        m = meas[meas["test_error"].notna()]
        frames.append(m[["data", "noise", "n", "seed", "test_error"]])
    if not frames:
        return pd.DataFrame(columns=["data", "noise", "n", "seed", "test_error"])
    return pd.concat(frames, ignore_index=True)


SUMMARY_COLUMNS = (
    "complexity_analytic",
    "complexity_empirical",
    "bound_analytic",
    "bound_empirical",
    "confidence_term",
    "jitter_analytic",
    "jitter_empirical",
    "ntrf_R",
    "ntrf_loss",
    "ntrf_gap",
    "ntrf_bound",
    "expected_test_error",
)


def summary(errors: pd.DataFrame, meas: pd.DataFrame, data: str, by: str) -> pd.DataFrame:
    """Per noise level (by="noise", at the noise sweep's n) or per n (by="n", noise 0): means
    over seeds of the test error and of every measured column."""
    e = errors[errors["data"] == data]
    m = meas[meas["data"] == data] if not meas.empty else meas
    if m.empty:
        return pd.DataFrame()
    if by == "noise":
        n_full = _noise_n(m)
        e, m = e[e["n"] == n_full], m[m["n"] == n_full]
    else:
        e, m = e[e["noise"] == 0.0], m[m["noise"] == 0.0]
    cols = [c for c in SUMMARY_COLUMNS if c in m]
    out = m.groupby(by)[cols].mean()
    if not e.empty:
        g = e.groupby(by)["test_error"]
        out["test_error"] = g.mean()
        out["test_error_se"] = g.std(ddof=1).fillna(0.0) / np.sqrt(g.count())
        out["seeds"] = g.count()
    out = out.reset_index()
    if by == "noise":
        out.insert(1, "n", n_full)
    return out


def _fmt_range(v: pd.Series) -> str:
    v = pd.to_numeric(v, errors="coerce").dropna()
    return f"{v.min():.3g} .. {v.max():.3g}" if len(v) else "not measured"


def context(meas: pd.DataFrame) -> list[Context]:
    """The bound's values against the trivial 1, and its n-scaling (from its formula)."""
    m = _prepared(meas)
    out: list[Context] = []
    if m.empty or "bound_analytic" not in m:
        return out
    for data in DATASETS:
        d = m[m["data"] == data]
        if d.empty:
            continue
        b = d["bound_analytic"]
        out.append(
            Context(
                rf"{data}: NTK bound on the 0-1 test error (analytic $\Theta$, constants 1)",
                f"{_fmt_range(b)}; ≥ 1 at {int((b >= 1).sum())} of {len(b)} points",
                COR,
                r"where the bound is $\ge 1$ it bounds a probability by 1 or more: it cannot fail",
            )
        )
        r = n_rows(d)
        r = r[(r["bound_analytic"] > 0) & (r["complexity_analytic"] > 0)]
        if r["n"].nunique() >= 2:
            x = r["n"].to_numpy(dtype=float)
            fb, fq = (
                loglog_fit(x, r[c].to_numpy(dtype=float), n_boot=200, level=0.95, seed=0)
                for c in ("bound_analytic", "complexity_analytic")
            )
            out.append(
                Context(
                    f"{data}: log-log slope in $n$ of the NTK bound (noise 0)",
                    f"{fb.slope:.2f} (yᵀΘ⁻¹y grows like n^{fq.slope:.2f}; "
                    f"n {int(x.min())}..{int(x.max())})",
                    COR,
                    r"computed from the bound's formula, slope $-1/2 + (\text{slope of } "
                    r"y^\top \Theta^{-1} y)/2$: $n^{-1/2}$ only while $y^\top \Theta^{-1} y$ "
                    "stays bounded, which the corollary does not assert",
                )
            )
    return out


def evidence(data: StudyData) -> Evidence:
    """Claim frames from the measurement rows; tables per data set; the two figures."""
    meas = _prepared(data.measurements)
    if meas.empty:
        return Evidence()
    errors = _test_errors(data.runs, meas)
    tables = {}
    for name in DATASETS:
        for by in ("noise", "n"):
            t = summary(errors, meas, name, by)
            if not t.empty:
                tables[f"{name}_{by}"] = t
    return Evidence(
        frames=claim_frames(meas),
        figures=_figures(tables),
        tables=tables,
        context=context(meas),
    )


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


def _figures(tables: dict[str, pd.DataFrame]) -> list[FigureSpec]:
    from overparam.studies.plots import COLORS, loglog, new_figure, shared_legend, theory_line

    figures = []
    panels = [d for d in DATASETS if not tables.get(f"{d}_noise", pd.DataFrame()).empty]
    if panels:
        fig, axes = new_figure(len(panels))
        for ax, data in zip(axes, panels, strict=True):
            t = tables[f"{data}_noise"]
            series = [
                ("test_error", "test error, returned iterate", "o", "-"),
                ("expected_test_error", "test error, exact E over output", "P", "--"),
                ("bound_analytic", r"NTK bound, analytic $\Theta$", "s", "-"),
                ("bound_empirical", r"NTK bound, empirical $\Theta/m$", "^", ":"),
                ("ntrf_bound", r"Thm 3.3: $4\cdot$NTRF loss $+\, LR/\sqrt{n}$ + conf.", "D", "-."),
                ("ntrf_loss", "NTRF training loss", "v", ":"),
            ]
            for i, (col, label, marker, ls) in enumerate(series):
                if col in t and t[col].notna().any():
                    ax.plot(t["noise"], t[col], marker=marker, ms=4, ls=ls, label=label,
                            color=COLORS[i % len(COLORS)])  # fmt: skip
            if "test_error_se" in t:
                ax.fill_between(
                    t["noise"],
                    (t["test_error"] - t["test_error_se"]).clip(lower=1e-4),
                    t["test_error"] + t["test_error_se"],
                    alpha=0.2,
                    color=COLORS[0],
                )
            ax.axhline(1.0, color="0.6", lw=0.8)
            ax.set_yscale("log")
            ax.set_xlabel("label noise (fraction of random training labels)")
            ax.set_ylabel("0-1 error / bound")
            ax.set_title(f"{data} ($n={int(t['n'].iloc[0])}$, $L={DEPTH}$)")
        shared_legend(fig)
        figures.append(
            FigureSpec(
                "generalization_noise",
                "Measured expected 0-1 test error of Algorithm 2 against the NTK bound of "
                r"[cao-gu-2019, Corollary 3.10] (analytic and empirical $\Theta$, constants 1) and "
                "Theorem 3.3's NTRF bound, against label noise; the grey line is error 1.",
                fig,
            )
        )
    panels = [d for d in DATASETS if not tables.get(f"{d}_n", pd.DataFrame()).empty]
    if panels:
        fig, axes = new_figure(len(panels))
        for ax, data in zip(axes, panels, strict=True):
            t = tables[f"{data}_n"]
            for i, (col, label) in enumerate(
                (
                    ("bound_analytic", r"NTK bound, analytic $\Theta$"),
                    ("bound_empirical", r"NTK bound, empirical $\Theta/m$"),
                    ("test_error", "test error, returned iterate"),
                    ("expected_test_error", "test error, exact E over output"),
                )
            ):
                if col in t and t[col].notna().any():
                    ax.plot(t["n"], t[col], marker="o", ms=4, label=label, color=COLORS[i])
            if "bound_analytic" in t and len(t):
                anchor = (float(t["n"].iloc[0]), float(t["bound_analytic"].iloc[0]))
                theory_line(ax, t["n"], -0.5, anchor, label="$n^{-1/2}$")
            loglog(ax, "$n$ (training samples = SGD steps)", "bound / 0-1 error",
                   f"{data}, noise 0, $L={DEPTH}$")  # fmt: skip
        shared_legend(fig)
        figures.append(
            FigureSpec(
                "generalization_n",
                "The NTK bound of [cao-gu-2019, Corollary 3.10] and the measured test error "
                "against $n$ on log-log axes; the dashed line is $n^{-1/2}$ through the first "
                r"bound. The bound falls slower when $y^\top \Theta^{-1} y$ grows with $n$.",
                fig,
            )
        )
    return figures


STUDY = Study(
    name=NAME,
    title="Generalization of Algorithm 2: test error against the NTK and NTRF bounds",
    cites=("cao-gu-2019", "jacot-2018"),
    description=(
        "Cao & Gu's Algorithm 2 (one pass of online SGD, logistic loss, uniformly random "
        "output iterate) [cao-gu-2019] on the `cao-gu` network, with the NTK bound "
        r"$L \sqrt{y^\top \Theta^{-1} y / n} + \sqrt{\log(1/\delta) / n}$ (Corollary 3.10) and "
        "the NTRF class's best training loss (Theorem 3.3), on digits with label noise and on a "
        "teacher-labelled sphere."
    ),
    claims=CLAIMS,
    plan=plan,
    evidence=evidence,
    measure=measure,
    hypotheses=(CAO_GU_ALGORITHM_2,),
)
