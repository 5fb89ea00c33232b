"""The VCFs centres ship (plain, gzip, bgzip with or without an index, BCF) read into the same
genotype matrix (the genotype job's reader); contigs are renamed to the reference's style; odd records are kept, made missing
or dropped with a count; malformed files stop with the file, the line and the problem."""
from __future__ import annotations

import gzip
import os
import shutil
import subprocess

import numpy as np
import pysam
import pytest

from genomics.errors import InputDataError
from genomics.vcf_checks import file_kind, find_first_problem
from genomics.vcf_inputs import contig_recoding_for, prepare_vcfs

BCFTOOLS = shutil.which("bcftools")
needs_bcftools = pytest.mark.skipif(BCFTOOLS is None, reason="bcftools is not installed (reference only)")

LENGTHS = {"GRCh37": {"1": 249250621, "X": 155270560, "Y": 59373566, "MT": 16569},
           "GRCh38": {"1": 248956422, "X": 156040895, "Y": 57227415, "MT": 16569}}

# One record per situation. CHROM is written bare here; chr_style() renames for GRCh37 tests.
# The three last records are skipped by the genotype job: a POS past chrM's end, a decoy, an unplaced GRCh37 contig.
RECORDS = """\
1	100	rs1	A	G	.	PASS	.	GT:DP	0/1:5	1|1:7	./.:.
1	200	.	A	G,T	.	PASS	.	GT:AD	1/2:1,2,3	0|2	./1
1	300	.	A	<DEL>	.	PASS	.	GT	0/1	0/0	0/0
1	400	.	A	*,C	.	PASS	.	GT	1/2	0/0	0/2
1	500	.	A	G	.	PASS	.	GT:DP	1/.:3	./1:4	.|1:5
1	600	.	A	<*>	.	PASS	.	GT	0/0	0/0	0/0
1	650	.	A	G,<NON_REF>	.	PASS	.	GT	0/1	1/2	0/0
1	700	.	A	A[2:321[	.	PASS	.	GT	0/1	0/0	0/0
1	750	.	A	.	.	PASS	.	GT	0/0	0/0	0/0
1	800	.	A	G	.	PASS	.	.	.	.	.
1	900	.	A	G	.	PASS	.	DP	5	.	7
1	1000	.	A	G	.	PASS	.	GT:DP	0/1	1/1:3	.
X	100	.	A	G	.	PASS	.	GT	0/1	1	0/1
X	200	.	C	T	.	PASS	.	GT	0|1	0	1/1
Y	100	.	G	A	.	PASS	.	GT	.	1	.
MT	100	.	T	C	.	PASS	.	GT	.	1	1
MT	20000	.	A	G	.	PASS	.	GT	0/1	0/0	0/0
hs37d5	10	.	A	G	.	PASS	.	GT	0/1	0/0	0/0
GL000192.1	10	.	A	G	.	PASS	.	GT	0/1	0/0	0/0
"""
N_RECORDS, N_SKIPPED = 19, 3
# (position, ALT) -> per-sample (n_alt_alleles, ploidy, phased); None = missing call
EXPECTED = {
    ("1", 100, "G"): [(1, 2, False), (2, 2, True), None],
    ("1", 200, "G"): [(1, 2, False), (0, 2, True), None],
    ("1", 200, "T"): [(1, 2, False), (1, 2, True), None],
    ("1", 400, "C"): [(1, 2, False), (0, 2, False), (1, 2, False)],
    ("1", 500, "G"): [None, None, None],                      # half-calls
    ("1", 650, "G"): [(1, 2, False), (1, 2, False), (0, 2, False)],
    ("1", 800, "G"): [None, None, None],                      # FORMAT '.'
    ("1", 900, "G"): [None, None, None],                      # FORMAT without GT
    ("1", 1000, "G"): [(1, 2, False), (2, 2, False), None],   # only some FORMAT fields
    ("X", 100, "G"): [(1, 2, False), (1, 1, False), (1, 2, False)],
    ("X", 200, "T"): [(1, 2, True), (0, 1, False), (2, 2, False)],
    ("Y", 100, "A"): [None, (1, 1, False), None],
    ("MT", 100, "C"): [None, (1, 1, False), (1, 1, False)],
}


def header(names: dict[str, str], lengths: dict[str, int], samples=("S1", "S2", "S3")) -> str:
    contigs = "".join(f"##contig=<ID={names[c]},length={n}>\n" for c, n in lengths.items())
    contigs += (f"##contig=<ID={names['hs37d5']},length=35477943>\n"
                f"##contig=<ID={names['GL000192.1']},length=547496>\n")
    return ("##fileformat=VCFv4.2\n" + contigs +
            '##ALT=<ID=DEL,Description="Deletion">\n##ALT=<ID=NON_REF,Description="Any other allele">\n'
            '##ALT=<ID=*,Description="Any other allele">\n'
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
            '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
            '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allele depths">\n'
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n")


BARE = {c: c for c in ["1", "X", "Y", "MT", "hs37d5", "GL000192.1"]}
CHR = {"1": "chr1", "X": "chrX", "Y": "chrY", "MT": "chrM", "hs37d5": "chrUn_hs37d5",
       "GL000192.1": "chrUn_gl000192"}


def vcf_text(names=BARE, reference="GRCh38") -> str:
    rows = "".join(names[r.split("\t", 1)[0]] + "\t" + r.split("\t", 1)[1] + "\n"
                   for r in RECORDS.splitlines())
    return header(names, LENGTHS[reference]) + rows


def write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def bgzip(plain: str, out: str) -> str:
    pysam.tabix_compress(plain, out, force=True)
    return out


def bare(contig: str) -> str:
    return "MT" if contig == "chrM" else contig.removeprefix("chr")


def as_dict(ga, lengths) -> dict:
    """{(contig without chr, pos, ALT): [per sample (n_alt, ploidy, phased) or None]} of the
    rows inside the reference (``lengths``: contig -> length), as the genotype job keeps them."""
    contigs = ga.variants["contig"].astype(str)
    inside = contigs.isin(lengths) & (ga.variants["position"] <= contigs.map(lengths).astype(float))
    got = {}
    for i in np.flatnonzero(inside.to_numpy()):
        hap = ga.haploid_block(i, i + 1)
        ph = ga.phase_block(i, i + 1)
        calls = []
        for j, n in enumerate(ga.gt[i]):
            if n < 0:
                calls.append(None)
                continue
            haploid = hap is not None and hap[0, j]
            calls.append((int(n), 1 if haploid else 2, bool(ph is not None and ph[0][0, j])))
        got[(bare(contigs[i]), int(ga.variants["position"][i]), str(ga.variants["alt"][i]))] = calls
    return got


# -- the same file in every container ------------------------------------------------------------

@pytest.fixture(scope="module")
def forms(tmp_path_factory):
    """The fixture as plain, gzip, bgzip (+tbi, +csi, none), BCF and uncompressed BCF."""
    d = tmp_path_factory.mktemp("forms")
    plain = write(d / "plain.vcf", vcf_text())
    gz = str(d / "gzip.vcf.gz")
    with open(plain, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    tbi = bgzip(plain, str(d / "tbi.vcf.gz"))
    pysam.tabix_index(tbi, preset="vcf", force=True)
    csi = bgzip(plain, str(d / "csi.vcf.gz"))
    pysam.tabix_index(csi, preset="vcf", csi=True, force=True)
    noidx = bgzip(plain, str(d / "noindex.vcf.bgz"))
    files = {"plain": plain, "gzip": gz, "bgzip+tbi": tbi, "bgzip+csi": csi, "bgzip": noidx}
    if BCFTOOLS:
        bcf = str(d / "file.bcf")
        subprocess.run([BCFTOOLS, "view", "--no-version", "-Ob", "-o", bcf, plain], check=True)
        raw = d / "raw.bcf"         # no BGZF container at all
        raw.write_bytes(gzip.decompress(open(bcf, "rb").read()))
        files.update({"bcf": bcf, "bcf-uncompressed": str(raw)})
    assert os.path.exists(tbi + ".tbi") and os.path.exists(csi + ".csi")
    return files


@pytest.fixture(scope="module")
def prepared(forms, tmp_path_factory):
    return prepare_vcfs(list(forms.values()), str(tmp_path_factory.mktemp("work")), "GRCh38")


def test_kinds_and_actions(prepared, forms):
    kinds = dict(zip(forms, prepared.kinds))
    actions = dict(zip(forms, prepared.actions))
    assert kinds == {"plain": "vcf", "gzip": "vcf-gzip", "bgzip+tbi": "vcf-bgzf", "bgzip+csi": "vcf-bgzf",
                     "bgzip": "vcf-bgzf", **({"bcf": "bcf", "bcf-uncompressed": "bcf-uncompressed"}
                                             if BCFTOOLS else {})}
    assert actions["plain"] == actions["bgzip+tbi"] == actions["bgzip"] == "as-is"
    assert actions["gzip"] == "recompressed"
    for name, path in zip(forms, prepared.paths):
        assert file_kind(path) == ("vcf" if name == "plain" else "vcf-bgzf")
        if kinds[name] in ("vcf-gzip", "bcf", "bcf-uncompressed"):
            assert actions[name] == ("converted" if "bcf" in name else "recompressed")
            assert os.path.dirname(path) != os.path.dirname(forms[name])
    assert prepared.samples == ["S1", "S2", "S3"]
    assert prepared.contigs_recoded == {"1": "chr1", "X": "chrX", "Y": "chrY", "MT": "chrM"}
    assert prepared.contigs_not_in_reference == ["hs37d5", "GL000192.1"]
    assert prepared.counts["n_contigs_not_in_reference"] == 2


def test_counts(prepared):
    from genomics.genotype_arrays import read_vcfs
    from jobs.genotypes import _Loci
    ga = read_vcfs(prepared.paths, contig_recoding=prepared.contig_recoding)
    c = ga.counts
    k = len(prepared.paths)                  # every form read together, as a mixed cohort would be
    if BCFTOOLS:
        out = subprocess.run([BCFTOOLS, "view", "-H", prepared.sources[0]], check=True,
                             capture_output=True, text=True).stdout
        assert len(out.splitlines()) == N_RECORDS
    assert c.n_records == k * N_RECORDS
    valid = _Loci(ga.variants, "GRCh38").valid
    assert ga.variants.loc[~valid, "record"].nunique() == k * N_SKIPPED
    assert ga.variants.loc[~valid, "contig"].astype(str).value_counts().to_dict() == {"hs37d5": k, "GL000192.1": k,
                                                                                       "chrM": k}
    assert c.n_no_alt == k and c.n_multiallelic == 3 * k
    assert (c.n_dropped_star, c.n_dropped_symbolic, c.n_dropped_breakend) == (k, 3 * k, k)
    assert int(valid.sum()) == k * len(EXPECTED)


# -- contig naming ------------------------------------------------------------------------------

def test_chr_names_are_recoded_for_grch37(tmp_path):
    from genomics.genotype_arrays import read_vcfs
    from genomics.vcf_inputs import reference_contigs
    plain = write(tmp_path / "chr.vcf", vcf_text(CHR, "GRCh37"))
    prep = prepare_vcfs([bgzip(plain, str(tmp_path / "chr.vcf.gz"))], str(tmp_path / "work"), "GRCh37")
    assert prep.contigs_recoded == {"chr1": "1", "chrX": "X", "chrY": "Y", "chrM": "MT"}
    assert prep.contigs_not_in_reference == ["chrUn_hs37d5", "chrUn_gl000192"]
    ga = read_vcfs(prep.paths, contig_recoding=prep.contig_recoding, keep_phase=True)
    got = as_dict(ga, reference_contigs("GRCh37"))
    assert got == EXPECTED
    assert set(ga.variants["contig"].astype(str)) >= {"1", "X", "Y", "MT"}       # GRCh37 names


def test_recoding_maps():
    r38, r37 = contig_recoding_for("GRCh38"), contig_recoding_for("GRCh37")
    assert r38["1"] == "chr1" and r38["22"] == "chr22" and r38["MT"] == r38["M"] == "chrM"
    assert r37["chr1"] == "1" and r37["chrX"] == "X" and r37["chrM"] == "MT"
    assert "chr1" not in r38 and "1" not in r37


def test_wrong_build_and_hg19_chrm(tmp_path):
    p = write(tmp_path / "b37.vcf", vcf_text(BARE, "GRCh37"))
    with pytest.raises(InputDataError, match="lengths equal GRCh37's exactly") as e:
        prepare_vcfs([p], str(tmp_path / "w"), "GRCh38")
    assert e.value.line == 2 and e.value.field == "contig length"
    hg19 = write(tmp_path / "hg19.vcf", vcf_text(CHR, "GRCh37").replace("length=16569", "length=16571"))
    prep = prepare_vcfs([hg19], str(tmp_path / "w"), "GRCh37")
    assert "chrM" not in prep.contig_recoding and "chrM" in prep.contigs_not_in_reference


def test_samples_without_gt_declared_are_read_with_a_warning(tmp_path):
    p = write(tmp_path / "nogt.vcf", vcf_text().replace(
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n', ""))
    prep = prepare_vcfs([p], str(tmp_path / "w"), "GRCh38")
    assert any("no ##FORMAT=<ID=GT>" in w for w in prep.warnings)


# -- conversions: atomic, reused, nothing else written -------------------------------------------

def test_conversions_are_reused_until_the_source_changes(tmp_path, forms):
    work = tmp_path / "work"
    srcs = [forms["gzip"]] + ([forms["bcf"]] if BCFTOOLS else [])
    misnamed = tmp_path / "bgzf_named.vcf"          # bgzipped, but a name Hail would read as text
    bgzip(forms["plain"], str(misnamed))
    first = prepare_vcfs(srcs + [str(misnamed)], str(work), "GRCh38")
    assert first.actions[-1] == "linked" and first.paths[-1].endswith(".vcf.bgz")
    assert os.path.realpath(first.paths[-1]) == os.path.realpath(misnamed)
    mtimes = [os.stat(p).st_mtime_ns for p in first.paths[:-1]]
    again = prepare_vcfs(srcs + [str(misnamed)], str(work), "GRCh38")
    assert again.actions[:-1] == ["reused"] * len(srcs) and again.paths == first.paths
    assert [os.stat(p).st_mtime_ns for p in again.paths[:-1]] == mtimes
    st = os.stat(srcs[0])
    os.utime(srcs[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert prepare_vcfs(srcs, str(work), "GRCh38").actions[0] == "recompressed"
    names = sorted(os.listdir(work))
    assert all(n.endswith((".vcf.bgz", ".vcf.bgz.json")) for n in names), names   # no temp files left
    assert len(names) == 2 * len(srcs) + 1


def test_truncated_gzip_stops_the_recompression(tmp_path):
    text = header(BARE, LENGTHS["GRCh38"]) + "".join(GOOD_ROW.format(pos=100 + i) for i in range(3000))
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(gzip.compress(text.encode())[:5000])
    with pytest.raises(InputDataError, match="truncated gzip stream") as e:
        prepare_vcfs([str(cut)], str(tmp_path / "w"), "GRCh38")
    assert e.value.line > text[:2000].count("\n") and str(cut) in str(e.value)
    assert os.listdir(tmp_path / "w") == []             # the partial output was removed


# -- agreement with bcftools ---------------------------------------------------------------------

MULTI = """\
1	1000	.	A	C,G	.	PASS	.	GT	1/2	0/1	2/2
1	1010	.	C	T	.	PASS	.	GT	0/1	1/1	0/0
1	1020	.	G	A,C,T	.	PASS	.	GT	0/3	2/1	1|1
1	1030	.	AT	A,ATT	.	PASS	.	GT	1/2	0/0	2/2
1	1040	.	T	G,C	.	PASS	.	GT	./.	0/2	1/0
X	500	.	A	G,T	.	PASS	.	GT	2	1/2	0/1
"""


@needs_bcftools
def test_split_agrees_with_bcftools_norm(tmp_path):
    from genomics.genotype_arrays import read_vcfs
    plain = write(tmp_path / "multi.vcf", header(BARE, LENGTHS["GRCh38"]) + MULTI)
    vcf = bgzip(plain, str(tmp_path / "multi.vcf.gz"))
    n_records = int(subprocess.run(f"{BCFTOOLS} view -H {vcf} | wc -l", shell=True, check=True,
                                   capture_output=True, text=True).stdout)
    split = subprocess.run(f"{BCFTOOLS} norm -m -any {vcf} 2>/dev/null | {BCFTOOLS} query -f '[%GT\\t]\\n'",
                           shell=True, check=True, capture_output=True, text=True).stdout.splitlines()
    bcf_alt = [0, 0, 0]
    for line in split:
        for i, gt in enumerate(line.rstrip("\t").split("\t")):
            alleles = gt.replace("|", "/").split("/")
            if "." not in alleles:
                bcf_alt[i] += sum(a != "0" for a in alleles)

    prep = prepare_vcfs([vcf], str(tmp_path / "w"), "GRCh38")
    ga = read_vcfs(prep.paths, contig_recoding=prep.contig_recoding)
    assert ga.variants["record"].nunique() == n_records == 6        # every record kept
    assert len(ga.gt) == len(split) == 12                          # as many biallelic rows as bcftools norm -m -any
    assert np.where(ga.gt > 0, ga.gt, 0).sum(0).tolist() == bcf_alt


# -- malformed files ----------------------------------------------------------------------------

GOOD_ROW = "1\t{pos}\trsSECRET\tA\tG\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1\n"


def malformed(case: str) -> tuple[str, int]:
    """(VCF text, the line number the problem is on)."""
    h = header(BARE, LENGTHS["GRCh38"])
    n_h = h.count("\n")
    rows = [GOOD_ROW.format(pos=100 + i) for i in range(30)]
    bad_at = 12
    bad = {
        "too_few_columns": "1\t500\trsSECRET\tA\tG\t.\tPASS\t.\tGT\t0/1\t0/0\n",
        "too_many_columns": "1\t500\trsSECRET\tA\tG\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1\t0/1\n",
        "pos_not_numeric": "1\tx500\trsSECRET\tA\tG\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1\n",
        "pos_zero": "1\t0\trsSECRET\tA\tG\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1\n",
        "empty_ref": "1\t500\trsSECRET\t\tG\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1\n",
        "empty_alt": "1\t500\trsSECRET\tA\t\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1\n",
    }
    if case in bad:
        rows[bad_at] = bad[case]
        return h + "".join(rows), n_h + bad_at + 1
    if case == "no_fileformat":
        return h.replace("##fileformat=VCFv4.2\n", "##source=x\n") + "".join(rows), 1
    if case == "bad_chrom_line":
        return h.replace("\tREF\tALT", "\tALT\tREF") + "".join(rows), n_h
    if case == "duplicate_samples":
        return h.replace("S3", "S1") + "".join(rows), n_h
    raise KeyError(case)


PROBLEMS = {"too_few_columns": "columns", "too_many_columns": "columns", "pos_not_numeric": "POS",
            "pos_zero": "POS", "empty_ref": "REF is empty", "empty_alt": "ALT is empty",
            "no_fileformat": "fileformat", "bad_chrom_line": "#CHROM", "duplicate_samples": "duplicate"}


@pytest.mark.parametrize("container", ["plain", "gzip", "bgzip"])
@pytest.mark.parametrize("case", list(PROBLEMS))
def test_validator_names_the_line(tmp_path, case, container):
    text, line = malformed(case)
    p = write(tmp_path / "bad.vcf", text)
    if container == "gzip":
        with open(p, "rb") as src, gzip.open(p + ".gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        p += ".gz"
    elif container == "bgzip":
        p = bgzip(p, p + ".gz")
    found = find_first_problem(p)
    assert found is not None and found[0] == line and PROBLEMS[case] in found[1]
    assert "SECRET" not in found[1]


def test_validator_passes_good_files_and_finds_truncation(tmp_path, forms):
    for name, path in forms.items():
        assert find_first_problem(path) is None, name
    text = header(BARE, LENGTHS["GRCh38"]) + "".join(GOOD_ROW.format(pos=100 + i) for i in range(3000))
    plain = write(tmp_path / "big.vcf", text)
    bgz = bgzip(plain, str(tmp_path / "big.vcf.gz"))
    data = open(bgz, "rb").read()
    mid = tmp_path / "mid.vcf.gz"                 # cut inside a block
    mid.write_bytes(data[: len(data) // 2])
    line, problem = find_first_problem(str(mid))
    assert "truncated bgzip" in problem and header(BARE, LENGTHS["GRCh38"]).count("\n") < line < 3000
    eof = tmp_path / "eof.vcf.gz"                 # only the end-of-file block missing
    eof.write_bytes(data[:-28])
    eof_line, problem = find_first_problem(str(eof))
    assert eof_line == text.count("\n") + 1 and "end-of-file block is missing" in problem
    with pytest.raises(InputDataError, match="truncated bgzip") as e:
        prepare_vcfs([str(mid)], str(tmp_path / "w"), "GRCh38")
    assert e.value.line == line


@pytest.mark.parametrize("case", ["no_fileformat", "bad_chrom_line", "duplicate_samples"])
def test_bad_headers_stop_before_hail(tmp_path, case):
    text, line = malformed(case)
    p = bgzip(write(tmp_path / "bad.vcf", text), str(tmp_path / "bad.vcf.gz"))
    with pytest.raises(InputDataError) as e:
        prepare_vcfs([p], str(tmp_path / "w"), "GRCh38")
    assert e.value.line == line and PROBLEMS[case] in e.value.problem and p in str(e.value)


def test_contigs_without_contig_lines_come_from_the_index_or_a_scan(tmp_path):
    text = "".join(l + "\n" for l in vcf_text().splitlines() if not l.startswith("##contig"))
    plain = write(tmp_path / "nocontig.vcf", text)
    bgz = bgzip(plain, str(tmp_path / "nocontig.vcf.gz"))
    pysam.tabix_index(bgz, preset="vcf", force=True)
    for p in (plain, bgz):                 # plain: scanned; bgzip: read from the .tbi
        prep = prepare_vcfs([p], str(tmp_path / "w"), "GRCh38")
        assert prep.contigs == ["1", "X", "Y", "MT", "hs37d5", "GL000192.1"] and prep.contigs_complete
        assert prep.contigs_not_in_reference == ["hs37d5", "GL000192.1"]
    assert "2 not in GRCh38" in prep.summary()


def test_validate_option_finds_what_hail_would_accept(tmp_path):
    """Hail ignores extra columns; only the validator sees them."""
    text, line = malformed("too_many_columns")
    p = bgzip(write(tmp_path / "bad.vcf", text), str(tmp_path / "bad.vcf.gz"))
    assert prepare_vcfs([p], str(tmp_path / "w"), "GRCh38").paths == [p]
    with pytest.raises(InputDataError, match="columns") as e:
        prepare_vcfs([p], str(tmp_path / "w"), "GRCh38", validate=True)
    assert e.value.line == line


def test_every_form_reads_the_same_into_the_genotype_matrix(prepared, forms):
    """The genotype job's reader (cyvcf2 into the int8 matrix) gives, for every container, the
    calls Hail gives: multi-allelics split, half-calls missing, haploid and phased calls kept;
    rows outside the reference (contig or position) are the ones the job drops."""
    from genomics.genotype_arrays import read_vcfs
    from genomics.vcf_inputs import reference_contigs
    lengths = reference_contigs("GRCh38")
    for name, path in zip(forms, prepared.paths):
        ga = read_vcfs([path], contig_recoding=prepared.contig_recoding, keep_phase=True)
        contigs = ga.variants["contig"].astype(str)
        assert set(contigs[~contigs.isin(lengths)]) == {"hs37d5", "GL000192.1"}, name
        assert as_dict(ga, lengths) == EXPECTED, name


@pytest.mark.parametrize("case", ["too_few_columns", "pos_not_numeric", "pos_zero", "empty_ref"])
def test_genotype_job_reader_names_the_bad_line(tmp_path, case):
    """A bad record in the middle of a bgzipped file (the header checks pass) stops the genotype
    job's reader with the file, the line and the problem, never the line's content. (htslib
    itself ignores columns beyond the samples and drops a record with an empty ALT.)"""
    from jobs.genotypes import read_genotypes
    text, line = malformed(case)
    src = bgzip(write(tmp_path / "bad.vcf", text), str(tmp_path / "bad.vcf.gz"))
    prep = prepare_vcfs([src], str(tmp_path / "w"), "GRCh38")
    with pytest.raises(InputDataError) as e:
        read_genotypes(prep, keep_phase=True)
    assert e.value.path == src and e.value.line == line and PROBLEMS[case] in e.value.problem
    assert "SECRET" not in str(e.value) and e.value.__suppress_context__
