"""Lineage: every job appends one row to the `runs` Delta table."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from datetime import datetime, timezone

import pandas as pd

RUNS_TABLE = "runs"
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def code_version() -> str:
    """The git commit of the code (with ``-dirty`` if the tree has changes), or ``unknown``."""
    try:
        head = subprocess.run(["git", "-C", _REPO, "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", _REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def file_checksum(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return "sha256:" + h.hexdigest()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


RUN_COLUMNS = ["run_id", "workflow_run_id", "job", "status", "started_at", "finished_at",
               "inputs", "outputs", "config_hash", "code_version", "mlflow_run_id", "details"]


def append_run(lake, record: dict) -> int:
    row = {k: record.get(k) for k in RUN_COLUMNS}
    for k in ("inputs", "outputs", "details"):
        row[k] = json.dumps(row[k] or ([] if k != "details" else {}), sort_keys=True, default=str)
    for k in RUN_COLUMNS:
        row[k] = None if row[k] is None else str(row[k])
    df = pd.DataFrame([row], columns=RUN_COLUMNS).astype("string")
    # jobs run in parallel (the per-file reads): an append that loses a commit race is retried
    import time
    from deltalake.exceptions import CommitFailedError
    for attempt in range(8):
        try:
            return lake.write(RUNS_TABLE, df, mode="append")
        except CommitFailedError:
            if attempt == 7:
                raise
            time.sleep(0.2 * (attempt + 1))
