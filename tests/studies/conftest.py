"""A quick-scale ``scaling-laws`` store, trained once per session on the local executor and
shared by the end-to-end test and the Ray test (which compares its own runs with these)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def scaling_laws_quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """(the store's path, the runs the first pass trained)."""
    from overparam.studies import scaling_laws as sl
    from overparam.studies.reproduce import run_studies

    path = tmp_path_factory.mktemp("scaling-laws-quick") / "results.sqlite"
    executed = run_studies([sl.STUDY], store_path=path, scale="quick", workers=2)
    return path, executed
