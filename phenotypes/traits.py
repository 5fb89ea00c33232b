"""Traits derived from clinical records.

Binary traits come from code lists over ``conditions``: ``cases`` and ``exclude`` are lists
of ``"<system>:<code or range>"`` items (system ``icd10`` or ``snomed``):

* ``icd10:E11``      the category and everything under it (E11, E11.9, E11.65)
* ``icd10:I20-I25``  every category from I20 to I25 inclusive, and their subcodes
* ``icd10:I25.1``    that code and its subcodes
* ``snomed:22298006`` exactly that concept

A participant with a case code is a case (1); else one with an exclusion code is left out
(missing); everyone else with a record is a control (0). Refuted conditions and those
entered in error do not count.

Quantitative traits summarise one measure (``observations.name``) per participant over an
optional time window: mean, median, last, max, min, count, or share_above (the share of
readings above ``threshold``), optionally from one kind of source (fhir / device) and with a
minimum number of readings, then optionally rank-based inverse-normal transformed.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

SUMMARIES = ("mean", "median", "last", "max", "min", "count", "share_above")
_RANGE = re.compile(r"^([A-Z])(\d\d)-([A-Z])(\d\d)$")


def code_matcher(items: list[str]):
    """A function (system, code) -> bool for the code-list ``items``."""
    exact, prefixes, ranges = set(), [], []
    for item in items:
        system, _, code = str(item).partition(":")
        system, code = system.strip().lower(), code.strip().upper()
        if not code:
            raise ValueError(f"code list item {item!r}: expected '<system>:<code>'")
        m = _RANGE.match(code) if system == "icd10" else None
        if m:
            ranges.append((system, m.group(1) + m.group(2), m.group(3) + m.group(4)))
        elif system == "icd10":
            prefixes.append((system, code))
        else:
            exact.add((system, code))

    def match(system: str, code: str) -> bool:
        code = str(code).upper()
        if (system, code) in exact:
            return True
        if any(system == s and code.startswith(p) for s, p in prefixes):
            return True
        cat = code[:3]
        return any(system == s and lo <= cat <= hi for s, lo, hi in ranges)

    return match


def binary_trait(conditions: pd.DataFrame, participants: pd.Series, spec: dict) -> pd.Series:
    """1 / 0 / <NA> per participant (index: participant_id)."""
    c = conditions[~conditions["verification_status"].isin(["refuted", "entered-in-error"])]
    cases_m, excl_m = code_matcher(spec["cases"]), code_matcher(spec.get("exclude", []))
    pairs = list(zip(c["code_system"], c["code"]))
    is_case = np.fromiter((cases_m(s, k) for s, k in pairs), bool, len(pairs))
    is_excl = np.fromiter((excl_m(s, k) for s, k in pairs), bool, len(pairs))
    cases = set(c.loc[is_case, "participant_id"])
    excluded = set(c.loc[is_excl, "participant_id"]) - cases
    out = pd.Series(0, index=pd.Index(participants, name="participant_id"), dtype="Int8")
    out[out.index.isin(cases)] = 1
    out[out.index.isin(excluded)] = pd.NA
    return out


def inverse_normal(x: pd.Series) -> pd.Series:
    """Rank-based inverse-normal transform (Blom offset 3/8; ties get their average rank)."""
    ok = x.notna()
    out = pd.Series(np.nan, index=x.index)
    r = rankdata(x[ok].to_numpy(dtype=float))
    out[ok] = norm.ppf((r - 0.375) / (ok.sum() + 0.25))
    return out


def quantitative_trait(observations: pd.DataFrame, participants: pd.Series, spec: dict) -> pd.Series:
    """The summary of measure ``spec['name']`` per participant (index: participant_id)."""
    o = observations[observations["name"] == spec["name"]]
    if spec.get("source", "any") != "any":
        o = o[o["source_kind"] == spec["source"]]
    t = pd.to_datetime(o["time"], utc=True)
    if spec.get("from"):
        o = o[t >= pd.Timestamp(spec["from"], tz="UTC")]
        t = t[o.index]
    if spec.get("to"):
        o = o[t <= pd.Timestamp(spec["to"], tz="UTC")]
    how = spec.get("summary", "mean")
    g = o.sort_values("time").groupby("participant_id")["value"]
    if how == "share_above":
        if spec.get("threshold") is None:
            raise ValueError(f"trait summary share_above needs a threshold (measure {spec['name']!r})")
        s = g.apply(lambda v: float((v > spec["threshold"]).mean()))
    elif how in ("mean", "median", "last", "max", "min", "count"):
        s = getattr(g, how)().astype(float)
    else:
        raise ValueError(f"unknown trait summary {how!r}; one of {SUMMARIES}")
    n = g.size()
    s = s[n.reindex(s.index) >= int(spec.get("min_readings", 1))]
    out = s.reindex(pd.Index(participants, name="participant_id")).astype("float64")
    if spec.get("transform", "none") == "inverse_normal":
        out = inverse_normal(out)
    return out


def derive_traits(defs: list[dict], participants: pd.Series, observations: pd.DataFrame,
                  conditions: pd.DataFrame) -> pd.DataFrame:
    """participant_id plus one column per definition that has ``conditions`` or ``measure``
    (definitions read from a table column are left to the table)."""
    out = pd.DataFrame({"participant_id": pd.Series(participants, dtype="string").to_numpy()})
    for d in defs:
        if "conditions" in d:
            out[d["name"]] = binary_trait(conditions, participants, d["conditions"]).to_numpy()
        elif "measure" in d:
            out[d["name"]] = quantitative_trait(observations, participants, d["measure"]).to_numpy()
    return out


def trait_source(d: dict) -> str:
    """Where a trait definition's values come from, in words."""
    if "conditions" in d:
        return "conditions"
    if "measure" in d:
        return f"measure {d['measure']['name']}"
    return f"table column {d.get('column', d['name'])}"


def trait_values(derived: pd.DataFrame, participants: pd.DataFrame, defs: list[dict]) -> pd.DataFrame:
    """participant_id plus one column per definition (named by the trait): derived traits from
    ``derived`` (the output of derive_traits), table-column traits from ``participants``'
    ``column``. A column found in neither is all missing."""
    out = pd.DataFrame({"participant_id": pd.Series(participants["participant_id"], dtype="string").to_numpy()})
    d_idx = derived.set_index("participant_id") if len(derived.columns) else pd.DataFrame()
    for d in defs:
        if "conditions" in d or "measure" in d:
            col = d_idx[d["name"]] if d["name"] in d_idx else None
            out[d["name"]] = out["participant_id"].map(col).to_numpy() if col is not None else np.nan
        else:
            c = d.get("column", d["name"])
            out[d["name"]] = participants[c].to_numpy() if c in participants else np.nan
    return out


def trait_summary(traits: pd.DataFrame, defs: list[dict]) -> list[dict]:
    """One row per definition, whatever its source (a trait absent from ``traits`` counts as all
    missing): trait, type, source, then cases / controls / missing (binary) or n / missing /
    mean / sd / p05 / median / p95 (quantitative)."""
    rows = []
    for d in defs:
        x = traits[d["name"]] if d["name"] in traits else pd.Series(np.nan, index=traits.index)
        head = {"trait": d["name"], "type": d["type"], "source": trait_source(d)}
        if d["type"] == "binary":
            v = pd.to_numeric(x, errors="coerce")
            rows.append({**head, "cases": int((v == 1).sum()),
                         "controls": int((v == 0).sum()), "missing": int(v.isna().sum())})
        else:
            v = pd.to_numeric(x, errors="coerce").dropna()
            q = v.quantile([0.05, 0.5, 0.95]).tolist() if len(v) else [np.nan] * 3
            rows.append({**head, "n": int(len(v)),
                         "missing": int(len(x) - len(v)), "mean": float(v.mean()) if len(v) else np.nan,
                         "sd": float(v.std()) if len(v) > 1 else np.nan, "p05": q[0], "median": q[1], "p95": q[2]})
    return rows
