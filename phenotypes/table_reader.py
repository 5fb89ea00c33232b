"""Phenotype tables (CSV/TSV, one row per participant): typed, validated, bad rows quarantined.

A file that cannot be used at all (missing, no sample-ID column, a configured column absent)
raises ``InputDataError`` naming the file, the line and the field. A row that fails validation
goes to the quarantine frame with its line number, the field and the reason; the counts
reconcile: read = accepted + quarantined.
"""
from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from genomics.errors import InputDataError

QUARANTINE_COLUMNS = ["source", "line", "record_id", "field", "reason", "record"]
_BINARY = {"0": 0, "1": 1, "false": 0, "true": 1, "no": 0, "yes": 1, "control": 0, "case": 1}


@dataclass
class TableReadResult:
    accepted: pd.DataFrame     # participant_id, sex (0 female / 1 male), then configured columns
    quarantine: pd.DataFrame   # QUARANTINE_COLUMNS
    n_read: int

    @property
    def counts(self) -> dict:
        return {"read": self.n_read, "accepted": len(self.accepted), "quarantined": len(self.quarantine)}


def _separator(path: str) -> str:
    if path.endswith((".tsv", ".tsv.gz", ".txt")):
        return "\t"
    with open(path, newline="") as fh:
        head = fh.readline()
    return "\t" if head.count("\t") > head.count(",") else ","


def read_raw_table(path: str) -> pd.DataFrame:
    if not os.path.exists(path):
        raise InputDataError(path, "file not found")
    try:
        df = pd.read_csv(path, sep=_separator(path), dtype=str, keep_default_na=False,
                         na_filter=False, quoting=csv.QUOTE_MINIMAL, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputDataError(path, "file is empty", line=1) from None
    except pd.errors.ParserError as e:
        line = _line_from_parser_error(str(e))
        raise InputDataError(path, "wrong number of fields in a row", line=line) from None
    df.columns = [c.strip() for c in df.columns]
    return df


def _line_from_parser_error(msg: str) -> int | None:
    import re
    m = re.search(r"line (\d+)", msg)
    return int(m.group(1)) if m else None


def _parse_number(value: str, kind: str):
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        raise ValueError
    if kind == "int":
        if x != int(x):
            raise ValueError
        return int(x)
    return x


def validate_phenotype_table(raw: pd.DataFrame, path: str, sample_id_column: str, sex_column: str,
                             sex_coding: dict, columns: dict, known_samples=None) -> TableReadResult:
    """Type and validate every row. ``columns`` maps column -> {type, min, max, required};
    ``known_samples`` (the genotyped sample IDs) marks other IDs as unknown when given."""
    for col in [sample_id_column, sex_column, *columns]:
        if col not in raw.columns:
            raise InputDataError(path, "required column is missing from the header", line=1, field=col)
    male = {v.lower() for v in sex_coding["male"]}
    female = {v.lower() for v in sex_coding["female"]}
    ids = raw[sample_id_column].str.strip()
    dup = ids.duplicated(keep=False) & (ids != "")
    known = set(known_samples) if known_samples is not None else None

    out_rows, bad = [], []
    for i, rec in enumerate(raw.to_dict("records")):
        line = i + 2
        sid = ids.iat[i]

        def reject(field, reason):
            bad.append({"source": path, "line": line, "record_id": sid, "field": field, "reason": reason,
                        "record": json.dumps(rec, sort_keys=True)})

        if sid == "":
            reject(sample_id_column, "missing sample ID"); continue
        if dup.iat[i]:
            reject(sample_id_column, "duplicate sample ID"); continue
        if known is not None and sid not in known:
            reject(sample_id_column, "unknown sample: not in the genotype data"); continue
        sex = rec[sex_column].strip().lower()
        if sex in male:
            row = {"participant_id": sid, "sex": 1}
        elif sex in female:
            row = {"participant_id": sid, "sex": 0}
        else:
            reject(sex_column, "bad value: not in the configured sex coding"); continue
        ok = True
        for col, spec in columns.items():
            value = rec[col].strip()
            kind = spec["type"]
            if value == "" or value.upper() in {"NA", "NAN", "."}:
                if spec.get("required"):
                    reject(col, "missing required value"); ok = False; break
                row[col] = None
                continue
            if kind == "code":
                if value not in spec.get("codes", []):
                    reject(col, "bad value: not one of the dictionary's codes"); ok = False; break
                row[col] = value
                continue
            if kind == "string":
                row[col] = value
                continue
            if kind == "binary":
                if value.lower() not in _BINARY:
                    reject(col, "bad type: expected a binary code (0/1)"); ok = False; break
                row[col] = _BINARY[value.lower()]
                continue
            try:
                x = _parse_number(value, kind)
            except ValueError:
                reject(col, f"bad type: expected {'an integer' if kind == 'int' else 'a number'}"); ok = False; break
            lo, hi = spec.get("min"), spec.get("max")
            if (lo is not None and x < lo) or (hi is not None and x > hi):
                reject(col, f"out of range: allowed [{lo}, {hi}]"); ok = False; break
            row[col] = x
        if ok:
            out_rows.append(row)

    accepted = pd.DataFrame(out_rows, columns=["participant_id", "sex", *columns])
    for col, spec in columns.items():
        if spec["type"] in ("float", "int"):
            accepted[col] = pd.to_numeric(accepted[col], errors="coerce").astype("float64")
        elif spec["type"] == "binary":
            accepted[col] = pd.array(accepted[col], dtype="Int8")
        else:
            accepted[col] = accepted[col].astype("string")
    accepted["sex"] = accepted["sex"].astype("int8")
    quarantine = pd.DataFrame(bad, columns=QUARANTINE_COLUMNS)
    quarantine["line"] = quarantine["line"].astype("int64")
    return TableReadResult(accepted=accepted, quarantine=quarantine, n_read=len(raw))
