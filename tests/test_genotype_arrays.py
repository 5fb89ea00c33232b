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
    q = qa.filter(small.gt, mind=1, geno=1, maf=0, hwe=1e-300, haploid_rows=small.haploid_rows,
                  haploid=small.haploid)
    assert np.isnan(q.p_hwe[6]) and np.isnan(q.p_hwe[8])
    assert q.p_hwe[5] == pytest.approx(qa.hwe_midp([1], [0], [1])[0])


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
    with pytest.raises(ValueError, match="samples differ"):
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


@needs_plink
@pytest.mark.parametrize("mind, geno", [(0.03, 0.02), (0.002, 0.002)])
def test_kept_sets_match_plink(cohort, mind, geno):
    """--mind first, then --geno/--maf/--hwe midp on the kept samples (autosomes: PLINK needs
    sex information for chrX allele counts and HWE). 0.002 puts the thresholds among the
    counts (1500 * 0.002 = 3 missing calls)."""
    auto = cohort["auto"]
    q = qa.filter(cohort["gt"][auto], mind=mind, geno=geno, maf=0.01, hwe=1e-6)
    run("--pfile", "all", "--autosome", "--mind", mind, "--geno", geno, "--maf", 0.01, "--hwe", 1e-6, "midp",
        "--write-snplist", "--write-samples", "--out", "qc", cwd=cohort["work"])
    kept_s = read_table(cohort["work"] / "qc.id")["#IID"].tolist()
    kept_v = (cohort["work"] / "qc.snplist").read_text().split()
    assert kept_s == [s for s, k in zip(cohort["ga"].samples, q.keep_samples) if k]
    assert kept_v == cohort["ids"][auto][q.keep_variants].tolist()
    assert 0 < q.keep_samples.sum() < len(q.keep_samples) and 0 < q.keep_variants.sum() < len(q.keep_variants)
    # the per-step counts in PLINK's order and log
    log = (cohort["work"] / "qc.log").read_text()
    removed = {s["step"]: s["removed"] for s in q.steps}
    assert f"{removed['mind']} sample{'s' if removed['mind'] != 1 else ''} removed due to missing genotype data (--mind)" in log
    assert f"--geno: {removed['geno']} variant" in log
    assert f"--hwe midp: {removed['hwe']} variant" in log
    assert f"{removed['maf']} variant{'s' if removed['maf'] != 1 else ''} removed due to allele frequency" in log
