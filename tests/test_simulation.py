"""Tests for the example-cohort simulator (genomics.simulation) and its CLI (jobs.simulate)."""
from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import pysam
import pytest

from genomics.simulation import (
    GRCH38_LENGTHS,
    GRCH38_PAR1,
    HAPLOID,
    PHENOTYPE_COLUMNS,
    QC_TRUTH_COLUMNS,
    RELATIVES_COLUMNS,
    CohortSpec,
    simulate_cohort,
    vcf_lines,
)
from jobs import simulate as simulate_job

TINY = dict(n_samples=200, sequence_length_bp=1_500_000, seed=11)


@pytest.fixture(scope="module")
def spec() -> CohortSpec:
    return CohortSpec(**TINY)


@pytest.fixture(scope="module")
def cohort(spec):
    return simulate_cohort(spec)


def _alt_freq(g: np.ndarray) -> np.ndarray:
    """Non-reference allele frequency per variant over called genotypes; g is (V, N, 2)."""
    called = g >= 0
    return ((g > 0) & called).sum(axis=(1, 2)) / np.maximum(called.sum(axis=(1, 2)), 1)


def _clean_phenotypes(cohort) -> pd.DataFrame:
    ph = cohort.phenotypes.drop(index=cohort.dirty_rows["row"].to_numpy())
    return ph


def _expected_gt_text(a: int, b: int) -> str:
    if b == HAPLOID:
        return "." if a < 0 else str(a)
    return "./." if a < 0 else f"{min(a, b)}/{max(a, b)}"


def _expected_pysam_gt(a: int, b: int) -> tuple:
    if b == HAPLOID:
        return (None,) if a < 0 else (a,)
    return (None, None) if a < 0 else (min(a, b), max(a, b))


def _flagged_sites(cohort) -> set:
    qc = cohort.qc_truth
    qc = qc[qc["kind"].isin(["bad_variant", "hwe_violation"])]
    return set(zip(qc["chromosome"], qc["position"].astype(int)))


def _autosomal_dosages(cohort) -> np.ndarray:
    """Non-reference allele count (V, N), NaN when missing: biallelic autosomal variants that
    carry no injected variant problem."""
    flagged = _flagged_sites(cohort)
    out = []
    for ch in cohort.autosomes:
        keep = np.array([len(a) == 1 and (ch.contig, int(p)) not in flagged for a, p in zip(ch.alt, ch.positions)])
        g = ch.genotypes[keep]
        d = (g > 0).sum(axis=2).astype(float)
        d[g[:, :, 0] < 0] = np.nan
        out.append(d)
    return np.concatenate(out)


def _king_robust(d: np.ndarray, i: int, j: int) -> float:
    """KING-robust kinship (duplicate 0.5, first degree 0.25, unrelated ~0) from dosages."""
    a, b = d[:, i], d[:, j]
    ok = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[ok], b[ok]
    het_het = ((a == 1) & (b == 1)).sum()
    opposite = (((a == 0) & (b == 2)) | ((a == 2) & (b == 0))).sum()
    return float((het_het - 2 * opposite) / ((a == 1).sum() + (b == 1).sum()))


# --- determinism --------------------------------------------------------------------------


def test_same_spec_gives_identical_cohort(spec, cohort):
    again = simulate_cohort(spec)
    assert again.sample_ids == cohort.sample_ids
    np.testing.assert_array_equal(again.populations, cohort.populations)
    for a, b in zip(again.chromosomes, cohort.chromosomes):
        np.testing.assert_array_equal(a.positions, b.positions)
        assert a.ref == b.ref and a.alt == b.alt
        np.testing.assert_array_equal(a.genotypes, b.genotypes)
    pd.testing.assert_frame_equal(again.phenotypes, cohort.phenotypes)
    pd.testing.assert_frame_equal(again.truth, cohort.truth)
    pd.testing.assert_frame_equal(again.sample_truth, cohort.sample_truth)
    pd.testing.assert_frame_equal(again.dirty_rows, cohort.dirty_rows)
    pd.testing.assert_frame_equal(again.qc_truth, cohort.qc_truth)
    pd.testing.assert_frame_equal(again.relatives, cohort.relatives)
    np.testing.assert_array_equal(again.genetic_sex, cohort.genetic_sex)
    assert "".join(vcf_lines(again, 1)) == "".join(vcf_lines(cohort, 1))
    assert "".join(vcf_lines(again, 2)) == "".join(vcf_lines(cohort, 2))  # chrX


def test_other_seed_gives_other_cohort(cohort):
    other = simulate_cohort(CohortSpec(**{**TINY, "seed": 12}))
    a, b = other.chromosomes[0], cohort.chromosomes[0]
    assert a.n_variants != b.n_variants or not np.array_equal(a.positions, b.positions)
    assert not other.phenotypes.equals(cohort.phenotypes)


# --- genotypes ----------------------------------------------------------------------------


def test_shapes_ids_and_alleles(spec, cohort):
    n = spec.n_samples
    assert cohort.sample_ids[0] == "GL00001" and len(set(cohort.sample_ids)) == n == len(cohort.sample_ids)
    assert [c.contig for c in cohort.chromosomes] == ["chr1", "chr2", "chrX"] == spec.contigs
    assert [c.contig for c in cohort.autosomes] == ["chr1", "chr2"]
    # 70/30 split over two populations (relatives replace unrelated samples of their population)
    assert np.bincount(cohort.populations).tolist() == [140, 60]
    for ch in cohort.chromosomes:
        v = ch.n_variants
        assert v > 500
        assert ch.genotypes.shape == (v, n, 2) and ch.genotypes.dtype == np.int8
        assert ch.positions.dtype == np.int64
        assert np.all(np.diff(ch.positions) > 0)
        offset, length = ((spec.x_offset_bp, spec.x_sequence_length_bp) if ch.sex_linked
                          else (spec.offset_bp, spec.sequence_length_bp))
        assert ch.positions.min() > offset
        assert ch.positions.max() <= offset + length
        assert len(ch.ref) == len(ch.alt) == v
        for r, alts in zip(ch.ref, ch.alt):
            assert r in "ACGT" and len(r) == 1
            assert 1 <= len(alts) <= 3 and all(a in "ACGT" and a != r for a in alts)
            assert len(set(alts)) == len(alts)
        max_allele = np.array([len(a) for a in ch.alt])
        assert np.all(ch.genotypes.max(axis=(1, 2)) <= max_allele)
        # every ALT allele is carried by someone (but for rare carriers whose call was made missing)
        for a in range(1, 4):
            has = max_allele >= a
            if has.any():
                assert (ch.genotypes[has] == a).any(axis=(1, 2)).mean() > 0.98
        # missing calls are whole genotypes (haploid: first allele -1, second HAPLOID)
        diploid = ch.genotypes[:, :, 1] != HAPLOID
        assert (ch.genotypes[:, :, 0] < 0).any()
        assert np.array_equal((ch.genotypes[:, :, 0] < 0) & diploid, (ch.genotypes[:, :, 1] == -1))
        assert ch.genotypes[:, :, 0].min() == -1
        if not ch.sex_linked:
            assert diploid.all()


def test_populations_differ_in_allele_frequency(cohort):
    num = den = 0.0
    diffs = []
    for ch in cohort.autosomes:
        g = ch.genotypes
        p0 = _alt_freq(g[:, cohort.populations == 0])
        p1 = _alt_freq(g[:, cohort.populations == 1])
        n0 = 2 * (cohort.populations == 0).sum()
        n1 = 2 * (cohort.populations == 1).sum()
        num += ((p0 - p1) ** 2 - p0 * (1 - p0) / (n0 - 1) - p1 * (1 - p1) / (n1 - 1)).sum()
        den += (p0 * (1 - p1) + p1 * (1 - p0)).sum()
        diffs.append(np.abs(p0 - p1))
    fst = num / den  # Hudson's estimator
    assert 0.03 < fst < 0.15
    assert np.concatenate(diffs).mean() > 0.03


def test_injected_genotype_problems(spec, cohort):
    qc = cohort.qc_truth
    assert list(qc.columns) == QC_TRUTH_COLUMNS
    assert set(qc["kind"]) == {"bad_sample", "bad_variant", "hwe_violation", "sex_mismatch"}
    bad_samples = qc.loc[qc["kind"] == "bad_sample", "sample_id"].tolist()
    assert len(bad_samples) == spec.resolved_n_bad_samples() == 1
    related = set(cohort.relatives["id1"]) | set(cohort.relatives["id2"])
    assert not related & set(qc["sample_id"])  # no injected problem on a relative
    cols = [cohort.sample_ids.index(s) for s in bad_samples]
    good_cols = np.setdiff1d(np.arange(cohort.n_samples), cols)
    miss = np.concatenate([ch.genotypes[:, :, 0] < 0 for ch in cohort.chromosomes])
    assert 0.12 < miss[:, cols].mean() < 0.18
    causal = set(zip(cohort.truth["chromosome"], cohort.truth["position"]))
    bad_var = qc[qc["kind"] == "bad_variant"]
    hwe = qc[qc["kind"] == "hwe_violation"]
    n_autosomal = sum(ch.n_variants for ch in cohort.autosomes)
    assert len(bad_var) == spec.resolved_n_bad_variants(n_autosomal)
    assert len(hwe) == spec.resolved_n_hwe_violations(n_autosomal)
    assert set(bad_var["chromosome"]) | set(hwe["chromosome"]) <= {"chr1", "chr2"}  # never chrX
    flagged = set()
    for ch in cohort.chromosomes:
        index = {int(p): i for i, p in enumerate(ch.positions)}
        for kind, frame in (("bad", bad_var), ("hwe", hwe)):
            for pos in frame.loc[frame["chromosome"] == ch.contig, "position"]:
                assert (ch.contig, int(pos)) not in causal
                v = index[int(pos)]
                flagged.add((ch.contig, v))
                g = ch.genotypes[v][good_cols]
                if kind == "bad":
                    assert (g[:, 0] < 0).mean() > 0.1
                else:
                    called = g[:, 0] >= 0
                    assert called.sum() > 0
                    assert np.all(g[called, 0] == g[called, 1])  # no heterozygotes left
                    assert len(set(g[called, 0].tolist())) == 2
    # everything else only has the small random missingness
    rest = []
    for ch in cohort.chromosomes:
        keep = [v for v in range(ch.n_variants) if (ch.contig, v) not in flagged]
        rest.append(ch.genotypes[keep][:, good_cols, 0] < 0)
    assert np.concatenate(rest).mean() < 3 * spec.missing_rate


# --- truth and traits ---------------------------------------------------------------------


def test_causal_variants(spec, cohort):
    truth = cohort.truth
    assert list(truth.columns) == [
        "trait", "chromosome", "position", "ref", "alt", "effect_allele", "beta",
        "eaf", "eaf_pop0", "eaf_pop1", "variance_explained",
    ]
    assert sorted(set(truth["trait"])) == ["cad", "ldl_c"]
    loci = {}
    for trait, frame in truth.groupby("trait"):
        assert len(frame) == spec.n_causal
        loci[trait] = set(zip(frame["chromosome"], frame["position"]))
        assert len(loci[trait]) == spec.n_causal
        assert frame["beta"].abs().min() > 0
        assert (frame["variance_explained"] > 0).all()
    assert loci["ldl_c"] == loci["cad"]  # the traits share their loci
    assert set(truth["chromosome"]) == {"chr1", "chr2"}
    maf = np.minimum(truth["eaf"], 1 - truth["eaf"])
    assert (maf >= 0.05).all()
    assert (truth["effect_allele"] == truth["alt"]).all()
    by_contig = {ch.contig: ch for ch in cohort.chromosomes}
    for row in truth.itertuples():
        ch = by_contig[row.chromosome]
        v = int(np.searchsorted(ch.positions, row.position))
        assert ch.positions[v] == row.position
        assert ch.ref[v] == row.ref and ch.alt[v] == (row.alt,)
        g = ch.genotypes[v]
        called = g[:, 0] >= 0
        assert abs(((g[called] > 0).sum() / (2 * called.sum())) - row.eaf) < 0.02
    # the strongest ldl_c loci dominate (heavy-tailed effects)
    ve = np.sort(truth.loc[truth["trait"] == "ldl_c", "variance_explained"].to_numpy())[::-1]
    assert ve[:5].sum() > ve[5:].sum()


def test_genetic_values_match_truth_effects(cohort):
    by_contig = {ch.contig: ch for ch in cohort.chromosomes}
    st = cohort.sample_truth
    assert list(st.columns) == ["sample_id", "population", "genetic_ldl_c", "genetic_cad", "liability_cad",
                                "genetic_sex", "age", "ldl_c", "cad", "consent_feedback"]
    assert st["sample_id"].tolist() == cohort.sample_ids
    assert st["genetic_sex"].tolist() == list(cohort.genetic_sex)
    for trait in ("ldl_c", "cad"):
        frame = cohort.truth[cohort.truth["trait"] == trait]
        g = np.zeros(cohort.n_samples)
        complete = np.ones(cohort.n_samples, dtype=bool)
        for row in frame.itertuples():
            ch = by_contig[row.chromosome]
            geno = ch.genotypes[int(np.searchsorted(ch.positions, row.position))]
            complete &= geno[:, 0] >= 0
            g += row.beta * (geno > 0).sum(axis=1)
        got = st[f"genetic_{trait}"].to_numpy()
        # equal up to the centring constant, on samples with no injected missing call
        diff = (g - got)[complete]
        assert np.ptp(diff) < 1e-8


def test_ldl_heritability_and_units(spec, cohort):
    ph = _clean_phenotypes(cohort)
    ph = ph[ph["ldl_c"] != ""]
    genetic = cohort.sample_truth.set_index("sample_id").loc[ph["sample_id"], "genetic_ldl_c"].to_numpy()
    ldl = ph["ldl_c"].astype(float).to_numpy()
    h2 = genetic.var() / ldl.var()
    assert abs(h2 - spec.h2_quant) < 0.15
    assert 2.9 < ldl.mean() < 3.7 and 0.7 < ldl.std() < 1.1
    assert 0.5 <= ldl.min() and ldl.max() < 15


def test_cad_prevalence_and_liability(spec, cohort):
    ph = _clean_phenotypes(cohort)
    cad = ph.loc[ph["cad"] != "", "cad"]
    assert set(cad) == {"0", "1"}
    prevalence = (cad == "1").mean()
    assert 0.08 <= prevalence <= 0.25
    st = cohort.sample_truth.set_index("sample_id")
    ph = ph[ph["cad"] != ""]
    liab = st.loc[ph["sample_id"], "liability_cad"].to_numpy()
    cases = (ph["cad"] == "1").to_numpy()
    assert liab[cases].min() > liab[~cases].max()  # threshold model
    h2l = st["genetic_cad"].var() / st["liability_cad"].var()
    assert abs(h2l - spec.h2_liability) < 0.15


# --- phenotype table ----------------------------------------------------------------------


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_phenotype_table_and_dirty_rows(spec, cohort):
    ph = cohort.phenotypes
    assert list(ph.columns) == PHENOTYPE_COLUMNS
    assert all(isinstance(x, str) for x in ph.to_numpy().ravel())
    dirty = cohort.dirty_rows
    assert list(dirty.columns) == ["row", "sample_id", "reason"]
    k = spec.resolved_n_dirty_rows()
    n_dup_extra = (ph["sample_id"].duplicated()).sum()
    assert 1 <= n_dup_extra <= 2
    assert len(ph) == spec.n_samples + n_dup_extra + (dirty["reason"] == "unknown_sample_id").sum()
    assert len(dirty) == k + n_dup_extra  # both rows of a duplicated id are listed
    assert set(dirty["reason"]) == {
        "unknown_sample_id", "non_numeric_age", "age_out_of_range", "ldl_c_out_of_range", "duplicate_sample_id",
    }
    known = set(cohort.sample_ids)
    counts = ph["sample_id"].value_counts()
    for row in dirty.itertuples():
        rec = ph.iloc[row.row]
        assert rec["sample_id"] == row.sample_id
        if row.reason == "unknown_sample_id":
            assert row.sample_id.startswith("XX") and row.sample_id not in known
        elif row.reason == "non_numeric_age":
            assert not _is_number(rec["age"]) and rec["age"] != ""
        elif row.reason == "age_out_of_range":
            assert float(rec["age"]) in (250.0, -4.0)
        elif row.reason == "ldl_c_out_of_range":
            assert not 0.5 <= float(rec["ldl_c"]) <= 15
        else:
            assert counts[row.sample_id] == 2
    # every row not listed is clean
    clean = ph.drop(index=dirty["row"].to_numpy())
    assert clean["sample_id"].isin(known).all() and clean["sample_id"].is_unique
    assert clean["sex"].isin(["M", "F"]).all()
    ages = clean["age"].astype(int)
    assert ages.between(40, 70).all()
    ldl = clean.loc[clean["ldl_c"] != "", "ldl_c"].astype(float)
    assert ldl.between(0.5, 15).all()
    assert clean["cad"].isin(["0", "1", ""]).all()
    assert clean["consent_feedback"].isin(["yes", "no"]).all()
    assert 0.75 < (clean["consent_feedback"] == "yes").mean() < 0.98
    assert (clean["ldl_c"] == "").sum() >= 1  # some allowed missing values
    assert 0.3 < (clean["sex"] == "M").mean() < 0.7


# --- VCF text -----------------------------------------------------------------------------


def test_vcf_lines(spec, cohort):
    for ci, ch in enumerate(cohort.chromosomes):
        lines = list(vcf_lines(cohort, ci))
        assert all(line.endswith("\n") for line in lines)
        assert lines[0] == "##fileformat=VCFv4.2\n"
        header = [line for line in lines if line.startswith("#")]
        data = lines[len(header):]
        assert f"##contig=<ID=chr1,length={GRCH38_LENGTHS['1']}>\n" in header
        assert f"##contig=<ID=chrX,length={GRCH38_LENGTHS['X']}>\n" in header
        assert any(h.startswith("##FORMAT=<ID=GT") for h in header)
        cols = header[-1].rstrip("\n").split("\t")
        assert cols[:9] == ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
        assert cols[9:] == cohort.sample_ids
        assert len(data) == ch.n_variants
        positions = []
        gt_re = re.compile(r"^(\./\.|\d/\d|\.|\d)$" if ch.sex_linked else r"^(\./\.|\d/\d)$")
        for i, line in enumerate(data):
            f = line.rstrip("\n").split("\t")
            assert len(f) == 9 + spec.n_samples
            assert f[0] == ch.contig and f[5:9] == [".", "PASS", ".", "GT"]
            positions.append(int(f[1]))
            assert f[3] == ch.ref[i] and f[4].split(",") == list(ch.alt[i])
            assert f[2] == f"{ch.contig}:{f[1]}:{f[3]}:{f[4]}"
            if i % 97 == 0:
                assert all(gt_re.match(x) for x in f[9:])
                expected = [_expected_gt_text(a, b) for a, b in ch.genotypes[i].tolist()]
                assert f[9:] == expected
        assert positions == sorted(set(positions)) and positions[0] >= 1


# --- the job ------------------------------------------------------------------------------


def test_job_writes_readable_outputs(tmp_path, capsys):
    out = tmp_path / "example"
    argv = ["--out", str(out), "--n-samples", "120", "--seed", "5", "--sequence-length", "1000000",
            "--chromosomes", "1,2", "--contig-prefix", "chr"]
    assert simulate_job.main(argv) == 0
    spec = simulate_job.spec_from_args(simulate_job.build_parser().parse_args(argv))
    assert spec == CohortSpec(n_samples=120, seed=5, sequence_length_bp=1_000_000, chromosomes=("1", "2"))
    cohort = simulate_cohort(spec)
    err = capsys.readouterr().err
    assert "variants" in err and cohort.sample_ids[0] not in err  # progress, but no sample ids

    for ch in cohort.chromosomes:
        path = out / "genotypes" / f"{ch.contig}.vcf.gz"
        assert path.exists() and (out / "genotypes" / f"{ch.contig}.vcf.gz.tbi").exists()
        with pysam.VariantFile(str(path)) as vf:
            assert list(vf.header.samples) == cohort.sample_ids
            records = list(vf.fetch(ch.contig))  # uses the tabix index
        assert len(records) == ch.n_variants
        assert [r.pos for r in records] == ch.positions.tolist()
        for v in (0, ch.n_variants - 1):  # on chrX: PAR1, then non-PAR (males haploid)
            gts = [records[v].samples[s]["GT"] for s in cohort.sample_ids[:20]]
            assert gts == [_expected_pysam_gt(a, b) for a, b in ch.genotypes[v, :20].tolist()]
    assert [ch.contig for ch in cohort.chromosomes] == ["chr1", "chr2", "chrX"]
    x = cohort.chromosomes[-1]
    with pysam.VariantFile(str(out / "genotypes" / "chrX.vcf.gz")) as vf:
        last = list(vf.fetch("chrX", int(x.positions[-1]) - 1, int(x.positions[-1])))[0]
    ploidy = {len(last.samples[s]["GT"]) for s in np.array(cohort.sample_ids)[cohort.male]}
    assert ploidy == {1} and x.positions[-1] > GRCH38_PAR1[1]

    ph = pd.read_csv(out / "phenotypes.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(ph, cohort.phenotypes.reset_index(drop=True), check_dtype=False)
    truth = pd.read_csv(out / "truth.tsv", sep="\t")
    assert len(truth) == 2 * spec.n_causal
    np.testing.assert_allclose(truth["beta"], cohort.truth["beta"])
    dirty = pd.read_csv(out / "dirty_rows.tsv", sep="\t", dtype={"sample_id": str})
    assert dirty["row"].tolist() == cohort.dirty_rows["row"].tolist()
    st = pd.read_csv(out / "sample_truth.tsv", sep="\t")
    assert st["sample_id"].tolist() == cohort.sample_ids
    qc = pd.read_csv(out / "qc_truth.tsv", sep="\t", keep_default_na=False, dtype=str)
    assert len(qc) == len(cohort.qc_truth) and list(qc.columns) == QC_TRUTH_COLUMNS
    rel = pd.read_csv(out / "relatives.tsv", sep="\t", dtype={"id1": str, "id2": str})
    assert list(rel.columns) == RELATIVES_COLUMNS and len(rel) == len(cohort.relatives) == 0  # n < 200
    leftovers = [p for p in os.listdir(out) + os.listdir(out / "genotypes") if ".tmp" in p]
    assert leftovers == []

    # a second run rewrites byte-identical files
    before = {p: (out / p).read_bytes() for p in ("phenotypes.csv", "genotypes/chr1.vcf.gz", "genotypes/chrX.vcf.gz",
                                                   "qc_truth.tsv", "relatives.tsv")}
    assert simulate_job.main(argv) == 0
    assert all((out / p).read_bytes() == b for p, b in before.items())


def test_spec_validation():
    with pytest.raises(ValueError):
        CohortSpec(chromosomes=("1", "27"))
    with pytest.raises(ValueError):
        CohortSpec(chromosomes=("21",), sequence_length_bp=50_000_000)
    with pytest.raises(ValueError):
        CohortSpec(prevalence=1.5)
    spec = CohortSpec(chromosomes=["3"], contig_prefix="")
    assert spec.chromosomes == ("3",) and spec.contigs == ["3", "X"]  # chrX without the prefix: X
    assert CohortSpec(n_samples=2000).resolved_n_dirty_rows() == 20
    assert CohortSpec(n_samples=200).resolved_n_bad_samples() == 1
    assert CohortSpec(n_samples=50).resolved_n_dirty_rows() == 6
    # chrX and relatives
    with pytest.raises(ValueError):
        CohortSpec(chromosomes=("1", "X"))  # chrX comes from include_x
    assert CohortSpec(chromosomes=("1", "X"), include_x=False).contigs == ["chr1", "chrX"]
    with pytest.raises(ValueError):
        CohortSpec(x_offset_bp=155_000_000)
    with pytest.raises(ValueError):
        CohortSpec(n_samples=200, n_sibling_pairs=40)
    assert CohortSpec().contigs == ["chr1", "chr2", "chrX"]
    assert CohortSpec(n_samples=2000).resolved_relatives() == (2, 2, 3)
    assert CohortSpec(n_samples=200).resolved_relatives() == (1, 1, 1)
    assert CohortSpec(n_samples=120).resolved_relatives() == (0, 0, 0)
    assert CohortSpec(n_samples=2000, include_relatives=False).resolved_relatives() == (0, 0, 0)
    assert CohortSpec(n_samples=2000, n_trios=0).resolved_relatives() == (2, 0, 3)
    assert CohortSpec(n_samples=2000).resolved_n_sex_mismatches() == 10
    assert CohortSpec(n_samples=200).resolved_n_sex_mismatches() == 2


def test_bad_cli_arguments_return_usage_error(tmp_path, capsys):
    assert simulate_job.main(["--out", str(tmp_path), "--chromosomes", "1,99"]) == 2
    assert not (tmp_path / "genotypes").exists()


# --- chrX, sex and relatives --------------------------------------------------------------


def test_chrx_spans_par1_and_males_are_haploid_outside_it(spec, cohort):
    x = cohort.chromosomes[-1]
    assert x.sex_linked and x.contig == "chrX" and x.chromosome == "X"
    par = x.par_mask()
    assert np.array_equal(par, x.positions <= GRCH38_PAR1[1])
    assert 0.15 < par.mean() < 0.45  # ~the first quarter to third of the window is PAR1
    male = cohort.male
    assert 0.3 < male.mean() < 0.7
    haploid = x.genotypes[:, :, 1] == HAPLOID
    assert np.array_equal(haploid, np.outer(~par, male))
    # the VCF: one allele exactly for males outside PAR1, two otherwise
    lines = [line for line in vcf_lines(cohort, len(cohort.chromosomes) - 1) if not line.startswith("#")]
    assert len(lines) == x.n_variants
    for i, line in enumerate(lines):
        gts = line.rstrip("\n").split("\t")[9:]
        has_slash = np.array(["/" in gt for gt in gts])
        assert np.array_equal(has_slash, np.ones(len(gts), dtype=bool) if par[i] else ~male), i
        if i % 53 == 0:
            assert gts == [_expected_gt_text(a, b) for a, b in x.genotypes[i].tolist()]
    # females are heterozygous outside PAR1 too; the non-PAR X is in HWE-like proportions for them
    g = x.genotypes[~par][:, ~male]
    called = g[:, :, 0] >= 0
    assert ((g[:, :, 0] != g[:, :, 1]) & called).mean() > 0.01


def test_relatives_table(spec, cohort):
    rel = cohort.relatives
    assert list(rel.columns) == RELATIVES_COLUMNS
    n_dup, n_trio, n_sib = spec.resolved_relatives()
    assert rel["relationship"].value_counts().to_dict() == {
        "duplicate": n_dup, "parent_offspring": 2 * n_trio, "sibling": n_sib}
    assert (rel["expected_kinship"] == rel["relationship"].map(
        {"duplicate": 0.5, "parent_offspring": 0.25, "sibling": 0.25})).all()
    ids = set(cohort.sample_ids)
    assert set(rel["id1"]) <= ids and set(rel["id2"]) <= ids and (rel["id1"] != rel["id2"]).all()
    st = cohort.sample_truth.set_index("sample_id")
    for row in rel.itertuples():  # a family lies in one population
        assert st.loc[row.id1, "population"] == st.loc[row.id2, "population"]
    # duplicates: same sex and the same phenotype row (the same person sequenced twice)
    ph = cohort.phenotypes.set_index("sample_id")
    for row in rel[rel["relationship"] == "duplicate"].itertuples():
        assert st.loc[row.id1, "genetic_sex"] == st.loc[row.id2, "genetic_sex"]
        assert ph.loc[row.id1].tolist() == ph.loc[row.id2].tolist()
        assert np.allclose(st.loc[row.id1, ["genetic_ldl_c", "liability_cad"]].to_numpy(float),
                           st.loc[row.id2, ["genetic_ldl_c", "liability_cad"]].to_numpy(float))
    # trio parents are a father and a mother
    po = rel[rel["relationship"] == "parent_offspring"]
    for child, parents in po.groupby("id2"):
        assert sorted(st.loc[parents["id1"], "genetic_sex"]) == ["F", "M"]


def test_relatives_genotype_concordance(spec, cohort):
    idx = {s: i for i, s in enumerate(cohort.sample_ids)}
    rel = cohort.relatives
    # duplicates: > 99% identical calls over every contig, but not all (0.1% discordance)
    for row in rel[rel["relationship"] == "duplicate"].itertuples():
        i, j = idx[row.id1], idx[row.id2]
        same = total = 0
        for ch in cohort.chromosomes:
            a, b = ch.genotypes[:, i], ch.genotypes[:, j]
            ok = (a[:, 0] >= 0) & (b[:, 0] >= 0)
            same += int((np.sort(a[ok], axis=1) == np.sort(b[ok], axis=1)).all(axis=1).sum())
            total += int(ok.sum())
        assert 0.99 < same / total < 1.0
    # parent-offspring: never opposite homozygotes on autosomes (outside injected HWE sites)
    d = _autosomal_dosages(cohort)
    for row in rel[rel["relationship"] == "parent_offspring"].itertuples():
        a, b = d[:, idx[row.id1]], d[:, idx[row.id2]]
        assert not (((a == 0) & (b == 2)) | ((a == 2) & (b == 0))).any()
    # trios: Mendel-consistent at every fully called autosomal site (multi-allelic ones too),
    # and on non-PAR chrX a son carries one of his mother's alleles, a daughter her father's
    flagged = _flagged_sites(cohort)
    male = cohort.male
    po = rel[rel["relationship"] == "parent_offspring"]
    for child, parents in po.groupby("id2"):
        c = idx[child]
        f, m = sorted((idx[p] for p in parents["id1"]), key=lambda k: not male[k])
        for ch in cohort.chromosomes:
            keep = np.array([(ch.contig, int(p)) not in flagged for p in ch.positions])
            if ch.sex_linked:
                keep &= ~ch.par_mask()
            g = ch.genotypes[keep]
            ok = (g[:, [c, f, m], 0] >= 0).all(axis=1)
            gc, gf, gm = g[ok, c], g[ok, f], g[ok, m]
            in_f = lambda al: (gf == al[:, None]).any(axis=1)  # noqa: E731
            in_m = lambda al: (gm == al[:, None]).any(axis=1)  # noqa: E731
            if not ch.sex_linked:
                consistent = (in_f(gc[:, 0]) & in_m(gc[:, 1])) | (in_f(gc[:, 1]) & in_m(gc[:, 0]))
            elif male[c]:
                consistent = in_m(gc[:, 0])
            else:
                consistent = (gc == gf[:, [0]]).any(axis=1) & (in_m(gc[:, 0]) | in_m(gc[:, 1]))
            assert ok.sum() > 100 and consistent.all(), (ch.contig, int((~consistent).sum()))


def test_kinship_of_relatives_and_unrelated(spec, cohort):
    d = _autosomal_dosages(cohort)
    idx = {s: i for i, s in enumerate(cohort.sample_ids)}
    for row in cohort.relatives.itertuples():
        k = _king_robust(d, idx[row.id1], idx[row.id2])
        if row.relationship == "duplicate":
            assert k > 0.45
        else:  # parent_offspring and sibling: first degree
            assert abs(k - 0.25) < 0.08, (row.relationship, k)
    # unrelated pairs of one population: ~0 on average (a few Mb make single pairs noisy)
    related = set(cohort.relatives["id1"]) | set(cohort.relatives["id2"])
    pool = [i for i, s in enumerate(cohort.sample_ids) if s not in related and cohort.populations[i] == 0]
    rng = np.random.default_rng(0)
    ks = [_king_robust(d, *rng.choice(pool, size=2, replace=False)) for _ in range(200)]
    assert abs(np.mean(ks)) < 0.03 and np.median(ks) < 0.05


def test_sex_mismatches_are_flipped_in_the_phenotype_table(spec, cohort):
    qc = cohort.qc_truth
    mm = qc[qc["kind"] == "sex_mismatch"]
    assert len(mm) == spec.resolved_n_sex_mismatches() == 2
    genetic = dict(zip(cohort.sample_ids, cohort.genetic_sex))
    assert (mm["genetic_sex"] == mm["sample_id"].map(genetic)).all()
    assert (mm["reported_sex"] == mm["genetic_sex"].map({"M": "F", "F": "M"})).all()
    others = qc[qc["kind"] != "sex_mismatch"]
    assert (others["reported_sex"] == "").all() and (others["genetic_sex"] == "").all()
    ph = cohort.phenotypes
    dirty = set(cohort.dirty_rows["sample_id"])
    assert not dirty & set(mm["sample_id"])
    reported = ph[ph["sample_id"].isin(mm["sample_id"])].set_index("sample_id")["sex"]
    assert (reported.loc[mm["sample_id"]].to_numpy() == mm["reported_sex"].to_numpy()).all()
    clean = _clean_phenotypes(cohort)
    clean = clean[~clean["sample_id"].isin(mm["sample_id"])]
    assert (clean["sex"] == clean["sample_id"].map(genetic)).all()  # everyone else is labelled right
    # the chrX genotypes say the genetic sex: haploid outside PAR1 exactly for males
    x = cohort.chromosomes[-1]
    haploid = (x.genotypes[~x.par_mask(), :, 1] == HAPLOID).all(axis=0)
    assert np.array_equal(haploid, np.asarray(cohort.genetic_sex) == "M")


def test_no_x_and_no_relatives_flags(tmp_path):
    out = tmp_path / "plain"
    argv = ["--out", str(out), "--n-samples", "200", "--seed", "3", "--sequence-length", "300000",
            "--n-causal", "4", "--no-x", "--no-relatives"]
    spec = simulate_job.spec_from_args(simulate_job.build_parser().parse_args(argv))
    assert spec.include_x is False and spec.include_relatives is False
    assert spec.contigs == ["chr1", "chr2"] and spec.resolved_relatives() == (0, 0, 0)
    assert simulate_job.main(argv) == 0
    assert sorted(p.name for p in (out / "genotypes").glob("*.vcf.gz")) == ["chr1.vcf.gz", "chr2.vcf.gz"]
    rel = pd.read_csv(out / "relatives.tsv", sep="\t")
    assert list(rel.columns) == RELATIVES_COLUMNS and rel.empty
    qc = pd.read_csv(out / "qc_truth.tsv", sep="\t", keep_default_na=False, dtype=str)
    assert (qc["kind"] == "sex_mismatch").sum() == 2  # sex labels are still checked without chrX
    defaults = simulate_job.spec_from_args(simulate_job.build_parser().parse_args(["--out", str(out)]))
    assert defaults == CohortSpec() and defaults.include_x and defaults.include_relatives
