"""The declared Arrow schema of each lake table that a job may write empty (or with an
all-null column): the lake casts every write and merge of these tables to it, so the first
write of an empty ``quarantine`` gets string / int64 columns, never Arrow ``null`` (which
delta-rs then refuses to cast to on the next write).

A table not declared here keeps the types of the frame written; any column of it whose values
are all missing (Arrow type ``null``) is written as a string column.
"""
from __future__ import annotations

import pyarrow as pa

__all__ = ["TABLE_SCHEMAS", "cast_to_declared", "declared_schema"]

_S = pa.string()
_F = pa.float64()
_TS = pa.timestamp("us", tz="UTC")


def _schema(*fields) -> pa.Schema:
    return pa.schema([pa.field(n, t) for n, t in fields])


TABLE_SCHEMAS: dict[str, pa.Schema] = {
    # one row per record refused by a clinical source
    "quarantine": _schema(("source", _S), ("line", pa.int64()), ("record_id", _S), ("participant_id", _S),
                          ("field", _S), ("reason", _S), ("record", _S), ("run_id", _S)),
    # FHIR / device measurements, in the trait units
    "observations": _schema(("record_id", _S), ("participant_id", _S), ("code_system", _S), ("code", _S),
                            ("name", _S), ("value", _F), ("unit", _S), ("original_value", _F),
                            ("original_unit", _S), ("time", _TS), ("source_kind", _S), ("source", _S),
                            ("row_hash", _S)),
    "conditions": _schema(("record_id", _S), ("participant_id", _S), ("code_system", _S), ("code", _S),
                          ("onset", pa.date32()), ("clinical_status", _S), ("verification_status", _S),
                          ("source", _S), ("row_hash", _S)),
    "consent": _schema(("record_id", _S), ("participant_id", _S), ("purpose", _S), ("granted", pa.bool_()),
                       ("status", _S), ("date", _TS), ("source", _S), ("row_hash", _S)),
    # pairs of related samples (kinship above the second-degree threshold)
    "relatedness": _schema(("i", _S), ("j", _S), ("kinship", _F), ("degree", _S)),
    # one row per (trait, variant); written by the GWAS's Spark tasks, file by file
    "gwas_results": _schema(("trait", _S), ("chromosome", _S), ("base_pair_location", pa.int64()),
                            ("effect_allele", _S), ("other_allele", _S), ("beta", _F), ("odds_ratio", _F),
                            ("standard_error", _F), ("p_value", _F), ("effect_allele_frequency", _F),
                            ("n", pa.int64()), ("test", _S), ("variant_id", _S), ("run_id", _S)),
    "gwas_loci": _schema(("trait", _S), ("locus", pa.int64()), ("chromosome", _S),
                         ("base_pair_location", pa.int64()), ("variant_id", _S), ("effect_allele", _S),
                         ("other_allele", _S), ("beta", _F), ("standard_error", _F), ("p_value", _F),
                         ("test", _S), ("n_clumped", pa.int64()), ("n_significant", pa.int64()),
                         ("start", pa.int64()), ("end", pa.int64()), ("run_id", _S)),
    # private lake
    "withdrawals": _schema(("participant_id", _S), ("run_id", _S)),
    "linkage": _schema(("source_kind", _S), ("source_id", _S), ("participant_id", _S)),
    "runs": _schema(*[(c, _S) for c in ("run_id", "workflow_run_id", "job", "status", "started_at",
                                         "finished_at", "inputs", "outputs", "config_hash", "code_version",
                                         "mlflow_run_id", "details")]),
}


def declared_schema(name: str) -> pa.Schema:
    """The declared schema of table ``name`` (KeyError naming it when it has none)."""
    try:
        return TABLE_SCHEMAS[name]
    except KeyError:
        raise KeyError(f"lake table {name!r} has no declared schema (jobs/schemas.py)") from None


def cast_to_declared(name: str, table: pa.Table) -> pa.Table:
    """``table`` with the declared types of table ``name`` (declared columns it lacks are added
    as nulls, in declared order; extra columns are kept after them). Undeclared tables: only
    ``null``-typed columns change, to string."""
    declared = TABLE_SCHEMAS.get(name)
    if declared is None:
        if not any(pa.types.is_null(f.type) for f in table.schema):
            return table
        return pa.table({f.name: table.column(f.name).cast(_S) if pa.types.is_null(f.type) else table.column(f.name)
                         for f in table.schema})
    cols, fields = [], []
    for f in declared:
        if f.name in table.column_names:
            col = table.column(f.name)
            try:
                col = col.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise ValueError(f"lake table {name!r}: column {f.name!r} of type {col.type} "
                                 f"cannot be written as the declared {f.type}: {e}") from e
        else:
            col = pa.nulls(len(table), f.type)
        cols.append(col)
        fields.append(f)
    for f in table.schema:
        if f.name not in declared.names:
            col = table.column(f.name)
            t = _S if pa.types.is_null(f.type) else f.type
            cols.append(col.cast(t))
            fields.append(pa.field(f.name, t))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))
