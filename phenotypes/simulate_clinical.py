"""Simulated clinical records of the example cohort: FHIR R4 resources and device readings.

Library only: no file paths, no file I/O, no config reads (the codes below are those of
``conf/clinical_codes.yaml`` and ``conf/consent_codes.yaml``). ``jobs.simulate`` writes the
files, using :func:`ndjson_lines` and :func:`bundles` for their exact text.

``simulate_clinical(people, seed)`` takes one row per genotyped person (``sample_id, sex, age,
ldl_c, cad, consent_feedback``; ``ldl_c`` and ``cad`` the TRUE simulated values) and returns a
:class:`ClinicalExtract`. Everything is deterministic from ``seed`` and the rows of ``people``.

Model
-----
* Patient: opaque id ``pat-`` + 16 hex chars of sha256(seed|sample_id), the sample ID as
  identifier (system ``urn:genolake:sample-id``), a fake name and address, gender from the
  reported sex, a birth date consistent with ``age`` on 2025-01-01.
* LDL (LOINC 13457-7 80% / 18262-6 20%): 1-4 Observations per person in 2016-2024, value =
  ldl_c + Normal(0, 0.12) (>= 0.5); mmol/L (70%, 2 decimals) or mg/dL (30%, value / 0.02586,
  1 decimal). ~Half the people have one blood-pressure panel (85354-9 with 8480-6 / 8462-4
  components in mm[Hg]), ~half one HbA1c (4548-4, %).
* Conditions: every cad==1 person has one coronary Condition: 75% ICD-10 (I20.0, I21.9,
  I25.10, I25.2, I24.9; some also carry a SNOMED coding), 25% SNOMED only (53741008,
  22298006). Noise for anyone: I10 (25%), E11.9 (8%), J45.909 (7%). ~1% of non-cases have
  I51.6 (the example's exclusion code); ~0.5% of non-cases have a coronary code whose
  verificationStatus is ``refuted`` (not cases).
* Consents: one research Consent per person (dateTime 2015-2019), except ~1% with none and
  ~0.5% whose research Consent denies; one individual-feedback Consent per person (scope
  patient-privacy, provision purpose urn:genolake:consent-purpose|individual-feedback)
  permitting iff consent_feedback == 'yes'.
* Devices (90 days of 2024 from a per-person start): ~20% of people have a BP monitor
  (systolic_bp, diastolic_bp and heart_rate at the same time, twice a day on 20-60 days;
  person mean systolic ~ Normal(122 + 0.5 (age - 55), 12), day noise sd 8; diastolic ~
  0.62 systolic + Normal(0, 5)), ~25% a pedometer (daily steps on 60-90 days), ~40% a scale
  (weekly weight, kg or [lb_av] per person), ~30% a glucose meter (a few readings a week,
  mmol/L or mg/dL per person). About 80 rows per person on average.
* Dirty records (~1%), each listed in ``dirty``: per FHIR kind ~5 per 2,000 people (at least
  1): Observations with an unknown LOINC code (at least 2, one of them in a Bundle), a bad
  unit, an out-of-range LDL, a subject that is no Patient, a non-numeric value (an invalid
  resource); Conditions with a malformed ICD-10 code; plus one line of Observation.ndjson
  that is not JSON. Per device kind ~10 per 2,000 people (at least 1): unknown measure,
  non-numeric value, bad time, negative heart rate, out-of-range value, unknown participant,
  exact duplicate of a reading (the later copy, placed right after the original).
  Dirty FHIR records are extra resources (every clean record stays); dirty device rows are
  altered copies of readings (or, for duplicates, extra rows). Apart from the one unknown-code
  Observation, dirty FHIR records belong to people whose resources go to NDJSON.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SAMPLE_SYSTEM = "urn:genolake:sample-id"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
COND_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
FEEDBACK_PURPOSE = {"system": "urn:genolake:consent-purpose", "code": "individual-feedback"}

DEVICE_COLUMNS = ["sample_id", "measure", "value", "unit", "time"]
DIRTY_COLUMNS = ["source", "resource_type", "key", "reason"]
PEOPLE_COLUMNS = ["sample_id", "sex", "age", "ldl_c", "cad", "consent_feedback"]
RESOURCE_TYPES = ("Patient", "Observation", "Condition", "Consent")
PEOPLE_PER_BUNDLE = 100
REFERENCE_DATE = dt.date(2025, 1, 1)     # ages are as of this date

MGDL_PER_MMOL_LDL = 1 / 0.02586          # mg/dL = mmol/L / 0.02586
MGDL_PER_MMOL_GLUCOSE = 1 / 0.0555
LB_PER_KG = 1 / 0.45359237

LDL_CODES = (("13457-7", "Cholesterol in LDL [Moles/volume] in Serum or Plasma by calculation"),
             ("18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay"))
CORONARY_ICD10 = {
    "I20.0": "Unstable angina",
    "I21.9": "Acute myocardial infarction, unspecified",
    "I25.10": "Atherosclerotic heart disease of native coronary artery without angina pectoris",
    "I25.2": "Old myocardial infarction",
    "I24.9": "Acute ischemic heart disease, unspecified",
}
CORONARY_SNOMED = {"53741008": "Coronary arteriosclerosis", "22298006": "Myocardial infarction"}
# the SNOMED concept added next to some ICD-10 codings
ICD10_TO_SNOMED = {"I21.9": "22298006", "I25.10": "53741008", "I25.2": "22298006", "I24.9": "22298006"}
NOISE_CONDITIONS = (("I10", "Essential (primary) hypertension", 0.25),
                    ("E11.9", "Type 2 diabetes mellitus without complications", 0.08),
                    ("J45.909", "Unspecified asthma, uncomplicated", 0.07))
EXCLUSION_CODE = ("I51.6", "Cardiovascular disease, unspecified")

# devices: measure order (within one time stamp) and the per-person shares
DEVICE_MEASURES = ("systolic_bp", "diastolic_bp", "heart_rate", "glucose", "weight", "steps")
SHARE_BP, SHARE_STEPS, SHARE_WEIGHT, SHARE_GLUCOSE = 0.20, 0.25, 0.40, 0.30
DEVICE_DAYS = 90

# dirty records per 2,000 people
FHIR_DIRTY_PER_2000, DEVICE_DIRTY_PER_2000 = 5, 10
FHIR_DIRTY_KINDS = ("unknown_code", "bad_unit", "out_of_range", "unknown_patient", "invalid_value", "bad_icd10")
DEVICE_DIRTY_KINDS = ("unknown_measure", "non_numeric", "bad_time", "negative", "out_of_range",
                      "unknown_participant", "duplicate_reading")
_BAD_LDL = (250.0, 0.01, 95.0, -2.1)
_BAD_VALUES = ("abc", "n.d.", "<0.5")
_BAD_ICD10 = ("I2X5", "250.00", "I25-10", "i10")
_BAD_MEASURES = ("spo2", "body_temperature", "bp", "pulse_ox")
_BAD_NUMBERS = ("ERR", "high", "--", "abc")
_BAD_TIMES = ("yesterday", "2024-13-45T08:00:00Z", "not recorded", "25:61")
_OUT_OF_RANGE = {"systolic_bp": "400.0", "diastolic_bp": "250.0", "heart_rate": "320.0",
                 "glucose:mmol/L": "95.0", "glucose:mg/dL": "1800.0", "weight:kg": "520.0",
                 "weight:[lb_av]": "1200.0", "steps": "250000"}

_FAMILY = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Martin", "Lopez",
           "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Lee", "Perez", "White", "Harris",
           "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill",
           "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell", "Roberts", "Turner", "Phillips", "Evans")
_GIVEN = {
    "male": ("James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas", "Charles",
             "Daniel", "Matthew", "Anthony", "Mark", "Paul", "Steven", "Andrew", "Kevin", "Brian", "George"),
    "female": ("Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah",
               "Karen", "Lisa", "Nancy", "Betty", "Sandra", "Ashley", "Emily", "Donna", "Michelle", "Carol",
               "Amanda"),
}
_STREETS = ("Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Pine St", "Elm St", "Park Rd", "Lake View",
            "Hill St", "Church Rd", "Mill Ln", "Station Rd", "River Rd", "High St", "Bridge St", "Garden Way")
_CITIES = ("Springfield", "Riverton", "Fairview", "Greenville", "Franklin", "Clinton", "Madison", "Georgetown",
           "Salem", "Bristol", "Ashland", "Oxford", "Milton", "Dover", "Newport")

# random streams (spawn keys of one SeedSequence per seed)
_S_PERSON, _S_PATIENT, _S_OBS, _S_COND, _S_CONSENT, _S_DEVICE, _S_FHIR_DIRTY, _S_DEVICE_DIRTY = range(8)
_STREAM_BASE = 0xC11C


@dataclass
class ClinicalExtract:
    patients: list[dict]
    observations: list[dict]
    conditions: list[dict]
    consents: list[dict]
    bundle_people: set[str]
    devices: pd.DataFrame                 # DEVICE_COLUMNS, all strings
    dirty: pd.DataFrame                   # DIRTY_COLUMNS
    owner: dict[str, str] = field(default_factory=dict)  # resource id -> sample_id it was made for
    bad_json_line: int = 0                # 1-based line of Observation.ndjson that is not JSON
    bad_json_text: str = ""               # that line's text (no newline)

    def resources(self, resource_type: str) -> list[dict]:
        return {"Patient": self.patients, "Observation": self.observations, "Condition": self.conditions,
                "Consent": self.consents}[resource_type]


# --------------------------------------------------------------------------------------
# helpers


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed) & 0xFFFFFFFFFFFFFFFF,
                                                        spawn_key=(_STREAM_BASE, stream)))


def _hex(seed: int, *parts) -> str:
    return hashlib.sha256("|".join([str(int(seed)), *map(str, parts)]).encode()).hexdigest()[:16]


def patient_id(seed: int, sample_id: str) -> str:
    """The Patient id of ``sample_id``: "pat-" + 16 hex chars of sha256("seed|sample_id")."""
    return f"pat-{_hex(seed, sample_id)}"


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _epoch(year: int, month: int = 1, day: int = 1) -> int:
    return int((dt.datetime(year, month, day, tzinfo=dt.timezone.utc) - _EPOCH).total_seconds())


def _iso(seconds) -> np.ndarray:
    """Seconds since the epoch (array) -> 'YYYY-MM-DDTHH:MM:SSZ' strings."""
    s = np.datetime_as_string(np.asarray(seconds, dtype=np.int64).astype("datetime64[s]"), unit="s")
    return np.char.add(s.astype(str), "Z")


def _pick(rng: np.random.Generator, pool: np.ndarray, k: int) -> np.ndarray:
    k = min(k, pool.size)
    return np.sort(rng.choice(pool, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)


def _quantity(value, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _coding(system: str, code: str, display: str | None = None) -> dict:
    c = {"system": system, "code": code}
    if display:
        c["display"] = display
    return c


def _ldl_observation(oid: str, pat: str, when: str, value_mmol: float, code_idx: int, mgdl: bool) -> dict:
    code, display = LDL_CODES[code_idx]
    if mgdl:
        q = _quantity(round(value_mmol * MGDL_PER_MMOL_LDL, 1), "mg/dL")
    else:
        q = _quantity(round(value_mmol, 2), "mmol/L")
    return _observation(oid, pat, when, code, display, "laboratory", q)


def _observation(oid: str, pat: str, when: str, code: str, display: str, category: str,
                 quantity: dict | None = None, components: list | None = None) -> dict:
    r = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [{"coding": [_coding(OBS_CATEGORY, category)]}],
        "code": {"coding": [_coding(LOINC, code, display)]},
        "subject": {"reference": f"Patient/{pat}"},
        "effectiveDateTime": when,
    }
    if quantity is not None:
        r["valueQuantity"] = quantity
    if components is not None:
        r["component"] = components
    return r


def _condition(cid: str, pat: str, onset: str, codings: list[dict], verification: str = "confirmed") -> dict:
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {"coding": [_coding(COND_CLINICAL, "active")]},
        "verificationStatus": {"coding": [_coding(COND_VERIFICATION, verification)]},
        "category": [{"coding": [_coding(COND_CATEGORY, "encounter-diagnosis")]}],
        "code": {"coding": codings},
        "subject": {"reference": f"Patient/{pat}"},
        "onsetDateTime": onset,
    }


def _consent(cid: str, pat: str, when: str, scope: str, provision_type: str, purpose: dict) -> dict:
    return {
        "resourceType": "Consent",
        "id": cid,
        "status": "active",
        "scope": {"coding": [_coding(CONSENT_SCOPE, scope)]},
        "category": [{"coding": [_coding(LOINC, "59284-0", "Patient Consent")]}],
        "patient": {"reference": f"Patient/{pat}"},
        "dateTime": when,
        "policyRule": {"coding": [_coding(ACT_CODE, "OPTIN")]},
        "provision": {"type": provision_type, "purpose": [dict(purpose)]},
    }


def _check_people(people: pd.DataFrame) -> None:
    missing = [c for c in PEOPLE_COLUMNS if c not in people.columns]
    if missing:
        raise ValueError(f"people: missing columns {missing}")
    if people["sample_id"].duplicated().any():
        raise ValueError("people: duplicate sample_id")
    if not people["sex"].isin(["M", "F"]).all():
        raise ValueError("people: sex must be 'M' or 'F'")
    if people["ldl_c"].isna().any() or people["cad"].isna().any():
        raise ValueError("people: ldl_c and cad must not be missing")


def _n_dirty(n: int, per_2000: int) -> int:
    return max(1, int(round(per_2000 * n / 2000)))


# --------------------------------------------------------------------------------------
# main entry point


def simulate_clinical(people: pd.DataFrame, seed: int) -> ClinicalExtract:
    """FHIR resources, device readings and the list of dirty records for ``people``."""
    _check_people(people)
    ids = people["sample_id"].astype(str).tolist()
    n = len(ids)
    sex = people["sex"].astype(str).to_numpy()
    age = people["age"].to_numpy(dtype=np.int64)
    ldl = people["ldl_c"].to_numpy(dtype=float)
    cad = people["cad"].to_numpy(dtype=np.int64)
    fb_yes = (people["consent_feedback"].astype(str) == "yes").to_numpy()
    in_bundle = np.arange(n) % 5 == 0
    bundle_people = {ids[i] for i in np.flatnonzero(in_bundle)}
    pats = [patient_id(seed, s) for s in ids]
    if len(set(pats)) != n:  # pragma: no cover - a 64-bit collision
        raise ValueError("patient id collision")

    # person-level traits shared by FHIR and devices
    prng = _rng(seed, _S_PERSON)
    sys_mean = prng.normal(122.0 + 0.5 * (age - 55.0), 12.0)
    hr_mean = prng.normal(70.0, 6.0, size=n)
    noise_flags = np.column_stack([prng.random(n) < p for _, _, p in NOISE_CONDITIONS])
    diabetic = noise_flags[:, 1]

    # per person resource buckets (to keep each person's resources together)
    obs_of: list[list[dict]] = [[] for _ in range(n)]
    cond_of: list[list[dict]] = [[] for _ in range(n)]
    cons_of: list[list[dict]] = [[] for _ in range(n)]
    owner: dict[str, str] = {}

    patients = _patients(seed, ids, pats, sex, age)
    for s, p in zip(ids, pats):
        owner[p] = s
    _clinical_observations(seed, n, ids, pats, age, ldl, sys_mean, diabetic, obs_of)
    _clinical_conditions(seed, n, ids, pats, age, cad, noise_flags, cond_of)
    _clinical_consents(seed, n, ids, pats, fb_yes, cons_of)

    dirty_rows: list[dict] = []
    _fhir_dirty(seed, n, ids, pats, ldl, in_bundle, set(pats), obs_of, cond_of, dirty_rows)

    observations = [r for rs in obs_of for r in rs]
    conditions = [r for rs in cond_of for r in rs]
    consents = [r for rs in cons_of for r in rs]
    for i, s in enumerate(ids):
        for bucket in (obs_of[i], cond_of[i], cons_of[i]):
            for r in bucket:
                owner[r["id"]] = s
    all_ids = [r["id"] for r in patients + observations + conditions + consents]
    if len(set(all_ids)) != len(all_ids):  # pragma: no cover
        raise ValueError("resource id collision")

    # the line of Observation.ndjson that is not JSON: in the middle of the file
    n_ndjson_obs = sum(1 for r in observations if owner[r["id"]] not in bundle_people)
    bad_line = n_ndjson_obs // 2 + 1
    bad_text = '{"resourceType":"Observation","id":"obs-' + _hex(seed, "truncated") + '","status":"fin'
    dirty_rows.append({"source": "fhir", "resource_type": "Observation", "key": f"line:{bad_line}",
                       "reason": "bad_json_line"})

    devices, device_dirty = _devices(seed, ids, age, sex, sys_mean, hr_mean, diabetic)
    dirty = pd.DataFrame(dirty_rows + device_dirty, columns=DIRTY_COLUMNS).astype(str)
    return ClinicalExtract(
        patients=patients, observations=observations, conditions=conditions, consents=consents,
        bundle_people=bundle_people, devices=devices, dirty=dirty, owner=owner,
        bad_json_line=bad_line, bad_json_text=bad_text,
    )


# --------------------------------------------------------------------------------------
# FHIR resources


def _patients(seed: int, ids: list[str], pats: list[str], sex: np.ndarray, age: np.ndarray) -> list[dict]:
    rng = _rng(seed, _S_PATIENT)
    n = len(ids)
    fam = rng.integers(0, len(_FAMILY), size=n)
    g1 = rng.integers(0, 20, size=n)
    g2 = rng.integers(0, 20, size=n)
    two_given = rng.random(n) < 0.2
    # born between (2025-age-1)-01-02 and (2025-age)-01-01: age `age` on 2025-01-01
    birth_offset = rng.random(n)
    house = rng.integers(1, 400, size=n)
    street = rng.integers(0, len(_STREETS), size=n)
    city = rng.integers(0, len(_CITIES), size=n)
    postal = rng.integers(10000, 99999, size=n)
    out = []
    for i in range(n):
        gender = "male" if sex[i] == "M" else "female"
        names = _GIVEN[gender]
        given = [names[g1[i]]] + ([names[g2[i]]] if two_given[i] and g2[i] != g1[i] else [])
        latest = dt.date(REFERENCE_DATE.year - int(age[i]), 1, 1)
        earliest = dt.date(REFERENCE_DATE.year - int(age[i]) - 1, 1, 2)
        birth = earliest + dt.timedelta(days=int(birth_offset[i] * ((latest - earliest).days + 1)))
        out.append({
            "resourceType": "Patient",
            "id": pats[i],
            "identifier": [{"system": SAMPLE_SYSTEM, "value": ids[i]}],
            "name": [{"family": _FAMILY[fam[i]], "given": given}],
            "gender": gender,
            "birthDate": birth.isoformat(),
            "address": [{"line": [f"{int(house[i])} {_STREETS[street[i]]}"], "city": _CITIES[city[i]],
                         "postalCode": f"{int(postal[i]):05d}"}],
        })
    return out


def _lab_times(rng: np.random.Generator, size: int, start_year: int, end_year: int) -> np.ndarray:
    """Random lab times (07:00-17:59) between Jan 1 of start_year and Dec 31 of end_year."""
    d0, d1 = _epoch(start_year) // 86400, _epoch(end_year + 1) // 86400
    day = rng.integers(d0, d1, size=size)
    tod = rng.integers(7 * 60, 18 * 60, size=size) * 60
    return day * 86400 + tod


def _clinical_observations(seed, n, ids, pats, age, ldl, sys_mean, diabetic, obs_of) -> None:
    rng = _rng(seed, _S_OBS)
    n_ldl = rng.integers(1, 5, size=n)
    has_bp = rng.random(n) < 0.5
    has_a1c = rng.random(n) < 0.5
    total = int(n_ldl.sum())
    owner = np.repeat(np.arange(n), n_ldl)
    t = _lab_times(rng, total, 2016, 2024)
    order = np.lexsort((t, owner))  # each person's measurements in time order
    t = t[order]
    values = np.maximum(ldl[owner] + rng.normal(0.0, 0.12, size=total), 0.5)
    code_idx = (rng.random(total) >= 0.8).astype(int)
    mgdl = rng.random(total) < 0.3
    when = _iso(t)
    k_of = np.zeros(n, dtype=np.int64)
    for j in range(total):
        i = int(owner[j])
        k = int(k_of[i])
        k_of[i] += 1
        oid = f"obs-{_hex(seed, ids[i], 'ldl', k)}"
        obs_of[i].append(_ldl_observation(oid, pats[i], str(when[j]), float(values[j]), int(code_idx[j]),
                                          bool(mgdl[j])))
    bp_t = _iso(_lab_times(rng, n, 2018, 2024))
    bp_sys = np.rint(sys_mean + rng.normal(0.0, 8.0, size=n))
    bp_dia = np.rint(0.62 * bp_sys + rng.normal(0.0, 5.0, size=n))
    a1c_t = _iso(_lab_times(rng, n, 2018, 2024))
    a1c = np.round(np.where(diabetic, rng.normal(7.3, 1.0, size=n), rng.normal(5.4, 0.35, size=n)).clip(4.0, 14.0), 1)
    for i in range(n):
        if has_bp[i]:
            comps = [
                {"code": {"coding": [_coding(LOINC, "8480-6", "Systolic blood pressure")]},
                 "valueQuantity": _quantity(int(bp_sys[i]), "mm[Hg]")},
                {"code": {"coding": [_coding(LOINC, "8462-4", "Diastolic blood pressure")]},
                 "valueQuantity": _quantity(int(bp_dia[i]), "mm[Hg]")},
            ]
            obs_of[i].append(_observation(f"obs-{_hex(seed, ids[i], 'bp')}", pats[i], str(bp_t[i]), "85354-9",
                                          "Blood pressure panel with all children optional", "vital-signs",
                                          components=comps))
        if has_a1c[i]:
            obs_of[i].append(_observation(f"obs-{_hex(seed, ids[i], 'hba1c')}", pats[i], str(a1c_t[i]), "4548-4",
                                          "Hemoglobin A1c/Hemoglobin.total in Blood", "laboratory",
                                          _quantity(float(a1c[i]), "%")))


def _onset(rng: np.random.Generator, age: int) -> str:
    """A date between age 30 (or 2000) and the end of 2024."""
    start = max(_epoch(2000), _epoch(REFERENCE_DATE.year - age + 30))
    end = _epoch(2024, 12, 31)
    if start >= end:
        start = _epoch(2020)
    t = int(rng.integers(start // 86400, end // 86400 + 1)) * 86400
    return str(_iso([t])[0])[:10]


def _clinical_conditions(seed, n, ids, pats, age, cad, noise_flags, cond_of) -> None:
    rng = _rng(seed, _S_COND)
    icd_codes = list(CORONARY_ICD10)
    sct_codes = list(CORONARY_SNOMED)
    cases = np.flatnonzero(cad == 1)
    controls = np.flatnonzero(cad != 1)
    n_excl = max(1, int(round(0.01 * controls.size))) if controls.size else 0
    n_refuted = max(1, int(round(0.005 * controls.size))) if controls.size > n_excl else 0
    picked = rng.permutation(controls)
    excluded = set(picked[:n_excl].tolist())
    refuted = set(picked[n_excl:n_excl + n_refuted].tolist())
    for i in range(n):
        s, p, a = ids[i], pats[i], int(age[i])
        if cad[i] == 1:
            if rng.random() < 0.75:
                code = icd_codes[int(rng.integers(len(icd_codes)))]
                codings = [_coding(ICD10, code, CORONARY_ICD10[code])]
                if code in ICD10_TO_SNOMED and rng.random() < 0.4:
                    sct = ICD10_TO_SNOMED[code]
                    codings.append(_coding(SNOMED, sct, CORONARY_SNOMED[sct]))
            else:
                sct = sct_codes[int(rng.integers(len(sct_codes)))]
                codings = [_coding(SNOMED, sct, CORONARY_SNOMED[sct])]
            cond_of[i].append(_condition(f"cond-{_hex(seed, s, 'coronary')}", p, _onset(rng, a), codings))
        for j, (code, display, _) in enumerate(NOISE_CONDITIONS):
            if noise_flags[i, j]:
                cond_of[i].append(_condition(f"cond-{_hex(seed, s, code)}", p, _onset(rng, a),
                                             [_coding(ICD10, code, display)]))
        if i in excluded:
            code, display = EXCLUSION_CODE
            cond_of[i].append(_condition(f"cond-{_hex(seed, s, code)}", p, _onset(rng, a),
                                         [_coding(ICD10, code, display)]))
        if i in refuted:
            code = icd_codes[int(rng.integers(len(icd_codes)))]
            cond_of[i].append(_condition(f"cond-{_hex(seed, s, 'refuted')}", p, _onset(rng, a),
                                         [_coding(ICD10, code, CORONARY_ICD10[code])], verification="refuted"))


def _clinical_consents(seed, n, ids, pats, fb_yes, cons_of) -> None:
    rng = _rng(seed, _S_CONSENT)
    n_none = max(1, int(round(0.01 * n))) if n >= 50 else 0
    n_deny = max(1, int(round(0.005 * n))) if n >= 50 else 0
    picked = rng.permutation(n)
    no_research = set(picked[:n_none].tolist())
    deny_research = set(picked[n_none:n_none + n_deny].tolist())
    d0, d1 = _epoch(2015) // 86400, _epoch(2020) // 86400
    day = rng.integers(d0, d1, size=n)
    tod = rng.integers(9 * 3600, 17 * 3600, size=n)
    research_t = day * 86400 + tod
    feedback_t = research_t + rng.integers(0, 3600, size=n)  # signed in the same visit (or alone)
    r_when, f_when = _iso(research_t), _iso(feedback_t)
    research_purpose = {"system": ACT_REASON, "code": "HRESCH"}
    for i in range(n):
        s, p = ids[i], pats[i]
        if i not in no_research:
            cons_of[i].append(_consent(f"cons-{_hex(seed, s, 'research')}", p, str(r_when[i]), "research",
                                       "deny" if i in deny_research else "permit", research_purpose))
        cons_of[i].append(_consent(f"cons-{_hex(seed, s, 'feedback')}", p, str(f_when[i]), "patient-privacy",
                                   "permit" if fb_yes[i] else "deny", FEEDBACK_PURPOSE))


def _fhir_dirty(seed, n, ids, pats, ldl, in_bundle, known_pats, obs_of, cond_of, dirty_rows) -> None:
    rng = _rng(seed, _S_FHIR_DIRTY)
    k = _n_dirty(n, FHIR_DIRTY_PER_2000)
    counts = {kind: k for kind in FHIR_DIRTY_KINDS}
    counts["unknown_code"] = max(2, k)       # one of them inside a Bundle
    ndjson_pool = np.flatnonzero(~in_bundle)
    if ndjson_pool.size == 0:  # a one-person cohort
        ndjson_pool = np.arange(n)
    bundle_pool = np.flatnonzero(in_bundle)
    total = sum(counts.values()) - 1
    who_nd = rng.choice(ndjson_pool, size=total, replace=ndjson_pool.size < total) if ndjson_pool.size else []
    who_b = int(rng.choice(bundle_pool)) if bundle_pool.size else None
    t = _iso(_lab_times(rng, sum(counts.values()), 2016, 2024))
    it_who = iter(int(x) for x in who_nd)
    it_t = iter(str(x) for x in t)
    for kind in FHIR_DIRTY_KINDS:
        for j in range(counts[kind]):
            if kind == "unknown_code" and j == 0 and who_b is not None:
                i = who_b
            else:
                i = next(it_who)
            s, p, when = ids[i], pats[i], next(it_t)
            rid = f"{'cond' if kind == 'bad_icd10' else 'obs'}-{_hex(seed, s, 'dirty', kind, j)}"
            v = float(max(ldl[i] + rng.normal(0.0, 0.12), 0.5))
            if kind == "unknown_code":
                r = _observation(rid, p, when, "99999-9", "Unknown local test", "laboratory",
                                 _quantity(round(v, 2), "mmol/L"))
            elif kind == "bad_unit":
                r = _ldl_observation(rid, p, when, v, 0, False)
                r["valueQuantity"] = _quantity(round(v, 2), "g")  # not a unit of LDL
            elif kind == "out_of_range":
                r = _ldl_observation(rid, p, when, _BAD_LDL[j % len(_BAD_LDL)], 0, False)
            elif kind == "unknown_patient":
                ghost = f"pat-{_hex(seed, 'ghost', j)}"
                while ghost in known_pats:  # pragma: no cover
                    ghost = f"pat-{_hex(seed, 'ghost', j, ghost)}"
                r = _ldl_observation(rid, ghost, when, v, 0, False)
            elif kind == "invalid_value":
                r = _ldl_observation(rid, p, when, v, 0, False)
                r["valueQuantity"]["value"] = _BAD_VALUES[j % len(_BAD_VALUES)]
            else:  # bad_icd10
                code = _BAD_ICD10[j % len(_BAD_ICD10)]
                r = _condition(rid, p, when[:10], [_coding(ICD10, code)])
            (cond_of if kind == "bad_icd10" else obs_of)[i].append(r)
            dirty_rows.append({"source": "fhir", "resource_type": r["resourceType"], "key": rid, "reason": kind})


# --------------------------------------------------------------------------------------
# devices


def _days_subset(rng: np.random.Generator, n_days: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row r, n_days[r] distinct days in [0, horizon): (row, day) pairs sorted by row, day."""
    if n_days.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    ranks = np.argsort(np.argsort(rng.random((n_days.size, horizon)), axis=1), axis=1)
    rows, days = np.nonzero(ranks < n_days[:, None])
    return rows.astype(np.int64), days.astype(np.int64)


def _devices(seed, ids, age, sex, sys_mean, hr_mean, diabetic) -> tuple[pd.DataFrame, list[dict]]:
    rng = _rng(seed, _S_DEVICE)
    n = len(ids)
    start = _epoch(2024) + rng.integers(0, 366 - DEVICE_DAYS, size=n) * 86400
    has_bp = rng.random(n) < SHARE_BP
    has_steps = rng.random(n) < SHARE_STEPS
    has_weight = rng.random(n) < SHARE_WEIGHT
    has_glucose = rng.random(n) < np.where(diabetic, 0.8, (SHARE_GLUCOSE - 0.08 * 0.8) / 0.92)
    bp_unit = np.where(rng.random(n) < 0.7, "mm[Hg]", "mmHg")
    hr_unit = np.where(rng.random(n) < 0.7, "/min", "{beats}/min")
    glucose_mgdl = rng.random(n) < 0.4
    weight_lb = rng.random(n) < 0.3
    parts = []   # (person, measure index, time, value, unit)

    # blood pressure monitor: twice a day on 20-60 days; heart rate with every reading
    who = np.flatnonzero(has_bp)
    r, d = _days_subset(rng, rng.integers(20, 61, size=who.size), DEVICE_DAYS)
    p = np.repeat(who[r], 2)
    d = np.repeat(d, 2)
    evening = np.tile([0, 1], r.size)
    tod = np.where(evening == 1, rng.integers(18 * 60 + 30, 22 * 60, size=p.size),
                   rng.integers(6 * 60 + 30, 9 * 60, size=p.size)) * 60
    t = start[p] + d * 86400 + tod
    systolic = sys_mean[p] + rng.normal(0.0, 8.0, size=p.size)
    diastolic = 0.62 * systolic + rng.normal(0.0, 5.0, size=p.size)
    heart = hr_mean[p] + rng.normal(0.0, 5.0, size=p.size)
    parts += [(p, 0, t, systolic, bp_unit[p]), (p, 1, t, diastolic, bp_unit[p]), (p, 2, t, heart, hr_unit[p])]

    # glucose meter: a few readings a week (distinct days)
    who = np.flatnonzero(has_glucose)
    per_week = rng.uniform(2.0, 5.0, size=who.size)
    r, d = _days_subset(rng, rng.binomial(DEVICE_DAYS, per_week / 7.0), DEVICE_DAYS)
    p = who[r]
    t = start[p] + d * 86400 + rng.integers(6 * 60, 22 * 60, size=p.size) * 60
    g_mean = np.where(diabetic, rng.normal(8.5, 1.5, size=n), rng.normal(5.6, 0.5, size=n)).clip(4.0, 16.0)
    mmol = np.clip(g_mean[p] + rng.normal(0.0, 1.0, size=p.size), 2.5, 30.0)
    parts.append((p, 3, t, np.where(glucose_mgdl[p], mmol * MGDL_PER_MMOL_GLUCOSE, mmol),
                  np.where(glucose_mgdl[p], "mg/dL", "mmol/L")))

    # scale: weekly (most weeks)
    who = np.flatnonzero(has_weight)
    weeks = DEVICE_DAYS // 7
    rows = np.repeat(np.arange(who.size), weeks)
    week = np.tile(np.arange(weeks), who.size)
    keep = rng.random(rows.size) < 0.85
    rows, week = rows[keep], week[keep]
    p = who[rows]
    t = start[p] + (week * 7 + rng.integers(0, 7, size=p.size)) * 86400 + rng.integers(6 * 60, 8 * 60, size=p.size) * 60
    kg_mean = rng.normal(np.where(sex == "M", 84.0, 70.0), 13.0).clip(45.0, 180.0)
    kg = kg_mean[p] + rng.normal(0.0, 0.7, size=p.size)
    parts.append((p, 4, t, np.where(weight_lb[p], kg * LB_PER_KG, kg), np.where(weight_lb[p], "[lb_av]", "kg")))

    # pedometer: daily totals on 60-90 days, stamped at 23:59
    who = np.flatnonzero(has_steps)
    r, d = _days_subset(rng, rng.integers(60, DEVICE_DAYS + 1, size=who.size), DEVICE_DAYS)
    p = who[r]
    t = start[p] + d * 86400 + (23 * 60 + 59) * 60
    step_mean = np.exp(rng.normal(np.log(7000.0), 0.35, size=n) - 0.004 * (age - 55.0))
    steps = np.rint(np.maximum(step_mean[p] * (1.0 + rng.normal(0.0, 0.3, size=p.size)), 0.0))
    parts.append((p, 5, t, steps, np.full(p.size, "{steps}")))

    person = np.concatenate([x[0] for x in parts]).astype(np.int64)
    measure = np.concatenate([np.full(x[0].size, x[1], dtype=np.int64) for x in parts])
    time = np.concatenate([x[2] for x in parts]).astype(np.int64)
    value = np.concatenate([np.asarray(x[3], dtype=float) for x in parts])
    unit = np.concatenate([np.asarray(x[4], dtype=object) for x in parts])
    order = np.lexsort((measure, time, person))
    person, measure, time, value, unit = person[order], measure[order], time[order], value[order], unit[order]
    is_steps = measure == 5
    text = np.empty(value.size, dtype=object)
    text[is_steps] = np.char.mod("%d", value[is_steps].astype(np.int64)).astype(object)
    text[~is_steps] = np.char.mod("%.1f", value[~is_steps]).astype(object)
    frame = pd.DataFrame({
        "sample_id": np.asarray(ids, dtype=object)[person] if n else np.zeros(0, dtype=object),
        "measure": np.asarray(DEVICE_MEASURES, dtype=object)[measure],
        "value": text,
        "unit": unit.astype(object),
        "time": _iso(time).astype(object),
    }, columns=DEVICE_COLUMNS)
    return _device_dirty(seed, frame, set(ids))


def _device_dirty(seed: int, df: pd.DataFrame, known: set[str]) -> tuple[pd.DataFrame, list[dict]]:
    rng = _rng(seed, _S_DEVICE_DIRTY)
    m = len(df)
    k = _n_dirty(len(known), DEVICE_DIRTY_PER_2000)
    if m == 0:
        return df.reset_index(drop=True), []
    sample = df["sample_id"].to_numpy(dtype=object).copy()
    measure = df["measure"].to_numpy(dtype=object).copy()
    value = df["value"].to_numpy(dtype=object).copy()
    unit = df["unit"].to_numpy(dtype=object).copy()
    time = df["time"].to_numpy(dtype=object).copy()
    free = np.ones(m, dtype=bool)
    reason_at: dict[int, str] = {}

    def take(kind: str, pool_mask: np.ndarray | None = None) -> np.ndarray:
        pool = np.flatnonzero(free & (pool_mask if pool_mask is not None else True))
        if pool.size < k:  # fall back to any free row
            pool = np.flatnonzero(free)
        rows = _pick(rng, pool, k)
        free[rows] = False
        for x in rows.tolist():
            reason_at[x] = kind
        return rows

    for j, x in enumerate(take("unknown_measure").tolist()):
        measure[x] = _BAD_MEASURES[j % len(_BAD_MEASURES)]
    for j, x in enumerate(take("non_numeric").tolist()):
        value[x] = _BAD_NUMBERS[j % len(_BAD_NUMBERS)]
    for j, x in enumerate(take("bad_time").tolist()):
        time[x] = _BAD_TIMES[j % len(_BAD_TIMES)]
    hr = measure == "heart_rate"
    for x in take("negative", hr if (hr & free).sum() >= k else measure != "steps").tolist():
        value[x] = "-" + str(value[x])
    for x in take("out_of_range").tolist():
        ms = str(measure[x])
        value[x] = _OUT_OF_RANGE.get(f"{ms}:{unit[x]}", _OUT_OF_RANGE.get(ms, "99999.0"))
    width = max(5, max(len(s) for s in known) - 2)
    used = set(known)
    for x in take("unknown_participant").tolist():
        while True:
            sid = f"XX{int(rng.integers(1, 10**width)):0{width}d}"
            if sid not in used:
                break
        used.add(sid)
        sample[x] = sid
    dup_src = take("duplicate_reading")
    for x in dup_src.tolist():      # the original stays clean; its copy (inserted after it) is dirty
        del reason_at[x]

    src = np.concatenate([np.arange(m), dup_src])
    is_copy = np.concatenate([np.zeros(m, dtype=np.int64), np.ones(dup_src.size, dtype=np.int64)])
    order = np.lexsort((is_copy, src))
    out = pd.DataFrame({"sample_id": sample[src[order]], "measure": measure[src[order]],
                        "value": value[src[order]], "unit": unit[src[order]], "time": time[src[order]]},
                       columns=DEVICE_COLUMNS)
    new_pos = np.empty(order.size, dtype=np.int64)
    new_pos[order] = np.arange(order.size)
    rows = [(int(new_pos[x]), kind) for x, kind in reason_at.items()]
    rows += [(int(new_pos[m + j]), "duplicate_reading") for j in range(dup_src.size)]
    rows.sort()
    return out, [{"source": "devices", "resource_type": "reading", "key": str(pos), "reason": kind}
                 for pos, kind in rows]


# --------------------------------------------------------------------------------------
# file text (the job writes these)


def _dumps(resource: dict) -> str:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def ndjson_lines(extract: ClinicalExtract) -> dict[str, list[str]]:
    """{resource type: lines of <type>.ndjson (no newlines)}: the resources of people not in
    ``bundle_people``, in order; Observation.ndjson has the bad line at ``bad_json_line``."""
    out = {}
    for rtype in RESOURCE_TYPES:
        lines = [_dumps(r) for r in extract.resources(rtype) if extract.owner[r["id"]] not in extract.bundle_people]
        if rtype == "Observation" and extract.bad_json_line:
            lines.insert(extract.bad_json_line - 1, extract.bad_json_text)
        out[rtype] = lines
    return out


def bundles(extract: ClinicalExtract, people_per_bundle: int = PEOPLE_PER_BUNDLE) -> list[dict]:
    """FHIR collection Bundles with every resource of ``bundle_people``, ``people_per_bundle``
    people each (in the order of ``extract.patients``), each person's resources together:
    Patient, Observations, Conditions, Consents. fullUrl is a urn:uuid derived from the id."""
    by_owner: dict[str, list[dict]] = {}
    for rtype in RESOURCE_TYPES:
        for r in extract.resources(rtype):
            s = extract.owner[r["id"]]
            if s in extract.bundle_people:
                by_owner.setdefault(s, []).append(r)
    people = [p["identifier"][0]["value"] for p in extract.patients
              if p["identifier"][0]["value"] in extract.bundle_people]
    out = []
    for b in range(0, len(people), people_per_bundle):
        entries = []
        for s in people[b:b + people_per_bundle]:
            for r in by_owner.get(s, []):
                url = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:genolake:{r['resourceType']}/{r['id']}")
                entries.append({"fullUrl": f"urn:uuid:{url}", "resource": r})
        out.append({"resourceType": "Bundle", "type": "collection", "entry": entries})
    return out


def bundle_text(bundle: dict) -> str:
    return json.dumps(bundle, ensure_ascii=False, indent=1, allow_nan=False) + "\n"


def ndjson_text(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)
