"""Checks a VCF before Hail reads it, so a bad file stops with a clear message naming the file,
the line and the problem (never a record's content) instead of a JVM stack trace.

Two levels:

* ``check_vcf`` / ``check_vcfs``: cheap checks up front (container, header, sample IDs, the
  BGZF end-of-file block). They read the header only, except for plain-gzip files (the whole
  stream, unless the caller reads it anyway) and plain files (the last line).
* ``find_first_problem``: a streaming validator over every line of one file. It is a full
  pass, so it runs when Hail has failed on a file (to name the line) or on request.
"""
from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass, field

from genomics.errors import InputDataError

# The 28-byte empty BGZF block that ends every complete bgzipped file (SAM/BAM spec 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")

EMPTY_SAMPLE = "empty sample name in the #CHROM line (a trailing tab or space?)"

FIXED_COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]

# What a file holds, from its bytes: 'vcf' (plain text), 'vcf-gzip' (ordinary gzip, one
# stream Hail cannot split), 'vcf-bgzf' (block gzip), 'bcf' (BGZF-compressed BCF),
# 'bcf-uncompressed' (raw BCF).
KINDS = ("vcf", "vcf-gzip", "vcf-bgzf", "bcf", "bcf-uncompressed")

_OTHER_COMPRESSION = {b"BZh": "bzip2", b"\xfd7zXZ": "xz", b"\x28\xb5\x2f\xfd": "zstd"}


def compression_of(path: str) -> str:
    """'bgzf', 'gzip' or 'plain', from the file's first bytes (not its name)."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    if head[:2] != b"\x1f\x8b":
        return "plain"
    # BGZF: gzip with FEXTRA and an extra subfield 'BC'.
    if len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC":
        return "bgzf"
    return "gzip"


def file_kind(path: str) -> str:
    """One of ``KINDS``, from the file's bytes: the container, then the first decompressed bytes."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    for magic, name in _OTHER_COMPRESSION.items():
        if head.startswith(magic):
            raise InputDataError(path, f"compressed with {name}, which Hail cannot read: "
                                       "recompress it with bgzip")
    if head[:2] != b"\x1f\x8b":
        return "bcf-uncompressed" if head.startswith(b"BCF\x02") else "vcf"
    try:
        first = zlib.decompressobj(31).decompress(head, 8)
    except zlib.error:
        raise InputDataError(path, "corrupt gzip stream (the first block cannot be decompressed)",
                             line=1) from None
    if first.startswith(b"BCF\x02"):
        return "bcf"
    return "vcf-bgzf" if compression_of(path) == "bgzf" else "vcf-gzip"


@dataclass
class VcfHeader:
    """What the header says. Line numbers count from 1 in the file's (VCF) text."""

    samples: list[str]
    chrom_line: int                                   # line number of the #CHROM line
    contigs: list[tuple[str, int | None, int]] = field(default_factory=list)  # (ID, length, line)
    formats: set[str] = field(default_factory=set)    # FORMAT IDs declared


def read_header(path: str, kind: str | None = None) -> VcfHeader:
    """Parse and check the header of a VCF (any compression) or BCF.

    Raises ``InputDataError`` (with the line number) when line 1 is not ``##fileformat=VCF…``,
    the ``#CHROM`` line is malformed or missing, or the header cannot be read.
    """
    kind = kind or file_kind(path)
    if kind.startswith("bcf"):
        lines = _bcf_header_lines(path)
    else:
        lines = _vcf_header_lines(path, kind)
    if not lines or not lines[0].startswith("##fileformat=VCF"):
        raise InputDataError(path, "not a VCF header: line 1 is not ##fileformat=VCF…", line=1)
    contigs: list[tuple[str, int | None, int]] = []
    formats: set[str] = set()
    for i, line in enumerate(lines, start=1):
        if line.startswith("#CHROM"):
            fields = line.split("\t")
            if fields[:8] != FIXED_COLUMNS or (len(fields) > 8 and fields[8] != "FORMAT"):
                raise InputDataError(path, "bad #CHROM header line (expected the 8 fixed "
                                           "columns, then FORMAT and samples)", line=i)
            if "" in fields[9:]:
                raise InputDataError(path, EMPTY_SAMPLE, line=i)
            return VcfHeader(samples=fields[9:], chrom_line=i, contigs=contigs, formats=formats)
        if not line.startswith("##"):
            raise InputDataError(path, "not a VCF header: no #CHROM line before the first record",
                                 line=i)
        if line.startswith("##contig=<"):
            attrs = _meta_attrs(line[len("##contig=<"):])
            if "ID" in attrs:
                length = attrs.get("length", "")
                contigs.append((attrs["ID"], int(length) if length.isdigit() else None, i))
        elif line.startswith("##FORMAT=<"):
            attrs = _meta_attrs(line[len("##FORMAT=<"):])
            if "ID" in attrs:
                formats.add(attrs["ID"])
    raise InputDataError(path, "not a VCF header: the file ends before the #CHROM line",
                         line=len(lines) + 1)


def _meta_attrs(body: str) -> dict[str, str]:
    """``ID=x,length=5,Description="a, b">`` -> {'ID': 'x', 'length': '5', ...} (quotes respected)."""
    out, key, val, in_key, quoted = {}, [], [], True, False
    for ch in body:
        if in_key:
            if ch == "=":
                in_key = False
            elif ch in ",>":
                key = []
            else:
                key.append(ch)
        elif ch == '"':
            quoted = not quoted
        elif ch in ",>" and not quoted:
            out["".join(key).strip()] = "".join(val)
            key, val, in_key = [], [], True
        else:
            val.append(ch)
    if not in_key and key:
        out["".join(key).strip()] = "".join(val)
    return out


def _vcf_header_lines(path: str, kind: str) -> list[str]:
    opener = open if kind == "vcf" else gzip.open
    lines = []
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
            for line in fh:
                line = line.rstrip("\r\n")
                lines.append(line)
                if line.startswith("#CHROM") or not line.startswith("##"):
                    break
    except (EOFError, OSError, zlib.error):
        what = "bgzip file" if kind == "vcf-bgzf" else "gzip stream"
        raise InputDataError(path, f"truncated {what} (or corrupt): the data stops inside line "
                                   f"{len(lines) + 1}, in the header", line=len(lines) + 1) from None
    return lines


def _bcf_header_lines(path: str) -> list[str]:
    import pysam
    old = pysam.set_verbosity(0)
    try:
        with pysam.VariantFile(path) as vf:
            return str(vf.header).rstrip("\n").split("\n")
    except (OSError, ValueError):
        raise InputDataError(path, "unreadable BCF header (htslib cannot parse it; duplicate "
                                   "sample IDs are one cause)", line=1) from None
    finally:
        pysam.set_verbosity(old)


def check_vcf(path: str, *, read_gzip: bool = True) -> list[str]:
    """Validate a VCF's or BCF's container and header; return its sample IDs.

    Raises ``InputDataError`` for a missing or empty file, a truncated bgzip/gzip stream, a
    header that cannot be parsed, duplicate sample IDs, or (plain files) a last line with the
    wrong column count. ``read_gzip=False`` skips reading a plain-gzip file to its end (for a
    caller that streams it anyway).
    """
    if not os.path.exists(path):
        raise InputDataError(path, "file not found")
    if os.path.getsize(path) == 0:
        raise InputDataError(path, "file is empty")
    kind = file_kind(path)
    if kind in ("vcf-bgzf", "bcf"):
        with open(path, "rb") as fh:
            fh.seek(-min(len(BGZF_EOF), os.path.getsize(path)), os.SEEK_END)
            if fh.read() != BGZF_EOF:
                _raise_located(path, "truncated bgzip file: the BGZF end-of-file block is missing")
    elif kind == "vcf-gzip" and read_gzip:
        try:
            with gzip.open(path, "rb") as fh:
                while fh.read(1 << 24):
                    pass
        except (EOFError, OSError, zlib.error):
            _raise_located(path, "truncated or corrupt gzip stream")
    header = read_header(path, kind)
    samples = header.samples
    seen, dups = set(), 0
    for s in samples:
        dups += s in seen
        seen.add(s)
    if dups:
        raise InputDataError(path, f"{dups} duplicate sample ID(s) in the header", line=header.chrom_line)
    if kind == "vcf":
        _check_last_line(path, 9 + len(samples) if samples else 8)
    return samples


def _raise_located(path: str, problem: str) -> None:
    """Raise ``problem`` for ``path``, with the line number from a full pass when one is found."""
    found = find_first_problem(path)
    if found is not None:
        raise InputDataError(path, found[1], line=found[0])
    raise InputDataError(path, problem)


def _check_last_line(path: str, n_columns: int) -> None:
    with open(path, "rb") as fh:
        n_lines = sum(1 for _ in fh)
        fh.seek(max(0, fh.tell() - (1 << 20)))
        tail = fh.read().splitlines()
    last = tail[-1] if tail else b""
    if last and not last.startswith(b"#"):
        found = last.count(b"\t") + 1
        if found < min(n_columns, 9) or (n_columns > 8 and found != n_columns):
            raise InputDataError(path, f"row has {found} columns, expected {n_columns} (truncated file?)",
                                 line=n_lines)


def check_vcfs(paths: list[str]) -> list[str]:
    """Check every file; each must hold the same samples as the others (in any order) or a set
    disjoint from theirs (batch-split files, merged by variant). Returns every sample once: the
    first file's in its order, then each further sample set's in its first file's order. A set
    overlapping another without being equal raises ``InputDataError`` naming the file ("N
    shared, X only in this file, Y only in the first")."""
    from genomics.genotype_merge import group_by_samples
    sample_lists = [check_vcf(p) for p in paths]
    groups = group_by_samples(sample_lists, list(paths))
    return [s for g in groups for s in sample_lists[g[0]]]


# -- the streaming validator ------------------------------------------------------------------

def find_first_problem(path: str, contig_lengths: dict[str, int] | None = None,
                       build: str | None = None) -> tuple[int, str] | None:
    """The first malformed line of a VCF (plain, gzip or bgzip) as ``(line_number, problem)``,
    or ``None`` when every line is well formed. The problem never quotes the line.

    Checks, in file order: line 1 is ``##fileformat=VCF…``; the header reaches a well-formed
    ``#CHROM`` line with unique sample IDs; every record has 9 + n_samples columns (8 or 9 when
    there are no samples), a non-empty CHROM, a positive integer POS, non-empty REF and ALT;
    REF not '.'; POS within the contig's length where ``contig_lengths`` (names as written in
    the file -> length in ``build``) knows the contig; GT allele indices not above the record's
    ALT count (naming the sample's index, never its ID); no empty line after the ``#CHROM`` line
    (htslib reads it as a broken record); no header line after the ``#CHROM`` line; the
    compressed stream is complete (gzip end of stream, BGZF end-of-file block).

    A BCF has no lines: its records are numbered as the lines of its VCF text would be
    (header lines, then one per record), and a problem is whatever htslib refuses.
    """
    if not os.path.exists(path):
        raise InputDataError(path, "file not found")
    if os.path.getsize(path) == 0:
        return 1, "file is empty"
    kind = file_kind(path)
    if kind.startswith("bcf"):
        return _first_bcf_problem(path)
    opener = (lambda p: open(p, "rb")) if kind == "vcf" else (lambda p: gzip.open(p, "rb"))
    line_no = 0
    n_expected: tuple[int, ...] | None = None   # allowed column counts, once #CHROM is read
    ended_with_newline = True
    try:
        with opener(path) as fh:
            for raw in fh:
                line_no += 1
                ended_with_newline = raw.endswith(b"\n")
                line = raw.rstrip(b"\r\n")
                if n_expected is None:
                    problem = _header_line_problem(line, line_no)
                    if problem:
                        return line_no, problem
                    if line.startswith(b"#CHROM"):
                        fields = line.split(b"\t")
                        samples = fields[9:]
                        if len(set(samples)) != len(samples):
                            n_dup = len(samples) - len(set(samples))
                            return line_no, f"{n_dup} duplicate sample ID(s) in the header"
                        n_expected = (9 + len(samples),) if samples else (8, 9)
                    continue
                if not line:
                    return line_no, "empty line after the #CHROM line (htslib cannot read it: remove it)"
                if line.startswith(b"#"):
                    return line_no, "header line after the #CHROM line"
                problem = _record_problem(line, n_expected, contig_lengths, build)
                if problem:
                    return line_no, problem
    except (EOFError, OSError, zlib.error):
        what = "bgzip file" if kind == "vcf-bgzf" else "gzip stream"
        return line_no + 1, f"truncated {what} (or corrupt): the data stops inside line {line_no + 1}"
    if n_expected is None:
        return line_no + 1, "not a VCF header: the file ends before the #CHROM line"
    if kind == "vcf-bgzf" and not _has_bgzf_eof(path):
        at = line_no + 1 if ended_with_newline else line_no
        return at, (f"truncated bgzip file: the BGZF end-of-file block is missing "
                    f"(the data stops at line {at})")
    return None


def _header_line_problem(line: bytes, line_no: int) -> str | None:
    if line_no == 1:
        if line.startswith(b"##fileformat=VCF"):
            return None
        return "not a VCF header: line 1 is not ##fileformat=VCF…"
    if line.startswith(b"##"):
        return None
    if line.startswith(b"#CHROM"):
        fields = [f.decode("utf-8", "replace") for f in line.split(b"\t")]
        if fields[:8] != FIXED_COLUMNS or (len(fields) > 8 and fields[8] != "FORMAT"):
            return "bad #CHROM header line (expected the 8 fixed columns, then FORMAT and samples)"
        if "" in fields[9:]:
            return EMPTY_SAMPLE
        return None
    return "not a VCF header: no #CHROM line before the first record"


def _record_problem(line: bytes, n_expected: tuple[int, ...], contig_lengths=None,
                    build=None) -> str | None:
    n = line.count(b"\t") + 1
    if n not in n_expected:
        want = " or ".join(str(x) for x in n_expected)
        return f"row has {n} columns, expected {want}"
    fields = line.split(b"\t")
    chrom, pos, _id, ref, alt = fields[:5]
    if not chrom:
        return "CHROM is empty"
    if not (pos.isdigit() and int(pos) > 0):
        return "POS is not a positive integer"
    name = chrom.decode("utf-8", "replace")
    if contig_lengths and name in contig_lengths and int(pos) > contig_lengths[name]:
        return f"POS {int(pos)} is beyond {name}'s length {contig_lengths[name]} in {build or 'the reference'}"
    if int(pos) > 2**31 - 1:
        return f"POS {int(pos)} is above 2^31-1 (htslib would wrap it)"
    if not ref:
        return "REF is empty"
    if ref == b".":
        return "REF is '.' (no reference allele)"
    if not alt:
        return "ALT is empty"
    if b"" in alt.split(b","):
        return "ALT has an empty allele"
    if n > 9 and fields[8].split(b":", 1)[0] == b"GT":
        return _gt_problem(fields, 0 if alt == b"." else alt.count(b",") + 1)
    return None


def _gt_problem(fields: list[bytes], n_alt: int) -> str | None:
    """A GT that htslib cannot read (VCF 4.4's leading phase mark) or whose allele index is
    above the ALT count; the sample is named by its index, never its ID. A FORMAT of GT alone
    is screened with one regex over the row first (most rows have nothing to look at)."""
    if fields[8] == b"GT":
        text = b"\t".join(fields[9:])
        if not _GT_SUSPECT.search(text) and (n_alt >= 9 or not _GT_HIGH[n_alt].search(text)):
            return None
    for i, sample in enumerate(fields[9:], start=1):
        gt = sample.split(b":", 1)[0]
        if gt[:1] in (b"/", b"|"):
            return (f"sample {i} (column {9 + i}): GT begins with a phase mark (VCF 4.4), which "
                    "htslib cannot read")
        for a in _GT_SPLIT.split(gt):
            if a.isdigit() and int(a) > n_alt:
                return (f"sample {i} (column {9 + i}): GT allele index {int(a)} is above the "
                        f"record's {n_alt} ALT allele(s)")
    return None


_GT_SUSPECT = re.compile(rb"(?:^|\t)[/|]|\d\d")
_GT_HIGH = [re.compile(rb"[%d-9]" % (k + 1)) for k in range(9)]
_GT_SPLIT = re.compile(rb"[/|]")


def _has_bgzf_eof(path: str) -> bool:
    size = os.path.getsize(path)
    if size < len(BGZF_EOF):
        return False
    with open(path, "rb") as fh:
        fh.seek(-len(BGZF_EOF), os.SEEK_END)
        return fh.read() == BGZF_EOF


def _first_bcf_problem(path: str) -> tuple[int, str] | None:
    import pysam
    old = pysam.set_verbosity(0)
    n_header = 0
    n = 0
    try:
        with pysam.VariantFile(path) as vf:
            n_header = str(vf.header).count("\n")
            samples = list(vf.header.samples)
            if len(set(samples)) != len(samples):
                return n_header, f"{len(samples) - len(set(samples))} duplicate sample ID(s) in the header"
            for rec in vf:
                n += 1
                if rec.pos < 1:
                    return n_header + n, "POS is not a positive integer"
                if not rec.ref or (rec.alts is not None and any(not a for a in rec.alts)):
                    return n_header + n, "REF or ALT is empty"
    except (OSError, ValueError):
        if n_header == 0:
            return 1, "unreadable BCF header"
        return n_header + n + 1, "unreadable or truncated BCF record"
    finally:
        pysam.set_verbosity(old)
    if file_kind(path) == "bcf" and not _has_bgzf_eof(path):
        return n_header + n + 1, "truncated BCF file: the BGZF end-of-file block is missing"
    return None
