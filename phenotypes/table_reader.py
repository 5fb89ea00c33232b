"""Phenotype tables (CSV/TSV, one row per participant): typed, validated, bad rows quarantined.

A file that cannot be used at all (missing, not text in its encoding, no sample-ID column, a
configured column absent) raises ``InputDataError`` naming the file, the line and the field. A row
that fails validation goes to the quarantine frame with its line number, the field and the reason
(a row with another number of fields than the header: "N fields, expected M"); the rest of the
file is kept and the counts reconcile: read = accepted + quarantined.

The delimiter (one of , ; tab |) is detected with ``csv.Sniffer`` over the header and the first
lines unless given; decimal commas are read when given, or when a ``;``-delimited file holds
numbers like ``3,5``. Missing-value tokens (``MISSING_VALUES`` unless given) are read as missing.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import math
import os
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from genomics.errors import InputDataError

QUARANTINE_COLUMNS = ["source", "line", "record_id", "field", "reason", "record"]
DELIMITERS = ",;\t|"
# read as missing (compared case-insensitively, after stripping blanks)
MISSING_VALUES = ("", "NA", "n/a", "N/A", "NaN", "-", ".")
DUPLICATE_REASON = "duplicate sample ID"
_BINARY = {"0": 0, "1": 1, "false": 0, "true": 1, "no": 0, "yes": 1, "control": 0, "case": 1}
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_SNIFF_LINES = 6


@dataclass
class RawTable:
    """A delimited text file as strings.

    ``frame``: one column per header name, one row per record with as many fields as the header
    (values stripped). ``lines``: each row's line number in the file (header = line 1).
    ``ragged``: the records with another number of fields, as ``{"line", "values"}``. ``delimiter``,
    ``decimal`` and ``encoding`` are what the file was read with; ``detected`` names those of
    delimiter / decimal that were detected rather than given."""
    frame: pd.DataFrame
    lines: np.ndarray
    ragged: list = field(default_factory=list)
    delimiter: str = ","
    decimal: str = "."
    encoding: str = "utf-8"
    detected: tuple = ()

    @property
    def columns(self):
        return self.frame.columns

    def describe(self) -> str:
        """What was seen, for the log (no values): 'delimiter ';' (detected), decimal ',' ...'."""
        def how(k):
            return "detected" if k in self.detected else "configured"
        d = {"\t": "tab"}.get(self.delimiter, repr(self.delimiter))
        return (f"delimiter {d} ({how('delimiter')}), decimal {self.decimal!r} ({how('decimal')}), "
                f"encoding {self.encoding}, {len(self.frame) + len(self.ragged)} rows, "
                f"{len(self.ragged)} with a wrong number of fields")


def as_raw_table(raw) -> RawTable:
    """A ``RawTable`` as is; a DataFrame of strings as one (header line 1, first row line 2)."""
    if isinstance(raw, RawTable):
        return raw
    return RawTable(frame=raw, lines=np.arange(2, len(raw) + 2, dtype=np.int64))


def read_raw_table(path: str, encoding: str = "utf-8", delimiter: str | None = None,
                   decimal: str | None = None) -> RawTable:
    """Read a delimited file (optionally .gz) as strings. ``delimiter`` / ``decimal`` None: detect."""
    if not os.path.exists(path):
        raise InputDataError(path, "file not found")
    text = decode_text(_read_bytes(path), path, encoding)
    head = [ln for ln in text.splitlines()[:_SNIFF_LINES * 4] if ln.strip()][:_SNIFF_LINES]
    if not head:
        raise InputDataError(path, "file is empty", line=1)
    detected = []
    if delimiter is None:
        delimiter = detect_delimiter(head, path)
        detected.append("delimiter")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
    header, rows, lines, ragged = None, [], [], []
    try:
        while True:
            start = reader.line_num + 1
            try:
                rec = next(reader)
            except StopIteration:
                break
            if not rec or (len(rec) == 1 and not rec[0].strip()):
                continue
            rec = [v.strip() for v in rec]
            if header is None:
                header = rec
                _check_header(header, path, start)
                continue
            if len(rec) == len(header):
                rows.append(rec)
                lines.append(start)
            else:
                ragged.append({"line": start, "values": rec})
    except csv.Error as e:
        raise InputDataError(path, f"cannot be parsed as a {delimiter!r}-delimited table ({e})",
                             line=reader.line_num) from None
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else \
        pd.DataFrame({c: pd.Series([], dtype=object) for c in header})
    if decimal is None:
        decimal = detect_decimal(frame, delimiter)
        detected.append("decimal")
    return RawTable(frame, np.asarray(lines, dtype=np.int64), ragged, delimiter, decimal, encoding,
                    tuple(detected))


def _read_bytes(path: str) -> bytes:
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                return fh.read()
        with open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError) as e:
        raise InputDataError(path, f"cannot be read ({type(e).__name__}: {getattr(e, 'strerror', None) or e})") \
            from None


def decode_text(data: bytes, path: str, encoding: str, first_line: int = 1,
                advice: str = "configure its encoding (e.g. latin-1) to read it") -> str:
    """``data`` as text; a byte the encoding cannot read raises ``InputDataError`` naming the
    line (``data`` starting on line ``first_line``), the column and what the bytes look like."""
    if codecs.lookup(encoding).name == "utf-8" and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + first_line
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputDataError(path, f"not valid {encoding} text (byte 0x{data[e.start]:02x} at column {column}); "
                                   f"the file looks like {guess_encoding(data)}: {advice}", line=line) from None


def guess_encoding(data: bytes) -> str:
    """A short description of the encoding the bytes look like."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16 (it starts with a UTF-16 byte-order mark)"
    if b"\x00" in data:
        return "binary data or UTF-16 (it holds NUL bytes)"
    try:
        data.decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("cp1252")
        return "Latin-1 / Windows-1252"
    except UnicodeDecodeError:
        return "Latin-1 (ISO-8859-1)"


def detect_delimiter(head: list[str], path: str = "") -> str:
    """One of , ; tab | from the header and first lines (``csv.Sniffer``; when it cannot tell,
    the candidate seen most often in the header; none seen: tab for .tsv, else comma)."""
    counts = {c: head[0].count(c) for c in DELIMITERS}
    try:
        d = csv.Sniffer().sniff("\n".join(head), delimiters=DELIMITERS).delimiter
    except csv.Error:
        d = None
    if d is None or (counts.get(d, 0) == 0 and max(counts.values()) > 0):
        if max(counts.values()) > 0:
            d = max(DELIMITERS, key=lambda c: counts[c])
        else:
            d = "\t" if path.endswith((".tsv", ".tsv.gz")) else ","
    return d


def detect_decimal(frame: pd.DataFrame, delimiter: str) -> str:
    """',' when the file is ';'-delimited and holds a number written like 3,5; else '.'."""
    if delimiter != ";" or frame.empty:
        return "."
    for col in frame.columns:
        if frame[col].astype(str).str.match(_DECIMAL_COMMA).any():
            return ","
    return "."


def _check_header(header: list[str], path: str, line: int) -> None:
    seen = set()
    for name in header:
        if name in seen:
            raise InputDataError(path, "column name appears twice in the header", line=line, field=name)
        seen.add(name)


@dataclass
class TableReadResult:
    accepted: pd.DataFrame     # participant_id, sex (0 female / 1 male), then configured columns
    quarantine: pd.DataFrame   # QUARANTINE_COLUMNS
    n_read: int
    n_duplicate_rows: int = 0  # rows set aside because their sample ID is on more than one row

    @property
    def counts(self) -> dict:
        return {"read": self.n_read, "accepted": len(self.accepted), "quarantined": len(self.quarantine)}


def parse_number(value: str, kind: str, decimal: str = "."):
    """A finite float (``kind`` float) or a whole number (``kind`` int); ValueError otherwise."""
    if decimal == ",":
        value = value.replace(",", ".")
    if "_" in value:
        raise ValueError(value)
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        raise ValueError(value)
    if kind == "int":
        if x != int(x):
            raise ValueError(value)
        return int(x)
    return x


def validate_phenotype_table(raw, path: str, sample_id_column: str, sex_column: str,
                             sex_coding: dict, columns: dict, known_samples=None,
                             missing_values=MISSING_VALUES) -> TableReadResult:
    """Type and validate every row of ``raw`` (a ``RawTable``, or a DataFrame of strings).
    ``columns`` maps column -> {type, min, max, required}; ``known_samples`` (the genotyped sample
    IDs) marks other IDs as unknown when given; a value in ``missing_values`` (case-insensitive)
    is missing. Every row of a sample ID that is on more than one row is set aside
    (``DUPLICATE_REASON``)."""
    raw = as_raw_table(raw)
    frame = raw.frame
    for col in [sample_id_column, sex_column, *columns]:
        if col not in frame.columns:
            hint = "" if len(frame.columns) > 1 else \
                f"; the header is a single field when read with delimiter {raw.delimiter!r}: is that the file's delimiter?"
            raise InputDataError(path, "required column is missing from the header" + hint, line=1, field=col)
    missing = {v.strip().lower() for v in missing_values}
    male = {v.lower() for v in sex_coding["male"]}
    female = {v.lower() for v in sex_coding["female"]}
    ids = frame[sample_id_column].astype(str).str.strip()
    ids = ids.where(~ids.str.lower().isin(missing), "")
    dup = ids.duplicated(keep=False) & (ids != "")
    known = set(known_samples) if known_samples is not None else None

    bad = [_ragged_row(r, list(frame.columns), path, sample_id_column) for r in raw.ragged]
    out_rows = []
    for i, rec in enumerate(frame.to_dict("records")):
        line = int(raw.lines[i])
        sid = ids.iat[i]

        def reject(field, reason):
            bad.append({"source": path, "line": line, "record_id": sid, "field": field, "reason": reason,
                        "record": json.dumps(rec, sort_keys=True)})

        if sid == "":
            reject(sample_id_column, "missing sample ID"); continue
        if dup.iat[i]:
            reject(sample_id_column, DUPLICATE_REASON); continue
        if known is not None and sid not in known:
            reject(sample_id_column, "unknown sample: not in the genotype data"); continue
        sex = str(rec[sex_column]).strip().lower()
        if sex in male:
            row = {"participant_id": sid, "sex": 1}
        elif sex in female:
            row = {"participant_id": sid, "sex": 0}
        elif sex in missing:
            reject(sex_column, "missing required value"); continue
        else:
            reject(sex_column, "bad value: not in the configured sex coding"); continue
        problem = None
        for col, spec in columns.items():
            value = str(rec[col]).strip()
            if value.lower() in missing:
                if spec.get("required"):
                    problem = (col, "missing required value"); break
                row[col] = None
                continue
            row[col], why = _typed_value(value, spec, raw.decimal)
            if why:
                problem = (col, why); break
        if problem:
            reject(*problem)
        else:
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
    quarantine = pd.DataFrame(sorted(bad, key=lambda r: r["line"]), columns=QUARANTINE_COLUMNS)
    quarantine["line"] = quarantine["line"].astype("int64")
    return TableReadResult(accepted=accepted, quarantine=quarantine, n_read=len(frame) + len(raw.ragged),
                           n_duplicate_rows=int(dup.sum()))


def _typed_value(value: str, spec: dict, decimal: str):
    """(value, None) or (None, the quarantine reason)."""
    kind = spec["type"]
    if kind == "code":
        return (value, None) if value in spec.get("codes", []) else \
            (None, "bad value: not one of the dictionary's codes")
    if kind == "string":
        return value, None
    if kind == "binary":
        return (_BINARY[value.lower()], None) if value.lower() in _BINARY else \
            (None, "bad type: expected a binary code (0/1)")
    try:
        x = parse_number(value, kind, decimal)
    except ValueError:
        return None, f"bad type: expected {'an integer' if kind == 'int' else 'a number'}"
    lo, hi = spec.get("min"), spec.get("max")
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        return None, f"out of range: allowed [{lo}, {hi}]"
    return x, None


def ragged_reason(values: list, expected: int) -> str:
    """The quarantine reason of a row with ``len(values)`` fields where the header has ``expected``."""
    why = f"{len(values)} fields, expected {expected}"
    if any("\n" in v for v in values):
        why += " (a quoted field runs over several lines: an unclosed quote?)"
    return why


def _ragged_row(r: dict, header: list, path: str, sample_id_column: str) -> dict:
    values = r["values"]
    k = header.index(sample_id_column) if sample_id_column in header else None
    rec = dict(zip(header, values))
    if len(values) > len(header):
        rec["_extra_fields"] = values[len(header):]
    return {"source": path, "line": r["line"], "record_id": values[k] if k is not None and k < len(values) else "",
            "field": "", "reason": ragged_reason(values, len(header)), "record": json.dumps(rec, sort_keys=True)}
