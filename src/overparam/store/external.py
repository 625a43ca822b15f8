"""Storing runs of a user's own model (:func:`overparam.measure`, :func:`overparam.track`) in
the same results database as the sweeps, so that ``overparam report`` and the store's readers
see them beside the papers' networks.

A run is stored in one transaction (:meth:`overparam.store.sqlite.Store.save_finished`), keyed
by its config (the model's class, parameter fingerprint, data and settings): the same model,
init, data and settings are stored once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from overparam.store.result import from_history
from overparam.store.sqlite import Store


def save_history(path: str | Path, experiment: str, history: Any) -> int:
    """Store ``history`` (an :class:`overparam.train.history.History`) under experiment
    ``experiment`` of the database at ``path`` (created if missing); returns its run id."""
    config = dict(history.config)
    store = Store.open(path, mode="write")
    try:
        source = str(config.get("source", "external"))
        exp = store.experiment(experiment, {"source": source}, kind=source)
        run_id, _ = store.save_finished(exp, config, from_history(history, executor="local"))
    finally:
        store.close()
    return run_id
