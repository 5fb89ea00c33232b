"""Device and home measurements: a long table (one row per reading) -> observations.

Vectorised (pandas) so a million readings take seconds. Each reading is accepted (converted
to the canonical unit of its measure) or quarantined with its line, field and reason: unknown
participant or measure, non-numeric value, unit not accepted, bad time, value out of the
physiological range, an exact repeat of an earlier reading (same participant, measure
and time), or a row with another number of fields than the header ("N fields, expected M").
Readings of withdrawn participants are dropped and counted. Values with a decimal comma are
read when the table was read with ``decimal=","``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from genomics.errors import InputDataError
from phenotypes.codes import CodeBook
from phenotypes.fhir_reader import OBSERVATION_COLUMNS, QUARANTINE_COLUMNS
from phenotypes.table_reader import as_raw_table, ragged_reason

DEFAULT_COLUMNS = {"participant": "sample_id", "measure": "measure", "value": "value", "unit": "unit",
                   "time": "time"}


@dataclass
class DeviceExtract:
    observations: pd.DataFrame
    quarantine: pd.DataFrame
    counts: dict


def read_device_readings(raw, path: str, columns: dict, pseudonym: Callable[[str], str],
                         codes: CodeBook, known_participants: set | None = None,
                         withdrawn: set | None = None) -> DeviceExtract:
    """``raw``: the file (a ``RawTable`` from ``read_raw_table``, or a DataFrame of strings:
    header line 1, first reading line 2). ``columns`` maps participant/measure/value/unit/time to
    the file's column names."""
    table = as_raw_table(raw)
    raw = table.frame
    cols = {**DEFAULT_COLUMNS, **(columns or {})}
    for role, name in cols.items():
        if name not in raw.columns:
            raise InputDataError(path, f"required column is missing from the header ({role})", line=1, field=name)
    n = len(raw)
    line = np.asarray(table.lines, dtype=np.int64)
    ids = raw[cols["participant"]].astype(str).str.strip()
    uniq = pd.unique(ids)
    pid_of = dict(zip(uniq, (pseudonym(u) if u else "" for u in uniq)))
    pid = ids.map(pid_of)
    measure = raw[cols["measure"]].astype(str).str.strip()
    unit = raw[cols["unit"]].astype(str).str.strip()
    value_text = raw[cols["value"]].astype(str).str.strip()
    if table.decimal == ",":
        value_text = value_text.str.replace(",", ".", regex=False)
    value = pd.to_numeric(value_text, errors="coerce")
    t = pd.to_datetime(raw[cols["time"]].astype(str).str.strip(), utc=True, errors="coerce", format="ISO8601")

    reason = pd.Series(pd.NA, index=raw.index, dtype="object")
    field = pd.Series(pd.NA, index=raw.index, dtype="object")

    def flag(mask, fld, why):
        m = np.asarray(mask, dtype=bool) & reason.isna().to_numpy()
        reason[m] = why
        field[m] = fld

    flag(ids == "", cols["participant"], "missing participant ID")
    if known_participants is not None:
        flag(~pid.isin(known_participants), cols["participant"], "unknown participant: in no participant source")
    known_measure = measure.isin(codes.devices.keys())
    flag(~known_measure, cols["measure"], "unknown measure: not under devices in conf/clinical_codes.yaml")
    flag(value.isna() | ~np.isfinite(value.fillna(0)), cols["value"], "not a number")
    flag(t.isna(), cols["time"], "not an ISO 8601 time")

    spec = {m: codes.devices[m] for m in measure[known_measure].unique()}
    factor = pd.Series(np.nan, index=raw.index)
    low = pd.Series(np.nan, index=raw.index)
    high = pd.Series(np.nan, index=raw.index)
    for m, ms in spec.items():
        sel = (measure == m).to_numpy()
        factor[sel] = unit[sel].map(ms.units).astype(float).to_numpy()
        low[sel], high[sel] = ms.low, ms.high
    flag(known_measure & factor.isna(), cols["unit"], "unit not accepted for this measure")
    converted = value * factor
    flag(known_measure & ((converted < low) | (converted > high)), cols["value"], "out of physiological range")
    key = pid + "|" + measure + "|" + t.dt.strftime("%Y-%m-%dT%H:%M:%SZ").fillna("")
    flag(key.duplicated(keep="first") & reason.isna(), cols["time"], "duplicate reading (participant, measure, time)")

    out_w = pid.isin(withdrawn or set()).to_numpy()
    bad = reason.notna().to_numpy() & ~out_w
    good = ~bad & ~out_w
    g = np.flatnonzero(good)
    measures = measure.iloc[g]
    obs = pd.DataFrame({
        "record_id": ("device:" + key.iloc[g]).to_numpy(),
        "participant_id": pid.iloc[g].to_numpy(),
        "code_system": measures.map(lambda m: spec[m].system).to_numpy(),
        "code": measures.map(lambda m: spec[m].code).to_numpy(),
        "name": measures.map(lambda m: spec[m].name).to_numpy(),
        "value": converted.iloc[g].to_numpy(dtype=float),
        "unit": measures.map(lambda m: spec[m].unit).to_numpy(),
        "original_value": value.iloc[g].to_numpy(dtype=float),
        "original_unit": unit.iloc[g].to_numpy(),
        "time": t.iloc[g].astype("datetime64[us, UTC]").to_numpy(),
        "source_kind": "device",
        "source": path,
    }, columns=OBSERVATION_COLUMNS)
    obs["time"] = pd.to_datetime(obs["time"], utc=True).astype("datetime64[us, UTC]")
    b = np.flatnonzero(bad)
    q = pd.DataFrame({
        "source": path, "line": line[b], "record_id": [f"line {x}" for x in line[b]],
        "participant_id": pid.iloc[b].replace("", None).to_numpy(),
        "field": field.iloc[b].to_numpy(), "reason": reason.iloc[b].to_numpy(),
        "record": [json.dumps({"measure": m, "unit": u}) for m, u in zip(measure.iloc[b], unit.iloc[b])],
    }, columns=QUARANTINE_COLUMNS)
    if table.ragged:
        q = pd.concat([q, _ragged_quarantine(table, path, list(raw.columns), cols["participant"], pseudonym)],
                      ignore_index=True).sort_values("line", kind="stable").reset_index(drop=True)
    counts = {"read": n + len(table.ragged), "accepted": int(good.sum()),
              "quarantined": int(bad.sum()) + len(table.ragged), "withdrawn": int(out_w.sum())}
    return DeviceExtract(obs, q, counts)


def _ragged_quarantine(table, path: str, header: list, participant_column: str, pseudonym) -> pd.DataFrame:
    """Quarantine rows for the readings with another number of fields than the header."""
    k = header.index(participant_column)
    rows = []
    for r in table.ragged:
        v = r["values"]
        sid = v[k] if k < len(v) else ""
        rows.append({"source": path, "line": r["line"], "record_id": f"line {r['line']}",
                     "participant_id": pseudonym(sid) if sid else None, "field": "",
                     "reason": ragged_reason(v, len(header)), "record": json.dumps({"fields": len(v)})})
    return pd.DataFrame(rows, columns=QUARANTINE_COLUMNS).astype({"line": "int64"})
