"""The cohort job on a tiny lake: the split follows families from the ``relatedness`` table."""
from __future__ import annotations

import json

import pandas as pd
import yaml

from jobs.lake import open_lake
from phenotypes.cohort import assign_split


def test_cohort_job_keeps_each_family_in_one_split(tmp_path):
    ids = [f"P{i:03d}" for i in range(200)]
    results = tmp_path / "results"
    cfg = {"results": str(results), "lake": str(results / "lake"), "vcfs": ["unused.vcf.gz"],
           "phenotypes": {"path": "unused.csv", "columns": {"ldl_c": {"type": "float"}}},
           "traits": [{"name": "ldl_c", "type": "quantitative", "column": "ldl_c"}],
           "covariates": ["sex"], "split": {"seed": 11, "test": 0.3, "validation": 0.3}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    lake = open_lake(cfg["lake"])
    lake.write("participants", pd.DataFrame({"participant_id": ids, "sex": [i % 2 for i in range(200)],
                                             "ldl_c": [3.0] * 200}))
    lake.write("sample_qc", pd.DataFrame({"s": ids, "qc_pass": True, "unrelated": True, "ancestry": "cluster1"}))
    lake.write("pcs", pd.DataFrame({"s": ids, "projected": False, "PC1": range(200)}))
    # families: trios (3k, 3k+1, 3k+2) for k < 20, via two pairs each
    pairs = [(ids[3 * k], ids[3 * k + 1], 0.25) for k in range(20)] + \
            [(ids[3 * k + 1], ids[3 * k + 2], 0.25) for k in range(20)]
    lake.write("relatedness", pd.DataFrame(pairs, columns=["i", "j", "kinship"]).assign(degree="first"))
    from jobs import cohort as cohort_job
    assert cohort_job.main(["--configfile", str(path)]) == 0
    c = open_lake(cfg["lake"]).read("cohort").set_index("participant_id")
    plain = assign_split(pd.Series(ids), 11, 0.3, 0.3)
    for k in range(20):
        trio = ids[3 * k:3 * k + 3]
        assert c.loc[trio, "split"].nunique() == 1 and (c.loc[trio, "family"] == ids[3 * k]).all()
        assert c.loc[trio[0], "split"] == plain[3 * k]
    rest = list(range(60, 200))
    assert (c.loc[[ids[i] for i in rest], "split"].to_numpy() == plain[rest].to_numpy()).all()
    runs = open_lake(cfg["lake"]).read("runs")
    d = json.loads(runs[runs["job"] == "cohort"].iloc[-1]["details"])
    assert d["split_families"]["n_families"] == 20 and d["split_families"]["n_people_in_families"] == 60


def test_an_empty_cohort_or_trait_stops_before_the_gwas():
    """issue 12: an empty cohort, a quantitative trait without values and a binary trait without
    cases stop the cohort job (before any GWAS chunk) with what is missing."""
    import pandas as pd
    import pytest
    from genomics.errors import GenoLakeError
    from jobs.cohort import check_not_empty
    cfg = {"phenotypes": {"path": "p.csv", "sample_id_column": "sample_id"},
           "traits": [{"name": "ldl_c", "type": "quantitative", "column": "ldl_c"},
                      {"name": "cad", "type": "binary", "column": "cad"}]}
    with pytest.raises(GenoLakeError, match="the cohort is empty: 10 participants .* 8 QC-passed"):
        check_not_empty(pd.DataFrame(columns=["participant_id", "ldl_c", "cad"]), 10, 8, cfg)
    ok = pd.DataFrame({"participant_id": list("abcd"), "ldl_c": [1.0, 2.0, None, 3.0], "cad": [0, 1, 0, 0]})
    check_not_empty(ok, 4, 4, cfg)
    with pytest.raises(GenoLakeError, match="'cad' \\(binary\\) has 0 cases and 4 controls"):
        check_not_empty(ok.assign(cad=0), 4, 4, cfg)
    with pytest.raises(GenoLakeError, match="'ldl_c' has 0 values"):
        check_not_empty(ok.assign(ldl_c=None), 4, 4, cfg)
