"""The reader on the shapes of the public test suites' VCFs (htslib, bcftools, cyvcf2, pysam,
scikit-allel, Hail) and of real exports: one tiny file per shape, written here, each with its
expected outcome — accepted with the expected counts, or a specific ``InputDataError`` naming
the file, the line and the cause. Accepted files are compared with ``bcftools query`` where
bcftools is installed. Run through what the jobs use: ``prepare_vcfs`` then
``jobs.genotypes.read_genotypes`` (and ``load_arrays`` for several files)."""
from __future__ import annotations

import collections
import shutil
import subprocess

import numpy as np
import pytest

from genomics.errors import InputDataError
from genomics.vcf_inputs import MAIN_CONTIGS, prepare_vcfs
from jobs.genotypes import read_genotypes

BCFTOOLS = shutil.which("bcftools")
GT_LINE = '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
COLS = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
L38, L37 = MAIN_CONTIGS["GRCh38"], MAIN_CONTIGS["GRCh37"]


def contig_lines(pairs):
    return "".join(f"##contig=<ID={c},length={n}>\n" for c, n in pairs)


def vcf(rows, *, samples=("S1", "S2", "S3"), contigs=(("chr1", L38["chr1"]),), gt_line=True,
        version="4.2", chrom_suffix=""):
    """Header (n lines) + rows; returns (text, number of header lines)."""
    head = f"##fileformat=VCFv{version}\n" + contig_lines(contigs) + (GT_LINE if gt_line else "")
    cols = COLS + ("\tFORMAT\t" + "\t".join(samples) if samples else "") + chrom_suffix + "\n"
    return head + cols + "".join(r + "\n" for r in rows)


def row(pos, gts, chrom="chr1", ref="A", alt="G"):
    return f"{chrom}\t{pos}\trsSECRET\t{ref}\t{alt}\t.\tPASS\t.\tGT\t" + "\t".join(gts)


GOOD = [row(100, ["0/1", "1/1", "0/0"]), row(200, ["0|1", "0/0", "1|1"])]
ALTS32 = ",".join("A" * k + "C" for k in range(1, 33))         # 32 distinct ALTs: 33 alleles
H = 4   # header lines of vcf() with one contig and the GT line: fileformat, contig, FORMAT, #CHROM

# name -> (text, reference genome, expected). expected: dict of counts for an accepted file,
# or ("error", line, text the problem contains).
CASES = {
    "plain_good": (vcf(GOOD), "GRCh38", {"rows": 2, "samples": 3}),
    "sites_only": (vcf(["chr1\t100\t.\tA\tG\t.\t.\t."], samples=()), "GRCh38", ("error", H, "no samples")),
    "zero_samples": (vcf(GOOD).replace("\tS1\tS2\tS3", "").replace("\tGT\t0/1\t1/1\t0/0", "\tGT")
                     .replace("\tGT\t0|1\t0/0\t1|1", "\tGT"), "GRCh38", ("error", H, "no samples")),
    "no_gt_header_line": (vcf(GOOD, gt_line=False), "GRCh38", {"rows": 2, "samples": 3, "warning": "FORMAT=<ID=GT>"}),
    "half_calls": (vcf([row(100, ["./1", "1/.", "0/1"])]), "GRCh38", {"rows": 1, "half_calls": 2}),
    "vcf44_phase_prefix": (vcf([row(100, ["/0/1", "|1|1", "0/0"])], version="4.4"), "GRCh38",
                           ("error", H + 1, "phase mark (VCF 4.4)")),
    "symbolic_only": (vcf([row(100, ["0/1", "0/0", "1/1"], alt="<DEL>"),
                           row(300, ["0/1", "0/0", "1/1"], alt="<DUP>")]), "GRCh38",
                      {"rows": 0, "symbolic": 2}),
    "33_alleles": (vcf([row(100, ["0/32", "31/32", "0/1"], alt=ALTS32)]), "GRCh38", {"rows": 32, "multiallelic": 1}),
    "pos_2p31_minus_1": (vcf([GOOD[0], row(2**31 - 1, ["0/1", "0/0", "0/0"])]), "GRCh38",
                         ("error", H + 2, "POS 2147483647 is beyond chr1's length 248956422 in GRCh38")),
    "pos_2p31_plus_5": (vcf([GOOD[0], row(2**31 + 5, ["0/1", "0/0", "0/0"])]), "GRCh38",
                        ("error", H + 2, "POS 2147483653 is beyond chr1's length")),
    "pos_2p32_plus_100": (vcf([GOOD[0], row(2**32 + 100, ["0/1", "0/0", "0/0"])]), "GRCh38",
                          ("error", H + 2, "POS 4294967396 is beyond chr1's length")),
    "pos_3e9": (vcf([GOOD[0], row(3 * 10**9, ["0/1", "0/0", "0/0"])]), "GRCh38",
                ("error", H + 2, "POS 3000000000 is beyond chr1's length 248956422 in GRCh38")),
    "ref_dot": (vcf([GOOD[0], row(300, ["0/1", "0/0", "0/0"], ref=".")]), "GRCh38", ("error", H + 2, "REF is '.'")),
    "blank_lines_after_records": (vcf(GOOD) + "\n\n", "GRCh38", ("error", H + 3, "empty line")),
    "trailing_tab_on_chrom": (vcf(GOOD, chrom_suffix="\t"), "GRCh38", ("error", H, "empty sample name")),
    "extra_column_mid_row": (vcf([GOOD[0], GOOD[0].replace("0/0", "0/0\t0/1"), GOOD[1]]), "GRCh38",
                             ("error", H + 2, "row has 13 columns, expected 12")),
    "gt_index_above_alt_count": (vcf([GOOD[0], row(300, ["0/1", "0/2", "0/0"])]), "GRCh38",
                                 ("error", H + 2, "sample 2 (column 11): GT allele index 2")),
    "one_contig_length_other": (vcf(GOOD, contigs=(("chr1", 248956000),)), "GRCh38",
                                {"rows": 2, "warning": "##contig length(s) differ"}),
    "lengths_of_other_build": (vcf([row(100, ["0/1", "0/0", "0/0"], chrom="1")],
                                   contigs=[("1", L37["1"]), ("2", L37["2"]), ("3", L37["3"])]),
                               "GRCh38", ("error", 2, "3 ##contig lengths equal GRCh37's exactly")),
    "plink19_header": (vcf([row(1000, ["0/1", "0/0", "1/1"], chrom="1"), row(5000, ["0/1", "0/0", "0/0"], chrom="2")],
                           contigs=[("1", 1001), ("2", 5001)]), "GRCh37",
                       {"rows": 2, "warning": "2 ##contig length(s) differ"}),
    "no_contig_lines": (vcf(GOOD, contigs=()), "GRCh38", {"rows": 2, "build": "not confirmed"}),
}
OUTCOMES: collections.Counter = collections.Counter()


def write(tmp_path, name, text, bgzip: bool):
    import pysam
    p = tmp_path / f"{name}.vcf"
    p.write_text(text)
    if not bgzip:
        return str(p)
    pysam.tabix_compress(str(p), str(p) + ".gz", force=True)
    return str(p) + ".gz"


def bcftools_alt_alleles(path) -> tuple[int, int]:
    """(records, ALT alleles in fully called genotypes) as bcftools reads them."""
    out = subprocess.run([BCFTOOLS, "query", "-f", "[%GT\t]\n", path], capture_output=True, text=True, check=True).stdout
    n_alt = 0
    for line in out.splitlines():
        for gt in line.split("\t"):
            alleles = gt.replace("|", "/").split("/")
            if gt and "." not in alleles:
                n_alt += sum(a != "0" for a in alleles)
    return len(out.splitlines()), n_alt


@pytest.mark.parametrize("bgzip", [False, True], ids=["plain", "bgzip"])
@pytest.mark.parametrize("name", list(CASES))
def test_reader_outcome(tmp_path, name, bgzip):
    text, build, expected = CASES[name]
    path = write(tmp_path, name, text, bgzip)
    try:
        prep = prepare_vcfs([path], str(tmp_path / "work"), build)
        ga = read_genotypes(prep, keep_phase=True)
    except InputDataError as e:
        OUTCOMES["error: " + name] += 1
        assert isinstance(expected, tuple), f"{name} refused: {e}"
        _, line, problem = expected
        assert e.path == path and e.line == line and problem in e.problem, str(e)
        assert "SECRET" not in str(e) and "S1" not in e.problem
        return
    OUTCOMES["accepted: " + name] += 1
    assert isinstance(expected, dict), f"{name} accepted, expected {expected}"
    c = ga.counts
    assert ga.gt.shape[0] == expected["rows"] and ga.variants["position"].dtype == np.int64
    assert ga.gt.shape[1] == expected.get("samples", ga.gt.shape[1])
    assert c.n_half_calls == expected.get("half_calls", 0)
    assert c.n_dropped_symbolic == expected.get("symbolic", 0)
    assert c.n_multiallelic == expected.get("multiallelic", 0)
    if "warning" in expected:
        assert any(expected["warning"] in w for w in prep.warnings), prep.warnings
    else:
        assert not prep.warnings
    assert ("not confirmed" in prep.build_check) == (expected.get("build") == "not confirmed")
    if BCFTOOLS:
        n_rec, n_alt = bcftools_alt_alleles(path)
        assert c.n_records == n_rec
        called = ga.gt[ga.gt >= 0]
        if not expected.get("half_calls") and not expected.get("symbolic"):   # read as missing / dropped here
            assert int(called.sum()) == n_alt


def test_reader_outcome_counts(capsys):
    """Prints the table's outcome counts (they go in the issue's closing note)."""
    acc = sum(isinstance(e, dict) for _, _, e in CASES.values())
    err = len(CASES) - acc
    with capsys.disabled():
        print(f"\nreader corpus: {len(CASES)} shapes, {acc} accepted, {err} specific InputDataError")
    assert acc >= 8 and err >= 12


def test_hand_values_of_the_33_allele_record(tmp_path):
    """Each of the 32 ALTs is its own row with the record's GT downcoded to it."""
    path = write(tmp_path, "a33", CASES["33_alleles"][0], False)
    ga = read_genotypes(prepare_vcfs([path], str(tmp_path / "w"), "GRCh38"), keep_phase=False)
    assert ga.gt[0].tolist() == [0, 0, 1]          # ALT 1: 0/32 -> 0/0, 31/32 -> 0/0, 0/1 -> 0/1
    assert ga.gt[30].tolist() == [0, 1, 0]         # ALT 31
    assert ga.gt[31].tolist() == [1, 1, 0]         # ALT 32


# -- several files: sample order, overlapping samples, one variant under two contig names ----------

def _config(tmp_path, vcfs):
    return {"vcfs": vcfs, "results": str(tmp_path / "results"), "reference_genome": "GRCh38",
            "carriers": {"genotype_calls": True}}


def _load(tmp_path, vcfs):
    from jobs.read_genotypes import load_arrays
    cfg = _config(tmp_path, vcfs)
    work = str(tmp_path / "work")
    return load_arrays(cfg, lambda i: read_genotypes(prepare_vcfs([vcfs[i]], work, "GRCh38"), keep_phase=True))


def test_same_samples_in_another_order_are_reordered(tmp_path):
    a = write(tmp_path, "a", vcf([row(100, ["0/1", "1/1", "0/0"])]), True)
    b = write(tmp_path, "b", vcf([row(200, ["1|0", "0/0", "0/1"])], samples=("S3", "S1", "S2")), True)
    prep = prepare_vcfs([a, b], str(tmp_path / "work"), "GRCh38")       # the genotype job's check
    assert prep.sample_orders == [None, [1, 2, 0]]
    ga = _load(tmp_path, [a, b])
    assert ga.samples == ["S1", "S2", "S3"]
    assert ga.gt.tolist() == [[1, 2, 0], [0, 1, 1]]        # S1 0/0, S2 0/1, S3 1|0 in file b
    phased = np.unpackbits(ga.phased, axis=1, count=3, bitorder="little")
    assert ga.phased_rows.tolist() == [1] and phased.tolist() == [[0, 0, 1]]   # S3's phase moved with S3
    both = read_genotypes(prep, keep_phase=True)            # both files in one read_vcfs call
    assert both.gt.tolist() == ga.gt.tolist()


def test_overlapping_sample_sets_say_how_many_are_shared(tmp_path):
    a = write(tmp_path, "a", vcf([row(100, ["0/1", "1/1", "0/0"])]), False)
    b = write(tmp_path, "b", vcf([row(200, ["1/0", "0/0", "0/1"])], samples=("S1", "S2", "S9")), False)
    with pytest.raises(InputDataError) as e:
        prepare_vcfs([a, b], str(tmp_path / "work"), "GRCh38")
    assert e.value.path == b and "2 shared, 1 only in this file, 1 only in the first" in e.value.problem


def test_one_variant_under_two_contig_names_is_a_reported_duplicate(tmp_path):
    from genomics.genotype_arrays import duplicate_rows
    a = write(tmp_path, "a", vcf([row(100, ["0/1", "1/1", "0/0"], chrom="20"), row(150, ["0/1", "0/0", "0/0"], chrom="20")],
                                 contigs=(("20", L37["20"]),)), True)
    b = write(tmp_path, "b", vcf([row(100, ["0/0", "0/0", "0/0"], chrom="chr20")], contigs=(("chr20", L38["chr20"]),)), True)
    prep = prepare_vcfs([a, b], str(tmp_path / "work"), "GRCh38")
    assert prep.warnings == [f"a.vcf.gz: 1 ##contig length(s) differ from GRCh38 (e.g. 20); positions are "
                             "checked against GRCh38's lengths"]
    ga = _load(tmp_path, [a, b])
    assert ga.variants["contig"].astype(str).tolist() == ["chr20"] * 3
    assert duplicate_rows(ga.variants).tolist() == [False, False, True]    # the first file's row is kept


def test_dropping_rows_keeps_the_phase_of_the_rows_kept(tmp_path):
    """The genotype job drops rows (invalid loci, duplicates) from phased arrays: the phase bits of
    the kept rows follow them (they are stored for the phased rows only)."""
    from genomics.genotype_arrays import read_vcfs
    from jobs.genotypes import _take_rows
    head = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n")
    rows = ["chr1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\t1/1\n",      # unphased
            "chr1\t200\t.\tA\tG\t.\t.\t.\tGT\t1|0\t0|1\n",      # phased, S1 ALT first
            "chr1\t300\t.\tA\tG\t.\t.\t.\tGT\t0|1\t1|0\n"]      # phased, S2 ALT first
    path = tmp_path / "p.vcf"
    path.write_text(head + "".join(rows))
    ga = read_vcfs([str(path)], keep_phase=True)
    kept = _take_rows(ga, np.array([False, True, True]))
    phased, alt_first = kept.phase_block(0, 2)
    assert phased.all()
    assert alt_first.tolist() == [[True, False], [False, True]]
    assert kept.gt.tolist() == [[1, 1], [1, 1]]


def test_reordering_samples_of_unphased_arrays_keeps_them_empty(tmp_path):
    """A file without a phased call has empty phase arrays; putting its samples in another order
    (the genotype job does it for a file whose samples are the first file's in another order)
    moves the genotypes and keeps the phase arrays empty."""
    from genomics.genotype_arrays import read_vcfs, take_samples
    head = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3\n")
    path = tmp_path / "u.vcf"
    path.write_text(head + "chr1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/0\t0/1\t1/1\n")
    ga = read_vcfs([str(path)], keep_phase=True)
    out = take_samples(ga, np.array([2, 0, 1]))
    assert out.samples == ["S3", "S1", "S2"] and out.gt.tolist() == [[2, 0, 1]]
    assert out.phased.shape == (0, 1) and out.alt_first.shape == (0, 1)
