"""Bad VCFs stop with the file and the problem named, never a record's content."""
from __future__ import annotations

import gzip
import shutil

import pysam
import pytest

from genomics.errors import InputDataError
from genomics.vcf_checks import check_vcf, check_vcfs, compression_of

HEADER = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
          '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
          "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n")
ROWS = "".join(f"chr1\t{1000 + i}\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\n" for i in range(50))


def write_plain(path, text):
    path.write_text(text)
    return str(path)


def test_kinds_are_detected_from_content(tmp_path):
    plain = write_plain(tmp_path / "a.vcf", HEADER + ROWS)
    bgz = str(tmp_path / "a.vcf.gz")
    pysam.tabix_compress(plain, bgz)
    gz = str(tmp_path / "b.vcf.gz")
    with open(plain, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert [compression_of(p) for p in (plain, bgz, gz)] == ["plain", "bgzf", "gzip"]
    assert check_vcfs([plain, bgz, gz]) == ["S1", "S2"]


def test_truncated_bgzip_is_named(tmp_path):
    plain = write_plain(tmp_path / "a.vcf", HEADER + ROWS * 20)
    bgz = tmp_path / "a.vcf.gz"
    pysam.tabix_compress(plain, str(bgz))
    data = bgz.read_bytes()
    bgz.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputDataError, match="truncated bgzip") as e:
        check_vcf(str(bgz))
    assert str(bgz) in str(e.value)


def test_truncated_plain_vcf_names_the_line(tmp_path):
    text = HEADER + ROWS
    p = write_plain(tmp_path / "cut.vcf", text[: text.rindex("\t1/1")])
    with pytest.raises(InputDataError) as e:
        check_vcf(p)
    assert e.value.line == HEADER.count("\n") + 50 and "columns" in e.value.problem
    assert "0/1" not in str(e.value)


def test_duplicate_samples_and_bad_header(tmp_path):
    dup = write_plain(tmp_path / "dup.vcf", HEADER.replace("S2", "S1") + ROWS)
    with pytest.raises(InputDataError, match="duplicate sample"):
        check_vcf(dup)
    bad = write_plain(tmp_path / "bad.vcf", "not a vcf\n" + ROWS)
    with pytest.raises(InputDataError, match="not a VCF header"):
        check_vcf(bad)
    with pytest.raises(InputDataError, match="not found"):
        check_vcf(str(tmp_path / "missing.vcf.gz"))


def test_files_with_different_samples_are_refused(tmp_path):
    a = write_plain(tmp_path / "a.vcf", HEADER + ROWS)
    b = write_plain(tmp_path / "b.vcf", HEADER.replace("S2", "S3") + ROWS)
    with pytest.raises(InputDataError, match="1 shared, 1 only in this file, 1 only in the first"):
        check_vcfs([a, b])
    # the same samples in another order are read (the reader reorders them)
    c = write_plain(tmp_path / "c.vcf", HEADER.replace("S1\tS2", "S2\tS1") + ROWS)
    assert check_vcfs([a, c]) == check_vcfs([a])
