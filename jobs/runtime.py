"""What every job shares: argument parsing, config, lake, lineage record, exit codes.

A job module defines ``build_parser()`` and ``run(ctx, args)``; its ``main`` is
``run_job("name", run, build_parser(), argv)``. ``run`` reads inputs through ``ctx`` (which
records the Delta versions and file checksums read) and writes outputs through it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field

from genomics.errors import GenoLakeError
from jobs import lineage
from jobs.config import CONFIG_ENV, ConfigError, config_hash, load_config
from jobs.lake import Lake, open_lake


@dataclass
class JobContext:
    job: str
    config: dict
    lake: Lake
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    workflow_run_id: str = field(default_factory=lambda: os.environ.get("GENOLAKE_WORKFLOW_RUN", "adhoc"))
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    details: dict = field(default_factory=dict)
    mlflow_run_id: str | None = None
    started_at: str = field(default_factory=lineage.now_iso)
    _t0: float = field(default_factory=time.time)
    _blocks: object = None

    def blocks(self, hail: bool = False):
        """The job's block runtime (``jobs.spark_blocks``), its Spark session started on first
        use (one per job; with ``hail``, Hail's)."""
        if self._blocks is None:
            from jobs.spark_blocks import BlockRuntime, start_spark
            self._blocks = BlockRuntime(start_spark(self.config, self.job, hail=hail), self.log,
                                        self.config["spark"]["progress_seconds"])
        return self._blocks

    @property
    def results(self) -> str:
        return self.config["results"]

    def result_path(self, *parts: str) -> str:
        path = os.path.join(self.results, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def log(self, message: str) -> None:
        """Progress to stderr (the rule's log). Counts and timings only, never identifiers or values."""
        print(f"[{self.job} +{time.time() - self._t0:6.1f}s] {message}", file=sys.stderr, flush=True)

    # inputs -------------------------------------------------------------------
    def read_table(self, name: str, version: int | None = None, columns=None):
        version = self.lake.version(name) if version is None else version
        self.inputs.append({"kind": "delta", "name": name, "version": version})
        return self.lake.read(name, version=version, columns=columns)

    def table_version_in(self, name: str) -> int:
        version = self.lake.version(name)
        self.inputs.append({"kind": "delta", "name": name, "version": version})
        return version

    def input_file(self, path: str) -> str:
        self.inputs.append({"kind": "file", "name": path, "checksum": lineage.file_checksum(path)})
        return path

    def input_path(self, path: str, what: str) -> str:
        """A non-Delta store read as a whole (e.g. a Hail MatrixTable)."""
        self.inputs.append({"kind": what, "name": path})
        return path

    # outputs ------------------------------------------------------------------
    def write_table(self, name: str, df, **kwargs) -> int:
        version = self.lake.write(name, df, **kwargs)
        self.outputs.append({"kind": "delta", "name": name, "version": version})
        return version

    def write_spark_table(self, name: str, sdf, **kwargs) -> int:
        version = self.lake.write_spark(name, sdf, **kwargs)
        self.outputs.append({"kind": "delta", "name": name, "version": version})
        return version

    def output_path(self, path: str, what: str = "file") -> str:
        self.outputs.append({"kind": what, "name": path})
        return path

    def record(self, status: str) -> None:
        lineage.append_run(self.lake, {
            "run_id": self.run_id, "workflow_run_id": self.workflow_run_id, "job": self.job,
            "status": status, "started_at": self.started_at, "finished_at": lineage.now_iso(),
            "inputs": self.inputs, "outputs": self.outputs, "config_hash": config_hash(self.config),
            "code_version": lineage.code_version(), "mlflow_run_id": self.mlflow_run_id,
            "details": self.details,
        })


def base_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    env = os.environ.get(CONFIG_ENV)
    p.add_argument("--configfile", required=env is None, default=env,
                   help=f"run configuration (YAML); default: the file named by ${CONFIG_ENV} (the workflow "
                        f"sets it to this run's effective config)")
    p.add_argument("--stamp", help="write a JSON record of what the job wrote here on success "
                                   "(the workflow's output for this job)")
    return p


def run_job(job: str, run, parser: argparse.ArgumentParser, argv=None) -> int:
    """Run a job body with config, lake and lineage; map failures to exit codes."""
    args = parser.parse_args(argv)
    try:
        config = load_config(args.configfile)
    except (ConfigError, OSError) as e:
        print(f"[{job}] ERROR: {e}", file=sys.stderr)
        return 2
    from jobs.settings import remove_stale_outputs
    removed = remove_stale_outputs(job)        # the jobs after this one are redone (resume after a kill)
    if removed:
        print(f"[{job}] removed {len(removed)} downstream output(s), to be redone after this job", file=sys.stderr)
    spark = None
    if config["delta_engine"] == "delta-spark":
        from jobs.session import spark_session, start_hail
        start_hail(config, job)
        spark = spark_session()
    ctx = JobContext(job=job, config=config, lake=open_lake(config["lake"], config["delta_engine"], spark))
    try:
        run(ctx, args)
    except GenoLakeError as e:
        ctx.log(f"ERROR: {e}")
        ctx.details["error"] = type(e).__name__
        _record_quietly(ctx, "failed")
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - the traceback goes to the rule's log
        traceback.print_exc()
        ctx.log(f"ERROR: {type(e).__name__}: {e}")
        ctx.details["error"] = type(e).__name__
        _record_quietly(ctx, "failed")
        return 1
    ctx.record("succeeded")
    if getattr(args, "stamp", None):
        _write_stamp(args.stamp, ctx)
    ctx.log(f"done; outputs: {json.dumps([o['name'] for o in ctx.outputs])}")
    return 0


def _record_quietly(ctx: JobContext, status: str) -> None:
    try:
        ctx.record(status)
    except Exception as e:  # noqa: BLE001 - never hide the original failure
        print(f"[{ctx.job}] could not record the failed run: {e}", file=sys.stderr)


def _write_stamp(path: str, ctx: JobContext) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump({"job": ctx.job, "run_id": ctx.run_id, "outputs": ctx.outputs,
                   "details": ctx.details}, fh, indent=1, sort_keys=True, default=str)
    os.replace(tmp, path)
