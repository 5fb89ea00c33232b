"""Polygenic scoring (genomics/scoring.py) against plink2 --score on the test cohort: several
weight sets in one pass, missing calls mean-imputed as PLINK does."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from genomics.plink_bed import read_bed_selected, read_bim_fam
from genomics.scoring import score_blocks


def test_scores_agree_with_plink2_score(cohort_dir, tmp_path):
    if not shutil.which("plink2"):
        pytest.skip("plink2 not installed (make test installs it)")
    vcf = sorted((cohort_dir / "genotypes").glob("*.vcf.gz"))[0]
    subprocess.run(["plink2", "--vcf", str(vcf), "--max-alleles", "2", "--make-bed", "--out", str(tmp_path / "g"),
                    "--threads", "2"], check=True, capture_output=True)
    bim, fam = read_bim_fam(str(tmp_path / "g"))
    rng = np.random.default_rng(6)
    rows = np.sort(rng.choice(len(bim), 400, replace=False))
    w = rng.normal(size=(len(rows), 3))
    w[rng.random(w.shape) < 0.5] = 0.0                         # sets of different variants
    pd.DataFrame({"ID": bim["id"].to_numpy()[rows], "A1": bim["alt"].to_numpy()[rows],
                  **{f"W{k}": w[:, k] for k in range(3)}}).to_csv(tmp_path / "w.txt", sep="\t", index=False)
    subprocess.run(["plink2", "--bfile", str(tmp_path / "g"), "--score", str(tmp_path / "w.txt"), "1", "2", "header",
                    "cols=+scoresums", "--score-col-nums", "3-5", "--out", str(tmp_path / "s")],
                   check=True, capture_output=True)
    ref = pd.read_csv(tmp_path / "s.sscore", sep="\t", dtype={"IID": str}).set_index("IID").loc[fam["iid"]]
    calls = read_bed_selected(str(tmp_path / "g"), len(fam), rows)
    assert (calls < 0).any()                                   # missing calls are imputed
    cols = np.arange(len(fam))
    got = score_blocks(lambda a, b: read_bed_selected(str(tmp_path / "g"), len(fam), rows[a:b]), len(rows), w, cols,
                       block=64)
    for k in range(3):
        assert np.allclose(got[:, k], ref[f"SCORE{k + 1}_SUM"], rtol=1e-5, atol=1e-4), k
    # a subset of the samples scores the same (the imputed value is the file's frequency)
    sub = cols[::3]
    assert np.allclose(score_blocks(lambda a, b: read_bed_selected(str(tmp_path / "g"), len(fam), rows[a:b]),
                                    len(rows), w, sub), got[sub])
