"""Clinical sources on hand-made records: FHIR R4 (Bundle + NDJSON), device readings, consent,
traits, pseudonyms, and erasure from Delta tables (real delta-rs tables)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from genomics.errors import InputDataError
from jobs.lake import open_lake
from jobs.phenotypes import conf_path
from phenotypes.codes import CodeBook
from phenotypes.consent import current_consent, withdrawals
from phenotypes.devices import read_device_readings
from phenotypes.fhir_reader import read_fhir
from phenotypes.pseudonyms import Pseudonymiser
from phenotypes.traits import binary_trait, code_matcher, inverse_normal, quantitative_trait

SYS = "urn:genolake:sample-id"
CODES = CodeBook(yaml.safe_load(open(conf_path("conf/clinical_codes.yaml"))))
CONSENT_MAP = yaml.safe_load(open(conf_path("conf/consent_codes.yaml")))
PSEUDO = Pseudonymiser(b"k" * 32)


def patient(pid, sid, gender="female", birth="1960-05-17"):
    return {"resourceType": "Patient", "id": pid, "identifier": [{"system": SYS, "value": sid}],
            "name": [{"family": "Doe", "given": ["Jane"]}], "gender": gender, "birthDate": birth,
            "address": [{"line": ["1 Main St"], "city": "Springfield"}]}


def obs(oid, pid, code, value, unit, when="2020-03-01T10:00:00Z", **extra):
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
            **extra}


def condition(cid, pid, system, code, ver="confirmed"):
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": f"Patient/{pid}"},
            "code": {"coding": [{"system": system, "code": code}]}, "onsetDateTime": "2019-01-01",
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                               "code": ver}]}}


def consent(cid, pid, purpose, ptype="permit", date="2018-01-01", status="active"):
    code = ({"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"} if purpose == "research"
            else {"system": "urn:genolake:consent-purpose", "code": "individual-feedback"})
    return {"resourceType": "Consent", "id": cid, "status": status,
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": f"Patient/{pid}"}, "dateTime": date,
            "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
            "provision": {"type": ptype, "purpose": [code]}}


@pytest.fixture
def fhir_dir(tmp_path):
    d = tmp_path / "fhir"
    d.mkdir()
    lines = [patient("p1", "S1"), patient("p2", "S2", "male"),
             obs("o1", "p1", "13457-7", 3.1, "mmol/L"),
             obs("o2", "p1", "13457-7", 116.0, "mg/dL", when="2021-03-01T10:00:00Z"),
             obs("o3", "p2", "99999-9", 1.0, "mmol/L"),                     # unknown code
             obs("o4", "p2", "13457-7", 3.0, "g"),                          # unit not accepted
             obs("o5", "p2", "13457-7", 250, "mmol/L"),                     # out of range
             obs("o6", "nobody", "13457-7", 3.0, "mmol/L"),                 # unknown patient
             obs("o7", "p2", "13457-7", "abc", "mmol/L"),                   # invalid resource
             condition("c1", "p1", "http://hl7.org/fhir/sid/icd-10", "I25.10"),
             condition("c2", "p2", "http://hl7.org/fhir/sid/icd-10", "I2X5"),  # malformed
             consent("k1", "p1", "research"), consent("k2", "p1", "feedback", "deny"),
             consent("k3", "p2", "research")]
    text = "\n".join(json.dumps(x) for x in lines[:9]) + "\n{not json\n" + "\n".join(json.dumps(x) for x in lines[9:])
    (d / "export.ndjson").write_text(text + "\n")
    bp = {"resourceType": "Observation", "id": "bp1", "status": "final",
          "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
          "subject": {"reference": "urn:uuid:pat-3"}, "effectiveDateTime": "2022-01-01T08:00:00+02:00",
          "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                         "valueQuantity": {"value": 16.0, "code": "kPa"}},
                        {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                         "valueQuantity": {"value": 80, "code": "mm[Hg]"}}]}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:pat-3", "resource": patient("p3", "S3")}, {"resource": bp},
        {"resource": {"resourceType": "Encounter", "id": "e1", "status": "finished"}}]}
    (d / "site_b.json").write_text(json.dumps(bundle))
    return d


def test_fhir_resources_accepted_converted_or_quarantined(fhir_dir):
    x = read_fhir([str(fhir_dir)], SYS, PSEUDO, CODES, CONSENT_MAP)
    nd, bu = str(fhir_dir / "export.ndjson"), str(fhir_dir / "site_b.json")
    assert x.counts[nd] == {"read": 15, "accepted": 8, "quarantined": 7, "withdrawn": 0}
    assert x.counts[bu] == {"read": 3, "accepted": 2, "quarantined": 1, "withdrawn": 0}
    # pseudonyms only, birth year only, no names
    assert sorted(x.patients["participant_id"]) == sorted(PSEUDO.many(["S1", "S2", "S3"]))
    assert set(x.patients.columns) == {"participant_id", "fhir_id", "sex", "birth_year", "source"}
    assert x.patients.set_index("fhir_id").loc["p1", "birth_year"] == 1960
    o = x.observations.set_index("record_id")
    assert o.loc["fhir:Observation/o1", "value"] == pytest.approx(3.1)
    assert o.loc["fhir:Observation/o2", "value"] == pytest.approx(116.0 * 0.02586)     # mg/dL -> mmol/L
    assert o.loc["fhir:Observation/o2", "unit"] == "mmol/L"
    assert o.loc["fhir:Observation/bp1#0", "value"] == pytest.approx(16.0 * 7.50062)   # kPa -> mm[Hg]
    assert o.loc["fhir:Observation/bp1#0", "participant_id"] == PSEUDO("S3")
    assert str(o.loc["fhir:Observation/bp1#1", "time"]) == "2022-01-01 06:00:00+00:00"
    q = x.quarantine.set_index("record_id")
    assert q.loc["Observation/o3", "reason"].startswith("unknown code")
    assert q.loc["Observation/o4", "reason"] == "unit not accepted for ldl_c"
    assert q.loc["Observation/o5", "reason"].startswith("out of physiological range")
    assert q.loc["Observation/o6", "reason"] == "refers to a Patient that is in no extract"
    assert q.loc["Observation/o7", "reason"].startswith("invalid Observation")
    assert q.loc["Observation/o7", "field"] == "valueQuantity.value"
    assert q.loc["Condition/c2", "reason"] == "malformed icd10 code"
    assert q.loc["Encounter/e1", "reason"] == "resource type not used: Encounter"
    bad_line = x.quarantine[x.quarantine["reason"] == "not valid JSON"]
    assert bad_line["line"].tolist() == [10]
    assert x.conditions["code"].tolist() == ["I25.10"]
    c = current_consent(x.consents).set_index("participant_id")
    assert c.loc[PSEUDO("S1")].tolist() == [True, False] and c.loc[PSEUDO("S2")].tolist() == [True, False]
    # nothing identifying anywhere in the quarantine
    blob = x.quarantine.to_csv()
    assert "Jane" not in blob and "Main St" not in blob and "S1" not in blob


def test_a_bundle_that_is_not_json_names_the_file_and_line(tmp_path):
    f = tmp_path / "broken.json"
    f.write_text('{"resourceType": "Bundle",\n "entry": [\n')
    with pytest.raises(InputDataError, match=r"broken.json, line \d+: not valid JSON"):
        read_fhir([str(f)], SYS, PSEUDO, CODES, CONSENT_MAP)


def test_withdrawn_participants_records_are_dropped_and_counted(fhir_dir):
    x = read_fhir([str(fhir_dir)], SYS, PSEUDO, CODES, CONSENT_MAP, withdrawn={PSEUDO("S1")})
    c = x.counts[str(fhir_dir / "export.ndjson")]
    assert c["withdrawn"] == 6 and c["read"] == c["accepted"] + c["quarantined"] + c["withdrawn"]
    assert PSEUDO("S1") not in set(x.observations["participant_id"]) | set(x.patients["participant_id"])


def test_device_readings_each_bad_kind_quarantined():
    rows = [("S1", "systolic_bp", "120", "mm[Hg]", "2024-01-01T08:00:00Z"),
            ("S1", "glucose", "99", "mg/dL", "2024-01-01T08:00:00Z"),
            ("S1", "weight", "154", "[lb_av]", "2024-01-02T08:00:00Z"),
            ("S1", "systolic_bp", "121", "mm[Hg]", "2024-01-01T08:00:00Z"),   # duplicate reading
            ("S9", "heart_rate", "60", "/min", "2024-01-01T08:00:00Z"),       # unknown participant
            ("S1", "mood", "3", "score", "2024-01-01T08:00:00Z"),             # unknown measure
            ("S1", "heart_rate", "fast", "/min", "2024-01-01T09:00:00Z"),     # not a number
            ("S1", "heart_rate", "-5", "/min", "2024-01-01T10:00:00Z"),       # out of range
            ("S1", "heart_rate", "60", "/min", "yesterday"),                  # bad time
            ("S1", "weight", "70", "stone", "2024-01-03T08:00:00Z"),          # bad unit
            ("S2", "steps", "8000", "{steps}", "2024-01-03T00:00:00Z")]       # withdrawn
    raw = pd.DataFrame(rows, columns=["sample_id", "measure", "value", "unit", "time"])
    known = set(PSEUDO.many(["S1", "S2"]))
    x = read_device_readings(raw, "dev.csv", {}, PSEUDO, CODES, known_participants=known, withdrawn={PSEUDO("S2")})
    assert x.counts == {"read": 11, "accepted": 3, "quarantined": 7, "withdrawn": 1}
    v = x.observations.set_index("name")["value"]
    assert v["glucose"] == pytest.approx(99 * 0.0555) and v["weight"] == pytest.approx(154 * 0.45359237)
    assert x.quarantine["line"].tolist() == [5, 6, 7, 8, 9, 10, 11]
    assert x.quarantine["reason"].tolist() == [
        "duplicate reading (participant, measure, time)", "unknown participant: in no participant source",
        "unknown measure: not under devices in conf/clinical_codes.yaml", "not a number",
        "out of physiological range", "not an ISO 8601 time", "unit not accepted for this measure"]


def test_consent_latest_decision_and_withdrawal():
    c = pd.DataFrame({"participant_id": ["A", "A", "B", "C", "C"], "purpose": ["research"] * 5,
                      "granted": [True, False, True, False, False],
                      "date": pd.to_datetime(["2018-01-01", "2024-01-01", "2018-01-01", "2018-01-01", "2019-01-01"],
                                             utc=True)})
    cur = current_consent(c).set_index("participant_id")["research"]
    assert cur.to_dict() == {"A": False, "B": True, "C": False}
    assert withdrawals(c) == {"A"}    # C never granted: excluded, not a withdrawal


def test_code_lists_and_binary_trait():
    m = code_matcher(["icd10:I20-I25", "icd10:E11", "snomed:22298006"])
    assert m("icd10", "I25.10") and m("icd10", "I20") and m("icd10", "E11.9") and m("snomed", "22298006")
    assert not m("icd10", "I26.0") and not m("icd10", "I10") and not m("snomed", "53741008")
    cond = pd.DataFrame({"participant_id": ["A", "B", "C", "D"], "code_system": ["icd10", "icd10", "icd10", "icd10"],
                         "code": ["I21.9", "I51.6", "I10", "I25.1"],
                         "verification_status": ["confirmed", "confirmed", "confirmed", "refuted"]})
    t = binary_trait(cond, pd.Series(["A", "B", "C", "D", "E"]),
                     {"cases": ["icd10:I20-I25"], "exclude": ["icd10:I51.6"]})
    assert t.astype("float").fillna(-1).tolist() == [1, -1, 0, 0, 0]


def test_quantitative_summaries_window_and_inverse_normal():
    o = pd.DataFrame({"participant_id": ["A", "A", "A", "B"], "name": "sbp", "value": [120.0, 150.0, 130.0, 160.0],
                      "time": pd.to_datetime(["2019-01-01", "2020-01-01", "2021-01-01", "2020-06-01"], utc=True),
                      "source_kind": "device"})
    ids = pd.Series(["A", "B", "C"])

    def q(**spec):
        return quantitative_trait(o, ids, {"name": "sbp", **spec}).tolist()
    assert q(summary="mean")[:2] == [pytest.approx(400 / 3), 160.0] and np.isnan(q(summary="mean")[2])
    assert q(summary="last")[:2] == [130.0, 160.0] and q(summary="max")[:2] == [150.0, 160.0]
    assert q(summary="mean", **{"from": "2020-01-01"})[:2] == [140.0, 160.0]
    assert q(summary="share_above", threshold=140)[:2] == [pytest.approx(1 / 3), 1.0]
    assert np.isnan(q(summary="mean", min_readings=2)[1])
    z = inverse_normal(pd.Series([3.0, 1.0, 2.0, np.nan]))
    assert z.iloc[1] < z.iloc[2] < z.iloc[0] and np.isnan(z.iloc[3]) and z.iloc[:3].sum() == pytest.approx(0)


def test_pseudonyms_are_keyed_and_stable():
    a, b = Pseudonymiser(b"a" * 32), Pseudonymiser(b"b" * 32)
    assert a("GL001") == a("GL001") != b("GL001") and a("GL001") != a("GL002")
    assert a("GL001").startswith("P") and len(a("GL001")) == 21 and "GL001" not in a("GL001")
    assert "a" * 32 not in repr(a)


def test_erase_deletes_rows_and_stops_time_travel(tmp_path):
    lake = open_lake(str(tmp_path))
    lake.write("t", pd.DataFrame({"participant_id": ["A", "B"], "v": [1, 2]}))
    lake.merge("t", pd.DataFrame({"participant_id": ["B", "C"], "v": [3, 4]}), keys=["participant_id"])
    assert lake.read("t", version=0)["participant_id"].tolist() == ["A", "B"]
    assert lake.erase("t", "participant_id", {"B", "Z"}) == 1
    assert sorted(lake.read("t")["participant_id"]) == ["A", "C"]
    with pytest.raises(Exception):
        lake.read("t", version=0)          # the files holding B are vacuumed
    assert "t" in lake.tables()
