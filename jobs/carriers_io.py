"""The ``genotype_calls`` Delta table: write it from the genotype job's Arrow calls
(``genomics.genotype_arrays.calls_table``; one delta-rs commit) and open it for carrier queries
(``genomics.carriers``) without Spark.

Layout (both lookups touch one partition and a few row groups):

* partitioned by ``chromosome``: a query names its chromosome and reads only that folder;
* inside a partition the rows are sorted by (position, ref, alt, participant) and cut into
  Parquet row groups of exactly ``row_group_size`` rows (64k by default), each one a
  contiguous run of the sort, so its position min/max is tight and pyarrow skips every
  row group outside the asked position(s): "who carries chr1:12345 A>G" reads one or two
  row groups; "what does P carry in chr1:1-1,000,000" reads that range's row groups and
  keeps P's rows;
* the Delta log carries per-file min/max too, so whole files outside the range are skipped;
* strings and ``n_alt`` (int8) are dictionary-encoded, pages ZSTD-compressed; the string
  columns are read back as Arrow dictionaries (``open_calls_dataset``).

Optional companion, ``genotype_calls_by_participant`` (``write_calls_by_participant``): the
same rows sorted by (participant, position) within each chromosome. ``variants_of`` on it
reads one or two row groups whatever the region's width; on the main table it reads every
call of the region, which grows with the cohort (fine for 2,000 people, not for 200,000).

How it is written: each chromosome's calls are sorted and staged as Parquet
(``chromosome=<name>/`` folders); the staged files are then streamed chromosome by
chromosome, in position order, re-cut into exact row groups, written as the table's Parquet
files with pyarrow and committed all together with delta-rs as ONE Delta version. The
participant-major companion is re-sorted by Spark.

Why not ``write_deltalake(reader, partition_by=...)``: delta-rs's writer interleaves (and
re-slices) incoming batches across its threads, so row groups mix distant positions and the
statistics stop pruning (measured: some row groups spanning the whole chromosome). Writing
the files here keeps the layout exact; the commit is still delta-rs's
(``create_write_transaction`` / ``create_table_with_add_actions``), so readers see the old
version or the new one, never a mix. Local (or mounted) lake roots only, like
``DeltaRsLake.write_spark``'s staging.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import urllib.parse
import uuid

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable, Schema
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction, create_table_with_add_actions

__all__ = ["CALLS_SCHEMA", "write_calls_tables", "write_calls_by_participant", "open_calls_dataset",
           "commit_staged_calls",
           "staged_chromosomes", "layout_summary"]

CALLS_SCHEMA = pa.schema([
    ("participant", pa.string()),
    ("chromosome", pa.string()),
    ("position", pa.int32()),
    ("ref", pa.string()),
    ("alt", pa.string()),
    ("genotype", pa.string()),
    ("n_alt", pa.int8()),
])
PARTITION = "chromosome"
FILE_SCHEMA = pa.schema([f for f in CALLS_SCHEMA if f.name != PARTITION])   # partition column lives in the path
SORT_COLUMNS = ["chromosome", "position", "ref", "alt", "participant"]
DICTIONARY_COLUMNS = ["participant", "ref", "alt", "genotype"]
ROW_GROUP_SIZE = 65_536
TARGET_FILE_SIZE = 128 * 1024 * 1024


# --- write ---------------------------------------------------------------------------------

def write_calls_tables(lake, tables, name: str = "genotype_calls", row_group_size: int = ROW_GROUP_SIZE,
                       target_file_size: int = TARGET_FILE_SIZE) -> int:
    """Replace the table ``name`` with the calls (``genomics.genotype_arrays.calls_table``'s
    columns), given as an iterable of Arrow tables, each holding whole chromosomes (so one
    chromosome at a time need be in memory): each is sorted by (chromosome, position, ref, alt, participant) and
    staged, then all are laid out and committed as ONE Delta version, which is returned."""
    staging = f"{lake.root}/_staging/{name}-{uuid.uuid4().hex}"
    spark_parts = []
    try:
        for k, calls in enumerate(tables):
            missing = [c for c in CALLS_SCHEMA.names if c not in calls.column_names]
            if missing:
                raise ValueError(f"write_calls_tables: the calls lack {missing}")
            calls = calls.select(CALLS_SCHEMA.names).cast(CALLS_SCHEMA).sort_by([(c, "ascending") for c in SORT_COLUMNS])
            if getattr(lake, "engine", None) == "delta-spark":
                spark_parts.append(calls.to_pandas())
                continue
            chroms = calls.column(PARTITION)
            for chrom in pc.unique(chroms).to_pylist():
                part = calls.filter(pc.equal(chroms, chrom)).drop([PARTITION])
                folder = os.path.join(staging, f"{PARTITION}={urllib.parse.quote(chrom, safe='')}")
                os.makedirs(folder, exist_ok=True)
                pq.write_table(part, os.path.join(folder, f"part-{k:05d}.parquet"), row_group_size=row_group_size)
        if getattr(lake, "engine", None) == "delta-spark":
            import pandas as pd
            return lake.write(name, pd.concat(spark_parts, ignore_index=True), partition_by=[PARTITION])
        return commit_staged_calls(lake.path(name), staging, row_group_size, target_file_size)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_calls_by_participant(lake, source: str = "genotype_calls", name: str = "genotype_calls_by_participant",
                               version: int | None = None, row_group_size: int = ROW_GROUP_SIZE,
                               target_file_size: int = TARGET_FILE_SIZE) -> int:
    """Optional companion for very large cohorts: the same calls, participant-major.

    ``source`` (a ``genotype_calls`` snapshot, ``version`` or the latest) is re-sorted by
    Spark into (chromosome, participant, position, ref, alt) and committed as ``name``, so
    ``variants_of`` on *its* dataset reads one or two row groups whatever the region's width
    and the cohort's size (on the position-major table it reads every call of the region,
    which grows with the cohort). ``carriers_of`` stays on ``source``. Returns the version.
    """
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = SparkSession.builder.getOrCreate()
    dt = DeltaTable(lake.path(source), version=version)
    frames = []
    for chrom, uris in _files_by_partition(dt).items():
        frames.append(spark.read.parquet(*uris).select(*FILE_SCHEMA.names).withColumn(PARTITION, F.lit(chrom)))
    order = ["chromosome", "participant", "position", "ref", "alt"]
    if not frames:
        raise ValueError(f"write_calls_by_participant: {source} has no rows")
    sdf = frames[0]
    for f in frames[1:]:
        sdf = sdf.unionByName(f)
    n = max(1, spark.sparkContext.defaultParallelism, sdf.rdd.getNumPartitions())
    sdf = sdf.repartitionByRange(n, PARTITION, "participant").sortWithinPartitions(*order)
    staging = f"{lake.root}/_staging/{name}-{uuid.uuid4().hex}"
    sdf.write.partitionBy(PARTITION).parquet(staging)
    try:
        return commit_staged_calls(lake.path(name), staging, row_group_size, target_file_size, sort_columns=order)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _files_by_partition(dt: DeltaTable) -> dict[str, list[str]]:
    actions = pa.table(dt.get_add_actions(flatten=True))
    out: dict[str, list[str]] = {}
    for path, chrom in zip(actions.column("path").to_pylist(), actions.column(f"partition.{PARTITION}").to_pylist()):
        out.setdefault(chrom, []).append(path if "://" in path or path.startswith("/")
                                         else f"{dt.table_uri.rstrip('/')}/{path}")
    return out


def commit_staged_calls(table_path: str, staging: str, row_group_size: int = ROW_GROUP_SIZE,
                        target_file_size: int = TARGET_FILE_SIZE, sort_columns=SORT_COLUMNS) -> int:
    """Lay the staged calls out as the table's Parquet files and commit them as one version
    that replaces the whole table. Returns the new version."""
    if "://" in table_path and not table_path.startswith("file://"):
        raise NotImplementedError(f"genotype_calls: writes to local (or mounted) lakes only, not {table_path}; "
                                  "on a cluster use the delta-spark engine")
    table_path = table_path.removeprefix("file://")
    os.makedirs(table_path, exist_ok=True)
    written: list[str] = []   # every file opened, committed or not
    try:
        adds: list[AddAction] = []
        for chrom, batches in staged_chromosomes(staging, row_group_size, order_by=sort_columns[1]):
            adds.extend(_write_partition(table_path, chrom, batches, row_group_size, target_file_size,
                                         sort_columns, written))
        schema = Schema.from_arrow(CALLS_SCHEMA)
        try:
            dt = DeltaTable(table_path)
        except TableNotFoundError:
            dt = None
        if dt is None:
            create_table_with_add_actions(table_path, schema, adds, mode="error", partition_by=[PARTITION])
        else:
            if list(dt.metadata().partition_columns) != [PARTITION]:
                raise ValueError(f"genotype_calls: {table_path} exists with partition columns "
                                 f"{dt.metadata().partition_columns}, not [{PARTITION!r}]; remove it first")
            dt.create_write_transaction(adds, mode="overwrite", schema=schema, partition_by=[PARTITION])
    except BaseException:
        for rel in written:   # not committed: nothing refers to them
            try:
                os.remove(os.path.join(table_path, rel))
            except OSError:
                pass
        raise
    return DeltaTable(table_path).version()


def _write_partition(table_path, chrom, batches, row_group_size, target_file_size, sort_columns, written):
    """Write one chromosome's (sorted, exact-size) batches as Parquet files of about
    ``target_file_size`` bytes, one row group per batch; yield their Delta add actions."""
    folder = f"{PARTITION}={re.sub(r'[^A-Za-z0-9_.-]', '_', chrom)}"   # the value itself is in the log
    os.makedirs(os.path.join(table_path, folder), exist_ok=True)
    writer = rel = None
    stats: dict = {}

    def close():
        writer.close()
        full = os.path.join(table_path, rel)
        return AddAction(path=rel, size=os.path.getsize(full), partition_values={PARTITION: chrom},
                         modification_time=int(os.path.getmtime(full) * 1000), data_change=True,
                         stats=json.dumps(stats))

    for batch in batches:
        if writer is None:
            rel = f"{folder}/part-{uuid.uuid4().hex}.zstd.parquet"
            written.append(rel)
            writer = pq.ParquetWriter(
                os.path.join(table_path, rel), FILE_SCHEMA, compression="zstd",
                use_dictionary=DICTIONARY_COLUMNS + ["n_alt"], write_statistics=True, write_page_index=True,
                # participant-major: each person's positions ascend, which delta encoding packs
                column_encoding=None if sort_columns[1] == "position" else {"position": "DELTA_BINARY_PACKED"},
                sorting_columns=[pq.SortingColumn(FILE_SCHEMA.get_field_index(c))
                                 for c in sort_columns if c != PARTITION])
            stats = {"numRecords": 0, "minValues": {}, "maxValues": {}, "nullCount": {}}
        batch = batch.select(FILE_SCHEMA.names)
        writer.write_batch(batch, row_group_size=row_group_size)
        _update_stats(stats, batch)
        if os.path.getsize(os.path.join(table_path, rel)) >= target_file_size:
            yield close()
            writer = None
    if writer is not None:
        yield close()


def _update_stats(stats: dict, batch: pa.RecordBatch) -> None:
    """Delta's per-file statistics (numRecords, minValues, maxValues, nullCount)."""
    stats["numRecords"] += batch.num_rows
    for name in batch.schema.names:
        col = batch.column(name)
        stats["nullCount"][name] = stats["nullCount"].get(name, 0) + col.null_count
        mm = pc.min_max(col).as_py()
        if mm["min"] is None:
            continue
        lo, hi = stats["minValues"].get(name), stats["maxValues"].get(name)
        stats["minValues"][name] = mm["min"] if lo is None else min(lo, mm["min"])
        stats["maxValues"][name] = mm["max"] if hi is None else max(hi, mm["max"])


def staged_chromosomes(staging: str, batch_size: int = ROW_GROUP_SIZE, order_by: str = "position"):
    """The Spark-staged calls (``<staging>/chromosome=<c>/part-*.parquet``) as
    ``(chromosome, batches)`` pairs, one chromosome after the other. Within a chromosome the
    files come in order of their smallest ``order_by`` value (from the footers) and are read
    sequentially, so the batches are sorted whenever the files do not overlap (Hail's
    partitions never do, nor Spark's range partitions). Every batch has exactly
    ``batch_size`` rows but the last, so that each becomes one row group."""
    import urllib.parse
    if not os.path.isdir(staging):
        return
    names = FILE_SCHEMA.names
    for entry in sorted(os.listdir(staging)):
        if not entry.startswith(f"{PARTITION}="):
            continue
        chrom = urllib.parse.unquote(entry.split("=", 1)[1])   # Spark escapes special characters as %XX
        folder = os.path.join(staging, entry)
        files = [os.path.join(folder, f) for f in os.listdir(folder)
                 if f.endswith(".parquet") and not f.startswith((".", "_"))]
        files = [p for _, p in sorted(_first_value(p, order_by) for p in files)]

        def batches(files=files):
            for path in files:
                for b in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=names):
                    yield pa.RecordBatch.from_arrays(
                        [b.column(n).cast(FILE_SCHEMA.field(n).type) for n in names], schema=FILE_SCHEMA)

        yield chrom, _exact_batches(batches(), batch_size)


def _first_value(path, column):
    md = pq.ParquetFile(path).metadata
    col = md.schema.to_arrow_schema().get_field_index(column)
    mins = [md.row_group(i).column(col).statistics for i in range(md.num_row_groups)]
    mins = [s.min for s in mins if s is not None and s.has_min_max]
    return ((0, min(mins)) if mins else (-1, None), path)


def _exact_batches(batches, size: int):
    """Re-cut a stream of record batches into batches of exactly ``size`` rows (the last one
    shorter)."""
    pending, n = [], 0
    for b in batches:
        while b.num_rows:
            take = min(size - n, b.num_rows)
            pending.append(b.slice(0, take))
            n += take
            b = b.slice(take)
            if n == size:
                yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]
                pending, n = [], 0
    if n:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


# --- read ----------------------------------------------------------------------------------

def open_calls_dataset(lake, name: str = "genotype_calls", version: int | None = None,
                       cache_metadata: bool = True, dictionaries: bool = True) -> pads.Dataset:
    """The table's pyarrow Dataset, for ``genomics.carriers`` queries in a long-lived process.

    ``lake`` is a ``jobs.lake`` lake or a lake root path. A local table is read through
    Arrow's native file system (not delta-rs's Python one); with ``cache_metadata`` every
    file's Parquet footer is read once here, so a query spends its time on the row groups
    its filter keeps; with ``dictionaries`` the string columns come back as Arrow
    dictionaries (about 2x faster scans; the query functions return plain strings) -- all
    but the table's leading sort column (read from the files' ``sorting_columns``), because
    pyarrow does not prune row groups on a dictionary column's statistics. The dataset is a
    snapshot: open it again to see a newer version.
    """
    root = lake.root if hasattr(lake, "root") else str(lake)
    path = f"{root.rstrip('/')}/{name}"
    dt = DeltaTable(path, version=version)
    fs = None
    if "://" not in path or path.startswith("file://"):
        local = os.path.abspath(path.removeprefix("file://"))
        fs = pafs.SubTreeFileSystem(local, pafs.LocalFileSystem())
    opts = None
    if dictionaries:
        dict_cols = set(DICTIONARY_COLUMNS) - {_leading_sort_column(dt, fs)}
        opts = pads.ParquetReadOptions(dictionary_columns=dict_cols) if dict_cols else None
    ds = dt.to_pyarrow_dataset(filesystem=fs, parquet_read_options=opts)
    if cache_metadata:
        for frag in ds.get_fragments():
            frag.ensure_complete_metadata()
    return ds


def _leading_sort_column(dt: DeltaTable, fs) -> str | None:
    """The first ``sorting_columns`` entry of one of the table's files (None if unknown)."""
    try:
        first = pa.table(dt.get_add_actions(flatten=True)).column("path")[0].as_py()
        md = pq.read_metadata(first, filesystem=fs) if fs is not None else pq.read_metadata(dt.file_uris()[0])
        cols = md.row_group(0).sorting_columns if md.num_row_groups else ()
        return md.schema.column(cols[0].column_index).name if cols else None
    except (IndexError, OSError, ValueError, TypeError):
        return None


def layout_summary(ds: pads.Dataset, column: str = "position") -> dict:
    """Files, row groups, rows and how tight the ``column`` statistics are: ``max_overlap``
    is the most row groups of one chromosome whose [min, max] share a value (1-3 when
    sorted by it: a variant with many carriers can straddle a row-group boundary)."""
    spans: dict[str, list] = {}
    rows = n_rg = 0
    for frag in ds.get_fragments():
        md = frag.metadata
        chrom = str(pads.get_partition_keys(frag.partition_expression).get(PARTITION))
        i = md.schema.to_arrow_schema().get_field_index(column)
        for r in range(md.num_row_groups):
            st = md.row_group(r).column(i).statistics
            spans.setdefault(chrom, []).append((st.min, st.max))
        rows += md.num_rows
        n_rg += md.num_row_groups
    worst = 0
    for sp in spans.values():   # sweep: most intervals covering one point
        events = sorted([(a, 0) for a, _ in sp] + [(b, 1) for _, b in sp])
        cur = 0
        for _, kind in events:
            cur += 1 if kind == 0 else -1
            worst = max(worst, cur)
    return {"files": len(list(ds.get_fragments())), "row_groups": n_rg, "rows": rows,
            "chromosomes": sorted(spans), "max_overlap": worst}
