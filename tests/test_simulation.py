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
    PHENOTYPE_COLUMNS,
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
    assert "".join(vcf_lines(again, 1)) == "".join(vcf_lines(cohort, 1))


def test_other_seed_gives_other_cohort(cohort):
    other = simulate_cohort(CohortSpec(**{**TINY, "seed": 12}))
    a, b = other.chromosomes[0], cohort.chromosomes[0]
    assert a.n_variants != b.n_variants or not np.array_equal(a.positions, b.positions)
    assert not other.phenotypes.equals(cohort.phenotypes)


# --- genotypes ----------------------------------------------------------------------------


def test_shapes_ids_and_alleles(spec, cohort):
    n = spec.n_samples
    assert cohort.sample_ids[0] == "GL00001" and len(set(cohort.sample_ids)) == n == len(cohort.sample_ids)
    assert [c.contig for c in cohort.chromosomes] == ["chr1", "chr2"]
    # 70/30 split over two populations
    assert np.bincount(cohort.populations).tolist() == [140, 60]
    for ch in cohort.chromosomes:
        v = ch.n_variants
        assert v > 500
        assert ch.genotypes.shape == (v, n, 2) and ch.genotypes.dtype == np.int8
        assert ch.positions.dtype == np.int64
        assert np.all(np.diff(ch.positions) > 0)
        assert ch.positions.min() > spec.offset_bp
        assert ch.positions.max() <= spec.offset_bp + spec.sequence_length_bp
        assert len(ch.ref) == len(ch.alt) == v
        for r, alts in zip(ch.ref, ch.alt):
            assert r in "ACGT" and len(r) == 1
            assert 1 <= len(alts) <= 3 and all(a in "ACGT" and a != r for a in alts)
            assert len(set(alts)) == len(alts)
        max_allele = np.array([len(a) for a in ch.alt])
        assert np.all(ch.genotypes.max(axis=(1, 2)) <= max_allele)
        assert ch.genotypes.min() == -1
        # missing calls are whole genotypes
        assert np.array_equal(ch.genotypes[:, :, 0] < 0, ch.genotypes[:, :, 1] < 0)


def test_populations_differ_in_allele_frequency(cohort):
    num = den = 0.0
    diffs = []
    for ch in cohort.chromosomes:
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
    assert set(qc["kind"]) == {"bad_sample", "bad_variant", "hwe_violation"}
    bad_samples = qc.loc[qc["kind"] == "bad_sample", "sample_id"].tolist()
    assert len(bad_samples) == spec.resolved_n_bad_samples() == 1
    cols = [cohort.sample_ids.index(s) for s in bad_samples]
    good_cols = np.setdiff1d(np.arange(cohort.n_samples), cols)
    miss = np.concatenate([ch.genotypes[:, :, 0] < 0 for ch in cohort.chromosomes])
    assert 0.12 < miss[:, cols].mean() < 0.18
    causal = set(zip(cohort.truth["chromosome"], cohort.truth["position"]))
    bad_var = qc[qc["kind"] == "bad_variant"]
    hwe = qc[qc["kind"] == "hwe_violation"]
    assert len(bad_var) == spec.resolved_n_bad_variants(cohort.n_variants)
    assert len(hwe) == spec.resolved_n_hwe_violations(cohort.n_variants)
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
    assert list(st.columns) == ["sample_id", "population", "genetic_ldl_c", "genetic_cad", "liability_cad"]
    assert st["sample_id"].tolist() == cohort.sample_ids
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
        gt_re = re.compile(r"^(\./\.|\d/\d)$")
        for i, line in enumerate(data):
            f = line.rstrip("\n").split("\t")
            assert len(f) == 9 + spec.n_samples
            assert f[0] == ch.contig and f[5:9] == [".", "PASS", ".", "GT"]
            positions.append(int(f[1]))
            assert f[3] == ch.ref[i] and f[4].split(",") == list(ch.alt[i])
            assert f[2] == f"{ch.contig}:{f[1]}:{f[3]}:{f[4]}"
            if i % 97 == 0:
                assert all(gt_re.match(x) for x in f[9:])
                expected = [
                    "./." if a < 0 else f"{min(a, b)}/{max(a, b)}" for a, b in ch.genotypes[i].tolist()
                ]
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
        first = records[0]
        gts = [first.samples[s]["GT"] for s in cohort.sample_ids[:20]]
        expected = [
            (None, None) if a < 0 else (min(a, b), max(a, b)) for a, b in ch.genotypes[0, :20].tolist()
        ]
        assert gts == expected

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
    assert len(qc) == len(cohort.qc_truth)
    leftovers = [p for p in os.listdir(out) + os.listdir(out / "genotypes") if ".tmp" in p]
    assert leftovers == []

    # a second run rewrites byte-identical files
    before = {p: (out / p).read_bytes() for p in ("phenotypes.csv", "genotypes/chr1.vcf.gz")}
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
    assert spec.chromosomes == ("3",) and spec.contigs == ["3"]
    assert CohortSpec(n_samples=2000).resolved_n_dirty_rows() == 20
    assert CohortSpec(n_samples=200).resolved_n_bad_samples() == 1
    assert CohortSpec(n_samples=50).resolved_n_dirty_rows() == 6


def test_bad_cli_arguments_return_usage_error(tmp_path, capsys):
    assert simulate_job.main(["--out", str(tmp_path), "--chromosomes", "1,99"]) == 2
    assert not (tmp_path / "genotypes").exists()
