"""Critical width: the smallest m at which GD reaches a target loss within a step budget.

The theorems give sufficient widths, m = Omega(k n^8 L^12 log^3(m) / phi^4) for GD
[zou-gu-2019, Theorem 3.3] and m = Omega~(n^24 L^12 / phi^8) [allen-zhu-2019] (via
[zou-gu-2019, Table 1]); the critical width is what a finite experiment can measure instead, and
its exponents in n, L and 1/phi (:func:`overparam.sweep.fit_exponent`) are compared to theirs.

Definition used here: for a base config, width m *succeeds* when at least a fraction
``success`` of the seeds reach the target (L(W_t) <= target_loss, or <= target_ratio * L(W_0))
within ``max_steps`` GD steps (store status done, train status "converged"). The search
evaluates m = width_min * 2^j until one succeeds (the log2 grid), then bisects between the last
failing and the first succeeding width, in log scale, until hi - lo <= max(1, rel_tol * hi). It
reports hi; success is assumed monotone in m between the bracket's ends. ``method="bisect"``
skips the doubling: it evaluates width_max, then width_min, then bisects in log-width until
hi <= (1 + rel_tol) lo (:func:`overparam.sweep.threshold.bisect_log`), which reaches a 10%
resolution in fewer runs than a doubling grid reaches a factor 2. Every run is an ordinary
stored run, so an interrupted search resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from overparam.config import RunConfig, build_config
from overparam.errors import ConfigError
from overparam.store.sqlite import DEFAULT_PATH, Owner, Store
from overparam.sweep.queue import RunStats, run_configs
from overparam.sweep.session import run_session
from overparam.sweep.threshold import bisect_log, recording

if TYPE_CHECKING:
    from overparam.sweep.executors import Executor
    from overparam.sweep.spec import SweepSpec

#: How the search brackets the critical width.
SearchMethod = Literal["doubling", "bisect"]
METHODS = ("doubling", "bisect")

#: Maps the runs of one width (one per seed) to whether each reached the target.
Evaluate = Callable[[Sequence[RunConfig]], Sequence[bool]]


@dataclass(frozen=True)
class CriticalWidth:
    """Result of :func:`critical_width`.

    Attributes:
        width: the critical width (the bracket's succeeding end); None if no width up to
            ``width_max`` succeeded.
        success_rate: fraction of seeds that reached the target at ``width``.
        found: whether a succeeding width was found.
        at_min: ``width_min`` itself succeeded (the true critical width may be smaller).
        evaluations: (width, success rate) in the order evaluated.
        seeds, success, target_loss, target_ratio, max_steps: the search's definition.
        complete: False if a wall-clock budget stopped the search.
        config: the base config (its width and seed are replaced by the search).
    """

    width: int | None
    success_rate: float | None
    found: bool
    at_min: bool
    evaluations: tuple[tuple[int, float], ...]
    seeds: tuple[int, ...]
    success: float
    target_loss: float | None
    target_ratio: float | None
    max_steps: int
    complete: bool = True
    config: dict[str, Any] = field(default_factory=dict)
    experiment: str | None = None
    store: str | None = None
    method: str = "doubling"

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "success_rate": self.success_rate,
            "found": self.found,
            "at_min": self.at_min,
            "evaluations": [{"width": w, "success_rate": r} for w, r in self.evaluations],
            "seeds": list(self.seeds),
            "success": self.success,
            "target_loss": self.target_loss,
            "target_ratio": self.target_ratio,
            "max_steps": self.max_steps,
            "complete": self.complete,
            "method": self.method,
            "experiment": self.experiment,
            "store": self.store,
            "config": self.config,
        }


class _OutOfTime(Exception):
    pass


def log2_grid(width_min: int, width_max: int) -> list[int]:
    """width_min * 2^j up to width_max, with width_max appended if the doubling skips it."""
    grid = [width_min]
    while grid[-1] * 2 <= width_max:
        grid.append(grid[-1] * 2)
    if grid[-1] != width_max:
        grid.append(width_max)
    return grid


def search(
    rate: Callable[[int], float],
    *,
    success: float,
    width_min: int,
    width_max: int,
    rel_tol: float = 0.02,
    method: SearchMethod = "doubling",
) -> tuple[int | None, list[tuple[int, float]]]:
    """The smallest width with ``rate(width) >= success``: doubling from ``width_min``, then
    log-scale bisection until hi - lo <= max(1, rel_tol * hi); or (``method="bisect"``)
    :func:`~overparam.sweep.threshold.bisect_log` with resolution ``rel_tol``. Returns (width
    or None, evaluations in order)."""
    if method == "bisect":
        if width_min == width_max:
            r = rate(width_min)
            return (width_min if r >= success else None), [(width_min, r)]
        return bisect_log(
            rate, success=success, width_min=width_min, width_max=width_max,
            resolution=max(rel_tol, 1e-6),
        )  # fmt: skip
    evals: list[tuple[int, float]] = []
    ok = recording(rate, success, evals)
    lo: int | None = None
    hi: int | None = None
    for w in log2_grid(width_min, width_max):
        if ok(w):
            hi = w
            break
        lo = w
    if hi is None:
        return None, evals
    if lo is None:
        return hi, evals
    while hi - lo > max(1.0, rel_tol * hi):
        mid = min(max(round(math.sqrt(lo * hi)), lo + 1), hi - 1)
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi, evals


# More seeds per width than any study uses; a typo such as 10**9 would fill memory with seeds.
MAX_SEEDS = 100_000


def validate_search(
    target_loss: float | None,
    target_ratio: float | None,
    max_steps: int,
    success: float,
    seeds: int | Sequence[int],
    width_min: int,
    width_max: int,
    rel_tol: float,
    method: str = "doubling",
) -> tuple[int, ...]:
    if method not in METHODS:
        raise ConfigError("method", method, ", ".join(METHODS))
    if target_loss is None and target_ratio is None:
        raise ConfigError(
            "target_ratio", None, "a target: target_loss > 0 or target_ratio in (0, 1)"
        )
    if target_loss is not None and not target_loss > 0:
        raise ConfigError("target_loss", target_loss, "a number > 0")
    if target_ratio is not None and not 0 < target_ratio < 1:
        raise ConfigError("target_ratio", target_ratio, "a number in (0, 1)")
    if not (isinstance(max_steps, int) and max_steps >= 1):
        raise ConfigError("max_steps", max_steps, "an integer >= 1")
    if not 0 < success <= 1:
        raise ConfigError("success", success, "a fraction in (0, 1]")
    if isinstance(seeds, int) and not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(
            "seeds", seeds, f"a count in [1, {MAX_SEEDS}] or a list of distinct seeds"
        )
    seed_list = tuple(range(seeds)) if isinstance(seeds, int) else tuple(int(s) for s in seeds)
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise ConfigError("seeds", seeds, "a count >= 1 or a list of distinct seeds")
    if not (isinstance(width_min, int) and 1 <= width_min <= width_max):
        raise ConfigError("width_min", width_min, f"an integer in [1, width_max={width_max}]")
    if not 0 <= rel_tol < 1:
        raise ConfigError("rel_tol", rel_tol, "a number in [0, 1)")
    return seed_list


def width_configs(
    base: RunConfig,
    width: int,
    seeds: Sequence[int],
    *,
    max_steps: int,
    target_loss: float | None,
    target_ratio: float | None,
) -> list[RunConfig]:
    """The runs that decide whether ``width`` succeeds: one per seed."""
    fields = base.model_dump(mode="json")
    fields.update(steps=max_steps, target_loss=target_loss, target_ratio=target_ratio)
    out = []
    for s in seeds:
        fields.update(width=width, seed=s)
        out.append(build_config(fields))
    return out


def store_evaluator(
    db: Store,
    experiment_id: int,
    executor: Executor,
    *,
    owner: Owner,
    progress: Callable[[int, int], None] | None = None,
    stale_after: float = 60.0,
    deadline: float | None = None,
) -> tuple[Evaluate, dict[str, Any]]:
    """An :data:`Evaluate` that trains (or looks up) the runs through the store, and a dict of
    running totals (executed, skipped, store_s)."""
    totals: dict[str, Any] = {
        "executed": 0,
        "skipped": 0,
        "store_s": 0.0,
        "write_s": 0.0,
        "runs": 0,
    }

    def evaluate(configs: Sequence[RunConfig]) -> list[bool]:
        offset = totals["runs"]
        totals["runs"] += len(configs)

        def report(finished: int, total: int) -> None:
            if progress:
                progress(offset + finished, offset + total)

        stats = run_configs(
            db,
            experiment_id,
            configs,
            executor,
            owner=owner,
            progress=report,
            stale_after=stale_after,
            deadline=deadline,
        )
        totals["executed"] += stats.executed
        totals["skipped"] += stats.skipped
        totals["store_s"] += stats.store_s
        totals["write_s"] += stats.write_s
        if not stats.complete:
            raise _OutOfTime
        rows = db.states(stats.run_ids)
        reached = {
            r["config_hash"]: r["status"] == "done" and r["train_status"] == "converged"
            for r in rows.values()
        }
        return [reached[c.config_hash()] for c in configs]

    return evaluate, totals


def _search_config(
    config: RunConfig,
    evaluate: Evaluate,
    *,
    target_loss: float | None,
    target_ratio: float | None,
    max_steps: int,
    success: float,
    seeds: tuple[int, ...],
    width_min: int,
    width_max: int,
    rel_tol: float,
    method: SearchMethod = "doubling",
) -> CriticalWidth:
    rates: dict[int, float] = {}

    def rate(w: int) -> float:
        if w not in rates:
            cfgs = width_configs(
                config,
                w,
                seeds,
                max_steps=max_steps,
                target_loss=target_loss,
                target_ratio=target_ratio,
            )
            hits = list(evaluate(cfgs))
            rates[w] = sum(map(bool, hits)) / len(hits)
        return rates[w]

    complete = True
    try:
        width, evals = search(
            rate, success=success, width_min=width_min, width_max=width_max, rel_tol=rel_tol,
            method=method,
        )  # fmt: skip
    except _OutOfTime:
        width, evals, complete = None, list(rates.items()), False
    return CriticalWidth(
        width=width,
        success_rate=None if width is None else rates[width],
        found=width is not None,
        at_min=width == width_min,
        evaluations=tuple(evals),
        seeds=seeds,
        success=success,
        target_loss=target_loss,
        target_ratio=target_ratio,
        max_steps=max_steps,
        complete=complete,
        config=config.model_dump(mode="json"),
        method=method,
    )


def critical_width(
    config: RunConfig,
    *,
    target_loss: float | None = None,
    target_ratio: float | None = None,
    max_steps: int,
    success: float = 0.9,
    seeds: int | Sequence[int] = 5,
    width_min: int = 8,
    width_max: int = 8192,
    rel_tol: float = 0.02,
    method: SearchMethod = "doubling",
    store: str | Path | Store | None = DEFAULT_PATH,
    executor: str | Executor = "batched",
    workers: int | None = None,
    address: str | None = None,
    experiment: str | None = None,
    evaluate: Evaluate | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CriticalWidth:
    """The smallest width at which GD (or SGD) on ``config`` reaches the target within
    ``max_steps`` for at least a fraction ``success`` of ``seeds`` (see the module docstring).

    Args:
        config: the base run; its ``width``, ``seed``, ``steps`` and targets are replaced.
        target_loss / target_ratio: success is L <= target_loss or L <= target_ratio * L(W_0)
            (at least one of them).
        max_steps: the GD step budget of every run.
        success: fraction of seeds that must succeed, in (0, 1]: with 5 seeds, 0.9 means 5/5.
        seeds: a count (0..seeds-1) or the seeds themselves.
        width_min, width_max: the log2 grid's ends; rel_tol: bisection stops at
            hi - lo <= max(1, rel_tol * hi) (0 gives the exact integer).
        method: "doubling" (the log2 grid, then bisection) or "bisect" (bisection in log-width
            from [width_min, width_max] until hi <= (1 + rel_tol) lo).
        store: the results database (a path or an open :class:`Store`); every run is stored
            under ``experiment`` (default ``critical-width/<hash>`` of the search), and the
            result in the ``critical`` table. Ignored with ``evaluate``.
        executor, workers, address: how runs are computed (default: batched, since the seeds
            of one width share an architecture).
        evaluate: replaces training: maps the configs of one width to success flags (for
            synthetic studies and tests).
        progress: called with (finished runs, runs so far).

    Returns:
        A :class:`CriticalWidth`.
    """
    if not isinstance(config, RunConfig):
        raise ConfigError("config", type(config).__name__, "a RunConfig")
    if config.algorithm not in ("gd", "sgd"):
        raise ConfigError(
            "algorithm", config.algorithm, "gd or sgd (online SGD makes one pass: no target)"
        )
    seed_list = validate_search(
        target_loss, target_ratio, max_steps, success, seeds, width_min, width_max, rel_tol,
        method,
    )  # fmt: skip
    kwargs: dict[str, Any] = dict(
        target_loss=target_loss,
        target_ratio=target_ratio,
        max_steps=max_steps,
        success=success,
        seeds=seed_list,
        width_min=width_min,
        width_max=width_max,
        rel_tol=rel_tol,
        method=method,
    )
    if evaluate is not None:
        return _search_config(config, evaluate, **kwargs)

    definition = {"config": config.model_dump(mode="json"), **kwargs, "seeds": list(seed_list)}
    if method == "doubling":  # the definition (and its hash) of a search made before "bisect"
        del definition["method"]
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:12]
    name = experiment or f"critical-width/{digest}"
    with run_session(store or DEFAULT_PATH, executor, workers=workers, address=address) as session:
        db = session.store
        exp_id = db.experiment(name, definition, kind="critical-width")
        evaluate_fn, _ = store_evaluator(
            db, exp_id, session.executor, owner=session.owner, progress=progress
        )
        result = _search_config(config, evaluate_fn, **kwargs)
        result = _with_names(result, name, db.path)
        db.save_critical(exp_id, {}, config, result.to_dict())
    return result


def _with_names(result: CriticalWidth, experiment: str, path: Path) -> CriticalWidth:
    import dataclasses

    return dataclasses.replace(result, experiment=experiment, store=str(path))


def run_critical_spec(
    spec: SweepSpec,
    db: Store,
    experiment_id: int,
    executor: Executor,
    *,
    owner: Owner,
    progress: Callable[[int, int], None] | None = None,
    stale_after: float = 60.0,
    deadline: float | None = None,
) -> tuple[Any, list[dict[str, Any]]]:
    """The critical width at every grid point of a spec with a ``[critical]`` table; each
    result is saved in the ``critical`` table. Returns (run statistics, results)."""
    c = spec.critical
    if c is None:
        raise ConfigError("critical", None, "a [critical] table (see overparam.sweep.spec)")
    evaluate, totals = store_evaluator(
        db,
        experiment_id,
        executor,
        owner=owner,
        progress=progress,
        stale_after=stale_after,
        deadline=deadline,
    )
    results = []
    complete = True
    for point in spec.points():
        base = spec.config_at(point)
        result = _search_config(
            base,
            evaluate,
            target_loss=c.target_loss,
            target_ratio=c.target_ratio,
            max_steps=c.max_steps,
            success=c.success,
            seeds=c.seed_list(),
            width_min=c.width_min,
            width_max=c.width_max,
            rel_tol=c.rel_tol,
            method=c.method,
        )
        result = _with_names(result, spec.name, db.path)
        if not result.complete:
            complete = False
            break
        db.save_critical(experiment_id, point, base, result.to_dict())
        results.append({"point": point, **result.to_dict()})
    stats = RunStats(
        run_ids=(),
        executed=totals["executed"],
        skipped=totals["skipped"],
        store_s=totals["store_s"],
        write_s=totals["write_s"],
        complete=complete,
    )
    return stats, results
