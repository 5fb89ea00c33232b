"""Participant reports (models/reports.py): JSON content, HTML escaping, safe file names."""
from __future__ import annotations

import copy
import json
import re

import pytest

from models.reports import DISCLAIMER, build_report, render_report_html, safe_filename

NASTY_ID = "<script>alert(1)</script>"
NASTY_TRAIT = "t&\"'<>"


def _participant(pid="GL-000123", trait_name="type_2_diabetes", **over):
    p = {
        "participant_id": pid,
        "generated_at": "2025-01-02T03:04:05+00:00",
        "run_id": "run-42",
        "data_versions": {"genotypes_qc": 3, "phenotypes": 1, "prs_scores": 7},
        "traits": [
            {
                "trait": trait_name, "trait_type": "binary", "prs": 1.234567,
                "prs_percentile": 91.6, "predicted": 0.21, "category": "elevated",
                "reference_mean": 0.1, "model_name": "risk_t2d", "model_version": "2",
                "mlflow_run_id": "abc123",
            },
            {
                "trait": "ldl", "trait_type": "quantitative", "prs": -0.5,
                "prs_percentile": 31.0, "predicted": 3.456, "category": "average",
                "reference_mean": 3.2, "model_name": "risk_ldl", "model_version": 1,
                "mlflow_run_id": "def456",
            },
        ],
    }
    p.update(over)
    return p


# ----------------------------------------------------------------------------- build_report
def test_build_report_content_and_json():
    inp = _participant()
    before = copy.deepcopy(inp)
    rep = build_report(inp)
    assert inp == before  # input not mutated
    assert rep["schema_version"] == "1.0"
    assert rep["participant_id"] == "GL-000123"
    assert rep["generated_at"] == "2025-01-02T03:04:05+00:00"
    assert rep["run_id"] == "run-42"
    assert rep["data_versions"] == {"genotypes_qc": 3, "phenotypes": 1, "prs_scores": 7}
    assert rep["disclaimer"] == DISCLAIMER and "not medical advice" in rep["disclaimer"]
    t2d, ldl = rep["traits"]
    assert t2d["trait"] == "type_2_diabetes" and t2d["display_name"] == "type 2 diabetes"
    assert t2d["relative_to_average"] == pytest.approx(2.1)
    assert t2d["summary"] == ("Your estimated risk of type 2 diabetes is somewhat higher than "
                              "the cohort average (about 2.1 times the average).")
    assert "92nd percentile" in t2d["prs_summary"]
    assert t2d["model_version"] == "2" and ldl["model_version"] == "1"
    assert ldl["relative_to_average"] is None
    assert ldl["summary"].startswith("Your estimated ldl is within the typical range")
    assert "3.46" in ldl["summary"] and "31st percentile" in ldl["prs_summary"]
    # strict JSON and deterministic
    s = json.dumps(rep, allow_nan=False, sort_keys=True)
    assert s == json.dumps(build_report(_participant()), allow_nan=False, sort_keys=True)


@pytest.mark.parametrize("category,phrase", [
    ("below average", "lower than the cohort average"),
    ("average", "close to the cohort average"),
    ("high", "higher than the cohort average"),
    ("custom band", "about 0.50 times the cohort average"),
])
def test_sentence_chosen_by_category(category, phrase):
    p = _participant()
    p["traits"] = [dict(p["traits"][0], category=category, predicted=0.05)]
    assert phrase in build_report(p)["traits"][0]["summary"]


def test_nan_values_become_null_and_missing_ratio_sentence():
    p = _participant()
    p["traits"][0].update(predicted=float("nan"), prs_percentile=float("inf"), category=None)
    rep = build_report(p)
    t = rep["traits"][0]
    assert t["predicted"] is None and t["prs_percentile"] is None and t["prs_summary"] is None
    assert "could not be compared" in t["summary"]
    json.dumps(rep, allow_nan=False)
    with pytest.raises(ValueError):
        build_report(_participant(pid=""))
    bad = _participant()
    bad["traits"][0]["trait_type"] = "ordinal"
    with pytest.raises(ValueError):
        build_report(bad)


# ----------------------------------------------------------------------------- HTML
def test_html_escapes_every_value():
    p = _participant(pid=NASTY_ID, trait_name=NASTY_TRAIT)
    p["data_versions"] = {"<b>tbl</b>": "<i>v</i>"}
    p["run_id"] = "\"><img src=x onerror=alert(2)>"
    p["traits"][0]["category"] = "<em>elevated</em>"
    p["traits"][0]["mlflow_run_id"] = "' onmouseover='x"
    page = render_report_html(build_report(p))
    assert "<script" not in page.lower()
    assert "<img" not in page and "<em>" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "t&amp;&quot;&#x27;&lt;&gt;" in page
    assert NASTY_TRAIT not in page
    assert "&#x27; onmouseover=&#x27;x" in page
    # no attribute value contains an unescaped quote-breaking sequence
    for attr in re.findall(r'="([^"]*)"', page):
        assert "<" not in attr and ">" not in attr


def test_html_self_contained_with_percentile_bars():
    page = render_report_html(build_report(_participant()))
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    low = page.lower()
    for forbidden in ("http://", "https://", "<script", "<link", "<img", "src=", "@import", "url("):
        assert forbidden not in low
    # one bar per PRS percentile, at the right positions
    assert page.count('class="bar"') == 2
    assert 'style="left:91.6%"' in page and 'style="left:31.0%"' in page
    assert "2.1 \u00d7 average" in page
    assert "21.0%" in page and "10.0%" in page
    assert "genotypes_qc" in page and "risk_t2d (version 2)" in page
    assert "not medical advice" in page


def test_percentile_bar_clamped():
    p = _participant()
    p["traits"][0]["prs_percentile"] = 140
    page = render_report_html(build_report(p))
    assert 'style="left:100.0%"' in page


# ----------------------------------------------------------------------------- safe_filename
ALLOWED = re.compile(r"^[A-Za-z0-9._-]+$")


def _check(name: str, max_length: int = 100):
    assert ALLOWED.match(name), name
    assert not name.startswith(".")
    assert "/" not in name and "\\" not in name
    assert 0 < len(name) <= max_length


def test_safe_filename_keeps_clean_ids():
    for ident in ("GL-000123", "sample_1.v2", "ABC"):
        assert safe_filename(ident) == ident


@pytest.mark.parametrize("ident", [
    "../../etc/passwd", "..", ".", ".hidden", "", "a/b", "a\\b", "Jörg Müller", "患者42",
    "x" * 300, "nul\x00byte", "line\nbreak", "C:\\Windows\\x",
])
def test_safe_filename_sanitises(ident):
    name = safe_filename(ident)
    _check(name)
    assert name != ident
    assert re.search(r"__h[0-9a-f]{12}$", name)


def test_safe_filename_no_collisions():
    ids = ["a/b", "a_b", "a\\b", "a:b", "a b", "a/b/", "..", "__", "._", "_.", "", " ",
           "é", "è", "x" * 150, "x" * 151, "x" * 99 + "y" + "x" * 50,
           "a_b__h0123456789ab", "Jörg", "J_rg"]
    # an unchanged id that happens to look like the hashed form of another one
    ids.append(safe_filename("a/b"))
    names = [safe_filename(i) for i in ids]
    for n in names:
        _check(n)
    assert len(set(names)) == len(set(ids))
    assert safe_filename("a_b") == "a_b"  # the clean one stays readable
    assert safe_filename("../../etc/passwd") == safe_filename("../../etc/passwd")  # deterministic


def test_safe_filename_length_cap():
    name = safe_filename("p" * 500, max_length=40)
    _check(name, 40)
    assert len(name) == 40
    assert safe_filename("p" * 100) == "p" * 100  # exactly at the cap: unchanged
    assert len(safe_filename("p" * 101)) == 100


def test_no_feedback_consent_information_means_no_report():
    """issue 11 item 10: no consent_feedback_column and no Consent records -> nobody gets a report."""
    import pandas as pd
    from jobs.reports import consented
    from phenotypes.consent import describe_consent, feedback_column
    cohort = pd.DataFrame({"participant_id": ["a", "b", "c"], "consent_feedback": ["yes", "yes", "no"]})
    assert feedback_column(False, None) is None
    assert consented(cohort, feedback_column(False, None)).tolist() == [False, False, False]
    # a configured column, or the column the cohort job fills from Consent records, is used
    assert consented(cohort, feedback_column(False, "consent_feedback")).tolist() == [True, True, False]
    assert consented(cohort, feedback_column(True, None)).tolist() == [True, True, False]
    assert describe_consent(0, 2000, 2000, None, 0) == (
        "Consent: no consent information: research use assumed for all 2,000 participants (documented default); "
        "individual feedback: none (no consent_feedback_column and no Consent records) - 0 reports")
    assert describe_consent(10, 5, 4, None, 3).startswith(
        "Consent: research use from 10 Consent records: 4 of 5 participants consented")


def test_model_summary_names_the_validation_split_and_counts_as_ints():
    """issue 11 item 15: models/summary.tsv's fit split is validation; counts are integers."""
    from jobs.risk import summary_row
    row = summary_row("cad", "genolake_cad", 3, {"n_train": 120.0, "n_test": 80.0, "auc_full": 0.7,
                                                  "n_dropped_missing_train": 2.0})
    assert row["n_validation"] == 120 and isinstance(row["n_validation"], int) and "n_train" not in row
    assert row["n_test"] == 80 and isinstance(row["n_test"], int)
    assert row["n_dropped_missing_validation"] == 2 and row["auc_full"] == 0.7
