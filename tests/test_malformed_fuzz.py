"""Hypothesis fuzzes the phenotype-table and FHIR readers with random bytes, rows and JSON
records: each call returns (read = accepted + quarantined [+ withdrawn]) or raises
``InputDataError`` naming the file, never another exception. ~100 examples each, a few seconds."""
from __future__ import annotations

import json
import math

import pytest

from genomics.errors import InputDataError
from phenotypes.fhir_reader import read_fhir
from phenotypes.table_reader import read_raw_table, validate_phenotype_table
from tests.test_malformed_inputs import (CODES, COLUMNS, CONSENT_MAP, HEADER, PSEUDO, SEX, SYS, condition, consent,
                                         obs, patient)

pytest.importorskip("hypothesis", reason="hypothesis is pinned in requirements.lock; install it to fuzz")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_cell = st.one_of(st.sampled_from(["", "NA", "n/a", "-", ".", "M", "F", "A", "B", "50", "3,5", "1e400", "nan",
                                   '"', "x;y", "\t", "0", "1", "yes"]),
                  st.text(st.characters(exclude_categories=("Cs",)), max_size=6))


@_FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_table_reader_bytes(tmp_path, data):
    p = tmp_path / "fuzz.csv"
    p.write_bytes(b"sample_id,sex,age,ldl_c,cad,visits,site,smoking\n" + data)
    _table_returns_or_input_error(str(p))


@_FUZZ
@given(rows=st.lists(st.lists(_cell, min_size=0, max_size=10), max_size=8),
       sep=st.sampled_from([",", ";", "\t", "|"]))
def test_fuzz_table_reader_rows(tmp_path, rows, sep):
    p = tmp_path / "fuzz.csv"
    p.write_text("\n".join([sep.join(HEADER.split(",")), *(sep.join(r) for r in rows)]) + "\n", encoding="utf-8")
    _table_returns_or_input_error(str(p))


def _table_returns_or_input_error(path):
    try:
        raw = read_raw_table(path)
        res = validate_phenotype_table(raw, path, "sample_id", "sex", SEX, COLUMNS)
    except InputDataError:
        return
    c = res.counts
    assert c["read"] == c["accepted"] + c["quarantined"]
    for col in ("age", "ldl_c"):
        assert all(math.isfinite(x) for x in res.accepted[col].dropna())


_json_value = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                                     st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
                                     st.sampled_from(["Patient", "Observation", "Condition", "Consent", "Bundle",
                                                      "Patient/p1", "2020-01-01", "13457-7", "mmol/L"])),
                           lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                  st.dictionaries(st.sampled_from(
                                                      ["resourceType", "id", "subject", "reference", "code",
                                                       "coding", "system", "value", "valueQuantity", "unit",
                                                       "effectiveDateTime", "status", "identifier", "entry",
                                                       "resource", "patient", "component", "birthDate"]),
                                                      kids, max_size=5)),
                           max_leaves=12)


_mutated = st.builds(lambda base, key, value: {**base, key: value},
                     st.sampled_from([obs(), patient(), condition(), consent()]),
                     st.sampled_from(["resourceType", "id", "subject", "patient", "code", "valueQuantity", "status",
                                      "effectiveDateTime", "effectivePeriod", "issued", "component", "identifier",
                                      "birthDate", "gender", "onsetDateTime", "verificationStatus", "provision",
                                      "dateTime"]),
                     _json_value)


@_FUZZ
@given(records=st.lists(st.one_of(_json_value, _mutated), max_size=5), junk=st.binary(max_size=40),
       as_bundle=st.booleans())
def test_fuzz_fhir_reader(tmp_path, records, junk, as_bundle):
    base = [patient(), obs()]
    if as_bundle:
        entries = [{"resource": r} for r in base] + [{"resource": r} if isinstance(r, dict) else r for r in records]
        text = json.dumps({"resourceType": "Bundle", "entry": entries}).encode()
        p = tmp_path / "fuzz.json"
    else:
        text = "\n".join(json.dumps(r) for r in [*base, *records]).encode() + b"\n" + junk
        p = tmp_path / "fuzz.ndjson"
    p.write_bytes(text)
    try:
        x = read_fhir([str(p)], SYS, PSEUDO, CODES, CONSENT_MAP)
    except InputDataError:
        return
    c = x.counts[str(p)]
    assert c["read"] == c["accepted"] + c["quarantined"] + c["withdrawn"]
    assert len(x.quarantine) == c["quarantined"]
