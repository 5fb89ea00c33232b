"""The block runtime (jobs/spark_blocks.py) on a real local Spark: map, tree sum, executor-written
Parquet parts committed as one Delta version, progress lines."""
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from jobs.spark_blocks import BlockRuntime, add_partials, start_spark

# the executors do not import the tests folder: this module's functions travel by value
from pyspark import cloudpickle
import sys
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    cfg = {"results": str(tmp_path_factory.mktemp("results")),
           "spark": {"master": "local[2]", "driver_memory": "1g", "executor_memory": "1g", "log_level": "ERROR",
                     "driver_host": None, "conf": {}, "progress_seconds": 0.3}}
    spark = start_spark(cfg, "test_spark_blocks")
    lines = []
    yield BlockRuntime(spark, lines.append, progress_seconds=0.3), lines
    spark.stop()


def _kernel(k):
    """A numpy kernel of one 'block': per-sample sums of a seeded matrix."""
    g = np.random.default_rng(k).integers(-1, 3, size=(50, 7)).astype(np.int8)
    return {"called": (g >= 0).sum(0), "alt": np.where(g > 0, g, 0).sum(0), "n": np.int64(g.shape[0])}


def test_add_partials_adds_nested_values():
    a = {"x": np.array([1, 2]), "t": (1, np.array([1.5]))}
    b = {"x": np.array([3, 4]), "t": (2, np.array([0.5]))}
    s = add_partials(a, b)
    assert s["x"].tolist() == [4, 6] and s["t"][0] == 3 and s["t"][1].tolist() == [2.0]
    assert add_partials(None, a) is a


def test_map_returns_results_in_item_order(runtime):
    rt, _ = runtime
    items = list(range(9))
    got = rt.map("squares", items, lambda k: (k, float(np.square(np.arange(k)).sum())))
    assert got == [(k, float(np.square(np.arange(k)).sum())) for k in items]
    assert rt.map("nothing", [], lambda k: k) == []


def test_sum_equals_the_driver_loop(runtime):
    rt, _ = runtime
    items = list(range(13))
    got = rt.sum("per-sample sums", items, _kernel)
    want = None
    for k in items:
        want = add_partials(want, _kernel(k))
    assert got["n"] == 13 * 50
    np.testing.assert_array_equal(got["called"], want["called"])
    np.testing.assert_array_equal(got["alt"], want["alt"])


def test_progress_is_logged_with_counts_rate_and_time_left(runtime):
    rt, lines = runtime
    lines.clear()
    rt.map("slow stage", list(range(4)), lambda k: time.sleep(0.5) or k)
    assert any(l.startswith("slow stage: ") and "/4 blocks done" in l and "blocks/s" in l and "left" in l
               for l in lines), lines
    assert lines[-1].startswith("slow stage: 4/4 blocks done in ")


def test_parts_written_by_tasks_are_one_delta_commit(runtime, tmp_path):
    from jobs.lake import open_lake
    rt, _ = runtime
    lake = open_lake(str(tmp_path / "lake"))
    schema = pa.schema([("block", pa.int32()), ("value", pa.float64())])

    def task(k):
        rows = pd.DataFrame({"block": np.full(k, k, np.int32), "value": np.arange(k, dtype=float) / 2})
        return int(k), rows
    small, adds = rt.write_parts("rows", list(range(6)), task, lake.path("t"), schema)
    assert small == list(range(6)) and len(adds) == 5           # block 0 has no rows: no file
    v = lake.commit_parts("t", adds, schema)
    t = lake.read("t").sort_values(["block", "value"]).reset_index(drop=True)
    assert v == 0 and len(t) == sum(range(6))
    assert t.groupby("block")["value"].sum().to_dict() == {k: sum(range(k)) / 2 for k in range(1, 6)}
    # a second run overwrites in one more commit: no duplicate rows
    small, adds = rt.write_parts("rows", [3], task, lake.path("t"), schema)
    assert lake.commit_parts("t", adds, schema) == 1
    assert sorted(lake.read("t")["value"]) == [0.0, 0.5, 1.0]
    # nothing written: an empty table of the schema
    assert lake.commit_parts("empty", [], schema) == 0
    assert list(lake.read("empty").columns) == ["block", "value"] and len(lake.read("empty")) == 0
