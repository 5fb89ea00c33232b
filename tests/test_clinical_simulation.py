"""The simulated clinical records (phenotypes.simulate_clinical): fast, on a small synthetic cohort."""
from __future__ import annotations

import json
import os
import re
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
import yaml

from phenotypes.simulate_clinical import (
    DEVICE_COLUMNS,
    DIRTY_COLUMNS,
    bundle_text,
    bundles,
    ndjson_lines,
    patient_id,
    simulate_clinical,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 11
N = 200
CORONARY_ICD = re.compile(r"^I2[0-5]")
CORONARY_SCT = {"53741008", "22298006"}


def _people(n: int = N, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "sample_id": [f"GL{i + 1:05d}" for i in range(n)],
        "sex": rng.choice(["M", "F"], size=n),
        "age": rng.integers(40, 71, size=n),
        "ldl_c": np.maximum(rng.normal(3.3, 0.9, size=n), 0.6),
        "cad": (rng.random(n) < 0.15).astype(int),
        "consent_feedback": np.where(rng.random(n) < 0.9, "yes", "no"),
    })


@pytest.fixture(scope="module")
def people():
    return _people()


@pytest.fixture(scope="module")
def extract(people):
    return simulate_clinical(people, SEED)


@pytest.fixture(scope="module")
def codes():
    with open(os.path.join(ROOT, "conf", "clinical_codes.yaml")) as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def consent_codes():
    with open(os.path.join(ROOT, "conf", "consent_codes.yaml")) as fh:
        return yaml.safe_load(fh)


def _dirty(extract, source: str) -> dict[str, str]:
    d = extract.dirty[extract.dirty["source"] == source]
    return dict(zip(d["key"], d["reason"]))


def _all_resources(extract) -> list[dict]:
    return extract.patients + extract.observations + extract.conditions + extract.consents


def _sample_of(extract) -> dict[str, str]:
    """Patient reference -> sample_id."""
    return {f"Patient/{p['id']}": p["identifier"][0]["value"] for p in extract.patients}


def test_deterministic(people, extract):
    again = simulate_clinical(people, SEED)
    assert json.dumps(_all_resources(again)) == json.dumps(_all_resources(extract))
    pd.testing.assert_frame_equal(again.devices, extract.devices)
    pd.testing.assert_frame_equal(again.dirty, extract.dirty)
    assert ndjson_lines(again) == ndjson_lines(extract)
    assert [bundle_text(b) for b in bundles(again)] == [bundle_text(b) for b in bundles(extract)]
    other = simulate_clinical(people, SEED + 1)
    assert json.dumps(other.observations) != json.dumps(extract.observations)
    assert not other.devices.equals(extract.devices)


def test_shapes_ids_and_bundles(people, extract):
    assert list(extract.devices.columns) == DEVICE_COLUMNS
    assert all(extract.devices[c].map(type).eq(str).all() for c in DEVICE_COLUMNS)
    assert list(extract.dirty.columns) == DIRTY_COLUMNS
    assert set(extract.dirty["source"]) == {"fhir", "devices"}
    ids = people["sample_id"].tolist()
    assert extract.bundle_people == {s for i, s in enumerate(ids) if i % 5 == 0}
    assert [p["identifier"][0]["value"] for p in extract.patients] == ids
    assert all(p["id"] == patient_id(SEED, s) and re.fullmatch(r"pat-[0-9a-f]{16}", p["id"])
               for p, s in zip(extract.patients, ids))
    every_id = [r["id"] for r in _all_resources(extract)]
    assert len(set(every_id)) == len(every_id)
    for p, row in zip(extract.patients, people.itertuples()):
        assert p["gender"] == {"M": "male", "F": "female"}[row.sex]
        born = pd.Timestamp(p["birthDate"])
        age = 2025 - born.year - ((born.month, born.day) > (1, 1))
        assert age == row.age
    # NDJSON holds exactly the other people's resources (+ the bad line); Bundles the rest
    lines = ndjson_lines(extract)
    bs = bundles(extract)
    in_bundles = [e["resource"] for b in bs for e in b["entry"]]
    assert len(bs) == 1 and bs[0]["type"] == "collection"
    assert all(e["fullUrl"].startswith("urn:uuid:") for b in bs for e in b["entry"])
    assert sum(len(v) for v in lines.values()) - 1 + len(in_bundles) == len(every_id)
    refs = _sample_of(extract)
    for r in in_bundles:
        ref = r.get("subject", r.get("patient", {})).get("reference", f"Patient/{r['id']}")
        assert refs[ref] in extract.bundle_people
    bad = [i for i, text in enumerate(lines["Observation"], start=1) if not _is_json(text)]
    assert bad == [extract.bad_json_line]
    assert _dirty(extract, "fhir")[f"line:{extract.bad_json_line}"] == "bad_json_line"


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except json.JSONDecodeError:
        return False


def test_resources_validate_except_listed(extract):
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.condition import Condition
    from fhir.resources.R4B.consent import Consent
    from fhir.resources.R4B.observation import Observation
    from fhir.resources.R4B.patient import Patient
    from pydantic import ValidationError

    models = {"Patient": Patient, "Observation": Observation, "Condition": Condition, "Consent": Consent}
    invalid = set()
    for r in _all_resources(extract):
        json.dumps(r, allow_nan=False)  # JSON-ready
        try:
            models[r["resourceType"]].model_validate(r)
        except ValidationError:
            invalid.add(r["id"])
    dirty = _dirty(extract, "fhir")
    assert invalid == {k for k, why in dirty.items() if why == "invalid_value"}
    assert len(invalid) >= 1
    for b in bundles(extract):
        Bundle.model_validate(json.loads(bundle_text(b)))


def test_clean_codes_units_and_ranges_follow_the_code_book(extract, codes, consent_codes):
    obs_book = codes["observations"]
    panels = set(codes["panels"])
    dirty = _dirty(extract, "fhir")
    patients = set(_sample_of(extract))
    seen_kinds = defaultdict(int)
    for r in extract.observations:
        c = r["code"]["coding"][0]
        key = f"{c['system']}|{c['code']}"
        parts = ([(f"{x['code']['coding'][0]['system']}|{x['code']['coding'][0]['code']}", x["valueQuantity"])
                  for x in r["component"]] if key in panels else [(key, r.get("valueQuantity"))])
        problem = None
        if r["subject"]["reference"] not in patients:
            problem = "unknown_patient"
        for k, q in parts:
            if k not in obs_book:
                problem = problem or "unknown_code"
            elif not isinstance(q["value"], (int, float)):
                problem = problem or "invalid_value"
            elif q["code"] not in obs_book[k]["units"]:
                problem = problem or "bad_unit"
            else:
                lo, hi = obs_book[k]["range"]
                if not lo <= q["value"] * obs_book[k]["units"][q["code"]] <= hi:
                    problem = problem or "out_of_range"
        assert dirty.get(r["id"]) == problem, r
        seen_kinds[problem] += 1
        assert r["effectiveDateTime"].endswith("Z")
    assert {"unknown_code", "bad_unit", "out_of_range", "unknown_patient", "invalid_value"} <= set(seen_kinds)
    patterns = {s: re.compile(spec["pattern"]) for spec in codes["conditions"].values() for s in spec["systems"]}
    for r in extract.conditions:
        ok = all(patterns[c["system"]].match(c["code"]) for c in r["code"]["coding"])
        assert (dirty.get(r["id"]) == "bad_icd10") == (not ok)
    # every consent counts for exactly one purpose of the consent code book
    purposes = {p: {(e["system"], str(e["code"])) for e in consent_codes[p]} for p in ("research", "feedback")}
    for r in extract.consents:
        found = {(c["system"], c["code"]) for c in r["scope"]["coding"]}
        found |= {(c["system"], c["code"]) for cat in r["category"] for c in cat["coding"]}
        found |= {(c["system"], c["code"]) for c in r["policyRule"]["coding"]}
        found |= {(c["system"], c["code"]) for c in r["provision"]["purpose"]}
        assert sum(bool(found & v) for v in purposes.values()) == 1


def test_ldl_observations_track_true_ldl(people, extract):
    refs = _sample_of(extract)
    dirty = _dirty(extract, "fhir")
    values = defaultdict(list)
    for r in extract.observations:
        code = r["code"]["coding"][0]["code"]
        if code not in ("13457-7", "18262-6") or r["id"] in dirty:
            continue
        q = r["valueQuantity"]
        assert q["code"] in ("mmol/L", "mg/dL") and q["unit"] == q["code"] and q["system"] == "http://unitsofmeasure.org"
        values[refs[r["subject"]["reference"]]].append(q["value"] * (0.02586 if q["code"] == "mg/dL" else 1.0))
    assert set(values) == set(people["sample_id"])
    assert all(1 <= len(v) <= 4 for v in values.values())
    mean = people["sample_id"].map(lambda s: np.mean(values[s]))
    assert np.corrcoef(mean, people["ldl_c"])[0, 1] > 0.95


def test_coronary_conditions_mark_exactly_the_cases(people, extract):
    refs = _sample_of(extract)
    dirty = _dirty(extract, "fhir")
    coronary, refuted, excluded = set(), set(), set()
    for r in extract.conditions:
        if r["id"] in dirty:
            continue
        codings = r["code"]["coding"]
        hit = any((c["system"] == "http://hl7.org/fhir/sid/icd-10" and CORONARY_ICD.match(c["code"]))
                  or (c["system"] == "http://snomed.info/sct" and c["code"] in CORONARY_SCT) for c in codings)
        status = r["verificationStatus"]["coding"][0]["code"]
        who = refs[r["subject"]["reference"]]
        if hit:
            (refuted if status == "refuted" else coronary).add(who)
        if any(c["code"] == "I51.6" for c in codings):
            excluded.add(who)
    cases = set(people.loc[people["cad"] == 1, "sample_id"])
    assert coronary == cases
    assert refuted and not refuted & cases
    assert excluded and not excluded & cases


def test_consents_follow_feedback_choice(people, extract):
    refs = _sample_of(extract)
    feedback, research = {}, defaultdict(list)
    for r in extract.consents:
        who = refs[r["patient"]["reference"]]
        purpose = r["provision"]["purpose"][0]
        if purpose["code"] == "individual-feedback":
            feedback[who] = r["provision"]["type"]
        else:
            research[who].append(r["provision"]["type"])
    want = dict(zip(people["sample_id"], np.where(people["consent_feedback"] == "yes", "permit", "deny")))
    assert feedback == want
    assert all(len(v) == 1 for v in research.values())
    assert 1 <= N - len(research) <= 5
    assert 1 <= sum(v == ["deny"] for v in research.values()) <= 3


def test_device_readings_and_exactly_the_listed_dirty_rows(people, extract, codes):
    dev = extract.devices
    measures = codes["devices"]
    book = codes["observations"]
    known = set(people["sample_id"])
    value = pd.to_numeric(dev["value"], errors="coerce")
    t = pd.to_datetime(dev["time"], utc=True, errors="coerce", format="ISO8601")
    factor = [book[measures[m]]["units"].get(u) if m in measures else None for m, u in zip(dev["measure"], dev["unit"])]
    factor = pd.Series(factor, dtype=float)
    lo = dev["measure"].map(lambda m: book[measures[m]]["range"][0] if m in measures else np.nan)
    hi = dev["measure"].map(lambda m: book[measures[m]]["range"][1] if m in measures else np.nan)
    bad = (~dev["sample_id"].isin(known) | ~dev["measure"].isin(list(measures)) | value.isna() | t.isna()
           | factor.isna() | (value * factor < lo) | (value * factor > hi))
    bad |= dev.duplicated(["sample_id", "measure", "time"], keep="first") & ~bad
    listed = _dirty(extract, "devices")
    assert set(np.flatnonzero(bad.to_numpy()).astype(str)) == set(listed)
    assert sorted(set(listed.values())) == sorted(["unknown_measure", "non_numeric", "bad_time", "negative",
                                                   "out_of_range", "unknown_participant", "duplicate_reading"])
    for key, why in listed.items():
        row = dev.iloc[int(key)]
        if why == "duplicate_reading":
            assert dev.iloc[int(key) - 1].equals(row.rename(int(key) - 1))
        if why == "negative":
            assert row["value"].startswith("-")
    clean = dev[~bad.to_numpy()]
    assert clean["time"].str.match(r"^2024-\d\d-\d\dT\d\d:\d\d:\d\dZ$").all()
    per = clean.groupby("measure").size()
    assert set(per.index) == set(measures)
    # systolic, diastolic and heart rate share their time stamps (up to the rows made dirty)
    stamps = {m: set(zip(clean.loc[clean["measure"] == m, "sample_id"], clean.loc[clean["measure"] == m, "time"]))
              for m in ("systolic_bp", "diastolic_bp", "heart_rate")}
    assert len(stamps["systolic_bp"] ^ stamps["diastolic_bp"]) <= len(listed)
    assert len(stamps["systolic_bp"] ^ stamps["heart_rate"]) <= len(listed)
    assert 40 * N <= len(dev) <= 150 * N   # ~80 rows a person on average
    bp = clean[clean["measure"] == "systolic_bp"].groupby("sample_id").size()
    assert bp.between(38, 122).all()
    steps = clean[clean["measure"] == "steps"]
    assert steps["value"].str.fullmatch(r"\d+").all()
    assert steps.groupby("sample_id").size().between(58, 90).all()
    units = clean.groupby(["sample_id", "measure"])["unit"].nunique()
    assert (units == 1).all()  # one unit per person and measure
    # systolic rises with age
    s = clean[clean["measure"] == "systolic_bp"]
    mean_s = s.assign(v=s["value"].astype(float)).groupby("sample_id")["v"].mean()
    assert 105 < mean_s.mean() < 140
