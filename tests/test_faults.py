"""Faults done for real (bench/faults.py) on a small generated cohort: a SIGKILLed job, a second
config with another pseudonym key on the same lake, a read-only lake. After each, a plain rerun
completes with results equal to the uninterrupted run's (every Delta table compared both ways,
reports equal but for run ids and dates, no leftovers, no RUNNING MLflow run, no registered
version from a run that never succeeded) and redoes only the interrupted stage and those after."""
from __future__ import annotations

import os

import pytest

from bench.faults import compare, prepare, snapshot, try_fault

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    wf = prepare(str(tmp_path_factory.mktemp("faults")))
    rc, ran, out = wf.run()
    assert rc == 0, out[-3000:]
    base = snapshot(wf.cfg)
    assert len(base["reports"]) > 50 and base["tables"]["risk_predictions"].shape[0] > 100
    assert compare(base, snapshot(wf.cfg))["stale_or_mixed"] == 0      # the comparison itself is stable
    return wf, base


@pytest.mark.parametrize("fault", ["kill:reports", "kill:risk", "two-configs-one-lake", "read-only-lake"])
def test_fault_then_rerun_equals_the_uninterrupted_run(baseline, fault):
    wf, base = baseline
    if fault == "read-only-lake" and os.geteuid() != 0:
        pytest.skip("mounting a tmpfs for the lake needs root")
    row = try_fault(wf, fault, base)
    if row["survived"] == "skipped":
        pytest.skip(row["note"])
    assert row["rows_lost"] == 0 and row["rows_duplicated"] == 0, row
    assert row["stale_or_mixed"] == 0, row
    assert row["reran_only_affected"], row
    assert row["survived"] is True, row
