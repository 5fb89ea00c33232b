"""Files with disjoint sample sets are merged by variant as ``bcftools merge`` does
(genomics.genotype_merge, through concat_arrays / read_vcfs); overlapping sets are refused."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from genomics.errors import InputDataError
from genomics.genotype_arrays import concat_arrays, read_vcfs
from genomics.vcf_checks import check_vcfs
from tests.test_genotype_arrays import write_vcf

bcftools = shutil.which("bcftools")
needs_bcftools = pytest.mark.skipif(bcftools is None, reason="bcftools is not installed")

A = ["A1", "A2", "A3"]            # A1, A3 male
B = ["B1", "B2"]                  # B1 male
A_CHR1 = [("chr1", 100, "A", "G", "GT", ["0/1", "1|0", "0/0"]),
          ("chr1", 200, "C", "T", "GT", ["0|1", "./.", "1/1"]),        # only in A
          ("chr1", 400, "G", "A", "GT", ["1/1", "0/1", "0|0"]),
          ("chr1", 600, "A", "C,T", "GT", ["1/2", "0/2", "2|1"])]      # only in A, split in two rows
B_CHR1 = [("chr1", 100, "A", "G", "GT", ["1/1", "0|1"]),
          ("chr1", 300, "T", "C", "GT", ["0/1", "1|1"]),               # only in B
          ("chr1", 400, "G", "A", "GT", ["./.", "0/0"]),
          ("chr1", 700, "C", "G", "GT", ["0/1", "0/0"])]               # only in B
A_CHRX = [("chrX", 1000, "C", "T", "GT", ["1", "0|1", "0"]),
          ("chrX", 3000, "G", "T", "GT", ["0", "1/1", "."])]           # only in A
B_CHRX = [("chrX", 1000, "C", "T", "GT", ["1", "1|0"]),
          ("chrX", 2000, "A", "G", "GT", ["0", "0/1"])]                # only in B


@pytest.fixture
def split_files(tmp_path):
    """Config order: A's chr1, B's chr1, A's chrX, B's chrX."""
    return [write_vcf(tmp_path / "a1", A, A_CHR1), write_vcf(tmp_path / "b1", B, B_CHR1),
            write_vcf(tmp_path / "a2", A, A_CHRX), write_vcf(tmp_path / "b2", B, B_CHRX)]


def _bcftools_merge(tmp_path, files):
    """bcftools concat per sample set, bcftools merge (default options) of the sets, split
    multi-allelics (norm -m-), then per row: key and the GT strings."""
    def run(*args):
        return subprocess.run([bcftools, *args], check=True, capture_output=True, text=True).stdout
    groups = []
    for name, members in (("A", files[0::2]), ("B", files[1::2])):
        for f in members:
            run("index", "-f", f)
        out = str(tmp_path / f"{name}.vcf.gz")
        run("concat", "-Oz", "-o", out, *members)
        run("index", "-f", out)
        groups.append(out)
    merged = str(tmp_path / "merged.vcf.gz")
    run("merge", "-Oz", "-o", merged, *groups)
    split = str(tmp_path / "split.vcf.gz")
    run("norm", "-m-any", "-Oz", "-o", split, merged)
    samples = run("query", "-l", split).split()
    rows = [line.split("\t") for line in run("query", "-f", "%CHROM\t%POS\t%REF\t%ALT\t[%GT ]\n", split).splitlines()]
    return samples, [(c, int(p), r, a) for c, p, r, a, _ in rows], [g.split() for *_, g in rows]


def _decode(gts):
    """GT strings -> (alt count with -1 missing, haploid, phased, phased het written ALT first)."""
    def one(g):
        if "." in g:
            return -1, False, False, False
        alleles = g.replace("|", "/").split("/")
        return (sum(a == "1" for a in alleles), len(alleles) == 1, "|" in g, g == "1|0")
    arr = np.array([[one(g) for g in row] for row in gts], dtype=object)
    return (arr[..., 0].astype(np.int8), arr[..., 1].astype(bool), arr[..., 2].astype(bool),
            arr[..., 3].astype(bool))


@needs_bcftools
def test_disjoint_sample_sets_merge_as_bcftools_merge(tmp_path, split_files):
    ga = concat_arrays([read_vcfs([f], keep_phase=True) for f in split_files], sources=split_files)
    samples, keys, gts = _bcftools_merge(tmp_path, split_files)
    assert ga.samples == samples == A + B
    v = ga.variants
    assert list(zip(v["contig"].astype(str), v["position"], v["ref"], v["alt"])) == keys   # rows and order
    gt, hap, phased, alt_first = _decode(gts)
    assert ga.gt.tolist() == gt.tolist()
    assert np.array_equal(ga.haploid_block(0, len(keys)), hap)
    ph, af = ga.phase_block(0, len(keys))
    assert np.array_equal(ph, phased) and np.array_equal(af, alt_first)
    # by hand: the B-only chr1:300 is missing for A and 0/1, 1|1 for B; chrX:2000 (B only) is
    # haploid for B1 only; the A-only chrX:3000 row has no haploid flag for the absent B calls
    row = {k[:2]: i for i, k in enumerate(keys)}
    assert ga.gt[row["chr1", 300]].tolist() == [-1, -1, -1, 1, 2]
    assert ga.haploid_block(0, len(keys))[row["chrX", 2000]].tolist() == [False] * 3 + [True, False]
    assert ga.haploid_block(0, len(keys))[row["chrX", 3000]].tolist() == [True, False, False, False, False]
    # metadata from the group that has the row; counts summed over the four files
    assert v["n_alleles"].tolist() == [2, 2, 2, 2, 3, 3, 2, 2, 2, 2] and v["was_split"].sum() == 2
    assert ga.counts.n_records == 12 and ga.counts.n_rows == len(keys) == 10
    # read_vcfs on all four files at once gives the same
    whole = read_vcfs(split_files, keep_phase=True)
    assert whole.samples == ga.samples and np.array_equal(whole.gt, ga.gt)
    assert whole.phased_rows.tolist() == ga.phased_rows.tolist()


def test_unsorted_inputs_keep_the_first_groups_order(tmp_path):
    """Not sorted by position: the first group's order stays; a row only in the later group goes
    right after that group's preceding row (at the start when none precedes it)."""
    a = write_vcf(tmp_path / "a", A, [("chr1", 30, "A", "G", "GT", ["0/1"] * 3),
                                       ("chr1", 10, "A", "G", "GT", ["1/1"] * 3)])
    b = write_vcf(tmp_path / "b", B, [("chr1", 5, "C", "T", "GT", ["0/1"] * 2),
                                       ("chr1", 10, "A", "G", "GT", ["0/0"] * 2),
                                       ("chr1", 20, "A", "G", "GT", ["0/1"] * 2)])
    ga = concat_arrays([read_vcfs([a]), read_vcfs([b])])
    assert ga.variants["position"].tolist() == [5, 30, 10, 20]
    assert ga.gt.tolist() == [[-1, -1, -1, 1, 1], [1, 1, 1, -1, -1], [2, 2, 2, 0, 0], [-1, -1, -1, 1, 1]]


def test_a_set_without_usable_rows_gives_missing_calls(tmp_path):
    """A set whose only file has no usable row (a symbolic ALT): its samples are all missing."""
    a = write_vcf(tmp_path / "a", A, [("chr1", 10, "A", "<DEL>", "GT", ["0/1"] * 3)])
    b = write_vcf(tmp_path / "b", B, [("chr1", 20, "A", "G", "GT", ["0/1", "1|1"])])
    ga = concat_arrays([read_vcfs([a], keep_phase=True), read_vcfs([b], keep_phase=True)])
    assert ga.samples == A + B and ga.gt.tolist() == [[-1, -1, -1, 1, 2]]
    assert ga.phased_rows.tolist() == [0] and ga.phase_block(0, 1)[0].tolist() == [[False] * 4 + [True]]
    assert ga.counts.n_records == 2 and ga.counts.n_dropped_symbolic == 1 and ga.counts.n_rows == 1


def test_same_samples_in_another_order_join_their_group(tmp_path):
    """Two files per sample set, the second of A with its samples reordered: A's rows are
    concatenated in A's first file's sample order, then merged with B's."""
    a1 = write_vcf(tmp_path / "a1", A, [("chr1", 10, "A", "G", "GT", ["0/1", "1/1", "0/0"])])
    a2 = write_vcf(tmp_path / "a2", ["A3", "A1", "A2"], [("chr2", 10, "A", "G", "GT", ["1/1", "0/0", "0/1"])])
    b = write_vcf(tmp_path / "b", B, [("chr2", 10, "A", "G", "GT", ["0/1", "./."])])
    ga = concat_arrays([read_vcfs([f]) for f in (a1, b, a2)])
    assert ga.samples == A + B
    assert ga.gt.tolist() == [[1, 2, 0, -1, -1], [0, 1, 2, 1, -1]]


def test_overlapping_sample_sets_are_refused(tmp_path):
    a = write_vcf(tmp_path / "a", A, A_CHR1[:1])
    b = write_vcf(tmp_path / "b", B, B_CHR1[:1])
    c = write_vcf(tmp_path / "c", ["B2", "C1"], B_CHR1[:1])        # overlaps B (B2), not A
    parts = [read_vcfs([f]) for f in (a, b, c)]
    with pytest.raises(InputDataError) as e:
        concat_arrays(parts, sources=[a, b, c])
    assert e.value.path == c and f"differ from {b}: 1 shared, 1 only in this file, 1 only in the first" in e.value.problem
    with pytest.raises(InputDataError) as e:
        check_vcfs([a, b, c])
    assert e.value.path == c and "1 shared, 1 only in this file, 1 only in the first" in e.value.problem


def test_check_vcfs_accepts_disjoint_sets(tmp_path):
    a1 = write_vcf(tmp_path / "a1", A, A_CHR1)
    b1 = write_vcf(tmp_path / "b1", B[::-1], B_CHR1)
    a2 = write_vcf(tmp_path / "a2", A[::-1], A_CHRX)
    assert check_vcfs([a1, b1, a2]) == A + B[::-1]       # first file's order, then the next set's


def test_prepare_vcfs_accepts_disjoint_sets(tmp_path, split_files):
    from genomics.vcf_inputs import prepare_vcfs
    prep = prepare_vcfs(split_files, str(tmp_path / "work"), "GRCh38")
    assert prep.samples == A + B and prep.counts["n_samples"] == 5
    assert prep.sample_orders is None
