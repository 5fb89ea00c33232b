"""Run summary (summary.txt) and results/models/summary.tsv: what they say, on a real delta-rs lake."""
from __future__ import annotations

import math

import pandas as pd

from jobs.config import validate_config
from jobs.lake import open_lake
from jobs.risk import summary_row
from jobs.summary import summary_text


def _config(tmp_path):
    return validate_config({
        "results": str(tmp_path / "res"), "lake": str(tmp_path / "lake"), "vcfs": ["a.vcf.gz"],
        "phenotypes": {"path": "p.csv", "columns": {"age": {"type": "float"}, "ldl_c": {"type": "float"},
                                                    "cad": {"type": "binary"}}},
        "traits": [{"name": "ldl_c", "type": "quantitative", "column": "ldl_c"},
                   {"name": "cad", "type": "binary", "column": "cad"}]})


def test_summary_says_none_quarantined_and_prints_real_paths(tmp_path):
    cfg = _config(tmp_path)
    lake = open_lake(cfg["lake"], "delta-rs")
    lake.write("participants", pd.DataFrame({"participant_id": pd.Series(["p1", "p2", "p3"], dtype="string")}))
    lake.write("quarantine", pd.DataFrame({"source": pd.Series([], dtype="string"),
                                           "reason": pd.Series([], dtype="string")}))
    text = summary_text(cfg, lake)
    assert "Phenotypes: 3 participants; 0 observations; quarantined per source: none" in text
    assert "<trait>" not in text and "<table>" not in text
    r = cfg["results"]
    assert f"{r}/gwas/ldl_c/gwas_summary.html , {r}/gwas/ldl_c/ldl_c.tsv.gz" in text
    assert f"{r}/gwas/cad/cad.tsv.gz" in text
    assert f"{r}/models/ldl_c/ , {r}/models/cad/" in text
    assert "(tables: participants, quarantine)" in text


def test_models_summary_row_names_the_fit_split_and_counts_are_ints():
    metrics = {"n_train": 512.0, "n_test": 498.0, "n_cases_train": 61.0, "n_dropped_missing_train": 0.0,
               "prs_sd_train": 1.25, "auc_full": 0.71, "n_boot": 200.0, "auc_gain_ci_low": math.nan}
    row = summary_row("cad", "genolake_cohort_cad_risk", "3", metrics)
    assert row["version"] == 3
    assert {k: row[k] for k in ("n_validation", "n_test", "n_cases_validation", "n_dropped_missing_validation",
                                "n_boot")} == {"n_validation": 512, "n_test": 498, "n_cases_validation": 61,
                                               "n_dropped_missing_validation": 0, "n_boot": 200}
    assert all(type(row[k]) is int for k in ("n_validation", "n_test", "n_cases_validation", "n_boot"))
    assert row["prs_sd_validation"] == 1.25 and row["auc_full"] == 0.71 and math.isnan(row["auc_gain_ci_low"])
    assert not any(k.endswith("_train") for k in row)
    tsv = pd.DataFrame([row]).to_csv(sep="\t", index=False)
    assert "\t512\t498\t" in tsv and "512.0" not in tsv
