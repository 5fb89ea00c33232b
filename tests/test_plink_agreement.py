"""Genotype QC against the reference tools on the same input: PLINK 2 for the call-rate,
MAF and HWE filters, KING kinship and PCA; PLINK 1.9 for the sex check. PLINK is a
reference here, never a pipeline step."""
from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

plink2 = shutil.which("plink2")
plink19 = shutil.which("plink1.9")
pytestmark = pytest.mark.skipif(plink2 is None, reason="plink2 is not installed (make test installs it as root)")

THR = dict(sample_call_rate=0.97, variant_call_rate=0.98, maf=0.01, hwe_p=1e-6)


def run(*args, cwd):
    subprocess.run([plink2, *map(str, args), "--threads", "2"], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pgen(cohort_dir, tmp_path_factory):
    """The cohort's biallelic sites as one PLINK 2 fileset, IDs chrom:pos:ref:alt."""
    work = tmp_path_factory.mktemp("plink")
    vcfs = sorted(str(p) for p in (cohort_dir / "genotypes").glob("*.vcf.gz"))
    names = []
    for i, v in enumerate(vcfs):
        run("--vcf", v, "--max-alleles", "2", "--set-all-var-ids", "@:#:$r:$a", "--new-id-max-allele-len", "200",
            "--output-chr", "chrM", "--make-pgen", "--out", f"p{i}", cwd=work)
        names.append(f"p{i}")
    with open(work / "list.txt", "w") as fh:
        fh.write("\n".join(names[1:]) + "\n")
    if len(names) > 1:
        run("--pfile", names[0], "--pmerge-list", "list.txt", "pfile", "--output-chr", "chrM",
            "--make-pgen", "--out", "all", cwd=work)
    else:
        for ext in ("pgen", "pvar", "psam"):
            os.rename(work / f"p0.{ext}", work / f"all.{ext}")
    return work


@pytest.fixture(scope="module")
def biallelic(cohort_dir):
    """The cohort as the genotype job reads it (``read_vcfs``), only the rows from biallelic
    records (PLINK reads the fileset with --max-alleles 2)."""
    from genomics.genotype_arrays import read_vcfs
    from jobs.genotypes import _take_rows
    ga = read_vcfs(sorted(str(p) for p in (cohort_dir / "genotypes").glob("*.vcf.gz")), workers=2)
    return _take_rows(ga, ~ga.variants["was_split"].to_numpy(dtype=bool))


def vid(df):
    return df["chromosome"] + ":" + df["position"].astype(str) + ":" + df["ref"] + ":" + df["alt"]


def _variants(ga, **cols):
    v = ga.variants
    v = pd.DataFrame({"chromosome": v["contig"].astype(str), "position": v["position"].astype(int),
                      "ref": v["ref"].astype(str), "alt": v["alt"].astype(str), **cols})
    v["id"] = vid(v)
    return v


@pytest.fixture(scope="module")
def ours(biallelic):
    """The genotype job's filters (``jobs/genotypes.py``): the sample call rate over all
    variants (--mind), then call rate, MAF and HWE over the samples kept."""
    from genomics import qc_arrays as qa
    ga = biallelic
    hap = (ga.haploid_rows, ga.haploid)
    all_counts, missing = qa.count_calls(ga.gt, *hap)
    keep = missing <= qa.max_missing(ga.gt.shape[0], 1 - THR["sample_call_rate"])
    counts = qa.counts_over(ga.gt, keep, *hap, all_counts=all_counts)
    vf = qa.variant_filters(counts, counts, geno=1 - THR["variant_call_rate"], maf=THR["maf"], hwe=THR["hwe_p"])
    s = pd.DataFrame({"s": list(ga.samples), "pass_call_rate": keep})
    v = _variants(ga, pass_call_rate=vf["pass_call_rate"], pass_maf=vf["pass_maf"], pass_hwe=vf["pass_hwe"])
    return s, v


def read_list(path):
    return set(pd.read_csv(path, sep="\t", header=None, comment="#")[0].astype(str)) if os.path.getsize(path) else set()


def test_sample_call_rate_matches_plink_mind(pgen, ours):
    s, _ = ours
    run("--pfile", "all", "--mind", 1 - THR["sample_call_rate"], "--write-samples", "--out", "mind", cwd=pgen)
    assert read_list(pgen / "mind.id") == set(s.loc[s["pass_call_rate"], "s"])


@pytest.mark.parametrize("flag, col", [("--geno", "pass_call_rate"), ("--maf", "pass_maf"), ("--hwe", "pass_hwe")])
def test_variant_filters_match_plink(pgen, ours, flag, col):
    s, v = ours
    pd.DataFrame({"#IID": s.loc[s["pass_call_rate"], "s"]}).to_csv(pgen / "keep.txt", sep="\t", index=False)
    value = {"--geno": 1 - THR["variant_call_rate"], "--maf": THR["maf"], "--hwe": THR["hwe_p"]}[flag]
    # the HWE test is the exact test with mid-p correction: PLINK 2's `--hwe p midp`.
    extra = ["midp"] if flag == "--hwe" else []
    run("--pfile", "all", "--keep", "keep.txt", flag, value, *extra, "--write-snplist", "allow-dups",
        "--out", col, cwd=pgen)
    kept = read_list(pgen / f"{col}.snplist")
    if flag != "--geno":
        # Allele counts on chrX need each sample's sex (males are haploid), which PLINK does
        # not get from a VCF; --hwe is autosomal in PLINK 2. Compare the autosomes.
        v = v[~v["chromosome"].isin(["chrX", "chrY", "chrM"])]
        kept = {k for k in kept if k.split(":")[0] not in ("chrX", "chrY", "chrM")}
    assert kept == set(v.loc[v[col], "id"])


def test_hwe_in_a_subset_matches_plink_keep(pgen, cohort_dir):
    """The genotype job's HWE step in a sample subset (here: population 0 of the truth, as the
    pipeline's largest-ancestry subset; ``qc_arrays.counts_over`` on the subset's columns, then
    ``variant_filters``) keeps exactly what PLINK 2 keeps with --keep <subset> --hwe midp, with
    PLINK's mid-p values."""
    from genomics import qc_arrays as qa
    from genomics.genotype_arrays import read_vcfs
    ga = read_vcfs(sorted(str(p) for p in (cohort_dir / "genotypes").glob("*.vcf.gz")), workers=2)
    truth = pd.read_csv(cohort_dir / "sample_truth.tsv", sep="\t")
    cols = np.isin(ga.samples, truth.loc[truth["population"] == 0, "sample_id"])
    hap = (ga.haploid_rows, ga.haploid)
    all_counts, _ = qa.count_calls(ga.gt, *hap)
    sub = qa.counts_over(ga.gt, cols, *hap, all_counts=all_counts)
    vf = qa.variant_filters(sub, sub, geno=1.0, maf=0.0, hwe=THR["hwe_p"])
    v = _variants(ga, pass_hwe=vf["pass_hwe"], p_hwe=vf["p_hwe"])
    v = v[~ga.variants["was_split"].to_numpy(dtype=bool) & ~v["chromosome"].isin(["chrX", "chrY", "chrM"])]
    pd.DataFrame({"#IID": np.asarray(ga.samples)[cols]}).to_csv(pgen / "hwe_keep.txt", sep="\t", index=False)
    run("--pfile", "all", "--keep", "hwe_keep.txt", "--autosome", "--hardy", "midp", "--hwe", THR["hwe_p"], "midp",
        "--write-snplist", "allow-dups", "--out", "hwe_subset", cwd=pgen)
    kept = read_list(pgen / "hwe_subset.snplist")
    assert kept == set(v.loc[v["pass_hwe"], "id"])
    assert len(v) - len(kept) > 0          # the subset test removes something
    ref = pd.read_csv(pgen / "hwe_subset.hardy", sep="\t").set_index("ID")
    p = v.set_index("id")["p_hwe"].reindex(ref.index)
    ok = p.notna()
    assert ok.mean() > 0.99
    assert np.allclose(p[ok], ref.loc[ok, "MIDP"], rtol=1e-4, atol=1e-12)


def test_numpy_mac_matches_plink_mac(pgen, cohort_dir):
    """qc.mac: the minor allele count filter keeps exactly what plink2 --mac keeps."""
    from genomics import qc_arrays as qa
    from genomics.genotype_arrays import read_vcfs
    ga = read_vcfs(sorted(str(p) for p in (cohort_dir / "genotypes").glob("*.vcf.gz")), workers=2)
    counts, _ = qa.count_calls(ga.gt, ga.haploid_rows, ga.haploid)
    vf = qa.variant_filters(counts, counts, geno=1.0, maf=0.0, hwe=0.0, mac=20)
    v = ga.variants.assign(chromosome=ga.variants["contig"].astype(str), ref=ga.variants["ref"].astype(str),
                           alt=ga.variants["alt"].astype(str), keep=vf["pass_maf"])
    v = v[~v["was_split"] & ~v["chromosome"].isin(["chrX", "chrY", "chrM"])]
    run("--pfile", "all", "--autosome", "--mac", 20, "--write-snplist", "allow-dups", "--out", "mac", cwd=pgen)
    kept = read_list(pgen / "mac.snplist")
    assert kept == set(vid(v[v["keep"]])) and len(v) > len(kept)


@pytest.fixture(scope="module")
def common(biallelic, ours):
    """The samples passing the call rate; autosomal variants with call rate >= 0.98 and MAF >=
    0.05 in them, in locus order (as the genotype job picks them for KING and PCA).
    Returns (codes samples x variants, samples, variant IDs, the variants' rows)."""
    from genomics import qc_arrays as qa
    from genomics.genotype_arrays import locus_order
    ga = biallelic
    s, _ = ours
    keep = s["pass_call_rate"].to_numpy()
    hap = (ga.haploid_rows, ga.haploid)
    counts = qa.counts_over(ga.gt, keep, *hap)
    vf = qa.variant_filters(counts, counts, geno=0.02, maf=0.05, hwe=0.0)
    v = _variants(ga)
    auto = ~v["chromosome"].isin(["chrX", "chrY", "chrM"]).to_numpy()
    rows = locus_order(ga.variants, auto & vf["pass_call_rate"] & (vf["maf"] >= 0.05))
    codes = np.ascontiguousarray(ga.gt[rows][:, keep].T)
    return codes, list(np.asarray(ga.samples)[keep]), v["id"].to_numpy()[rows].tolist(), rows


def test_king_kinship_matches_plink(pgen, common):
    from genomics.kinship import king_robust
    codes, samples, ids, _ = common
    (pgen / "common.txt").write_text("\n".join(ids) + "\n")
    pd.DataFrame({"#IID": samples}).to_csv(pgen / "ksamples.txt", sep="\t", index=False)
    run("--pfile", "all", "--keep", "ksamples.txt", "--extract", "common.txt", "--make-king-table",
        "--out", "king", cwd=pgen)
    ref = pd.read_csv(pgen / "king.kin0", sep="\t")
    kin = king_robust(codes)
    idx = {s: i for i, s in enumerate(samples)}
    mine = kin[ref["#IID1"].map(idx).to_numpy(), ref["IID2"].map(idx).to_numpy()]
    print(f"KING vs plink2 --make-king-table: {len(ref)} pairs, r {np.corrcoef(mine, ref['KINSHIP'])[0, 1]:.7f}, "
          f"max |diff| {np.abs(mine - ref['KINSHIP']).max():.2e}")
    assert np.corrcoef(mine, ref["KINSHIP"])[0, 1] > 0.9999
    assert np.abs(mine - ref["KINSHIP"]).max() < 1e-4


def test_king_finds_every_injected_relative_pair(common, cohort_dir):
    from genomics.kinship import king_robust
    codes, samples, _, _ = common
    kin = king_robust(codes)
    idx = {s: i for i, s in enumerate(samples)}
    rel = pd.read_csv(cohort_dir / "relatives.tsv", sep="\t")
    rel = rel[rel["id1"].isin(idx) & rel["id2"].isin(idx)]
    assert len(rel) >= 5
    got = kin[rel["id1"].map(idx).to_numpy(), rel["id2"].map(idx).to_numpy()]
    dup = rel["relationship"].eq("duplicate").to_numpy()
    assert (got[dup] > 0.354).all() and (got[~dup] > 0.177).all() and (got[~dup] < 0.354).all()


def test_pcs_match_plink_pca(pgen, common, biallelic):
    """Top 5 PCs on LD-pruned common variants (the genotype job's ``ld_prune``, r2 0.2 in 500 kb)
    agree with plink2 --pca up to sign."""
    from genomics.ancestry import hwe_normalized_pcs
    from genomics.ld_prune import ld_prune
    codes, samples, ids, rows = common
    v = biallelic.variants
    pruned = ld_prune(np.ascontiguousarray(codes.T), v["position"].to_numpy()[rows],
                      v["contig"].astype(str).to_numpy()[rows], r2=0.2, window_bp=500_000)
    (pgen / "pruned.txt").write_text("\n".join(np.asarray(ids)[pruned]) + "\n")
    run("--pfile", "all", "--keep", "ksamples.txt", "--extract", "pruned.txt", "--pca", "5", "--out", "pca", cwd=pgen)
    ref = pd.read_csv(pgen / "pca.eigenvec", sep="\t").set_index("#IID").loc[samples]
    scores, _ = hwe_normalized_pcs(np.ascontiguousarray(codes[:, pruned]), np.ones(len(samples), bool), 5)
    for k in range(5):
        r = np.corrcoef(scores[:, k], ref[f"PC{k + 1}"])[0, 1]
        print(f"PC{k + 1} vs plink2 --pca: |r| {abs(r):.6f}")
        assert abs(r) > 0.99, (k, r)


@pytest.mark.skipif(plink19 is None, reason="plink1.9 is not installed (make test installs it as root)")
def test_sex_check_matches_plink19_check_sex(cohort_dir, biallelic, tmp_path):
    """chrX F and the called sex (the genotype job's ``genetic_sex_f``) agree with PLINK 1.9's
    --check-sex (default 0.2 / 0.8)."""
    from genomics.sex_arrays import genetic_sex_f, x_nonpar_rows
    vcf = cohort_dir / "genotypes" / "chrX.vcf.gz"
    if not vcf.exists():
        pytest.skip("the test cohort has no chrX")
    # PLINK 1.9 splits off the PARs only in a --make-bed step of its own
    subprocess.run([plink19, "--vcf", str(vcf), "--biallelic-only", "strict", "--vcf-half-call", "missing",
                    "--split-x", "b38", "no-fail", "--make-bed", "--out", "x"], cwd=tmp_path, check=True,
                   capture_output=True)
    subprocess.run([plink19, "--bfile", "x", "--check-sex", "--out", "sex"], cwd=tmp_path, check=True,
                   capture_output=True)
    ref = pd.read_csv(tmp_path / "sex.sexcheck", sep=r"\s+").set_index("IID")
    ga = biallelic
    ours = genetic_sex_f(ga.gt, (ga.haploid_rows, ga.haploid), x_nonpar_rows(ga.variants, "GRCh38"), 0.2, 0.8)
    ours = ours.set_index(pd.Index(list(ga.samples))).loc[ref.index]
    assert np.corrcoef(ours["f_stat"], ref["F"])[0, 1] > 0.99
    called = ref["SNPSEX"].map({1: "M", 2: "F", 0: "U"})
    agree = ours["genetic_sex"].to_numpy() == called.to_numpy()
    print(f"sex check vs plink1.9 --check-sex: {len(agree)} samples, r(F) {np.corrcoef(ours['f_stat'], ref['F'])[0, 1]:.6f}, "
          f"same call {int(agree.sum())}/{len(agree)}")
    assert agree.mean() > 0.995, (agree.mean(), int((~agree).sum()))
    truth = pd.read_csv(cohort_dir / "sample_truth.tsv", sep="\t").set_index("sample_id")
    sure = ours["genetic_sex"] != "U"
    wrong = ours.index[sure][ours.loc[sure, "genetic_sex"].to_numpy() != truth.loc[ours.index[sure], "genetic_sex"].to_numpy()]
    # The only disagreement allowed with the truth: a female whose two X copies are identical by
    # descent over the whole (short) simulated chrX -- F = 1, a male to any F-based check, PLINK's too
    assert len(wrong) <= 2 and (ours.loc[wrong, "f_stat"] > 0.99).all() and (ref.loc[wrong, "SNPSEX"] == 1).all(), \
        ours.loc[wrong].to_dict("records")
