"""Engines for a job: Hail on a local (or configured) Spark, logs and scratch under results/."""
from __future__ import annotations

import os
import sys
import time


def start_hail(config: dict, job: str, extra_conf: dict | None = None):
    """Start Hail (and with it Spark) once for this job; return the ``hail`` module.

    Hail's log goes to ``<results>/logs/hail/<job>.log``; Spark's own log lines go to the job's
    stderr, which the workflow writes to ``<results>/logs/<rule>.log``.
    """
    results = config["results"]
    log_dir = os.path.join(results, "logs", "hail")
    tmp_dir = os.path.abspath(os.path.join(results, "tmp", job))
    os.makedirs(log_dir, exist_ok=True)
    os.makedirs(tmp_dir, exist_ok=True)
    spark = config["spark"]
    t0 = time.time()
    import warnings
    warnings.filterwarnings("ignore", message="Hail was built and tested with Java 11")
    import hail as hl

    hl.init(
        master=spark["master"],
        app_name=f"genolake-{job}",
        spark_conf={
            "spark.driver.memory": spark["driver_memory"],
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.local.dir": tmp_dir,
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.host": "127.0.0.1",
            "spark.sql.session.timeZone": "UTC",
            **{k: v for k, v in (extra_conf or {}).items() if k != "spark.app.name"},
        },
        log=os.path.join(log_dir, f"{job}.log"),
        tmp_dir=tmp_dir,
        local_tmpdir=tmp_dir,
        default_reference=config["reference_genome"],
        quiet=True,
        idempotent=True,
    )
    # At INFO, Hail logs query plans with their literals and partition bounds, which can hold
    # sample IDs; WARN keeps warnings and errors only.
    hl.spark_context().setLogLevel(spark["log_level"])
    print(f"[{job}] Hail started in {time.time() - t0:.1f}s", file=sys.stderr)
    return hl


def spark_session():
    from pyspark.sql import SparkSession
    return SparkSession.builder.getOrCreate()
