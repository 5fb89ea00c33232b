"""The numpy genotype path (genomics.genotype_arrays + genomics.qc_arrays): reading small VCFs
made here, the HWE mid-p against exact integer arithmetic, and every QC metric and the kept
sets against plink2 on the simulated cohort. PLINK is a reference here, never a pipeline step."""
from __future__ import annotations

import itertools
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from genomics import qc_arrays as qa
from genomics.genotype_arrays import min_rep, read_vcfs


plink2 = shutil.which("plink2")
needs_plink = pytest.mark.skipif(plink2 is None, reason="plink2 is not installed (make test installs it as root)")

HEADER = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n##contig=<ID=chrX,length=156040895>\n"
          '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
          '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n')


def write_vcf(path, samples, records, bgzip=True) -> str:
    """records: (chrom, pos, ref, alt, format, [sample fields])."""
    text = HEADER + "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]) + "\n"
    for chrom, pos, ref, alt, fmt, calls in records:
        text += "\t".join([chrom, str(pos), ".", ref, alt, ".", "PASS", ".", fmt, *calls]) + "\n"
    plain = str(path) + ".vcf"
    with open(plain, "w") as f:
        f.write(text)
    if not bgzip:
        return plain
    import pysam
    pysam.tabix_compress(plain, plain + ".gz", force=True)
    os.remove(plain)
    return plain + ".gz"


S5 = ["S1", "S2", "S3", "S4", "S5"]
RECORDS = [
    ("chr1", 100, "A", "G", "GT", ["0/0", "0/1", "1/1", "./.", "./1"]),         # half-call
    ("chr1", 200, "ATG", "A,AG", "GT", ["1/2", "2/2", "0|1", "./2", "1/."]),    # multi-allelic
    ("chr1", 300, "A", "<DEL>,T", "GT", ["1/2", "2/2", "0|1", ".", "0/0"]),    # symbolic + real ALT
    ("chr1", 350, "C", "T", "GT", ["0|1", "1|0", "1|1", "0|0", "0/1"]),        # phased
    ("chrX", 400, "C", "T", "GT", ["0", "1", "0/1", ".", "1|1"]),              # haploid + diploid
    ("chrX", 500, "C", "T", "GT", ["0", "1", ".", "1", "0"]),                  # haploid only
    ("chr1", 600, "C", "T", "GT", ["0/0/1", "0/1", "./.", "1/1", "0/0"]),      # polyploid call
    ("chr1", 700, "C", ".", "GT", ["0/0"] * 5),                                # no ALT
    ("chr1", 800, "C", "*", "GT", ["0/0"] * 5),                                # star
    ("chr1", 900, "C", "T", "DP", ["3", "4", "5", "6", "7"]),                  # no GT
    ("chr1", 950, "C", "C[2:321[", "GT", ["0/0"] * 5),                         # breakend
]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return read_vcfs([write_vcf(tmp_path_factory.mktemp("small") / "a", S5, RECORDS)], chunk_rows=3)


def test_rows_split_and_dropped(small):
    v = small.variants
    assert list(zip(v["position"], v["ref"], v["alt"], v["a_index"], v["n_alleles"], v["was_split"])) == [
        (100, "A", "G", 1, 2, False),
        (200, "ATG", "A", 1, 3, True), (200, "AT", "A", 2, 3, True),   # min_rep of ATG/AG
        (300, "A", "T", 2, 3, True),
        (350, "C", "T", 1, 2, False), (400, "C", "T", 1, 2, False), (500, "C", "T", 1, 2, False),
        (600, "C", "T", 1, 2, False), (900, "C", "T", 1, 2, False)]
    assert list(v["record"]) == [0, 1, 1, 2, 3, 4, 5, 6, 9]
    assert list(v["contig"].astype(str)) == ["chr1"] * 5 + ["chrX"] * 2 + ["chr1"] * 2
    c = small.counts
    assert (c.n_records, c.n_no_alt, c.n_multiallelic, c.n_alt_alleles, c.n_rows) == (11, 1, 2, 12, 9)
    assert (c.n_dropped_star, c.n_dropped_symbolic, c.n_dropped_breakend) == (1, 1, 1)
    assert (c.n_no_gt_records, c.n_polyploid_calls) == (1, 1)
    assert c.n_half_calls == 1 + 2 * 2      # ./1 once, ./2 and 1/. in both split rows


def test_alt_allele_counts(small):
    assert small.gt.dtype == np.int8
    assert small.gt.tolist() == [
        [0, 1, 2, -1, -1],       # ./1 is missing (a half-call)
        [1, 0, 1, -1, -1],       # allele 1 of 1/2, 2/2, 0|1; ./2 and 1/. missing
        [1, 2, 0, -1, -1],       # allele 2
        [1, 2, 0, -1, 0],        # T of A -> <DEL>,T; '.' missing
        [1, 1, 2, 0, 1],         # phased = unphased
        [0, 1, 1, -1, 2],        # haploid 0 / 1, diploid 0/1, 1|1
        [0, 1, -1, 1, 0],
        [-1, 1, -1, 2, 0],       # 0/0/1 missing
        [-1, -1, -1, -1, -1],    # no GT
    ]


def test_haploid_calls_are_marked(small):
    assert small.haploid_rows.tolist() == [5, 6]
    assert small.haploid.astype(int).tolist() == [[1, 1, 0, 0, 0], [1, 1, 0, 1, 1]]
    block = small.haploid_block(4, 7)
    assert block.astype(int).tolist() == [[0] * 5, [1, 1, 0, 0, 0], [1, 1, 0, 1, 1]]
    assert small.haploid_block(0, 4) is None


def test_counts_af_and_hwe_use_ploidy(small):
    c, sample_missing = qa.count_calls(small.gt, small.haploid_rows, small.haploid)
    # row 5: haploid 0, haploid 1, 0/1, missing, 1|1
    assert (c.hom_ref[5], c.het[5], c.hom_alt[5], c.hap_ref[5], c.hap_alt[5], c.n_missing[5]) == (0, 1, 1, 1, 1, 1)
    assert c.alt_allele_count[5] == 4 and c.allele_number[5] == 6
    assert qa.alt_allele_freq(c)[6] == pytest.approx(2 / 4)            # four haploid calls
    assert (c.hom_ref[6] + c.het[6] + c.hom_alt[6]) == 0                # no diploid call: no HWE test
    assert np.isnan(qa.alt_allele_freq(c)[8])                           # nothing called
    assert sample_missing.tolist() == [2, 1, 3, 6, 4]
    vf = qa.variant_filters(c, c, geno=1, maf=0, hwe=1e-300)
    assert np.isnan(vf["p_hwe"][6]) and np.isnan(vf["p_hwe"][8])
    assert vf["p_hwe"][5] == pytest.approx(qa.hwe_midp([1], [0], [1])[0])


def test_same_result_plain_several_files_and_workers(tmp_path):
    a = write_vcf(tmp_path / "a", S5, RECORDS[:5])
    b = write_vcf(tmp_path / "b", S5, RECORDS[5:], bgzip=False)
    one = read_vcfs([a, b], chunk_rows=2)
    two = read_vcfs([a, b], chunk_rows=1024, workers=2, threads=1)
    whole = read_vcfs([write_vcf(tmp_path / "c", S5, RECORDS)])
    for other in (two, whole):
        assert np.array_equal(one.gt, other.gt)
        assert one.variants.equals(other.variants)
        assert one.haploid_rows.tolist() == other.haploid_rows.tolist()
        assert one.counts == other.counts
    from genomics.errors import InputDataError
    with pytest.raises(InputDataError, match="4 shared, 1 only in this file, 1 only in the first"):
        read_vcfs([a, write_vcf(tmp_path / "d", ["S1", "S2", "S3", "S4", "X"], RECORDS[:2])])


def indexed(path, samples, records, csi=False) -> str:
    import pysam
    plain = write_vcf(path, samples, records, bgzip=False)
    return pysam.tabix_index(plain, preset="vcf", force=True, csi=csi)


def test_indexed_files_fill_one_preallocated_matrix(tmp_path):
    """With a tabix/CSI index the rows go straight into one matrix (gaps from dropped records
    closed afterwards); a file with more rows than room (many multi-allelic records) falls back
    to chunks. Either way the result equals reading the unindexed files."""
    many_multi = [("chr1", 1000 + i, "A", "C,G", "GT", ["0/1", "1/2", "2/2", "./.", "0/0"]) for i in range(40)]
    by_position = sorted(RECORDS, key=lambda r: (r[0], r[1]))        # tabix needs sorted records
    sets = {"a": by_position, "b": many_multi, "c": RECORDS[:4]}
    plain = [write_vcf(tmp_path / f"p_{k}", S5, v, bgzip=False) for k, v in sets.items()]
    tbi = [indexed(tmp_path / f"t_{k}", S5, v) for k, v in sets.items()]
    csi = [indexed(tmp_path / f"c_{k}", S5, v, csi=True) for k, v in sets.items()]
    from genomics.genotype_arrays import indexed_record_count
    assert [indexed_record_count(p) for p in tbi] == [indexed_record_count(p) for p in csi] == [11, 40, 4]
    assert indexed_record_count(plain[0]) is None
    ref = read_vcfs(plain, chunk_rows=2)
    assert ref.gt.shape == (9 + 80 + 5, 5)
    for files in (tbi, csi, tbi[::2]):
        for workers in (1, 2):
            got = read_vcfs(files, chunk_rows=2, workers=workers)
            want = ref if len(files) == 3 else read_vcfs(plain[::2], chunk_rows=2)
            assert np.array_equal(got.gt, want.gt)
            assert got.variants.equals(want.variants) and got.counts == want.counts
            assert got.haploid_rows.tolist() == want.haploid_rows.tolist()


def test_other_format_fields_and_contig_recoding(tmp_path):
    calls = ["0/0", "0/1", "1|1", "./.", "1/."]
    plain = read_vcfs([write_vcf(tmp_path / "a", S5, [("chr1", 10, "A", "G", "GT", calls)])])
    rich = read_vcfs([write_vcf(tmp_path / "b", S5, [("chr1", 10, "A", "G", "GT:DP", [c + ":7" for c in calls])])],
                     contig_recoding={"chr1": "1"})
    assert rich.gt.tolist() == plain.gt.tolist() == [[0, 1, 2, -1, -1]]
    assert list(rich.variants["contig"].astype(str)) == ["1"]


def test_min_rep_is_hails():
    assert min_rep(10, "ATG", "AG") == (10, "AT", "A")
    assert min_rep(10, "ATG", "ATC") == (12, "G", "C")
    assert min_rep(10, "CAAA", "CA") == (10, "CAA", "C")
    assert min_rep(10, "A", "T") == (10, "A", "T")


def exact_midp(het, hom1, hom2):
    """PLINK's HweP mid-p in exact integer arithmetic (ties: only across the mode)."""
    from math import comb
    homr, homc = min(hom1, hom2), max(hom1, hom2)
    n = het + homr + homc
    if n == 0:
        return 0.5
    rare = 2 * homr + het
    # n! / (homr! homc! h!) * 2^h for every possible het count h
    p = {h: comb(n, h) * comb(n - h, (rare - h) // 2) << h for h in range(rare % 2, rare + 1, 2)}
    upper = het * 2 * n > rare * (2 * n - rare)
    ties = 1 + sum(1 for h in p if (h < het if upper else h > het) and p[h] == p[het])
    tail = sum(v for v in p.values() if v <= p[het])
    return (2 * tail - ties * p[het]) / (2 * sum(p.values()))     # correctly rounded


def test_hwe_midp_exact():
    small = list(itertools.product(range(9), repeat=3))
    rng = np.random.default_rng(7)
    large = [(int(h), int(a), int(b)) for h, a, b in rng.integers(0, 1200, size=(40, 3))]
    large += [(300, 4000, 700), (10, 2990, 0), (0, 2500, 2500), (2000, 0, 0), (1, 4999, 0)]
    trip = np.array(small + large)
    ours = qa.hwe_midp(trip[:, 0], trip[:, 1], trip[:, 2])
    ref = np.array([exact_midp(*t) for t in map(tuple, trip)])
    keep = ref > 1e-300
    assert np.all(np.abs(ours[keep] - ref[keep]) <= 1e-9 * ref[keep])
    assert ours[0] == 0.5                                   # no genotypes
    assert np.all(qa.hwe_midp([5, 5], [3, 2], [2, 3]) == qa.hwe_midp([5], [3], [2])[0])  # symmetric


def test_plink_thresholds():
    assert qa.max_missing(1500, 0.002) == 3          # 1500 * 0.002 = 3: exactly 3 missing passes
    assert qa.max_missing(1000, 0.03) == 30
    assert qa.max_missing(999, 0.03) == 29


# --------------------------------------------------------------------------------------------
# against plink2 on the simulated cohort


def run(*args, cwd):
    subprocess.run([plink2, *map(str, args), "--threads", "2"], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def cohort(cohort_dir, tmp_path_factory):
    """The cohort read by read_vcfs, its biallelic rows, and one PLINK 2 fileset of the
    biallelic records (IDs chrom:pos:ref:alt)."""
    if plink2 is None:
        pytest.skip("plink2 is not installed")
    vcfs = sorted(str(p) for p in (cohort_dir / "genotypes").glob("*.vcf.gz"))
    ga = read_vcfs(vcfs, workers=2)
    work = tmp_path_factory.mktemp("plink_arrays")
    for i, v in enumerate(vcfs):
        run("--vcf", v, "--max-alleles", "2", "--set-all-var-ids", "@:#:$r:$a", "--new-id-max-allele-len", "200",
            "--output-chr", "chrM", "--make-pgen", "--out", f"p{i}", cwd=work)
    (work / "list.txt").write_text("\n".join(f"p{i}" for i in range(1, len(vcfs))) + "\n")
    run("--pfile", "p0", "--pmerge-list", "list.txt", "pfile", "--output-chr", "chrM", "--make-pgen",
        "--out", "all", cwd=work)
    bi = ~ga.variants["was_split"].to_numpy()
    v = ga.variants[bi].reset_index(drop=True)
    ids = v["contig"].astype(str) + ":" + v["position"].astype(str) + ":" + v["ref"] + ":" + v["alt"]
    rows = np.flatnonzero(bi)
    hap_keep = np.isin(ga.haploid_rows, rows)
    hap_rows = np.searchsorted(rows, ga.haploid_rows[hap_keep])
    return dict(ga=ga, gt=ga.gt[bi], ids=ids.to_numpy(), auto=~v["contig"].isin(["chrX", "chrY", "chrM"]).to_numpy(),
                hap=(hap_rows, ga.haploid[hap_keep]), work=work)


def read_table(path):
    return pd.read_csv(path, sep="\t")


def test_cohort_has_what_we_test(cohort):
    c = cohort["ga"].counts
    assert c.n_multiallelic > 0 and len(cohort["hap"][0]) > 0
    with open(cohort["work"] / "all.pvar") as f:
        ids = [ln.split("\t")[2] for ln in f if not ln.startswith("#")]
    assert ids == cohort["ids"].tolist()


@needs_plink
def test_missing_counts_match_plink(cohort):
    run("--pfile", "all", "--missing", "--out", "miss", cwd=cohort["work"])
    counts, sample_missing = qa.count_calls(cohort["gt"], *cohort["hap"])
    smiss = read_table(cohort["work"] / "miss.smiss")
    assert smiss["#IID"].tolist() == cohort["ga"].samples
    assert np.array_equal(smiss["MISSING_CT"].to_numpy(), sample_missing)
    vmiss = read_table(cohort["work"] / "miss.vmiss")
    assert np.array_equal(vmiss["ID"].to_numpy(), cohort["ids"])
    assert np.array_equal(vmiss["MISSING_CT"].to_numpy(), counts.n_missing)


@needs_plink
def test_allele_counts_and_hwe_match_plink(cohort):
    # autosomes: without sex information PLINK reads chrX haploid calls as diploid
    run("--pfile", "all", "--autosome", "--freq", "counts", "--hardy", "midp", "--out", "f", cwd=cohort["work"])
    auto = cohort["auto"]
    counts, _ = qa.count_calls(cohort["gt"][auto])
    acount = read_table(cohort["work"] / "f.acount")
    assert np.array_equal(acount["ID"].to_numpy(), cohort["ids"][auto])
    assert np.array_equal(acount["ALT_CTS"].to_numpy(), counts.alt_allele_count)
    assert np.array_equal(acount["OBS_CT"].to_numpy(), counts.allele_number)
    hardy = read_table(cohort["work"] / "f.hardy")
    assert np.array_equal(hardy["ID"].to_numpy(), cohort["ids"][auto])
    assert (hardy["A1"] == hardy["ID"].str.split(":").str[2]).all()          # A1 = REF
    assert np.array_equal(hardy["HOM_A1_CT"].to_numpy(), counts.hom_ref)
    assert np.array_equal(hardy["HET_A1_CT"].to_numpy(), counts.het)
    assert np.array_equal(hardy["TWO_AX_CT"].to_numpy(), counts.hom_alt)
    p = qa.hwe_midp(counts.het, counts.hom_ref, counts.hom_alt)
    # plink prints 6 significant digits: within half a unit of the 6th (and 0 below ~1e-300)
    ref = hardy["MIDP"].to_numpy()
    normal = ref > 1e-300
    assert np.all(np.abs(p - ref)[normal] <= 5.00001e-6 * 10.0 ** np.floor(np.log10(ref[normal])))
    assert np.all(p[~normal] < 1e-300)
    # to 1e-9: plink2 --hwe just below our p keeps the variant, just above removes it. Not for
    # 2 or 3 hets below expectation: plink2 2.00a3's --hwe midp filter leaves out the
    # configuration with 2 fewer hets there (its --hardy p-value, matched above, does not).
    n, rare = counts.het + counts.hom_ref + counts.hom_alt, counts.het + 2 * np.minimum(counts.hom_ref, counts.hom_alt)
    lower = counts.het * 2 * n <= rare * (2 * n - rare)
    p = np.where(lower & np.isin(counts.het, [2, 3]), np.nan, p)
    order = np.argsort(p)[:np.count_nonzero(~np.isnan(p))]
    picks = [order[0], *order[np.searchsorted(p[order], [1e-40, 1e-12, 1e-6, 1e-3, 0.05, 0.3])]]
    picks = [i for i in dict.fromkeys(picks) if 1e-300 < p[i] < 0.4]
    assert len(picks) >= 5
    work, ids = cohort["work"], cohort["ids"][auto]
    control = ids[np.nanargmax(p)]       # always kept: plink stops when no variant is left
    for i in picks:
        (work / "one.txt").write_text(f"{ids[i]}\n{control}\n")
        for factor, kept in ((1 - 1e-9, True), (1 + 1e-9, False)):
            run("--pfile", "all", "--extract", "one.txt", "--hwe", repr(float(p[i] * factor)), "midp",
                "--write-snplist", "--out", "one", cwd=work)
            assert (ids[i] in (work / "one.snplist").read_text().split()) is kept, (ids[i], p[i], factor)


def _job_filters(gt, *, mind, geno, maf, hwe):
    """The genotype job's four filters (``jobs/genotypes.py``): --mind over all variants, then
    --geno/--maf/--hwe over the kept samples; removed counts in PLINK's order (geno, hwe, maf)."""
    all_counts, missing = qa.count_calls(gt)
    keep = missing <= qa.max_missing(gt.shape[0], mind)
    counts = qa.counts_over(gt, keep, all_counts=all_counts)
    vf = qa.variant_filters(counts, counts, geno=geno, maf=maf, hwe=hwe)
    removed, alive = {"mind": int((~keep).sum())}, np.ones(gt.shape[0], bool)
    for name, col in (("geno", "pass_call_rate"), ("hwe", "pass_hwe"), ("maf", "pass_maf")):
        removed[name] = int((alive & ~vf[col]).sum())
        alive &= vf[col]
    return {"keep_samples": keep, "keep_variants": vf["qc_pass"], "removed": removed}


@needs_plink
@pytest.mark.parametrize("mind, geno", [(0.03, 0.02), (0.002, 0.002)])
def test_kept_sets_match_plink(cohort, mind, geno):
    """--mind first, then --geno/--maf/--hwe midp on the kept samples (autosomes: PLINK needs
    sex information for chrX allele counts and HWE). 0.002 puts the thresholds among the
    counts (1500 * 0.002 = 3 missing calls)."""
    auto = cohort["auto"]
    q = _job_filters(cohort["gt"][auto], mind=mind, geno=geno, maf=0.01, hwe=1e-6)
    run("--pfile", "all", "--autosome", "--mind", mind, "--geno", geno, "--maf", 0.01, "--hwe", 1e-6, "midp",
        "--write-snplist", "--write-samples", "--out", "qc", cwd=cohort["work"])
    kept_s = read_table(cohort["work"] / "qc.id")["#IID"].tolist()
    kept_v = (cohort["work"] / "qc.snplist").read_text().split()
    assert kept_s == [s for s, k in zip(cohort["ga"].samples, q["keep_samples"]) if k]
    assert kept_v == cohort["ids"][auto][q["keep_variants"]].tolist()
    assert 0 < q["keep_samples"].sum() < len(q["keep_samples"]) and 0 < q["keep_variants"].sum() < len(q["keep_variants"])
    # the per-step counts in PLINK's order and log
    log = (cohort["work"] / "qc.log").read_text()
    removed = q["removed"]
    assert f"{removed['mind']} sample{'s' if removed['mind'] != 1 else ''} removed due to missing genotype data (--mind)" in log
    assert f"--geno: {removed['geno']} variant" in log
    assert f"--hwe midp: {removed['hwe']} variant" in log
    assert f"{removed['maf']} variant{'s' if removed['maf'] != 1 else ''} removed due to allele frequency" in log


# --------------------------------------------------------------------------------------------
# phase and the carrier calls table (genotype_arrays.calls_table) against Hail's entries

PHASED = [
    ("chr1", 100, "A", "G", "GT", ["0/1", "1/1", "0/0", "./.", "1/0"]),
    ("chr1", 200, "ATG", "A,AG", "GT", ["1|2", "2|1", "0|2", "./2", "1/2"]),      # phased multi-allelic
    ("chr1", 350, "C", "T", "GT", ["0|1", "1|0", "1|1", "0|0", "0/1"]),
    ("chr1", 360, "ATG", "ATC,T", "GT", ["0|1", "2|1", "1/1", "0/2", ".|."]),     # min_rep moves allele 1 to 362
    ("chr1", 361, "C", "A", "GT", ["0/1", "0|1", "1|0", "1/1", "0/0"]),
    ("chrX", 400, "C", "T", "GT", ["1", "0|1", "1|0", ".", "1|1"]),              # haploid and diploid
    ("chrX", 500, "A", "C,G", "GT", ["2", "1", "0", "1/2", "2|1"]),              # haploid multi-allelic
]


def test_phase_kept_as_htslib_encodes_it(tmp_path):
    path = write_vcf(tmp_path / "p", S5, PHASED)
    ga = read_vcfs([path], chunk_rows=3, keep_phase=True)
    plain = read_vcfs([path], chunk_rows=3)
    assert np.array_equal(ga.gt, plain.gt) and plain.phased_rows is None
    assert ga.phased.dtype == np.uint8 and ga.phased.shape == (len(ga.phased_rows), 1)   # packed bits
    phased, alt_first = ga.phase_block(0, len(ga.gt))
    # rows: 100, 200/A, 200/AG, 350, 360->362 G/C, 360 ATG/T, 361, X 400, X 500/C, X 500/G
    assert phased.astype(int).tolist() == [
        [0, 0, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 1, 0, 0, 1], [1, 1, 0, 0, 1],
        [0, 1, 1, 0, 0], [0, 1, 1, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1]]   # '.|.' keeps its bit; haploid never
    assert alt_first.astype(int).tolist() == [
        [0] * 5, [1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 1, 0, 0, 0], [0] * 5, [0, 1, 0, 0, 0],
        [0, 0, 1, 0, 0], [0, 0, 1, 0, 0], [0] * 5, [0, 0, 0, 0, 1]]     # '2|1' is 0|1 for allele 1, 1|0 for 2
    assert ga.phase_block(0, 1) is None
    two = read_vcfs([write_vcf(tmp_path / "a", S5, PHASED[:3]), write_vcf(tmp_path / "b", S5, PHASED[3:])],
                    chunk_rows=2, workers=2, keep_phase=True)
    for f in ("phased_rows", "phased", "alt_first"):
        assert np.array_equal(getattr(two, f), getattr(ga, f))


def _hail_calls(mt):
    """Hail's non-reference entries of ``mt`` (locus, alleles, then sample order) as rows of the
    genotype_calls table, the genotype as ``hl.str`` writes the call."""
    import hail as hl
    mt = mt.select_rows().select_cols().select_entries("GT")
    ht = mt.filter_entries(mt.GT.n_alt_alleles() > 0).entries().key_by()
    df = ht.select(participant=ht.s, chromosome=ht.locus.contig, position=ht.locus.position, ref=ht.alleles[0],
                   alt=ht.alleles[1], genotype=hl.str(ht.GT), n_alt=ht.GT.n_alt_alleles()).to_pandas()
    return df.astype({c: str for c in ["participant", "chromosome", "ref", "alt", "genotype"]}).astype(
        {"position": np.int32, "n_alt": np.int32})


def _ours(table):
    assert [(f.name, str(f.type)) for f in table.schema] == [
        ("participant", "string"), ("chromosome", "string"), ("position", "int32"), ("ref", "string"),
        ("alt", "string"), ("genotype", "string"), ("n_alt", "int32")]
    return table.to_pandas()


def test_calls_table_equals_hails_calls_hand_made(hl, tmp_path):
    """Phased, unphased, haploid and multi-allelic calls; files given chrX first (rows sorted by
    locus as Hail keys them, a min_rep-moved allele included); then a row and sample subset.
    The MatrixTable is checkpointed first, as the genotype job does: on the lazy split_multi
    result Hail lists the rows moved by min_rep (here chr1:362) after all others."""
    from conftest import import_split_vcfs
    from genomics.genotype_arrays import calls_table
    paths = [write_vcf(tmp_path / "x", S5, PHASED[5:]), write_vcf(tmp_path / "a", S5, PHASED[:5])]
    ga = read_vcfs(paths, keep_phase=True)
    mt = import_split_vcfs(hl, paths, min_partitions=1).checkpoint(str(tmp_path / "hand.mt"))
    ours = _ours(calls_table(ga))
    pd.testing.assert_frame_equal(ours, _hail_calls(mt))
    assert set(ours["genotype"]) == {"0/1", "1/1", "0|1", "1|0", "1|1", "1"}
    rows = ga.variants["position"].isin([200, 360, 362, 500]).to_numpy()
    cols = [1, 2, 4]
    sub = mt.filter_rows(hl.literal({200, 360, 362, 500}).contains(mt.old_locus.position))
    sub = sub.filter_cols(hl.literal({S5[i] for i in cols}).contains(sub.s))
    pd.testing.assert_frame_equal(_ours(calls_table(ga, rows, cols)), _hail_calls(sub))
    # without phase every diploid call is written unphased
    unphased = _ours(calls_table(read_vcfs(paths)))
    assert unphased["genotype"].tolist() == ours["genotype"].str.replace("|", "/").str.replace("1/0", "0/1").tolist()


def _key_table(hl, v):
    ht = hl.Table.from_pandas(pd.DataFrame({"contig": v["contig"].astype(str), "position": v["position"].astype(int),
                                            "ref": v["ref"], "alt": v["alt"]}))
    return ht.key_by(locus=hl.locus(ht.contig, hl.int32(ht.position), "GRCh38"), alleles=[ht.ref, ht.alt])


@pytest.fixture(scope="module")
def cohort_arrays(cohort_dir):
    vcfs = sorted(str(p) for p in (cohort_dir / "genotypes").glob("*.vcf.gz"))
    return read_vcfs(vcfs, workers=2, keep_phase=True)


def test_calls_table_equals_hails_calls_on_cohort(hl, cohort_mt, cohort_arrays):
    from genomics.genotype_arrays import calls_table
    ga = cohort_arrays
    v = ga.variants
    assert not v.duplicated(["contig", "position", "ref", "alt"]).any()
    rows = (np.arange(len(v)) % 23 == 0) | v["was_split"].to_numpy()
    cols = np.arange(0, len(ga.samples), 5)
    mt = cohort_mt.semi_join_rows(_key_table(hl, v[rows]))
    mt = mt.filter_cols(hl.literal({ga.samples[i] for i in cols}).contains(mt.s))
    want = _hail_calls(mt)
    got = _ours(calls_table(ga, rows, cols))
    assert len(got) > 10_000 and set(got["chromosome"]) == {"chr1", "chr2", "chrX"}
    assert {"0/1", "1/1", "1"} <= set(got["genotype"])
    pd.testing.assert_frame_equal(got, want)


# --------------------------------------------------------------------------------------------
# LD pruning (genomics.ld_prune) against hl.ld_prune


def _greedy_reference(gt, pos, contig, r2, window):
    """Hail's local pruning, one variant at a time."""
    from genomics.ld_prune import standardize_stats
    usable, mean, rec = standardize_stats(gt)
    z = np.where(gt >= 0, (gt - mean[:, None]) * rec[:, None], 0.0)
    kept = []
    for i in np.flatnonzero(usable):
        ok = True
        for j in reversed(kept):
            if contig[j] != contig[i] or pos[i] - pos[j] > window:
                break
            if (z[i] @ z[j]) ** 2 >= r2:
                ok = False
                break
        if ok:
            kept.append(i)
    out = np.zeros(len(gt), bool)
    out[kept] = True
    return out


def test_ld_prune_greedy_across_blocks():
    """Block boundaries, window edges (inclusive), contig changes, missing calls, monomorphic
    rows: the same set as the one-variant-at-a-time definition."""
    from genomics.ld_prune import ld_prune
    rng = np.random.default_rng(3)
    n, m = 120, 400
    rows = []
    for i in range(m):                       # correlated runs: each row copies the last with noise
        if i % 37 == 0:
            base = rng.random((n, 2)) < rng.uniform(0.05, 0.5)
        flip = rng.random((n, 2)) < 0.08
        base = base ^ flip
        rows.append(base.sum(1))
    gt = np.array(rows, np.int8)
    gt[rng.random(gt.shape) < 0.05] = -1
    gt[10] = 0
    gt[11] = 1
    pos = np.cumsum(rng.integers(1, 40, m))
    contig = np.array(["chr1"] * 250 + ["chr2"] * 150)
    pos[250:] -= pos[250] - 5
    for window in (0, 60, 300, 10_000):
        want = _greedy_reference(gt, pos, contig, 0.2, window)
        for block in (1, 7, 64, 1000):
            got = ld_prune(gt, pos, contig, r2=0.2, window_bp=window, block_rows=block)
            assert np.array_equal(got, want), (window, block)
    assert not ld_prune(gt, pos, contig)[[10, 11]].any()
    # thresholds 1e-9 either side of a pair's r2: decided by the float64 recheck, not float32
    from genomics.ld_prune import standardize_stats
    _, mean, rec = standardize_stats(gt[[20, 21]])
    z = np.where(gt[[20, 21]] >= 0, (gt[[20, 21]] - mean[:, None]) * rec[:, None], 0.0)
    r2_pair = float(z[0] @ z[1]) ** 2
    for thr in (r2_pair - 1e-9, r2_pair + 1e-9):
        want = _greedy_reference(gt, pos, contig, thr, 10_000)
        assert np.array_equal(ld_prune(gt, pos, contig, r2=thr, window_bp=10_000, block_rows=16), want)
    assert _greedy_reference(gt, pos, contig, r2_pair - 1e-9, 10_000)[20:22].tolist() == [True, False]
    cols = np.arange(0, n, 2)
    assert np.array_equal(ld_prune(gt, pos, contig, window_bp=300, cols=cols),
                          _greedy_reference(gt[:, cols], pos, contig, 0.2, 300))
    with pytest.raises(ValueError, match="consecutive"):
        ld_prune(gt, pos, np.array(["chr1", "chr2"] * 200))


def test_ld_prune_equals_hail(hl, cohort_mt, cohort_arrays):
    """Common (MAF >= 0.05) autosomal variants, r2 0.2, 500 kb: equal to hl.ld_prune on one
    partition (its definition; with more partitions Hail's result depends on where they
    break), and no kept pair within the window in LD."""
    from genomics import qc_arrays as qa
    from genomics.genotype_arrays import locus_order
    from genomics.ld_prune import ld_prune
    ga = cohort_arrays
    v = ga.variants
    order = locus_order(v)
    counts, _ = qa.count_calls(ga.gt)
    maf = qa.minor_allele_freq(qa.alt_allele_freq(counts))
    common = (~v["contig"].isin(["chrX", "chrY", "chrM"]).to_numpy() & (maf >= 0.05))[order]
    sel = order[common]
    keep = ld_prune(ga.gt[sel], v["position"].to_numpy()[sel], v["contig"].astype(str).to_numpy()[sel],
                    r2=0.2, window_bp=500_000)
    ours = set(_ids(v.iloc[sel[keep]]))
    mt = cohort_mt.semi_join_rows(_key_table(hl, v.iloc[sel]))

    def hail_ids(m):
        t = hl.ld_prune(m.GT, r2=0.2, bp_window_size=500_000).key_by()
        return set(t.select(i=hl.delimit([t.locus.contig, hl.str(t.locus.position), t.alleles[0], t.alleles[1]],
                                         ":")).i.collect())
    one = hail_ids(mt.naive_coalesce(1))
    assert 200 < len(ours) < len(sel) / 2
    assert ours == one
    # no kept pair within the window is in LD
    from genomics.ld_prune import standardize_stats
    k = sel[keep]
    g = ga.gt[k]
    _, mean, rec = standardize_stats(g)
    z = np.where(g >= 0, (g - mean[:, None]) * rec[:, None], 0.0)
    p, c = v["position"].to_numpy()[k], v["contig"].astype(str).to_numpy()[k]
    near = (np.abs(p[:, None] - p[None, :]) <= 500_000) & (c[:, None] == c[None, :])
    np.fill_diagonal(near, False)
    assert ((z @ z.T) ** 2)[near].max() < 0.2


def _ids(v):
    return (v["contig"].astype(str) + ":" + v["position"].astype(str) + ":" + v["ref"] + ":" + v["alt"]).tolist()


# --------------------------------------------------------------------------------------------
# sex check (genomics.sex_arrays) against Hail's impute_sex


def impute_genetic_sex(mt, female_threshold=0.2, male_threshold=0.8):
    """Hail's chrX non-PAR F (``hl.impute_sex``, haploid calls as homozygous, as PLINK codes
    them) and the called sex: the reference for ``genetic_sex_f``."""
    import hail as hl
    x = mt.filter_rows(mt.locus.in_x_nonpar())
    gt = hl.if_else(x.GT.ploidy == 1, hl.call(x.GT[0], x.GT[0]), x.GT)
    sex = hl.impute_sex(gt, aaf_threshold=0.0, include_par=False,
                        female_threshold=female_threshold, male_threshold=male_threshold)
    return sex.select(f_stat=sex.f_stat, n_x_called=sex.n_called,
                      genetic_sex=hl.case().when(sex.f_stat < female_threshold, "F")
                                           .when(sex.f_stat > male_threshold, "M").default("U"))


def test_genetic_sex_f_equals_impute_genetic_sex(hl, cohort_mt, cohort_arrays):
    from genomics.sex_arrays import genetic_sex_f, x_nonpar_rows
    ga = cohort_arrays
    nonpar = x_nonpar_rows(ga.variants)
    assert 0 < nonpar.sum() < (ga.variants["contig"] == "chrX").sum()          # PAR1 rows too
    cols = np.arange(0, len(ga.samples), 2)
    for sub in (None, cols):
        mt = cohort_mt if sub is None else cohort_mt.filter_cols(
            hl.literal({ga.samples[i] for i in sub}).contains(cohort_mt.s))
        want = impute_genetic_sex(mt).to_pandas()
        got = genetic_sex_f(ga.gt, (ga.haploid_rows, ga.haploid), nonpar, cols=sub)
        assert want["s"].tolist() == [ga.samples[i] for i in (range(len(ga.samples)) if sub is None else sub)]
        assert np.all(np.abs(got["f_stat"].to_numpy() - want["f_stat"].to_numpy()) < 1e-9)
        assert np.array_equal(got["n_x_called"].to_numpy(), want["n_x_called"].to_numpy())
        assert got["genetic_sex"].tolist() == want["genetic_sex"].tolist()
        assert {"M", "F"} <= set(got["genetic_sex"])
    dense = np.zeros(ga.gt.shape, bool)
    dense[ga.haploid_rows] = ga.haploid
    assert genetic_sex_f(ga.gt, dense, nonpar).equals(genetic_sex_f(ga.gt, (ga.haploid_rows, ga.haploid), nonpar))
    assert genetic_sex_f(ga.gt, None, np.zeros(len(ga.gt), bool)) is None


# --------------------------------------------------------------------------------------------
# PLINK 1 binary export (genomics.plink_bed) through hl.import_plink and plink2


def _decode_bed(path, n_rows, n):
    data = np.frombuffer(open(path, "rb").read(), np.uint8)
    assert data[:3].tolist() == [0x6C, 0x1B, 0x01]
    b = data[3:].reshape(n_rows, (n + 3) // 4)
    codes = np.stack([(b >> s) & 3 for s in (0, 2, 4, 6)], axis=2).reshape(n_rows, -1)[:, :n]
    return np.array([2, -1, 1, 0], np.int8)[codes]           # 00 hom A1 (ALT), 01 missing, 10 het, 11 hom A2


def test_write_bed_bytes(tmp_path, small):
    from genomics.plink_bed import pack_bed_rows, write_bed
    assert pack_bed_rows(np.array([[2, -1, 1, 0, 1]], np.int8)).tolist() == [[0b11100100, 0b10]]
    rows, cols = [0, 2, 5, 6], [4, 0, 3]
    assert write_bed(str(tmp_path / "s"), small.gt, small.variants, S5, rows, cols,
                     haploid=(small.haploid_rows, small.haploid), sex=["M", 0, "F", 2, 1]) == 4
    got = _decode_bed(tmp_path / "s.bed", 4, 3)
    hap = np.zeros(small.gt.shape, bool)
    hap[small.haploid_rows] = small.haploid
    expect = np.where(hap & (small.gt == 1), 2, small.gt)[np.ix_(rows, cols)]   # haploid ALT written 1/1
    assert np.array_equal(got, expect)
    bim = pd.read_csv(tmp_path / "s.bim", sep="\t", header=None)
    assert bim[1].tolist() == ["chr1:100:A:G", "chr1:200:AT:A", "chrX:400:C:T", "chrX:500:C:T"]
    assert bim[4].tolist() == ["G", "A", "T", "T"] and bim[5].tolist() == ["A", "AT", "C", "C"]
    fam = pd.read_csv(tmp_path / "s.fam", sep="\t", header=None)
    assert fam[1].tolist() == ["S5", "S1", "S4"] and fam[4].tolist() == [1, 1, 2]
    with pytest.raises(ValueError, match="whitespace"):
        write_bed(str(tmp_path / "t"), small.gt, small.variants, ["S 1", "S2", "S3", "S4", "S5"])


@pytest.fixture(scope="module")
def cohort_bed(cohort_arrays, tmp_path_factory):
    """The whole cohort (all contigs) as one .bed in locus order, haploid ALT calls written
    1/1, the haploid samples' sex male."""
    from genomics.genotype_arrays import locus_order
    from genomics.plink_bed import write_bed
    from genomics.sex_arrays import x_nonpar_rows
    ga = cohort_arrays
    order = locus_order(ga.variants)
    hap_samples = ga.haploid[x_nonpar_rows(ga.variants)[ga.haploid_rows]].any(0)   # as the genotype job
    assert 0 < hap_samples.sum() < len(ga.samples)
    prefix = str(tmp_path_factory.mktemp("bed") / "cohort")
    write_bed(prefix, ga.gt, ga.variants, ga.samples, rows=order, haploid=(ga.haploid_rows, ga.haploid),
              sex=np.where(hap_samples, 1, 0))
    return prefix, order


def test_write_bed_round_trip_through_import_plink(hl, cohort_arrays, cohort_bed):
    """import_plink (a2_reference) + restore_haploid: the same variants, samples and, call by
    call, the same n_alt_alleles and ploidy as the matrix. Calls are compared through two
    random-weight sums per variant, exact in int64 (a difference passes with chance ~2^-62)."""
    from genomics.plink_bed import restore_haploid, variant_ids
    ga = cohort_arrays
    prefix, order = cohort_bed
    mt = hl.import_plink(prefix + ".bed", prefix + ".bim", prefix + ".fam", reference_genome="GRCh38",
                         a2_reference=True)
    mt = restore_haploid(mt, ~mt.is_female, mt.locus.in_x_nonpar())
    w = np.random.default_rng(5).integers(1, 2 ** 31, size=(len(ga.samples), 2))
    mt = mt.add_col_index()
    code = hl.or_else(mt.GT.n_alt_alleles() + 1 + 4 * hl.int(mt.GT.ploidy == 1), 0)
    rows = mt.select_rows(mt.rsid,
                          h=hl.agg.array_sum(hl.literal(w.tolist())[hl.int32(mt.col_idx)] * hl.int64(code)),
                          n_alt=hl.agg.sum(hl.or_else(mt.GT.n_alt_alleles(), 0))).rows().to_pandas()
    v = ga.variants.iloc[order]
    assert rows["rsid"].tolist() == variant_ids(v).tolist()
    assert rows["alleles"].map(list).tolist() == [[r, a] for r, a in zip(v["ref"], v["alt"])]
    assert mt.s.collect() == ga.samples
    hap = np.zeros(ga.gt.shape, np.int64)
    hap[ga.haploid_rows] = ga.haploid
    want = ((ga.gt.astype(np.int64) + 1 + 4 * hap) @ w)[order]
    assert np.array_equal(np.array(rows["h"].tolist()), want)
    assert np.array_equal(rows["n_alt"].to_numpy(), np.where(ga.gt > 0, ga.gt, 0).sum(1)[order])
    assert (v["contig"] == "chrX").any() and hap.any()


@needs_plink
def test_write_bed_read_by_plink2_as_the_vcf(cohort, cohort_bed):
    """plink2 --bfile on the .bed counts the same ALT alleles as plink2 on the VCFs (autosomes,
    the biallelic records)."""
    prefix, _ = cohort_bed
    work = cohort["work"]
    run("--pfile", "all", "--autosome", "--freq", "counts", "--out", "vcf_freq", cwd=work)
    run("--bfile", prefix, "--autosome", "--freq", "counts", "--out", "bed_freq", cwd=work)
    vcf = read_table(work / "vcf_freq.acount").set_index("ID")
    bed = read_table(work / "bed_freq.acount").set_index("ID")
    assert bed.index.is_unique and len(bed) > len(vcf) > 10_000      # the .bed has the split rows too
    bed = bed.loc[vcf.index]
    assert (bed["ALT"] == vcf["ALT"]).all() and (bed["REF"] == vcf["REF"]).all()
    assert np.array_equal(bed["ALT_CTS"].to_numpy(), vcf["ALT_CTS"].to_numpy())
    assert np.array_equal(bed["OBS_CT"].to_numpy(), vcf["OBS_CT"].to_numpy())


def test_per_file_reads_combine_to_one_read(cohort_dir):
    """The workflow reads each VCF in its own job and the genotype job combines them: the
    combination equals reading all the files at once (matrix, haploid and phase bits, variants,
    counts)."""
    from genomics.genotype_arrays import concat_arrays
    files = sorted(str(p) for p in (cohort_dir / "genotypes").glob("*.vcf.gz"))
    assert len(files) >= 2
    whole = read_vcfs(files, keep_phase=True, workers=2)
    parts = concat_arrays([read_vcfs([f], keep_phase=True) for f in files])
    assert np.array_equal(whole.gt, parts.gt)
    for name in ("haploid_rows", "haploid", "phased_rows", "phased", "alt_first"):
        assert np.array_equal(getattr(whole, name), getattr(parts, name)), name
    assert whole.counts == parts.counts and whole.samples == parts.samples
    for col in whole.variants.columns:
        assert (whole.variants[col].astype(str).to_numpy() == parts.variants[col].astype(str).to_numpy()).all(), col
