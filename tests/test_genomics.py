"""Genotype stages on real Hail, checked against the simulated cohort's truth and by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genomics.qc import compute_qc, filter_to_qc_pass

QC = dict(sample_call_rate=0.97, variant_call_rate=0.98, maf=0.01, hwe_p=1e-6)


@pytest.fixture(scope="module")
def qc(cohort_mt):
    return compute_qc(cohort_mt, **QC)


@pytest.fixture(scope="module")
def qc_mt(cohort_mt, qc):
    return filter_to_qc_pass(cohort_mt, qc).persist()


@pytest.fixture(scope="module")
def pcs(qc_mt):
    from genomics.ancestry import compute_pcs
    scores, eigenvalues, n = compute_pcs(qc_mt, n_pcs=5)
    return scores.to_pandas(), eigenvalues, n


def test_ingest_splits_multiallelics(cohort_mt, cohort_dir):
    import pysam
    n_records, n_extra = 0, 0
    for vcf in sorted((cohort_dir / "genotypes").glob("*.vcf.gz")):
        with pysam.VariantFile(str(vcf)) as f:
            for rec in f:
                n_records += 1
                n_extra += len(rec.alts) - 1
    assert n_extra > 0
    assert cohort_mt.count_rows() == n_records + n_extra
    assert cohort_mt.aggregate_rows(hl_all_biallelic(cohort_mt))


def hl_all_biallelic(mt):
    import hail as hl
    return hl.agg.all(hl.len(mt.alleles) == 2)


def test_qc_removes_the_injected_problems(qc, cohort_dir):
    truth = pd.read_csv(cohort_dir / "qc_truth.tsv", sep="\t")
    sqc = qc.sample_qc.to_pandas()
    failed = set(sqc.loc[~sqc["qc_pass"], "s"])
    assert failed == set(truth.loc[truth["kind"] == "bad_sample", "sample_id"])
    vqc = qc.variant_qc.to_pandas()
    vqc["site"] = list(zip(vqc["locus"].map(lambda l: l.contig), vqc["locus"].map(lambda l: l.position)))
    sites = lambda kind: set(zip(truth.loc[truth["kind"] == kind, "chromosome"],  # noqa: E731
                                 truth.loc[truth["kind"] == kind, "position"].astype(int)))
    assert set(vqc.loc[~vqc["pass_call_rate"], "site"]) == sites("bad_variant")
    assert not vqc.loc[vqc["site"].isin(sites("hwe_violation")), "pass_hwe"].any()
    steps = {(s["step"], s["unit"]): s for s in qc.steps}
    assert steps[("sample_call_rate", "samples")]["removed"] == len(failed)
    assert steps[("hwe", "variants")]["remaining"] == int(vqc["qc_pass"].sum())


def test_qc_metrics_match_a_hand_computation(cohort_mt, qc):
    """Call rate, alt AF and MAF for a few variants, computed from the raw calls."""
    import hail as hl
    passing = set(qc.sample_qc.filter(qc.sample_qc.qc_pass).s.collect())
    sub = cohort_mt.filter_cols(hl.literal(passing).contains(cohort_mt.s)).head(25)
    calls = sub.select_entries(n=sub.GT.n_alt_alleles()).entries().to_pandas()
    vqc = qc.variant_qc.to_pandas()
    vqc["key"] = vqc["locus"].map(str) + vqc["alleles"].map(str)
    calls["key"] = calls["locus"].map(str) + calls["alleles"].map(str)
    for key, d in calls.groupby("key"):
        row = vqc.set_index("key").loc[key]
        called = d["n"].dropna()
        assert row["call_rate"] == pytest.approx(len(called) / len(d))
        assert row["alt_af"] == pytest.approx(called.sum() / (2 * len(called)))
        assert row["maf"] == pytest.approx(min(row["alt_af"], 1 - row["alt_af"]))


def test_pc1_separates_the_populations(pcs, cohort_dir):
    scores, eigenvalues, n = pcs
    truth = pd.read_csv(cohort_dir / "sample_truth.tsv", sep="\t")
    d = scores.merge(truth, left_on="s", right_on="sample_id")
    r = np.corrcoef(d["PC1"], d["population"])[0, 1]
    assert abs(r) > 0.95
    assert eigenvalues[0] > 2 * eigenvalues[1] and n > 300


def test_gwas_finds_the_causal_loci_and_is_calibrated(qc_mt, pcs, cohort_dir, hl):
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
    x = qc_mt.annotate_cols(_i=hl.literal({s: i for i, s in enumerate(d["participant_id"])}).get(qc_mt.s))
    x = x.filter_cols(hl.is_defined(x._i))
    order = x._i.collect()
    G = hl.linalg.BlockMatrix.from_entry_expr(hl.float64(hl.or_else(x.GT.n_alt_alleles(), -1))).to_numpy()
    G = G.astype(np.int8)
    ph_in_order = d.iloc[order].reset_index(drop=True)
    r = x.rows()
    variants = r.select(chromosome=r.locus.contig, position=r.locus.position, ref=r.alleles[0],
                        alt=r.alleles[1]).to_pandas()

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

