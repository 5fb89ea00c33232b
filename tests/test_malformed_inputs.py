"""Malformed-input corpus (issue 12): phenotype tables, FHIR (Bundle and NDJSON), device files
and configs. Each case is built here from a small string and names the specific error it must
raise (``InputDataError`` / ``ConfigError`` text, line, field) or the quarantine row it must
produce (line, field, reason); a few are well-formed variants that must be read (decimal commas,
missing-value tokens, a configured encoding). The Hypothesis fuzz tests are in
tests/test_malformed_fuzz.py."""
from __future__ import annotations

import copy
import gzip
import json
import re
from dataclasses import dataclass, field

import pandas as pd
import pytest
import yaml

from genomics.errors import InputDataError
from jobs.config import ConfigError, validate_config
from jobs.phenotypes import conf_path
from phenotypes.codes import CodeBook
from phenotypes.devices import read_device_readings
from phenotypes.fhir_reader import read_fhir
from phenotypes.pseudonyms import Pseudonymiser
from phenotypes.table_reader import read_raw_table, validate_phenotype_table

SYS = "urn:genolake:sample-id"
CODES = CodeBook(yaml.safe_load(open(conf_path("conf/clinical_codes.yaml"))))
CONSENT_MAP = yaml.safe_load(open(conf_path("conf/consent_codes.yaml")))
PSEUDO = Pseudonymiser(b"k" * 32)
SEX = {"male": ["M"], "female": ["F"]}
COLUMNS = {"age": {"type": "float", "min": 18, "max": 110, "required": True},
           "ldl_c": {"type": "float", "min": 0.5, "max": 15},
           "cad": {"type": "binary"},
           "visits": {"type": "int", "min": 0},
           "site": {"type": "string"},
           "smoking": {"type": "code", "codes": ["never", "former", "current"]}}
HEADER = "sample_id,sex,age,ldl_c,cad,visits,site,smoking"
GOOD = "A,M,50,3.1,0,2,Leeds,never"


@dataclass
class Err:
    """An InputDataError (or ConfigError) whose text matches ``pattern``."""
    pattern: str
    line: int | None = None
    field: str | None = None


@dataclass
class Quar:
    """A quarantine row on ``line`` for ``field`` whose reason matches ``reason``."""
    line: int
    field: str | None
    reason: str


@dataclass
class Read:
    """Read without quarantine; ``values``: (participant/row key, column) -> expected value (None: missing)."""
    values: dict = field(default_factory=dict)


def _row(**over):
    vals = dict(zip(HEADER.split(","), GOOD.split(",")))
    vals.update(over)
    return ",".join(vals.values())


def _table(*rows, header=HEADER):
    return "\n".join([header, *rows]) + "\n"


# ---------------------------------------------------------------- phenotype tables
# (id, file content (str or bytes), expectation, file suffix, options)
TABLE_CASES = [
    ("latin1_bytes", _table(GOOD).encode() + "B,F,61,3.0,1,0,Malm\u00f6,never\n".encode("latin-1"),
     Err(r"line 3: not valid utf-8 text \(byte 0xf6 at column 20\); the file looks like Latin-1", line=3), ".csv", {}),
    ("latin1_with_configured_encoding", (_table(GOOD) + "B,F,61,3.0,1,0,Malm\u00f6,never\n").encode("latin-1"),
     Read({("B", "site"): "Malm\u00f6"}), ".csv", {"encoding": "latin-1"}),
    ("cp1252_quote", _table(GOOD).encode() + b"B,F,61,3.0,1,0,\x93Leeds\x94,never\n",
     Err(r"line 3: not valid utf-8 text \(byte 0x93 .*Windows-1252", line=3), ".csv", {}),
    ("utf16_bom", _table(GOOD).encode("utf-16"),
     Err(r"line 1: not valid utf-8 text .*UTF-16", line=1), ".csv", {}),
    ("utf8_bom_header", b"\xef\xbb\xbf" + _table(GOOD).encode(), Read({("A", "age"): 50.0}), ".csv", {}),
    ("empty_file", "", Err(r"file is empty", line=1), ".csv", {}),
    ("blank_lines_only", "\n\n  \n", Err(r"file is empty", line=1), ".csv", {}),
    ("not_gzip", b"sample_id,sex\nA,M\n", Err(r"cannot be read \(BadGzipFile"), ".csv.gz", {}),
    ("no_sample_id_column", _table("A,M,50,3.1,0,2,Leeds,never", header=HEADER.replace("sample_id", "id")),
     Err(r"line 1, field 'sample_id': required column is missing", line=1, field="sample_id"), ".csv", {}),
    ("configured_column_absent", _table("A,M,50,0,2,Leeds,never", header=HEADER.replace("ldl_c,", "")),
     Err(r"field 'ldl_c': required column is missing from the header", field="ldl_c"), ".csv", {}),
    ("duplicate_header_name", _table("A,M,50,3.1,0,2,Leeds,never,x", header=HEADER + ",site"),
     Err(r"field 'site': column name appears twice", line=1, field="site"), ".csv", {}),
    ("short_row", _table(GOOD, "B,F,61,3.0,1"), Quar(3, "", r"^5 fields, expected 8$"), ".csv", {}),
    ("long_row", _table(GOOD, _row(sample_id="B") + ",extra"), Quar(3, "", r"^9 fields, expected 8$"), ".csv", {}),
    ("unclosed_quote", _table(GOOD, 'B,F,61,3.0,1,0,"Leeds,never', _row(sample_id="C")),
     Quar(3, "", r"^7 fields, expected 8 \(a quoted field runs over several lines: an unclosed quote\?\)"),
     ".csv", {}),
    ("semicolon_decimal_comma", "sample_id;sex;age;ldl_c;cad;visits;site;smoking\nA;M;50,5;3,1;0;2;Leeds;never\n",
     Read({("A", "age"): 50.5, ("A", "ldl_c"): 3.1}), ".csv", {}),
    ("semicolon_decimal_point_configured", "sample_id;sex;age;ldl_c;cad;visits;site;smoking\nA;M;50;3,1;0;2;x;never\n",
     Quar(2, "ldl_c", r"^bad type: expected a number$"), ".csv", {"decimal": "."}),
    ("comma_decimal_configured_tab", "sample_id\tsex\tage\tldl_c\tcad\tvisits\tsite\tsmoking\n"
                                     "A\tM\t50\t3,1\t0\t2\tx\tnever\n",
     Read({("A", "ldl_c"): 3.1}), ".txt", {"decimal": ","}),
    ("tab_delimited_csv_suffix", _table(GOOD).replace(",", "\t"), Read({("A", "ldl_c"): 3.1}), ".csv", {}),
    ("pipe_delimited", _table(GOOD).replace(",", "|"), Read({("A", "visits"): 2.0}), ".dat", {}),
    ("delimiter_configured_wrong", _table(GOOD),
     Err(r"field 'sample_id': required column is missing from the header; the header is a single field "
         r"when read with delimiter ';': is that the file's delimiter\?", field="sample_id"), ".csv", {"delimiter": ";"}),
    ("bad_number", _table(_row(age="forty")), Quar(2, "age", r"^bad type: expected a number$"), ".csv", {}),
    ("infinite_number", _table(_row(ldl_c="inf")), Quar(2, "ldl_c", r"^bad type: expected a number$"), ".csv", {}),
    ("underscore_number", _table(_row(ldl_c="1_0")), Quar(2, "ldl_c", r"^bad type: expected a number$"), ".csv", {}),
    ("out_of_range", _table(_row(age="250")), Quar(2, "age", r"^out of range: allowed \[18, 110\]$"), ".csv", {}),
    ("int_with_fraction", _table(_row(visits="2.5")), Quar(2, "visits", r"^bad type: expected an integer$"),
     ".csv", {}),
    ("bad_binary", _table(_row(cad="2")), Quar(2, "cad", r"^bad type: expected a binary code"), ".csv", {}),
    ("code_not_in_dictionary", _table(_row(smoking="sometimes")),
     Quar(2, "smoking", r"^bad value: not one of the dictionary's codes$"), ".csv", {}),
    ("missing_required_empty", _table(_row(age="")), Quar(2, "age", r"^missing required value$"), ".csv", {}),
    ("missing_required_NA", _table(_row(age="NA")), Quar(2, "age", r"^missing required value$"), ".csv", {}),
    ("missing_token_NA", _table(_row(ldl_c="NA")), Read({("A", "ldl_c"): None}), ".csv", {}),
    ("missing_token_n/a", _table(_row(ldl_c="n/a")), Read({("A", "ldl_c"): None}), ".csv", {}),
    ("missing_token_N/A", _table(_row(ldl_c="N/A", cad="N/A")), Read({("A", "ldl_c"): None, ("A", "cad"): None}),
     ".csv", {}),
    ("missing_token_dash", _table(_row(ldl_c="-", visits="-")), Read({("A", "ldl_c"): None, ("A", "visits"): None}),
     ".csv", {}),
    ("missing_token_dot", _table(_row(ldl_c=".", smoking=".")), Read({("A", "ldl_c"): None, ("A", "smoking"): None}),
     ".csv", {}),
    ("missing_token_blank", _table(_row(ldl_c="  ")), Read({("A", "ldl_c"): None}), ".csv", {}),
    ("missing_token_configured", _table(_row(ldl_c="?")), Read({("A", "ldl_c"): None}), ".csv",
     {"missing_values": ["", "?"]}),
    ("missing_token_not_configured", _table(_row(ldl_c="n/a")),
     Quar(2, "ldl_c", r"^bad type: expected a number$"), ".csv", {"missing_values": ["", "?"]}),
    ("bad_sex_code", _table(_row(sex="1")), Quar(2, "sex", r"^bad value: not in the configured sex coding$"),
     ".csv", {}),
    ("missing_sex", _table(_row(sex="NA")), Quar(2, "sex", r"^missing required value$"), ".csv", {}),
    ("missing_sample_id", _table(_row(sample_id="")), Quar(2, "sample_id", r"^missing sample ID$"), ".csv", {}),
    ("sample_id_missing_token", _table(_row(sample_id="N/A")), Quar(2, "sample_id", r"^missing sample ID$"),
     ".csv", {}),
    ("duplicate_sample_id", _table(GOOD, _row(age="51")), Quar(3, "sample_id", r"^duplicate sample ID$"),
     ".csv", {}),
    ("unknown_sample", _table(_row(sample_id="Z")),
     Quar(2, "sample_id", r"^unknown sample: not in the genotype data$"), ".csv", {"known": ["A", "B"]}),
    ("nul_byte_in_number", _table(_row(age="5\x000")), Quar(2, "age", r"^bad type: expected a number$"), ".csv", {}),
]


def _read_table(tmp_path, name, content, suffix, opts):
    p = tmp_path / f"{name.replace('/', '_')}{suffix}"
    data = content if isinstance(content, bytes) else content.encode()
    p.write_bytes(gzip.compress(data) if suffix.endswith(".gz") and name != "not_gzip" else data)
    read = {k: opts[k] for k in ("encoding", "delimiter", "decimal") if k in opts}
    raw = read_raw_table(str(p), **read)
    extra = {"missing_values": opts["missing_values"]} if "missing_values" in opts else {}
    return validate_phenotype_table(raw, str(p), "sample_id", "sex", SEX, COLUMNS,
                                    known_samples=opts.get("known"), **extra), str(p)


def _check(expect, run, quarantine_of, accepted_of):
    if isinstance(expect, Err):
        with pytest.raises((InputDataError, ConfigError)) as e:
            run()
        assert re.search(expect.pattern, str(e.value)), str(e.value)
        if expect.line is not None:
            assert e.value.line == expect.line
        if expect.field is not None:
            assert e.value.field == expect.field
        return
    res = run()
    q = quarantine_of(res)
    if isinstance(expect, Quar):
        rows = q[q["line"] == expect.line]
        assert len(rows) == 1, q[["line", "field", "reason"]].to_dict("records")
        r = rows.iloc[0]
        assert re.search(expect.reason, r["reason"]), r["reason"]
        if expect.field is not None:
            assert r["field"] == expect.field
        return
    assert len(q) == 0, q[["line", "field", "reason"]].to_dict("records")
    acc = accepted_of(res)
    for (key, col), want in expect.values.items():
        got = acc.loc[key, col]
        if want is None:
            assert pd.isna(got), got
        elif isinstance(want, float):
            assert got == pytest.approx(want)
        else:
            assert got == want


@pytest.mark.parametrize("name, content, expect, suffix, opts", TABLE_CASES, ids=[c[0] for c in TABLE_CASES])
def test_phenotype_table_corpus(tmp_path, name, content, expect, suffix, opts):
    _check(expect, lambda: _read_table(tmp_path, name, content, suffix, opts)[0],
           lambda r: r.quarantine, lambda r: r.accepted.set_index("participant_id"))


def test_detected_delimiter_and_decimal_are_described(tmp_path):
    p = tmp_path / "semi.csv"
    p.write_text("sample_id;sex;age\nA;M;50,5\nB;F;61\n")
    raw = read_raw_table(str(p))
    assert (raw.delimiter, raw.decimal, raw.detected) == (";", ",", ("delimiter", "decimal"))
    assert raw.describe() == ("delimiter ';' (detected), decimal ',' (detected), encoding utf-8, 2 rows, "
                              "0 with a wrong number of fields")
    raw = read_raw_table(str(p), delimiter=";", decimal=".")
    assert raw.describe().startswith("delimiter ';' (configured), decimal '.' (configured)")


# ---------------------------------------------------------------- FHIR
def patient(pid="p1", sid="S1", **over):
    return {"resourceType": "Patient", "id": pid, "identifier": [{"system": SYS, "value": sid}],
            "gender": "female", "birthDate": "1960-05-17", **over}


def obs(oid="o1", pid="p1", code="13457-7", value=3.2, unit="mmol/L", when="2020-03-01T10:00:00Z", **over):
    r = {"resourceType": "Observation", "id": oid, "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
         "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when,
         "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}
    r.update(over)
    return {k: v for k, v in r.items() if v is not None}


def condition(cid="c1", pid="p1", system="http://hl7.org/fhir/sid/icd-10", code="E11.9", **over):
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": f"Patient/{pid}"},
            "code": {"coding": [{"system": system, "code": code}]}, "onsetDateTime": "2019-01-01", **over}


def consent(cid="k1", pid="p1"):
    return {"resourceType": "Consent", "id": cid, "status": "active",
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": f"Patient/{pid}"}, "dateTime": "2018-01-01",
            "provision": {"type": "permit", "purpose": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}]}}


def ndjson(*lines):
    """A patient on line 1, then ``lines`` (dicts as JSON, strings as they are)."""
    return "\n".join(json.dumps(x) if isinstance(x, (dict, list)) else x for x in (patient(), *lines)) + "\n"


def bundle(*resources):
    """A Bundle: the patient as entry 1, then ``resources`` (dicts as entries' resources; others as entries)."""
    entries = [{"fullUrl": "urn:uuid:p1", "resource": patient()}]
    entries += [{"resource": r} if isinstance(r, dict) and "resourceType" in r else r for r in resources]
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})


BP_PANEL = {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]}

# (id, file suffix, content (str or bytes), expectation)
FHIR_CASES = [
    ("ndjson_bad_json", ".ndjson", ndjson('{"resourceType": "Observation", '), Quar(2, "", r"^not valid JSON$")),
    ("ndjson_array_line", ".ndjson", ndjson([1, 2]), Quar(2, "", r"^not a JSON object$")),
    ("ndjson_wrong_resource_type", ".ndjson", ndjson({"resourceType": "Medication", "id": "m1"}),
     Quar(2, "resourceType", r"^resource type not used: Medication$")),
    ("ndjson_resource_type_not_a_string", ".ndjson", ndjson({"resourceType": ["Patient"], "id": "x"}),
     Quar(2, "resourceType", r"^resource type not used")),
    ("ndjson_missing_subject", ".ndjson", ndjson(obs(subject=None)),
     Quar(2, "subject", r"^refers to a Patient that is in no extract$")),
    ("ndjson_unknown_patient", ".ndjson", ndjson(obs(pid="nobody")),
     Quar(2, "subject", r"^refers to a Patient that is in no extract$")),
    ("ndjson_unknown_code", ".ndjson", ndjson(obs(code="99999-9")),
     Quar(2, "code", r"^unknown code: not in conf/clinical_codes.yaml$")),
    ("ndjson_unit_mismatch", ".ndjson", ndjson(obs(unit="g")), Quar(2, "valueQuantity.unit", r"^unit not accepted for ldl_c$")),
    ("ndjson_value_out_of_range", ".ndjson", ndjson(obs(value=300)),
     Quar(2, "valueQuantity.value", r"^out of physiological range for ldl_c \[0.3, 20\] mmol/L$")),
    ("ndjson_negative_value", ".ndjson", ndjson(obs(value=-1)),
     Quar(2, "valueQuantity.value", r"^out of physiological range for ldl_c")),
    ("ndjson_bad_date", ".ndjson", ndjson(obs(when="2020-13-45")),
     Quar(2, "effectiveDateTime", r"^invalid Observation")),
    ("ndjson_no_effective_time", ".ndjson", ndjson(obs(effectiveDateTime=None)),
     Quar(2, "effective[x]", r"^no effective time$")),
    ("ndjson_no_value", ".ndjson", ndjson(obs(valueQuantity=None)), Quar(2, "valueQuantity", r"^no value$")),
    ("ndjson_value_not_a_number", ".ndjson", ndjson(obs(value="high")), Quar(2, None, r"^invalid Observation")),
    ("ndjson_entered_in_error", ".ndjson", ndjson(obs(status="entered-in-error")),
     Quar(2, "status", r"^observation status entered-in-error$")),
    ("ndjson_subject_not_a_reference", ".ndjson", ndjson(obs(subject="Patient/p1")),
     Quar(2, None, r"^invalid Observation")),
    ("ndjson_panel_without_components", ".ndjson", ndjson(obs(code="85354-9", valueQuantity=None)),
     Quar(2, "component", r"^panel without components$")),
    ("ndjson_patient_without_sample_id", ".ndjson",
     ndjson(patient("p2", "S2", identifier=[{"system": "urn:other", "value": "X"}])),
     Quar(2, "identifier", r"^no identifier in the sample system urn:genolake:sample-id$")),
    ("ndjson_patient_bad_birth_date", ".ndjson", ndjson(patient("p2", "S2", birthDate="1960-02-30")),
     Quar(2, "birthDate", r"^invalid Patient")),
    ("ndjson_condition_malformed_icd10", ".ndjson", ndjson(condition(code="E1199999")),
     Quar(2, "code.coding", r"^malformed icd10 code$")),
    ("ndjson_condition_unknown_system", ".ndjson", ndjson(condition(system="urn:local")),
     Quar(2, "code.coding", r"^no ICD-10 or SNOMED CT code$")),
    ("ndjson_condition_entered_in_error", ".ndjson", ndjson(condition(verificationStatus={"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "entered-in-error"}]})),
     Quar(2, "verificationStatus", r"^condition entered in error$")),
    ("ndjson_consent_unknown_patient", ".ndjson", ndjson(consent(pid="nobody")),
     Quar(2, "patient", r"^refers to a Patient that is in no extract$")),
    ("ndjson_latin1_line", ".ndjson",
     ndjson().encode() + json.dumps({"resourceType": "Patient", "id": "p\u00e9"}, ensure_ascii=False).encode("latin-1"),
     Err(r"line 2: not valid utf-8 text \(byte 0xe9 .*Latin-1.*FHIR JSON is UTF-8", line=2)),
    ("ndjson_gz_corrupt", ".ndjson.gz", b"not gzip at all", Err(r"cannot be read \(BadGzipFile\)")),
    ("bundle_not_json", ".json", '{"resourceType": "Bundle",\n "entry": [', Err(r"not valid JSON", line=2)),
    ("bundle_no_resource_type", ".json", json.dumps({"entry": []}), Err(r"no resourceType", line=1)),
    ("bundle_top_level_array", ".json", "[]", Err(r"no resourceType", line=1)),
    ("bundle_entry_not_a_list", ".json", json.dumps({"resourceType": "Bundle", "entry": {"a": 1}}),
     Err(r"Bundle.entry is not a list", field="entry")),
    ("bundle_entry_without_resource", ".json", bundle({"fullUrl": "urn:uuid:x"}),
     Quar(2, "", r"^Bundle entry without a resource$")),
    ("bundle_wrong_resource_type", ".json", bundle({"resourceType": "Encounter", "id": "e1"}),
     Quar(2, "resourceType", r"^resource type not used: Encounter$")),
    ("bundle_unit_mismatch", ".json", bundle(obs(unit="mg")), Quar(2, "valueQuantity.unit", r"^unit not accepted")),
    ("bundle_missing_subject", ".json", bundle(obs(subject=None)), Quar(2, "subject", r"^refers to a Patient")),
    ("bundle_latin1", ".json", bundle(obs()).encode()[:-2] + b',{"resource": {"id": "\xe9"}}]}',
     Err(r"line 1: not valid utf-8 text .*FHIR JSON is UTF-8", line=1)),
]


def _read_fhir_file(tmp_path, name, suffix, content):
    p = tmp_path / f"{name}{suffix}"
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return read_fhir([str(p)], SYS, PSEUDO, CODES, CONSENT_MAP)


@pytest.mark.parametrize("name, suffix, content, expect", FHIR_CASES, ids=[c[0] for c in FHIR_CASES])
def test_fhir_corpus(tmp_path, name, suffix, content, expect):
    _check(expect, lambda: _read_fhir_file(tmp_path, name, suffix, content), lambda r: r.quarantine, None)


# ---------------------------------------------------------------- device files
DEV_HEADER = "sample_id,measure,value,unit,time"
DEV_GOOD = "S1,systolic_bp,120,mm[Hg],2024-01-01T08:00:00Z"


def _dev(*rows, header=DEV_HEADER):
    return "\n".join([header, DEV_GOOD, *rows]) + "\n"


DEVICE_CASES = [
    ("unknown_measure", _dev("S1,mood,3,score,2024-01-02T08:00:00Z"),
     Quar(3, "measure", r"^unknown measure: not under devices")),
    ("value_not_a_number", _dev("S1,heart_rate,fast,/min,2024-01-02T08:00:00Z"), Quar(3, "value", r"^not a number$")),
    ("value_missing", _dev("S1,heart_rate,,/min,2024-01-02T08:00:00Z"), Quar(3, "value", r"^not a number$")),
    ("unit_not_accepted", _dev("S1,weight,70,stone,2024-01-02T08:00:00Z"),
     Quar(3, "unit", r"^unit not accepted for this measure$")),
    ("bad_time", _dev("S1,heart_rate,60,/min,yesterday"), Quar(3, "time", r"^not an ISO 8601 time$")),
    ("out_of_range", _dev("S1,heart_rate,-5,/min,2024-01-02T08:00:00Z"),
     Quar(3, "value", r"^out of physiological range$")),
    ("duplicate_reading", _dev("S1,systolic_bp,121,mm[Hg],2024-01-01T08:00:00Z"),
     Quar(3, "time", r"^duplicate reading \(participant, measure, time\)$")),
    ("missing_participant", _dev(",heart_rate,60,/min,2024-01-02T08:00:00Z"),
     Quar(3, "sample_id", r"^missing participant ID$")),
    ("unknown_participant", _dev("S9,heart_rate,60,/min,2024-01-02T08:00:00Z"),
     Quar(3, "sample_id", r"^unknown participant: in no participant source$")),
    ("short_row", _dev("S1,heart_rate,60,/min"), Quar(3, "", r"^4 fields, expected 5$")),
    ("long_row", _dev("S1,heart_rate,60,/min,2024-01-02T08:00:00Z,extra"), Quar(3, "", r"^6 fields, expected 5$")),
    ("missing_unit_column", _dev(header="sample_id,measure,value,units,time"),
     Err(r"line 1, field 'unit': required column is missing from the header \(unit\)", line=1, field="unit")),
    ("latin1_bytes", _dev().encode() + "S1,heart_rate,60,/min,2024-01-02T08:00:00Z \u00b1\n".encode("latin-1"),
     Err(r"line 3: not valid utf-8 text \(byte 0xb1", line=3)),
    ("semicolon_decimal_comma", "sample_id;measure;value;unit;time\nS1;glucose;5,5;mmol/L;2024-01-02T08:00:00Z\n",
     Read({(0, "value"): 5.5})),
    ("latin1_with_configured_encoding", "sample_id,measure,value,unit,time,note\n"
                                        "S1,weight,154,lb,2024-01-02T08:00:00Z,\u00b1 1 lb\n".encode("latin-1"),
     Read({(0, "value"): 154 * 0.45359237}), {"encoding": "latin-1"}),
    ("tab_delimited_configured_decimal_comma", "sample_id\tmeasure\tvalue\tunit\ttime\n"
                                               "S1\tglucose\t5,5\tmmol/L\t2024-01-02T08:00:00Z\n",
     Read({(0, "value"): 5.5}), {"decimal": ","}),
]
DEVICE_CASES = [c if len(c) == 4 else (*c, {}) for c in DEVICE_CASES]


@pytest.mark.parametrize("name, content, expect, opts", DEVICE_CASES, ids=[c[0] for c in DEVICE_CASES])
def test_device_file_corpus(tmp_path, name, content, expect, opts):
    p = tmp_path / f"{name}.csv"
    p.write_bytes(content if isinstance(content, bytes) else content.encode())

    def run():
        return read_device_readings(read_raw_table(str(p), **opts), str(p), {}, PSEUDO, CODES,
                                    known_participants={PSEUDO("S1")})
    _check(expect, run, lambda r: r.quarantine, lambda r: r.observations)


# ---------------------------------------------------------------- configs
BASE = {"vcfs": ["a.vcf.gz"],
        "phenotypes": {"path": "p.csv", "columns": {"age": {"type": "float"}, "y": {"type": "float"}}},
        "traits": [{"name": "y", "type": "quantitative", "column": "y"},
                   {"name": "ldl", "type": "quantitative", "measure": {"name": "ldl_c"}}]}


def _set(path, value):
    def change(c):
        *head, last = path
        for k in head:
            c = c[k]
        c[last] = value
    return change


CONFIG_CASES = [
    ("trait_measure_not_in_code_book", _set(("traits", 1, "measure", "name"), "ldl"),
     Err(r"traits\[1\]\.measure: measure name 'ldl' is not in the code book conf/clinical_codes.yaml; "
         r"known names: .*hba1c, hdl_c, heart_rate, ldl_c")),
    ("feature_measure_not_in_code_book", _set(("features",), [{"name": "bp", "type": "quantitative",
                                                               "measure": {"name": "sbp"}}]),
     Err(r"features\[0\]\.measure: measure name 'sbp' is not in the code book")),
    ("unknown_encoding", _set(("phenotypes", "encoding"), "latin-9000"),
     Err(r"phenotypes\.encoding: unknown text encoding 'latin-9000'")),
    ("unknown_device_encoding", _set(("devices",), [{"path": "d.csv", "encoding": "klingon"}]),
     Err(r"devices\[0\]\.encoding: unknown text encoding 'klingon'")),
    ("bad_delimiter", _set(("phenotypes", "delimiter"), ":"), Err(r"phenotypes/delimiter: ':' is not one of")),
    ("bad_decimal", _set(("phenotypes", "decimal"), ";"), Err(r"phenotypes/decimal: ';' is not one of")),
    ("missing_values_not_a_list", _set(("phenotypes", "missing_values"), "NA"),
     Err(r"phenotypes/missing_values: 'NA' is not of type 'array'")),
    ("share_above_without_threshold", _set(("traits", 1, "measure", "summary"), "share_above"),
     Err(r"trait 'ldl': summary share_above needs a threshold")),
    ("trait_column_and_measure", _set(("traits", 1, "column"), "y"),
     Err(r"trait 'ldl' needs exactly one of column, conditions, measure")),
    ("trait_column_not_loaded", _set(("traits", 0, "column"), "bmi"),
     Err(r"trait 'y' uses column 'bmi', which is not listed under phenotypes/columns")),
]


@pytest.mark.parametrize("name, change, expect", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_config_corpus(name, change, expect):
    c = copy.deepcopy(BASE)
    change(c)
    with pytest.raises(ConfigError) as e:
        validate_config(c)
    assert re.search(expect.pattern, str(e.value)), str(e.value)


def test_config_defaults_for_table_reading():
    c = validate_config(copy.deepcopy(BASE))
    pc = c["phenotypes"]
    assert (pc["encoding"], pc["delimiter"], pc["decimal"]) == ("utf-8", None, None)
    assert pc["missing_values"] == ["", "NA", "n/a", "N/A", "NaN", "-", "."]


ALL_CASES = {"phenotype table": TABLE_CASES, "FHIR": FHIR_CASES, "device file": DEVICE_CASES,
             "config": CONFIG_CASES}


def test_corpus_has_at_least_60_cases_across_the_four_kinds():
    kinds = {k: len(v) for k, v in ALL_CASES.items()}
    assert sum(kinds.values()) >= 60 and min(kinds.values()) >= 8, kinds


def corpus_counts() -> dict:
    """Cases per kind and outcome (error / quarantine / read), for the closing note."""
    out = {}
    for kind, cases in ALL_CASES.items():
        for case in cases:
            expect = next(x for x in case if isinstance(x, (Err, Quar, Read)))
            outcome = {Err: "error", Quar: "quarantine", Read: "read"}[type(expect)]
            out[(kind, outcome)] = out.get((kind, outcome), 0) + 1
    return out


def test_a_table_unusable_as_a_whole_stops_the_ingest_early(tmp_path):
    """issue 12: a header-only table, and sex coded M/F where the config says 1/2, stop the
    phenotype job (exit 3) naming the field, what the file holds and what the config expects."""
    import pandas as pd
    from jobs.phenotypes import check_table_usable
    from genomics.errors import InputDataError
    from phenotypes.table_reader import read_raw_table, validate_phenotype_table
    pc = {"sex_column": "sex", "sex_coding": {"male": ["1"], "female": ["2"]}}
    empty = tmp_path / "empty.csv"
    empty.write_text("sample_id,sex,ldl_c\n")
    raw = read_raw_table(str(empty))
    res = validate_phenotype_table(raw, str(empty), "sample_id", "sex", pc["sex_coding"], {"ldl_c": {"type": "float"}})
    with pytest.raises(InputDataError, match="header but no rows"):
        check_table_usable(res, raw, str(empty), pc)
    mf = tmp_path / "mf.csv"
    mf.write_text("sample_id,sex,ldl_c\nA,M,3.1\nB,F,2.9\nC,M,4.0\n")
    raw = read_raw_table(str(mf))
    res = validate_phenotype_table(raw, str(mf), "sample_id", "sex", pc["sex_coding"], {"ldl_c": {"type": "float"}})
    with pytest.raises(InputDataError) as e:
        check_table_usable(res, raw, str(mf), pc)
    msg = str(e.value)
    assert "field 'sex'" in msg and "every row (3)" in msg and "'F', 'M'" in msg and "sex_coding" in msg
    ok = tmp_path / "ok.csv"
    ok.write_text("sample_id,sex,ldl_c\nA,1,3.1\nB,X,2.9\n")
    raw = read_raw_table(str(ok))
    res = validate_phenotype_table(raw, str(ok), "sample_id", "sex", pc["sex_coding"], {"ldl_c": {"type": "float"}})
    check_table_usable(res, raw, str(ok), pc)          # one bad row: quarantined, no stop
    assert len(res.accepted) == 1 and len(res.quarantine) == 1
