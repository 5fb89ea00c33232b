"""The block runtime: library kernels (plain numpy functions of a genotype block) run as Spark
tasks, one task per block (or per tile, region, contig: any list of small work items).

``start_spark(config, job)`` starts the job's one Spark session: ``spark.master`` from the
config (``local[N]`` embedded, or a cluster's master URL), the executors' Python the driver's
interpreter and the project on their ``PYTHONPATH`` (so a task imports ``genomics`` and
``jobs``). A job that needs Hail too gets it on the same SparkContext (Hail's jar must be there
when the JVM starts, so Hail starts the context).

``BlockRuntime.map(what, items, task)`` runs ``task(item)`` for every item on the executors and
returns the results in item order; ``.sum(...)`` adds the per-item partial results (arrays,
numbers, or dicts/tuples of them) with Spark's tree aggregation, so only one partial per
executor reaches the driver; ``.write_parts(...)`` has each task write its rows as a Parquet
file into the Delta table's folder, and the driver commits them all as one version
(``Lake.commit_parts``): no result table is collected on the driver. Every run logs progress
(items done of total, rate, time left) every ``progress_seconds``.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import uuid

import numpy as np

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spark_conf(config: dict, job: str) -> dict:
    """The Spark settings of a job's session (``spark.*`` keys)."""
    s = config["spark"]
    tmp = os.path.abspath(os.path.join(config["results"], "tmp", job, "spark"))
    conf = {
        "spark.app.name": f"genolake-{job}",
        "spark.driver.memory": s["driver_memory"],
        "spark.executor.memory": s["executor_memory"],
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.local.dir": tmp,
        "spark.sql.session.timeZone": "UTC",
        "spark.python.worker.reuse": "true",
        "spark.executorEnv.PYTHONPATH": os.pathsep.join(
            [PROJECT_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
        "spark.executorEnv.PYSPARK_PYTHON": sys.executable,
        "spark.task.maxFailures": "2",
    }
    host = s.get("driver_host") or ("127.0.0.1" if _local_or_loopback(s["master"]) else None)
    if host:
        conf.update({"spark.driver.host": host, "spark.driver.bindAddress": host})
    conf.update({k: str(v) for k, v in (s.get("conf") or {}).items()})
    return conf


def _local_or_loopback(master: str) -> bool:
    return master.startswith("local") or "127.0.0.1" in master or "localhost" in master


def start_spark(config: dict, job: str, *, hail: bool = False):
    """The job's Spark session (one per job). With ``hail``, Hail is started (on this config's
    master) and its Spark context is the session's."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    conf = spark_conf(config, job)
    os.makedirs(conf["spark.local.dir"], exist_ok=True)
    t0 = time.time()
    if hail:
        from jobs.session import start_hail
        start_hail(config, job, extra_conf=conf)
        from pyspark.sql import SparkSession
        spark = SparkSession.builder.getOrCreate()
    else:
        from pyspark.sql import SparkSession
        b = SparkSession.builder.master(config["spark"]["master"])
        for k, v in conf.items():
            b = b.config(k, v)
        spark = b.getOrCreate()
        spark.sparkContext.setLogLevel(config["spark"]["log_level"])
    print(f"[{job}] Spark started in {time.time() - t0:.1f}s (master {spark.sparkContext.master}, "
          f"default parallelism {spark.sparkContext.defaultParallelism})", file=sys.stderr, flush=True)
    return spark


def add_partials(a, b):
    """The sum of two partial results of the same shape: arrays and numbers add; dicts, tuples
    and lists add element by element; ``None`` is the empty partial."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, dict):
        return {k: add_partials(a.get(k), b.get(k)) for k in dict.fromkeys([*a, *b])}
    if isinstance(a, (tuple, list)):
        return type(a)(add_partials(x, y) for x, y in zip(a, b, strict=True))
    return np.add(a, b)


class BlockRuntime:
    """Runs work items as Spark tasks on ``spark`` and logs progress with ``log`` (a callable
    taking one line: counts and timings only)."""

    def __init__(self, spark, log, progress_seconds: float = 10.0):
        self.spark = spark
        self.sc = spark.sparkContext
        self.log = log
        self.progress_seconds = progress_seconds

    @property
    def parallelism(self) -> int:
        return self.sc.defaultParallelism

    def _rdd(self, items: list):
        return self.sc.parallelize(list(enumerate(items)), max(1, len(items)))

    def _run(self, what: str, n: int, action):
        """Run ``action()`` (one Spark action over ``n`` tasks) under a job group, logging
        tasks done of total, rate and time left while it runs."""
        group = f"genolake-{uuid.uuid4().hex[:12]}"
        self.sc.setJobGroup(group, what)
        done = threading.Event()
        t0 = time.time()

        def report():
            while not done.wait(self.progress_seconds):
                finished = self._finished_tasks(group)
                rate = finished / max(time.time() - t0, 1e-9)
                left = f"~{(n - finished) / rate:.0f} s left" if rate > 0 else "time left unknown"
                self.log(f"{what}: {finished}/{n} blocks done, {rate:.2f} blocks/s, {left}")
        thread = threading.Thread(target=report, daemon=True)
        thread.start()
        try:
            out = action()
        finally:
            done.set()
            thread.join()
            self.sc.setLocalProperty("spark.jobGroup.id", None)
        dt = time.time() - t0
        self.log(f"{what}: {n}/{n} blocks done in {dt:.1f} s ({n / max(dt, 1e-9):.2f} blocks/s)")
        return out

    def _finished_tasks(self, group: str) -> int:
        st = self.sc.statusTracker()
        total = 0
        for job_id in st.getJobIdsForGroup(group):
            info = st.getJobInfo(job_id)
            for stage_id in (info.stageIds if info else []):
                stage = st.getStageInfo(stage_id)
                if stage is not None:
                    total += stage.numCompletedTasks
        return total

    def map(self, what: str, items: list, task) -> list:
        """``[task(item) for item in items]``, each item a Spark task; results in item order
        (collected on the driver: keep them small)."""
        if not items:
            return []
        rdd = self._rdd(items).map(lambda kv: (kv[0], task(kv[1])))
        pairs = self._run(what, len(items), rdd.collect)
        return [r for _, r in sorted(pairs, key=lambda kv: kv[0])]

    def sum(self, what: str, items: list, task):
        """The sum (``add_partials``) of ``task(item)`` over the items, aggregated by Spark
        (a tree: one partial per task group reaches the driver)."""
        if not items:
            return None
        rdd = self._rdd(items).map(lambda kv: task(kv[1]))
        depth = 2 if len(items) > 64 else 1
        return self._run(what, len(items), lambda: rdd.treeReduce(add_partials, depth=max(depth, 1)))

    def write_parts(self, what: str, items: list, task, table_path: str, schema) -> tuple[list, list[dict]]:
        """Each task ``task(item) -> (small, rows)`` writes ``rows`` (a pandas frame or Arrow
        table, cast to ``schema``) as one Parquet file in ``table_path`` (a Delta table's
        folder, made if absent). Returns (the ``small`` values in item order, the files' add
        records for ``Lake.commit_parts``)."""
        if not items:
            return [], []
        prefix = f"part-{uuid.uuid4().hex}"
        os.makedirs(table_path, exist_ok=True) if "://" not in table_path else None

        def run_one(kv):
            k, item = kv
            small, rows = task(item)
            return k, small, write_part(rows, schema, table_path, f"{prefix}-{k:05d}.parquet")
        rdd = self._rdd(items).map(run_one)
        out = sorted(self._run(what, len(items), rdd.collect), key=lambda t: t[0])
        return [s for _, s, _ in out], [a for _, _, a in out if a is not None]


def write_part(rows, schema, table_path: str, name: str) -> dict | None:
    """Write ``rows`` as the Parquet file ``table_path/name`` (on an executor); return its add
    record (path relative to the table, size, modification time, row count), or None when
    there are no rows."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    t = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)
    if t.num_rows == 0:
        return None
    t = t.select(schema.names).cast(schema)
    path = os.path.join(table_path, name)
    tmp = path + ".tmp"
    pq.write_table(t, tmp, compression="snappy")
    os.replace(tmp, path)
    st = os.stat(path)
    return {"path": name, "size": st.st_size, "modification_time": int(st.st_mtime * 1000), "num_records": t.num_rows}
