"""Clinical ingest throughput: 1,000,000 device readings and 100,000 FHIR resources.

    .venv/bin/python bench/clinical_ingest.py [--readings 1000000] [--resources 100000] [--out bench/out]

Generates the inputs (deterministic, with ~1% dirty records), then times, with Python timers,
each step the phenotype job runs: parse + validate + convert (devices: vectorised pandas;
FHIR: fhir.resources R4B models), the Delta upsert (delta-rs merge) into an empty lake, and
a re-ingest of the same extract (merge that changes nothing). Peak memory is this process's
maximum resident set (no JVM in this job). Writes bench/out/clinical_ingest.tsv.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from jobs.lake import open_lake  # noqa: E402
from jobs.phenotypes import _row_hash  # noqa: E402
from phenotypes.codes import CodeBook  # noqa: E402
from phenotypes.devices import read_device_readings  # noqa: E402
from phenotypes.fhir_reader import read_fhir  # noqa: E402
from phenotypes.pseudonyms import Pseudonymiser  # noqa: E402

SYS = "urn:genolake:sample-id"
MEASURES = [("systolic_bp", "mm[Hg]", 125, 15), ("diastolic_bp", "mm[Hg]", 80, 10), ("heart_rate", "/min", 70, 9),
            ("glucose", "mmol/L", 5.5, 1.0), ("weight", "kg", 78, 14), ("steps", "{steps}", 7000, 2500)]


def make_devices(n: int, n_people: int, rng) -> pd.DataFrame:
    m = rng.integers(0, len(MEASURES), n)
    person = rng.integers(0, n_people, n)
    mu = np.array([x[2] for x in MEASURES])[m]
    sd = np.array([x[3] for x in MEASURES])[m]
    value = np.round(mu + sd * rng.standard_normal(n), 1)
    t = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 365 * 86400, n), unit="s")
    df = pd.DataFrame({"sample_id": pd.Series(person).map(lambda i: f"S{i:07d}"),
                       "measure": np.array([x[0] for x in MEASURES])[m], "value": value.astype(str),
                       "unit": np.array([x[1] for x in MEASURES])[m],
                       "time": t.strftime("%Y-%m-%dT%H:%M:%SZ")})
    bad = rng.choice(n, n // 100, replace=False)
    df.loc[bad[0::3], "value"] = "n/a"
    df.loc[bad[1::3], "measure"] = "mood"
    df.loc[bad[2::3], "value"] = "-40"
    return df


def make_fhir(n: int, path: str, rng) -> int:
    """Bulk-export NDJSON: per person 1 Patient, 1 Consent, 1 Condition and 7 Observations."""
    per = 10
    n_people = n // per
    written = 0
    with open(path, "w") as fh:
        for i in range(n_people):
            sid, pid = f"S{i:07d}", f"pat-{i}"
            res = [{"resourceType": "Patient", "id": pid, "identifier": [{"system": SYS, "value": sid}],
                    "gender": "female" if i % 2 else "male", "birthDate": f"{1940 + i % 50}-01-15"},
                   {"resourceType": "Consent", "id": f"k{i}", "status": "active",
                    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}]},
                    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                    "patient": {"reference": f"Patient/{pid}"}, "dateTime": "2018-01-01",
                    "provision": {"type": "permit", "purpose": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}]}},
                   {"resourceType": "Condition", "id": f"c{i}", "subject": {"reference": f"Patient/{pid}"},
                    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]},
                    "onsetDateTime": "2019-05-01"}]
            for k in range(per - 3):
                v = float(np.round(3.3 + 0.9 * rng.standard_normal(), 2))
                mg = k % 3 == 0
                code = "99999-9" if (i * per + k) % 100 == 0 else "13457-7"     # 1% unknown code
                res.append({"resourceType": "Observation", "id": f"o{i}-{k}", "status": "final",
                            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                            "subject": {"reference": f"Patient/{pid}"},
                            "effectiveDateTime": f"20{10 + k}-03-0{1 + k % 9}T09:00:00Z",
                            "valueQuantity": {"value": round(v / 0.02586, 1) if mg else v,
                                              "code": "mg/dL" if mg else "mmol/L",
                                              "system": "http://unitsofmeasure.org"}})
            for r in res:
                fh.write(json.dumps(r) + "\n")
            written += len(res)
    return written


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--resources", type=int, default=100_000)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    args = ap.parse_args(argv)
    rng = np.random.default_rng(1)
    codes = CodeBook(yaml.safe_load(open(os.path.join(ROOT, "conf", "clinical_codes.yaml"))))
    consent_map = yaml.safe_load(open(os.path.join(ROOT, "conf", "consent_codes.yaml")))
    pseudo = Pseudonymiser(b"bench-key-" * 4)
    work = tempfile.mkdtemp(prefix="clinical_bench_")
    rows = []
    try:
        n_people = max(args.resources // 10, 1)
        dev_path = os.path.join(work, "devices.csv")
        make_devices(args.readings, n_people, rng).to_csv(dev_path, index=False)
        fhir_path = os.path.join(work, "export.ndjson")
        n_res = make_fhir(args.resources, fhir_path, rng)
        known = set(pseudo.many(f"S{i:07d}" for i in range(n_people)))
        lake = open_lake(os.path.join(work, "lake"))

        def step(name, n, unit, fn):
            t = time.perf_counter()
            out = fn()
            dt = time.perf_counter() - t
            rows.append({"step": name, "records": n, "unit": unit, "seconds": round(dt, 2),
                         "records_per_s": round(n / dt), "peak_rss_mib": round(peak_mib())})
            print(f"{name:<44} {n:>9} {unit:<10} {dt:7.2f}s {n / dt:>10,.0f}/s", flush=True)
            return out

        from phenotypes.table_reader import read_raw_table
        dev = step("devices: read CSV + validate + convert", args.readings, "readings",
                   lambda: read_device_readings(read_raw_table(dev_path), dev_path, {}, pseudo, codes,
                                                known_participants=known))
        fx = step("FHIR: parse + validate (R4B) + convert", n_res, "resources",
                  lambda: read_fhir([fhir_path], SYS, pseudo, codes, consent_map))

        def upsert(df, name):
            df = df.copy()
            df["row_hash"] = _row_hash(df)
            return lake.merge(name, df, keys=["record_id"], changed="row_hash")
        step("devices: Delta upsert (new table)", len(dev.observations), "rows",
             lambda: upsert(dev.observations, "device_obs"))
        step("devices: Delta upsert again (no change)", len(dev.observations), "rows",
             lambda: upsert(dev.observations, "device_obs"))
        step("FHIR: Delta upsert (observations)", len(fx.observations), "rows",
             lambda: upsert(fx.observations, "observations"))
        assert len(lake.read("device_obs")) == len(dev.observations)
        print(f"devices {dev.counts}; FHIR {next(iter(fx.counts.values()))}")
        os.makedirs(args.out, exist_ok=True)
        out = os.path.join(args.out, "clinical_ingest.tsv")
        pd.DataFrame(rows).to_csv(out, sep="\t", index=False)
        print(f"wrote {out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
