"""Phenotype job: every clinical source -> the lake's phenotype tables, pseudonymised.

Sources: the phenotype table (CSV/TSV, typed by the data dictionary), FHIR R4 files
(Bundles, bulk-export NDJSON) and device-reading files. Tables written (Delta, upserted on
stable keys, so re-ingesting an extract duplicates nothing and changes keep their history):
``participants``, ``observations``, ``conditions``, ``consent``; ``quarantine`` (each source's
rows replaced on each ingest) and the derived ``traits``. A research consent withdrawn in this
extract erases the participant from every table (vacuumed) and deletes their reports.

No JVM: pandas and delta-rs. The VCFs are not read here (a new clinical extract must not re-read
the genotypes): the genotype job checks how many genotyped samples match a participant.
"""
from __future__ import annotations

import json
import os
import sys

import pandas as pd

from jobs.runtime import base_parser, run_job

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# every column of a lake table that holds a participant pseudonym (the relatedness pairs: i, j)
PERSON_COLUMNS = ("participant_id", "s", "participant", "i", "j")


def build_parser():
    return base_parser("Ingest the phenotype table, FHIR records and device readings.")


def conf_path(path: str) -> str:
    """A config-named file: as given, else relative to the repository (conf/...)."""
    return path if os.path.isabs(path) or os.path.exists(path) else os.path.join(REPO, path)


def _sql_in(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def _row_hash(df: pd.DataFrame, exclude=("record_id",)) -> pd.Series:
    cols = [c for c in df.columns if c not in exclude]
    return pd.util.hash_pandas_object(df[cols].astype("string"), index=False).astype("uint64").astype(str)


def upsert(ctx, name: str, df: pd.DataFrame, key: str) -> None:
    """Merge on ``key``; rows whose content hash is unchanged are left alone."""
    df = df.drop_duplicates(key, keep="last").copy()
    df["row_hash"] = _row_hash(df, exclude=(key,))
    lake = ctx.lake
    if lake.exists(name) and lake.columns(name) != set(df.columns):
        ctx.log(f"{name}: columns changed since the last ingest; table rewritten")
        ctx.write_table(name, df)
        return
    version = lake.merge(name, df, keys=[key], changed="row_hash")
    ctx.outputs.append({"kind": "delta", "name": name, "version": version})


def _table_source(ctx, cfg, pseudo, withdrawn_before):
    from phenotypes.table_reader import read_raw_table, validate_phenotype_table
    pc = cfg["phenotypes"]
    path = ctx.input_file(pc["path"])
    raw = read_raw_table(path, encoding=pc["encoding"], delimiter=pc["delimiter"], decimal=pc["decimal"])
    ctx.log(f"{os.path.basename(path)}: {raw.describe()}")
    res = validate_phenotype_table(raw, path, pc["sample_id_column"], pc["sex_column"], pc["sex_coding"],
                                   pc.get("columns", {}), missing_values=pc["missing_values"])
    check_table_usable(res, raw, path, pc)
    ctx.details["set_aside"] = {"repeated_sample_id": {
        "rows": res.n_duplicate_rows, "reason": "the sample ID is on more than one row of the phenotype "
                                                "table; all its rows are quarantined ('duplicate sample ID')"}}
    acc = res.accepted.copy()
    links = pd.DataFrame({"source_kind": "sample_id", "source_id": acc["participant_id"]})
    acc["participant_id"] = pseudo.many(acc["participant_id"])
    links["participant_id"] = acc["participant_id"].to_numpy()
    w = acc["participant_id"].isin(withdrawn_before)
    acc = acc[~w].reset_index(drop=True)
    q = res.quarantine.copy()
    q["participant_id"] = [pseudo(x) if x else None for x in q["record_id"]]
    sid = pc["sample_id_column"]

    def scrub(rec: str, pid) -> str:
        d = json.loads(rec)
        d[sid] = pid
        return json.dumps(d, sort_keys=True)
    q["record"] = [scrub(r, p) for r, p in zip(q["record"], q["participant_id"])]
    q["record_id"] = [f"line {x}" for x in q["line"]]
    counts = {**res.counts, "accepted": int(len(acc)), "withdrawn": int(w.sum())}
    return acc, q, counts, links


def check_table_usable(res, raw, path: str, pc: dict) -> None:
    """Stop early (``InputDataError``) on a table with no rows, or one where every row is
    quarantined on the same field: a coding or column mismatch, not bad rows. The message names
    the field, what the file holds (for the sex column, its distinct codes) and what the config
    expects."""
    from genomics.errors import InputDataError
    if res.n_read == 0:
        raise InputDataError(path, "the table has a header but no rows")
    q = res.quarantine
    if len(res.accepted) or q.empty:
        return
    field, n = q["field"].value_counts().index[0], int(q["field"].value_counts().iloc[0])
    if n < res.n_read:
        return
    reason = q.loc[q["field"] == field, "reason"].value_counts().index[0]
    held = ""
    if field == pc["sex_column"]:
        frame = getattr(raw, "frame", raw)
        codes = sorted({str(x).strip() for x in frame[field]} if field in frame else set())[:6]
        held = f"; the file holds {', '.join(repr(c) for c in codes)} and the config expects " \
               f"sex_coding {pc['sex_coding']}"
    raise InputDataError(path, f"every row ({res.n_read}) is quarantined on this field ({reason}){held}: "
                               "check the column and its coding in the config", field=field)


def run(ctx, args):
    import yaml
    from jobs import privacy
    from phenotypes.codes import CodeBook
    from phenotypes.consent import current_consent, withdrawals
    from phenotypes.devices import read_device_readings
    from phenotypes.fhir_reader import QUARANTINE_COLUMNS, read_fhir
    from phenotypes.table_reader import read_raw_table
    from phenotypes.traits import derive_traits, trait_summary, trait_values

    cfg = ctx.config
    pseudo = privacy.pseudonymiser(cfg, ctx.log)
    codes = CodeBook(yaml.safe_load(open(ctx.input_file(conf_path(cfg["codes"])))))
    consent_map = yaml.safe_load(open(ctx.input_file(conf_path(cfg["consent"]["mapping"]))))
    gone = privacy.withdrawn(cfg)
    counts, quarantine, links = {}, [], []

    table, q, c, lk = _table_source(ctx, cfg, pseudo, gone)
    counts[cfg["phenotypes"]["path"]] = c
    quarantine.append(q)
    links.append(lk)

    linkage = privacy.read_linkage(cfg)
    known_fhir = dict(zip(linkage.loc[linkage["source_kind"] == "fhir_patient", "source_id"],
                          linkage.loc[linkage["source_kind"] == "fhir_patient", "participant_id"]))
    fc = cfg["fhir"]
    fhir = read_fhir(fc["paths"], fc["sample_identifier_system"], pseudo, codes, consent_map,
                     known_patients=known_fhir, withdrawn=gone) if fc["paths"] else None
    if fhir is not None:
        for f in fhir.counts:
            ctx.input_file(f)
        counts.update(fhir.counts)
        quarantine.append(fhir.quarantine)
        links.append(pd.DataFrame({"source_kind": "fhir_patient", "source_id": fhir.patients["fhir_id"],
                                   "participant_id": fhir.patients["participant_id"]}))

    known = set(table["participant_id"]) | set(linkage["participant_id"])
    if fhir is not None:
        known |= set(fhir.patients["participant_id"])
    device_obs = []
    for d in cfg["devices"]:
        path = ctx.input_file(d["path"])
        raw = read_raw_table(path, encoding=d.get("encoding") or cfg["phenotypes"]["encoding"],
                             delimiter=d.get("delimiter"), decimal=d.get("decimal"))
        ctx.log(f"{os.path.basename(path)}: {raw.describe()}")
        dev = read_device_readings(raw, path, d.get("columns", {}), pseudo, codes,
                                   known_participants=known, withdrawn=gone)
        counts[path] = dev.counts
        quarantine.append(dev.quarantine)
        device_obs.append(dev.observations)

    participants = _participants(table, fhir)

    for src, c in counts.items():
        assert c["read"] == c["accepted"] + c["quarantined"] + c.get("withdrawn", 0), src
        ctx.log(f"{os.path.basename(src)}: read {c['read']}, accepted {c['accepted']}, "
                f"quarantined {c['quarantined']}" + (f", withdrawn {c['withdrawn']}" if c.get("withdrawn") else ""))
    q = pd.concat([x for x in quarantine if len(x)] or [pd.DataFrame(columns=QUARANTINE_COLUMNS)],
                  ignore_index=True)[QUARANTINE_COLUMNS]
    for reason, n in q.groupby("reason").size().items():
        ctx.log(f"  quarantined {n:>6}: {reason}")

    privacy.update_linkage(cfg, pd.concat(links, ignore_index=True))
    upsert(ctx, "participants", participants, "participant_id")
    if fhir is not None or device_obs:
        obs = pd.concat(([fhir.observations] if fhir is not None else []) + device_obs, ignore_index=True)
        upsert(ctx, "observations", obs, "record_id")
    if fhir is not None:
        upsert(ctx, "conditions", fhir.conditions, "record_id")
        upsert(ctx, "consent", fhir.consents, "record_id")
    q = q.assign(run_id=ctx.run_id).astype({"line": "int64"})
    sources = _sql_in(sorted(counts))
    if ctx.lake.exists("quarantine"):
        # each source's quarantine rows are replaced by this ingest's: a rerun never duplicates them
        ctx.write_table("quarantine", q, mode="overwrite", predicate=f"source IN ({sources})")
    else:
        ctx.write_table("quarantine", q)

    # consent: withdrawals erase the participant everywhere
    consent = ctx.lake.read("consent") if ctx.lake.exists("consent") else pd.DataFrame(
        columns=["participant_id", "purpose", "granted", "date"])
    new_w = withdrawals(consent) - gone
    ctx.details["withdrawal"] = erase_participants(ctx, new_w) if new_w else {"participants": 0}
    if new_w:
        consent = consent[~consent["participant_id"].isin(new_w)]
    cur = current_consent(consent)
    ctx.details["consent"] = {"research": int(cur["research"].sum()), "feedback": int(cur["feedback"].sum()),
                              "records": int(len(consent))}

    # derived traits, for everyone in the participants table
    everyone = ctx.lake.read("participants")
    pts = everyone["participant_id"]
    obs = ctx.lake.read("observations") if ctx.lake.exists("observations") else _empty_obs()
    cond = ctx.lake.read("conditions") if ctx.lake.exists("conditions") else _empty_cond()
    defs = [*cfg["traits"], *cfg["features"]]
    traits = derive_traits(defs, pts, obs, cond)
    ctx.write_table("traits", traits)
    # every trait, whatever its source: derived ones from `traits`, the others from table columns
    summary = trait_summary(trait_values(traits, everyone, defs), defs)
    out = ctx.result_path("phenotypes", "trait_summary.tsv")
    pd.DataFrame(summary).to_csv(out, sep="\t", index=False)
    ctx.output_path(out)
    for s in summary:
        ctx.log(f"trait {s['trait']}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                  for k, v in s.items() if k != "trait"))
    ctx.details.update({"counts": counts, "traits": summary})


def _participants(table: pd.DataFrame, fhir) -> pd.DataFrame:
    """One row per participant: the table's columns, plus birth year (and sex where the table
    has none) from FHIR Patients. Direct identifiers never get here."""
    if fhir is None:
        return table.reset_index(drop=True)
    p = fhir.patients[["participant_id", "sex", "birth_year"]].rename(columns={"sex": "fhir_sex"})
    out = table.merge(p, on="participant_id", how="outer")
    out["sex"] = out["sex"].astype("Int8").fillna(out["fhir_sex"].astype("Int8"))
    return out.drop(columns=["fhir_sex"]).sort_values("participant_id").reset_index(drop=True)


def _empty_obs():
    from phenotypes.fhir_reader import OBSERVATION_COLUMNS
    return pd.DataFrame(columns=OBSERVATION_COLUMNS)


def _empty_cond():
    from phenotypes.fhir_reader import CONDITION_COLUMNS
    return pd.DataFrame(columns=CONDITION_COLUMNS)


def erase_participants(ctx, pids: set[str]) -> dict:
    """Delete ``pids`` from every table of the lake (and vacuum those tables), from the
    linkage, and delete their report files. Returns counts only."""
    from jobs import privacy
    from models.reports import safe_filename
    rows = {}
    for name in ctx.lake.tables():
        cols = ctx.lake.columns(name)
        for col in PERSON_COLUMNS:
            if col in cols:
                n = ctx.lake.erase(name, col, pids)
                if n:
                    rows[name] = rows.get(name, 0) + n
                    ctx.outputs.append({"kind": "delta", "name": name, "version": ctx.lake.version(name)})
    reports = os.path.join(ctx.results, "reports")
    n_files = 0
    for pid in pids:
        for ext in (".html", ".json"):
            f = os.path.join(reports, safe_filename(pid) + ext)
            if os.path.exists(f):
                os.remove(f)
                n_files += 1
    privacy.register_withdrawals(ctx.config, pids, ctx.run_id)
    ctx.log(f"withdrawal: {len(pids)} participant(s) erased from {len(rows)} tables "
            f"({sum(rows.values())} rows; versions before this one vacuumed), {n_files} report files deleted")
    return {"participants": len(pids), "rows_deleted": rows, "tables_vacuumed": sorted(rows),
            "report_files_deleted": n_files}


def main(argv=None) -> int:
    return run_job("phenotypes", run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
