"""Genotype stages as the genotype job runs them (numpy), checked against the simulated
cohort's truth."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

QC = dict(sample_call_rate=0.97, variant_call_rate=0.98, maf=0.01, hwe_p=1e-6)


@pytest.fixture(scope="module")
def qc(cohort_dir):
    """The job's four PLINK filters on the cohort: (arrays, kept samples, variant filters)."""
    from genomics import qc_arrays as qa
    from genomics.genotype_arrays import read_vcfs
    ga = read_vcfs(sorted(str(p) for p in (cohort_dir / "genotypes").glob("*.vcf.gz")), workers=2)
    hap = (ga.haploid_rows, ga.haploid)
    all_counts, missing = qa.count_calls(ga.gt, *hap)
    keep = missing <= qa.max_missing(ga.gt.shape[0], 1 - QC["sample_call_rate"])
    counts = qa.counts_over(ga.gt, keep, *hap, all_counts=all_counts)
    vf = qa.variant_filters(counts, counts, geno=1 - QC["variant_call_rate"], maf=QC["maf"], hwe=QC["hwe_p"])
    return ga, keep, vf


@pytest.fixture(scope="module")
def qc_passed(qc):
    """The QC-passed genotypes: (int8 variants x samples, variants table, samples)."""
    ga, keep, vf = qc
    rows = np.flatnonzero(vf["qc_pass"])
    return (np.ascontiguousarray(ga.gt[rows][:, keep]), ga.variants.iloc[rows].reset_index(drop=True),
            list(np.asarray(ga.samples)[keep]))


@pytest.fixture(scope="module")
def pcs(qc_passed):
    """5 PCs as the job fits them: common autosomal variants, LD-pruned, HWE-normalised PCA."""
    from genomics.ancestry import hwe_normalized_pcs
    from genomics.genotype_arrays import locus_order
    from genomics.ld_prune import ld_prune
    gt, v, samples = qc_passed
    called = gt >= 0
    af = np.where(called, gt, 0).sum(1) / np.maximum(2 * called.sum(1), 1)
    auto = ~v["contig"].astype(str).isin(["chrX", "chrY", "chrM"]).to_numpy()
    rows = locus_order(v, auto & (np.minimum(af, 1 - af) >= 0.05))
    pruned = rows[ld_prune(gt[rows], v["position"].to_numpy()[rows], v["contig"].astype(str).to_numpy()[rows])]
    scores, eigenvalues = hwe_normalized_pcs(np.ascontiguousarray(gt[pruned].T), np.ones(len(samples), bool), 5)
    df = pd.DataFrame(scores, columns=[f"PC{i + 1}" for i in range(scores.shape[1])])
    df.insert(0, "s", samples)
    return df, eigenvalues, len(pruned)


def test_qc_removes_the_injected_problems(qc, cohort_dir):
    ga, keep, vf = qc
    truth = pd.read_csv(cohort_dir / "qc_truth.tsv", sep="\t")
    failed = set(np.asarray(ga.samples)[~keep])
    assert failed == set(truth.loc[truth["kind"] == "bad_sample", "sample_id"])
    site = pd.Series(list(zip(ga.variants["contig"].astype(str), ga.variants["position"].astype(int))))
    sites = lambda kind: set(zip(truth.loc[truth["kind"] == kind, "chromosome"],  # noqa: E731
                                 truth.loc[truth["kind"] == kind, "position"].astype(int)))
    assert set(site[~vf["pass_call_rate"]]) == sites("bad_variant")
    assert not vf["pass_hwe"][site.isin(sites("hwe_violation")).to_numpy()].any()


def test_pc1_separates_the_populations(pcs, cohort_dir):
    scores, eigenvalues, n = pcs
    truth = pd.read_csv(cohort_dir / "sample_truth.tsv", sep="\t")
    d = scores.merge(truth, left_on="s", right_on="sample_id")
    r = np.corrcoef(d["PC1"], d["population"])[0, 1]
    assert abs(r) > 0.95
    assert eigenvalues[0] > 2 * eigenvalues[1] and n > 300


def test_gwas_finds_the_causal_loci_and_is_calibrated(qc_passed, pcs, cohort_dir):
    """The pipeline's kernels (genomics/glm_arrays.py) on the QC-passed genotypes: the strongest
    causal loci of ldl_c reach genome-wide significance near causal variants only, and null traits
    that differ between populations are calibrated with PCs and inflated without them."""
    from genomics.glm_arrays import gwas_blocks
    from genomics.plots import lambda_gc
    from phenotypes.table_reader import read_raw_table, validate_phenotype_table
    path = str(cohort_dir / "phenotypes.csv")
    ph = validate_phenotype_table(read_raw_table(path), path, "sample_id", "sex",
                                  {"male": ["M"], "female": ["F"]},
                                  {"age": {"type": "float"}, "ldl_c": {"type": "float", "min": 0.5, "max": 15},
                                   "cad": {"type": "binary"}}).accepted
    ph["cad"] = ph["cad"].astype("float64")
    d = ph.merge(pcs[0], left_on="participant_id", right_on="s").drop(columns=["s"])
    d["sex"] = d["sex"].astype("float64")
    covs = ["age", "sex", "PC1", "PC2", "PC3"]
    gt, v, samples = qc_passed
    idx = {s_: i for i, s_ in enumerate(d["participant_id"])}
    cols = np.array([s_ in idx for s_ in samples])
    order = [idx[s_] for s_ in np.asarray(samples)[cols]]
    G = np.ascontiguousarray(gt[:, cols])
    ph_in_order = d.iloc[order].reset_index(drop=True)
    variants = pd.DataFrame({"chromosome": v["contig"].astype(str), "position": v["position"].astype(int),
                             "ref": v["ref"].astype(str), "alt": v["alt"].astype(str)})

    def gwas(traits, cv):
        return pd.concat(gwas_blocks(lambda a, b: G[a:b], len(G), variants,
                                     [{"name": t, "type": k, "column": t} for t, k in traits], ph_in_order, cv))
    res = gwas([("ldl_c", "quantitative"), ("cad", "binary")], covs)
    truth = pd.read_csv(cohort_dir / "truth.tsv", sep="\t")
    t = truth[truth["trait"] == "ldl_c"].nlargest(10, "variance_explained")
    g = res[res["trait"] == "ldl_c"]
    sig = g[g["p_value"] < 5e-8]
    found = sum(((sig["chromosome"] == c) & ((sig["base_pair_location"] - p).abs() <= 250_000)).any()
                for c, p in zip(t["chromosome"], t["position"]))
    assert found >= 5, f"only {found} of the 10 strongest causal loci reached p < 5e-8"
    causal = truth[truth["trait"] == "ldl_c"]
    for c, p in zip(sig["chromosome"], sig["base_pair_location"]):
        near = causal[(causal["chromosome"] == c)]
        assert (near["position"] - p).abs().min() <= 500_000, f"significant variant far from any causal one: {c}:{p}"
    # ldl_c's own lambda is high (12 strong loci in a 5 Mb genome put most variants in LD with
    # one); calibration is checked on null traits that differ between populations instead: ten
    # of them (same population difference, independent noise) in one linear pass, since a single
    # trait's lambda over ~11k variants in long LD blocks is noisy and their mean much less so
    truth_s = pd.read_csv(cohort_dir / "sample_truth.tsv", sep="\t").set_index("sample_id")
    rng = np.random.default_rng(5)
    pop = truth_s.loc[ph_in_order["participant_id"], "population"].to_numpy()
    nulls = [f"null{i}" for i in range(10)]
    for name in nulls:
        ph_in_order[name] = 0.8 * pop + rng.normal(size=len(pop))
    lam_np = {}
    for name, cv in [("with_pcs", covs), ("without_pcs", ["age", "sex"])]:
        null = gwas([(t, "quantitative") for t in nulls], cv)
        lam_np[name] = float(np.mean([lambda_gc(g["p_value"].to_numpy()) for _, g in null.groupby("trait")]))
    print(f"\nldl_c: {found} of the 10 strongest causal loci found; null traits, mean lambda GC: {lam_np}")
    assert 0.95 < lam_np["with_pcs"] < 1.10 and lam_np["without_pcs"] > 3, lam_np
    # Binary rows: odds ratio = exp(beta); frequencies in [0, 1]; n counts complete samples.
    b = res[res["trait"] == "cad"].dropna(subset=["beta"])
    assert np.allclose(b["odds_ratio"], np.exp(b["beta"]))
    assert res["effect_allele_frequency"].between(0, 1).all()
    assert res.loc[res["trait"] == "cad", "n"].max() <= d["cad"].notna().sum()


def test_clumping_matches_a_brute_force_walk():
    from genomics.clumping import clump_assign
    rng = np.random.default_rng(3)
    n, m = 200, 60
    base = rng.normal(size=(n, 6))
    g = np.repeat(base, 10, axis=1) + 0.5 * rng.normal(size=(n, m))   # 6 LD blocks of 10
    g = ((g - g.mean(0)) / g.std(0)).T.astype(np.float32)
    pos = np.arange(m) * 10_000
    chrom = np.array(["1"] * 30 + ["2"] * 30)
    p = rng.uniform(size=m)
    assign = clump_assign(chrom, pos, p, lambda i, rows: (g[rows] @ g[i] / n) ** 2, r2=0.1, window_bp=50_000)
    mask = assign == np.arange(m)
    # Brute force: in p order, keep a variant unless a kept one on its chromosome within the
    # window clumped it (r2 > 0.1) — clumped variants cannot clump others.
    removed, keep = np.zeros(m, bool), np.zeros(m, bool)
    for i in np.argsort(p):
        if removed[i]:
            continue
        keep[i] = removed[i] = True
        for j in range(m):
            if not removed[j] and chrom[j] == chrom[i] and abs(pos[j] - pos[i]) <= 50_000:
                r = float(g[i] @ g[j]) / n
                removed[j] = r * r >= 0.1
    assert (mask == keep).all() and 3 <= mask.sum() < m

