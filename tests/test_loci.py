"""Lead loci by LD clumping (genomics/loci.py, genomics/clumping.py) against PLINK 1.9's
--clump on the test cohort: the same index variants and the same clump members, on an autosome
and on chrX (males haploid outside the PARs)."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from genomics.clumping import r2_from_calls
from genomics.loci import lead_loci
from genomics.plink_bed import read_bed_selected, read_bim_fam
from genomics.sex_arrays import x_nonpar_rows


@pytest.fixture(scope="module", params=["chr1", "chrX"])
def bfile(request, cohort_dir, tmp_path_factory):
    if not (shutil.which("plink2") and shutil.which("plink1.9")):
        pytest.skip("plink2 / plink1.9 not installed (make test installs them)")
    work = tmp_path_factory.mktemp(f"clump_{request.param}")
    truth = pd.read_csv(cohort_dir / "sample_truth.tsv", sep="\t")
    pd.DataFrame({"#IID": truth["sample_id"], "SEX": truth["genetic_sex"].map({"M": 1, "F": 2})}).to_csv(
        work / "sex.txt", sep="\t", index=False)
    subprocess.run(["plink2", "--vcf", str(cohort_dir / "genotypes" / f"{request.param}.vcf.gz"),
                    "--max-alleles", "2", "--update-sex", str(work / "sex.txt"), "--split-par", "b38",
                    "--output-chr", "26", "--make-bed", "--out", str(work / "g"), "--threads", "2"],
                   check=True, capture_output=True)
    return work


def plink_clump(work, p: pd.Series, ids, p1, p2, r2, kb):
    pd.DataFrame({"SNP": ids, "P": p}).dropna().to_csv(work / "p.assoc", sep="\t", index=False)
    subprocess.run(["plink1.9", "--bfile", str(work / "g"), "--clump", str(work / "p.assoc"), "--clump-p1", str(p1),
                    "--clump-p2", str(p2), "--clump-r2", str(r2), "--clump-kb", str(kb), "--out", str(work / "c")],
                   check=True, capture_output=True)
    cl = pd.read_csv(work / "c.clumped", sep=r"\s+")
    return {r.SNP: set(s.split("(")[0] for s in str(r.SP2).split(",")) - {"NONE"} for r in cl.itertuples()}


@pytest.mark.parametrize("p1,p2,r2,kb", [(1e-3, 0.05, 0.1, 250), (1e-2, 0.1, 0.5, 50)])
def test_lead_loci_match_plink19_clump(bfile, p1, p2, r2, kb):
    bim, fam = read_bim_fam(str(bfile / "g"))
    rng = np.random.default_rng(4)
    # p-values with LD structure: a few causal variants' correlation spreads their signal
    calls = read_bed_selected(str(bfile / "g"), len(fam), np.arange(len(bim)))
    x = np.where(calls >= 0, calls, np.nan)
    x = (x - np.nanmean(x, 1, keepdims=True)) / (np.nanstd(x, 1, keepdims=True) + 1e-9)
    y = np.nansum(x[rng.choice(len(bim), 6, replace=False)] * 0.15, 0) + rng.normal(size=len(fam))
    z = np.nansum(np.nan_to_num(x) * (y - y.mean()), 1) / np.sqrt(len(fam)) / y.std()
    from scipy.stats import norm
    p = pd.Series(2 * norm.sf(np.abs(z)))
    res = pd.DataFrame({"chromosome": bim["chromosome"], "base_pair_location": bim["position"],
                        "variant_id": bim["id"], "effect_allele": bim["alt"], "other_allele": bim["ref"],
                        "beta": z, "standard_error": 1.0, "p_value": p, "test": "linear", "trait": "t"})
    cand = res[res["p_value"] <= p2]
    contig = cand["chromosome"].map({"23": "chrX"}).fillna("other")          # PLINK codes chrX 23
    on_x = x_nonpar_rows(pd.DataFrame({"contig": contig, "position": cand["base_pair_location"]}), "GRCh38")
    haploid = np.outer(on_x, fam["sex"].to_numpy() == 1)
    assert haploid.any() == (bim["chromosome"] == "23").any()
    loci = lead_loci(cand, calls[cand.index], p1, p2, r2, kb, haploid=haploid)
    ref = plink_clump(bfile, p, bim["id"], p1, p2, r2, kb)
    assert len(ref) >= 5
    assert set(loci["variant_id"]) == set(ref)
    # the members of each clump: re-derive ours from the same walk
    from genomics.clumping import clump_assign
    assign = clump_assign(cand["chromosome"].to_numpy(), cand["base_pair_location"].to_numpy(),
                          cand["p_value"].to_numpy(), r2_from_calls(calls[cand.index], haploid), r2=r2,
                          window_bp=kb * 1000, p1=p1, p2=p2)
    ids = cand["variant_id"].to_numpy()
    for row, index_id in enumerate(ids):
        if assign[row] == row:
            ours = set(ids[(assign == row) & (np.arange(len(ids)) != row)])
            assert ours == ref[index_id], index_id
    print(f"\n{bim['chromosome'].iat[-1]} p1={p1} p2={p2} r2={r2} kb={kb}: {len(ref)} index variants, "
          f"{sum(map(len, ref.values()))} clumped, identical to plink1.9 --clump")
    lead = loci.set_index("variant_id")
    assert (lead["n_clumped"] == pd.Series({k: len(v) + 1 for k, v in ref.items()})[lead.index]).all()
    assert (lead["start"] <= lead["base_pair_location"]).all() and (lead["p_value"] <= p1).all()
    assert loci["locus"].tolist() == list(range(1, len(loci) + 1))
