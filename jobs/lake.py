"""The lake's table API: one small interface over Delta Lake, two engines.

``DeltaRsLake`` (the embedded default) reads and writes with delta-rs (``deltalake``);
``DeltaSparkLake`` (clusters whose Spark has the delta-spark jars) uses ``format("delta")``.
Both speak the same Delta protocol, so a table written by one is read by the other.

Tables declared in ``jobs.schemas`` are cast to their declared Arrow schema on every write
and merge (an empty frame included), so an empty first ingest never types a column ``null``.

Every write is one Delta commit: a failed or killed job leaves the table at its previous
version, never half-written. On a local root, writers of one table take turns (an exclusive
lock per table under ``<root>/_locks``), so two runs writing one lake serialise rather than
race (on an object store, Delta's own commit protocol makes the later writer fail cleanly). A
write that fails (disk full, read-only lake, a commit conflict) raises ``LakeWriteError``
naming the table, its path and the cause.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from typing import Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from genomics.errors import GenoLakeError
from jobs.schemas import cast_to_declared


class LakeWriteError(GenoLakeError):
    """A lake table could not be written; the table is left at its previous version."""
    exit_code = 5


@contextlib.contextmanager
def _writing(lake, name: str):
    """Serialise writers of one table (local roots) and name the table, path and cause when a
    write fails (delta-rs reports a full disk as a Rust panic, which is no ``Exception``)."""
    lock = None
    try:
        if "://" not in lake.root:
            os.makedirs(os.path.join(lake.root, "_locks"), exist_ok=True)
            lock = open(os.path.join(lake.root, "_locks", f"{name}.lock"), "a")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    except (KeyboardInterrupt, SystemExit, GenoLakeError):
        raise
    except BaseException as e:  # noqa: BLE001 - pyo3's PanicException derives from BaseException
        raise LakeWriteError(f"could not write lake table {name!r} at {lake.path(name)}: "
                             f"{_cause(e)}; the table is left at its previous version") from e
    finally:
        if lock is not None:
            lock.close()


def _cause(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}"
    for known in ("No space left on device", "Read-only file system", "Permission denied"):
        if known in text:
            return known + (" (" + getattr(e, "filename", "") + ")" if getattr(e, "filename", None) else "")
    return text.splitlines()[0][:300] if text else type(e).__name__

__all__ = ["Lake", "DeltaRsLake", "DeltaSparkLake", "open_lake"]


def _sql_str(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _to_arrow(df) -> pa.Table:
    if isinstance(df, pa.Table):
        return df
    if isinstance(df, pd.DataFrame):
        return pa.Table.from_pandas(df, preserve_index=False)
    raise TypeError(f"lake: cannot write a {type(df).__name__}; give a pandas DataFrame or an Arrow table")


class Lake:
    """Tables under one root, one folder per table (``<root>/<name>``)."""

    engine = "abstract"

    def __init__(self, root: str):
        self.root = root.rstrip("/")

    def path(self, name: str) -> str:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"lake: bad table name {name!r}")
        return f"{self.root}/{name}"

    # The API every engine implements.
    def exists(self, name: str) -> bool: raise NotImplementedError
    def version(self, name: str) -> int: raise NotImplementedError
    def write(self, name, df, mode="overwrite", partition_by=None, predicate=None) -> int: raise NotImplementedError
    def merge(self, name, df, keys: Iterable[str], changed: str | None = None) -> int: raise NotImplementedError
    def erase(self, name, column: str, values: Iterable[str]) -> int: raise NotImplementedError
    def columns(self, name) -> set[str]: raise NotImplementedError

    def tables(self) -> list[str]:
        """The Delta tables under the root (folders with a ``_delta_log``)."""
        if "://" in self.root or not os.path.isdir(self.root):
            return []
        return sorted(d for d in os.listdir(self.root)
                      if os.path.isdir(os.path.join(self.root, d, "_delta_log")))
    def read(self, name, version=None, columns=None) -> pd.DataFrame: raise NotImplementedError
    def history(self, name) -> list[dict]: raise NotImplementedError
    def delete(self, name, predicate: str) -> int: raise NotImplementedError
    def write_spark(self, name, sdf, mode="overwrite") -> int: raise NotImplementedError
    def read_spark(self, spark, name, version=None): raise NotImplementedError
    def commit_parts(self, name, adds: list[dict], schema: pa.Schema, mode="overwrite") -> int: raise NotImplementedError


class DeltaRsLake(Lake):
    engine = "delta-rs"

    def _table(self, name, version=None) -> DeltaTable:
        try:
            return DeltaTable(self.path(name), version=version)
        except TableNotFoundError as e:
            raise FileNotFoundError(f"lake: no Delta table {name!r} at {self.path(name)}") from e

    def exists(self, name: str) -> bool:
        try:
            DeltaTable(self.path(name))
            return True
        except TableNotFoundError:
            return False

    def version(self, name: str) -> int:
        return self._table(name).version()

    def columns(self, name) -> set[str]:
        return set(self._table(name).schema().to_arrow().names)

    def write(self, name, df, mode="overwrite", partition_by=None, predicate=None) -> int:
        """Write a frame as one commit. ``overwrite`` replaces the table (or, with a
        ``predicate``, just the rows matching it); ``append`` adds rows. Returns the new version."""
        data = df if isinstance(df, pa.RecordBatchReader) else cast_to_declared(name, _to_arrow(df))
        kwargs = {}
        if mode == "overwrite":
            kwargs["schema_mode"] = "overwrite" if predicate is None else None
            if predicate is not None:
                kwargs["predicate"] = predicate
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        os.makedirs(self.root, exist_ok=True) if "://" not in self.root else None
        with _writing(self, name):
            write_deltalake(self.path(name), data, mode=mode, partition_by=partition_by, **kwargs)
        return self.version(name)

    def merge(self, name, df, keys: Iterable[str], changed: str | None = None) -> int:
        """Upsert on ``keys``: matching rows are updated, new rows inserted (no duplicates).
        With ``changed`` (a column holding a hash of the row's content) only rows whose hash
        differs are rewritten, so re-ingesting the same extract changes nothing."""
        data = cast_to_declared(name, _to_arrow(df))
        keys = list(keys)
        predicate = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        update = f"t.{changed} <> s.{changed}" if changed else None
        with _writing(self, name):       # the first writer creates the table; a second one merges
            if not self.exists(name):
                os.makedirs(self.root, exist_ok=True) if "://" not in self.root else None
                write_deltalake(self.path(name), data, mode="overwrite", schema_mode="overwrite")
            else:
                (self._table(name).merge(data, predicate=predicate, source_alias="s", target_alias="t")
                 .when_matched_update_all(predicate=update).when_not_matched_insert_all().execute())
        return self.version(name)

    def erase(self, name, column: str, values: Iterable[str]) -> int:
        """Delete the rows whose ``column`` is in ``values``, then vacuum every file no longer in
        the current version: the erased rows cannot be read back from any version (time travel
        on this table stops here). Returns the number of rows deleted."""
        values = sorted(set(values))
        if not values:
            return 0
        with _writing(self, name):
            dt = self._table(name)
            deleted = 0
            for i in range(0, len(values), 500):
                chunk = ", ".join(_sql_str(v) for v in values[i:i + 500])
                deleted += int(dt.delete(f"{column} IN ({chunk})").get("num_deleted_rows", 0))
            if deleted:
                dt = self._table(name)
                dt.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)
        return deleted

    def read(self, name, version=None, columns=None) -> pd.DataFrame:
        return self._table(name, version).to_pandas(columns=columns)

    def dataset(self, name, version=None) -> pads.Dataset:
        """The table's Arrow dataset, for polars / DuckDB queries without Spark."""
        return self._table(name, version).to_pyarrow_dataset()

    def history(self, name) -> list[dict]:
        return self._table(name).history()

    def delete(self, name, predicate: str) -> int:
        with _writing(self, name):
            self._table(name).delete(predicate)
        return self.version(name)

    def write_spark(self, name, sdf, mode="overwrite") -> int:
        """Write a Spark (or Hail-derived) frame without collecting it on the driver: Spark
        writes Parquet to a staging folder, delta-rs commits the batches as one version."""
        staging = f"{self.root}/_staging/{name}-{uuid.uuid4().hex}"
        sdf.write.parquet(staging)
        try:
            reader = pads.dataset(staging, format="parquet").scanner().to_reader()
            return self.write(name, reader, mode=mode)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def commit_parts(self, name, adds: list[dict], schema: pa.Schema, mode="overwrite") -> int:
        """Commit Parquet files already written into the table's folder (by Spark tasks,
        ``jobs.spark_blocks.write_part``: path relative to the table, size, modification time,
        row count) as one version: ``overwrite`` replaces the table's rows (and schema),
        ``append`` adds them. Files of a task that failed or a job that died before this commit
        are in no version (a vacuum removes them). Returns the new version."""
        import json
        from deltalake import Schema as DeltaSchema
        from deltalake.transaction import AddAction, create_table_with_add_actions
        actions = [AddAction(path=a["path"], size=int(a["size"]), partition_values={},
                             modification_time=int(a["modification_time"]), data_change=True,
                             stats=json.dumps({"numRecords": int(a["num_records"])})) for a in adds]
        with _writing(self, name):
            exists = self.exists(name)
            if not actions or (exists and set(self.columns(name)) != set(schema.names)):
                if not actions:         # nothing written: an empty table of the schema
                    write_deltalake(self.path(name), schema.empty_table(), mode=mode, schema_mode="overwrite")
                    return self.version(name)
                # a changed schema: replace the table with an empty one of the new schema first
                write_deltalake(self.path(name), schema.empty_table(), mode="overwrite", schema_mode="overwrite")
                exists = True
            if not exists:
                create_table_with_add_actions(self.path(name), DeltaSchema.from_arrow(schema), actions,
                                              mode="overwrite")
            else:
                self._table(name).create_write_transaction(actions, mode=mode, schema=schema)
        return self.version(name)

    def read_spark(self, spark, name, version=None):
        """A consistent snapshot as a Spark frame (no Delta jars needed): the table's files."""
        dt = self._table(name, version)
        schema = dt.schema().to_arrow()
        parts = dt.metadata().partition_columns
        if parts:
            raise NotImplementedError(f"lake: read_spark of partitioned table {name!r}")
        from pyspark.sql.pandas.types import from_arrow_schema
        return spark.read.schema(from_arrow_schema(pa.schema(schema))).parquet(*dt.file_uris())


class DeltaSparkLake(Lake):
    """delta-spark's documented API (``format("delta")``, ``DeltaTable.forPath``)."""

    engine = "delta-spark"

    def __init__(self, root: str, spark):
        super().__init__(root)
        self.spark = spark

    def _dt(self, name):
        from delta.tables import DeltaTable as SparkDeltaTable
        return SparkDeltaTable.forPath(self.spark, self.path(name))

    def exists(self, name):
        from delta.tables import DeltaTable as SparkDeltaTable
        return SparkDeltaTable.isDeltaTable(self.spark, self.path(name))

    def version(self, name):
        return int(self._dt(name).history(1).collect()[0]["version"])

    def write(self, name, df, mode="overwrite", partition_by=None, predicate=None):
        sdf = self.spark.createDataFrame(df) if isinstance(df, pd.DataFrame) else df
        return self.write_spark(name, sdf, mode=mode, partition_by=partition_by, predicate=predicate)

    def write_spark(self, name, sdf, mode="overwrite", partition_by=None, predicate=None):
        w = sdf.write.format("delta").mode(mode)
        if mode == "overwrite":
            w = w.option("replaceWhere", predicate) if predicate else w.option("overwriteSchema", "true")
        if partition_by:
            w = w.partitionBy(*partition_by)
        w.save(self.path(name))
        return self.version(name)

    def commit_parts(self, name, adds, schema, mode="overwrite"):
        """The Parquet files the tasks wrote, through delta-spark's writer (one commit); the
        task files are then removed (delta-spark wrote its own)."""
        paths = [f"{self.path(name)}/{a['path']}" for a in adds]
        if paths:
            sdf = self.spark.read.parquet(*paths)
        else:
            from pyspark.sql.pandas.types import from_arrow_schema
            sdf = self.spark.createDataFrame([], from_arrow_schema(schema))
        version = self.write_spark(name, sdf, mode=mode)
        for p in paths:
            if "://" not in p and os.path.exists(p):
                os.remove(p)
        return version

    def merge(self, name, df, keys, changed=None):
        sdf = self.spark.createDataFrame(df) if isinstance(df, pd.DataFrame) else df
        if not self.exists(name):
            return self.write_spark(name, sdf)
        cond = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        update = f"t.{changed} <> s.{changed}" if changed else None
        (self._dt(name).alias("t").merge(sdf.alias("s"), cond)
         .whenMatchedUpdateAll(condition=update).whenNotMatchedInsertAll().execute())
        return self.version(name)

    def erase(self, name, column, values):
        values = sorted(set(values))
        if not values:
            return 0
        before = self.spark.read.format("delta").load(self.path(name)).count()
        self._dt(name).delete(f"{column} IN ({', '.join(_sql_str(v) for v in values)})")
        deleted = before - self.spark.read.format("delta").load(self.path(name)).count()
        if deleted:
            # delta-spark refuses a retention below 168 h unless this check is turned off
            self.spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
            self._dt(name).vacuum(0)
        return deleted

    def columns(self, name):
        return set(self.spark.read.format("delta").load(self.path(name)).columns)   # schema only

    def read_spark(self, spark, name, version=None):
        r = spark.read.format("delta")
        if version is not None:
            r = r.option("versionAsOf", version)
        return r.load(self.path(name))

    def read(self, name, version=None, columns=None):
        sdf = self.read_spark(self.spark, name, version)
        return (sdf.select(*columns) if columns else sdf).toPandas()

    def history(self, name):
        return [r.asDict() for r in self._dt(name).history().collect()]

    def delete(self, name, predicate):
        self._dt(name).delete(predicate)
        return self.version(name)


def open_lake(root: str, engine: str = "delta-rs", spark=None) -> Lake:
    if engine == "delta-rs":
        return DeltaRsLake(root)
    if engine == "delta-spark":
        if spark is None:
            raise ValueError("lake: the delta-spark engine needs a Spark session with the Delta jars")
        return DeltaSparkLake(root, spark)
    raise ValueError(f"lake: unknown engine {engine!r} (delta-rs or delta-spark)")
