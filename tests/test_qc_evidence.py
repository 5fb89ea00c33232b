"""The genotype job on cohorts the example never has: no chrX, males coded diploid on chrX,
few variants (thin evidence), poor linkage. Each runs ``jobs.genotypes.main`` on a tiny
generated cohort (a lake holding only ``participants``) and checks the values it wrote."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pysam
import pytest
import yaml

from genomics.evidence import judge_evidence
from jobs.lake import open_lake

N = 40                       # samples; the even ones are male
MALE = np.arange(N) % 2 == 0


def write_vcf(path, contigs: dict[str, int], records: list[tuple[str, int, list[str]]]):
    """A bgzipped VCF 4.2 with GT only: ``records`` are (contig, pos, per-sample GT strings)."""
    head = ["##fileformat=VCFv4.2", '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">']
    head += [f"##contig=<ID={c},length={n}>" for c, n in contigs.items()]
    head.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
                          + [f"S{i:02d}" for i in range(N)]))
    lines = [f"{c}\t{p}\t.\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join(g) for c, p, g in records]
    plain = str(path)[:-3]
    with open(plain, "w") as fh:
        fh.write("\n".join(head + lines) + "\n")
    pysam.tabix_compress(plain, str(path), force=True)
    os.remove(plain)
    return str(path)


def diploid(rng, af):
    a = rng.uniform(size=(N, 2)) < af
    return [f"{int(x)}/{int(y)}" for x, y in a]


def cohort(tmp, n_auto: int, x_mode: str | None, seed=0, duplicate=True):
    """``n_auto`` independent chr1 variants (sample 1 a copy of sample 0 when ``duplicate``)
    and, with ``x_mode`` 'diploid_males', 400 non-PAR chrX variants where males are homozygous
    but written diploid (0/0, 1/1), as many callers write them."""
    rng = np.random.default_rng(seed)
    recs = []
    for k in range(n_auto):
        g = diploid(rng, rng.uniform(0.15, 0.5))
        if duplicate:
            g[1] = g[0]
        recs.append(("chr1", 1_000_000 + 20_000 * k, g))
    contigs = {"chr1": 248956422}
    if x_mode == "diploid_males":
        contigs["chrX"] = 156040895
        for k in range(400):
            af = rng.uniform(0.2, 0.5)
            g = diploid(rng, af)
            for i in np.flatnonzero(MALE):
                a = int(rng.uniform() < af)
                g[i] = f"{a}/{a}"
            recs.append(("chrX", 5_000_000 + 20_000 * k, g))
    return write_vcf(tmp / "cohort.vcf.gz", contigs, recs)


def config(tmp, vcf, **qc):
    results = tmp / "results"
    results.mkdir(exist_ok=True)
    (tmp / "key").write_text("qc-evidence-test-key-0123456789\n")
    cfg = {"cohort": "tiny", "results": str(results), "lake": str(results / "lake"), "vcfs": [vcf],
           "phenotypes": {"path": str(tmp / "phenotypes.csv"), "columns": {"ldl_c": {"type": "float"}}},
           "covariates": ["sex"],
           "traits": [{"name": "ldl_c", "type": "quantitative", "column": "ldl_c"}],
           "carriers": {"genotype_calls": False}, "pca": {"n_pcs": 3}, "qc": qc,
           "privacy": {"key_file": str(tmp / "key")}, "spark": {"driver_memory": "2g"}}
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, cfg


def write_participants(cfg, n_linked: int = N):
    from jobs.privacy import pseudonymiser
    from jobs.config import validate_config
    pseudo = pseudonymiser(validate_config(cfg))
    ids = pseudo.many([f"S{i:02d}" for i in range(n_linked)])
    df = pd.DataFrame({"participant_id": ids, "sex": MALE[:n_linked].astype("int64"),
                       "ldl_c": np.linspace(2, 5, n_linked)})
    open_lake(cfg["lake"]).write("participants", df)
    return dict(zip(ids, range(n_linked)))


def run_genotypes(path):
    from jobs import genotypes
    return genotypes.main(["--configfile", str(path)])


def details(cfg):
    import json
    runs = open_lake(cfg["lake"]).read("runs").sort_values("finished_at")
    return json.loads(runs[runs["job"] == "genotypes"].iloc[-1]["details"])


def fam_sex(cfg):
    fam = pd.read_csv(os.path.join(cfg["results"], "genotypes", "tiny.qc.fam"), sep=r"\s+", header=None)
    return fam[4].to_numpy()


def test_judge_evidence_thresholds_by_hand():
    assert judge_evidence("kinship", 999, 10000, 1000).verdict == "skip"
    assert judge_evidence("kinship", 1000, 10000, 1000).verdict == "warn"
    assert judge_evidence("kinship", 10000, 10000, 1000).verdict == "ok"
    ev = judge_evidence("sex_check", 36, 1000, 100)
    assert ev.verdict == "skip" and "36 non-PAR chrX variants" in ev.message and "qc.min_variants" in ev.message
    with pytest.raises(ValueError, match="judge_evidence"):
        judge_evidence("kinship", 5, 10, 100)


@pytest.mark.slow
def test_no_chrx_few_variants_skips_sex_check_and_kinship(tmp_path):
    """No chrX at all and 300 autosomal variants: the job completes (it crashed writing the
    MatrixTable), the .fam sex is 0, no genetic sex is called, KING is skipped (below 1,000
    variants) so the duplicate pair S00/S01 is not flagged and everyone is in the unrelated set;
    PCA runs with a thin-evidence warning; results/tmp/genotypes is gone."""
    vcf = cohort(tmp_path, 300, None)
    path, cfg = config(tmp_path, vcf)
    write_participants(cfg)
    assert run_genotypes(path) == 0
    lake = open_lake(cfg["lake"])
    sqc = lake.read("sample_qc")
    assert len(sqc) == N and sqc["qc_pass"].all()
    assert sqc["unrelated"].all()                                 # nobody dropped on noise
    assert sqc["genetic_sex"].isna().all() and not sqc["sex_mismatch"].any()
    assert len(lake.read("relatedness")) == 0
    assert (fam_sex(cfg) == 0).all()
    assert not os.path.exists(os.path.join(cfg["results"], "tmp", "genotypes"))
    d = details(cfg)
    assert d["evidence"]["kinship"]["verdict"] == "skip" and d["evidence"]["kinship"]["n_variants"] == 300
    assert d["evidence"]["pca"]["verdict"] == "warn"
    assert d["evidence"]["sex_check"]["verdict"] == "skip"
    assert "unlabelled clusters" in d["ancestry_labels"]
    steps = pd.read_csv(os.path.join(cfg["results"], "qc", "qc_summary.tsv"), sep="\t")
    last = steps[steps["unit"] == "samples"].iloc[-1]
    assert last["step"] == "left out of unrelated set" and last["removed"] == 0 and last["remaining"] == N
    page = open(os.path.join(cfg["results"], "qc", "qc_report.html")).read()
    assert "kinship skipped: 300 common autosomal variants" in page
    assert "no reference panel was given" in page


@pytest.mark.slow
def test_diploid_coded_males_too_few_then_enough_chrx(tmp_path):
    """Males written diploid on chrX: the job completes; .fam sex is 2 for everyone (no haploid
    calls). With qc.min_variants.sex_check.skip 500 the 400 chrX sites are too few: the sex
    check is skipped and nobody dropped. With the defaults (warn 1000, skip 100) it runs with a
    warning and calls every male M and every female F (the simulated truth)."""
    vcf = cohort(tmp_path, 300, "diploid_males")
    path, cfg = config(tmp_path, vcf, min_variants={"sex_check": {"warn": 1000, "skip": 500}})
    index_of = write_participants(cfg)
    assert run_genotypes(path) == 0
    sqc = open_lake(cfg["lake"]).read("sample_qc")
    assert sqc["qc_pass"].all() and sqc["genetic_sex"].isna().all()
    assert (fam_sex(cfg) == 2).all()
    ev = details(cfg)["evidence"]["sex_check"]
    assert ev["verdict"] == "skip" and ev["n_variants"] == 400

    path, cfg = config(tmp_path, vcf)
    assert run_genotypes(path) == 0
    sqc = open_lake(cfg["lake"]).read("sample_qc")
    male = MALE[sqc["s"].map(index_of).to_numpy()]
    assert (sqc.loc[male, "genetic_sex"] == "M").all() and (sqc.loc[~male, "genetic_sex"] == "F").all()
    assert not sqc["sex_mismatch"].any() and sqc["qc_pass"].all()
    ev = details(cfg)["evidence"]["sex_check"]
    assert ev["verdict"] == "warn" and ev["n_variants"] == 400
    assert (fam_sex(cfg) == 2).all()


@pytest.mark.slow
def test_linkage_check_in_the_genotype_job(tmp_path, capsys):
    """10 of 40 genotyped samples have a participant record: below linkage.min_match_rate the
    job stops (exit 4) with the counts, and leaves no scratch."""
    vcf = cohort(tmp_path, 50, None)
    path, cfg = config(tmp_path, vcf)
    write_participants(cfg, n_linked=10)
    assert run_genotypes(path) == 4
    err = capsys.readouterr().err
    assert "linkage: 10 of 40 genotyped samples match a participant record (25.0%)" in err
    assert "only 25.0% of the 40 genotyped samples match" in err
    assert not os.path.exists(os.path.join(cfg["results"], "tmp", "genotypes"))
    assert details(cfg)["linkage"] == {"genotyped": 40, "matched": 10, "match_rate": 0.25}


@pytest.mark.slow
def test_too_few_variants_for_pca_skips_pca_ancestry_and_heterozygosity(tmp_path):
    """60 autosomal variants (below the PCA hard minimum of 100 after LD pruning): no PCs, every ancestry
    'unassigned', no heterozygosity outlier, nobody dropped; the report says PCA was skipped."""
    vcf = cohort(tmp_path, 60, None, duplicate=False)
    path, cfg = config(tmp_path, vcf)
    write_participants(cfg)
    assert run_genotypes(path) == 0
    lake = open_lake(cfg["lake"])
    pcs, anc, sqc = lake.read("pcs"), lake.read("ancestry"), lake.read("sample_qc")
    assert len(pcs) == N and not any(c.startswith("PC") for c in pcs.columns)
    assert (anc["ancestry"] == "unassigned").all() and sqc["qc_pass"].all() and sqc["het_f"].isna().all()
    d = details(cfg)
    n_pruned = d["evidence"]["pca"]["n_variants"]
    assert d["evidence"]["pca"]["verdict"] == "skip" and n_pruned == d["pca_variants"] and 0 < n_pruned <= 60
    assert d["ancestry_labels"] == "no ancestry groups: PCA was skipped"
    page = open(os.path.join(cfg["results"], "qc", "qc_report.html")).read()
    assert f"pca skipped: {n_pruned} LD-pruned common autosomal variants" in page
    assert not os.path.exists(os.path.join(cfg["results"], "qc", "pca.png"))
