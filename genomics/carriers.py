"""Carrier queries: two lookups on the cohort's non-reference calls.

The genotype job writes one row per non-reference call of the QC-passed genotypes
(``genomics.genotype_arrays.calls_table``)::

    participant  str    the participant (pseudonymised sample ID)
    chromosome   str    the contig ("chr1")
    position     int32  1-based position
    ref, alt     str    the biallelic (split) alleles
    genotype     str    the call as VCF writes it: "0/1", "1/1", "0|1", "1" (haploid)
    n_alt        int32  alternate allele count (> 0 always; stored as int8 in the lake)

The lake stores it as the Delta table ``genotype_calls`` (see ``jobs/carriers_io.py``):
partitioned by chromosome, each partition sorted by (position, ref, alt, participant), small
Parquet row groups. Both lookups below therefore touch one partition and, through the
row groups' position min/max statistics, only the row groups overlapping the asked
position(s):

* ``carriers_of(ds, chromosome, position, ref, alt)``  -> who carries this variant
* ``variants_of(ds, participant, chromosome, start, end)`` -> this person's variants in a region

They take the table's pyarrow Dataset (``deltalake.DeltaTable(path).to_pyarrow_dataset()`` or
``jobs.carriers_io.open_calls_dataset``) and run on polars (lazy scan; the filter is handed
to pyarrow, which prunes partitions and row groups) or DuckDB (the same pushdown through its
Arrow scan); no Spark. Both return a polars DataFrame (``.to_pandas()`` for pandas), with
plain string columns and int32 ``n_alt``, sorted the same way whatever the engine.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl
    import pyarrow.dataset as pads

__all__ = ["CALL_COLUMNS", "carriers_of", "variants_of"]

CALL_COLUMNS = ["participant", "chromosome", "position", "ref", "alt", "genotype", "n_alt"]
ENGINES = ("polars", "duckdb")


# --- queries -----------------------------------------------------------------------------

def _check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ValueError(f"carriers: unknown engine {engine!r} (one of {', '.join(ENGINES)})")


def carriers_of(ds: "pads.Dataset", chromosome: str, position: int, ref: str | None = None,
                alt: str | None = None, engine: str = "polars") -> "pl.DataFrame":
    """Who carries a variant: rows (participant, genotype, n_alt, ref, alt, chromosome,
    position) at ``chromosome:position`` (optionally one ``ref``/``alt``), sorted by ref, alt,
    participant. Without ``ref``/``alt`` every alternate allele at the position is returned."""
    _check_engine(engine)
    chromosome, position = str(chromosome), int(position)
    cols = ["participant", "genotype", "n_alt", "chromosome", "position", "ref", "alt"]
    order = ["ref", "alt", "participant"]
    if engine == "polars":
        import polars as pl
        pred = (pl.col("chromosome") == chromosome) & (pl.col("position") == position)
        if ref is not None:
            pred &= pl.col("ref") == ref
        if alt is not None:
            pred &= pl.col("alt") == alt
        return _finish(pl.scan_pyarrow_dataset(ds).filter(pred).select(cols).collect(), order)
    where = ["chromosome = ?", "position = ?"]
    params: list = [chromosome, position]
    for name, value in (("ref", ref), ("alt", alt)):
        if value is not None:
            where.append(f"{name} = ?")
            params.append(value)
    return _duckdb(ds, cols, where, params, order)


def variants_of(ds: "pads.Dataset", participant: str, chromosome: str, start: int, end: int,
                engine: str = "polars") -> "pl.DataFrame":
    """One person's non-reference calls with ``start <= position <= end`` (1-based, inclusive)
    on ``chromosome``: rows (chromosome, position, ref, alt, genotype, n_alt, participant),
    sorted by position, ref, alt. Works on ``genotype_calls`` (position-major: reads the
    region's row groups, all participants) and on the optional participant-major companion
    ``genotype_calls_by_participant`` (reads this person's one or two row groups)."""
    _check_engine(engine)
    participant, chromosome, start, end = str(participant), str(chromosome), int(start), int(end)
    cols = ["chromosome", "position", "ref", "alt", "genotype", "n_alt", "participant"]
    order = ["position", "ref", "alt"]
    if engine == "polars":
        import polars as pl
        pred = ((pl.col("chromosome") == chromosome) & (pl.col("position") >= start)
                & (pl.col("position") <= end) & (pl.col("participant") == participant))
        return _finish(pl.scan_pyarrow_dataset(ds).filter(pred).select(cols).collect(), order)
    where = ["chromosome = ?", "position >= ?", "position <= ?", "participant = ?"]
    return _duckdb(ds, cols, where, [chromosome, start, end, participant], order)


def _finish(df, order):
    """Plain strings (a dataset may read strings as dictionaries), int32 ``n_alt``, sorted."""
    import polars as pl
    return df.with_columns(
        [pl.col(c).cast(pl.String) for c, t in df.schema.items() if t in (pl.Categorical, pl.Enum)]
        + [pl.col("n_alt").cast(pl.Int32)]
    ).sort(order)


# One in-memory DuckDB connection per thread, reused across queries (connecting costs ~ms).
_local = threading.local()


def _duckdb(ds, cols, where, params, order):
    import duckdb
    import polars as pl
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect()
        con.execute("SET threads TO 2")
    sql = f"SELECT {', '.join(cols)} FROM _calls WHERE {' AND '.join(where)}"
    con.register("_calls", ds)   # an Arrow dataset: DuckDB pushes the WHERE into its scanner
    try:
        return _finish(pl.from_arrow(con.sql(sql, params=params).to_arrow_table()), order)
    finally:
        con.unregister("_calls")
