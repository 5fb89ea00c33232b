"""Checks a VCF before Hail reads it, so a bad file stops with a clear message naming the file
and the problem (never a record's content) instead of a JVM stack trace."""
from __future__ import annotations

import gzip
import os

from genomics.errors import InputDataError

# The 28-byte empty BGZF block that ends every complete bgzipped file (SAM/BAM spec 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


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


def check_vcf(path: str) -> list[str]:
    """Validate a VCF's container and header; return its sample IDs.

    Raises ``InputDataError`` for a missing or empty file, a truncated bgzip/gzip stream, a
    header pysam cannot parse, duplicate sample IDs, or a last line with the wrong column count.
    """
    if not os.path.exists(path):
        raise InputDataError(path, "file not found")
    if os.path.getsize(path) == 0:
        raise InputDataError(path, "file is empty")
    kind = compression_of(path)
    if kind == "bgzf":
        with open(path, "rb") as fh:
            fh.seek(-len(BGZF_EOF), os.SEEK_END)
            if fh.read() != BGZF_EOF:
                raise InputDataError(path, "truncated bgzip file: the BGZF end-of-file block is missing")
    elif kind == "gzip":
        try:
            with gzip.open(path, "rb") as fh:
                while fh.read(1 << 24):
                    pass
        except (EOFError, OSError) as e:
            raise InputDataError(path, f"truncated or corrupt gzip stream ({type(e).__name__})") from None
    samples = _header_samples(path, kind)
    seen, dups = set(), 0
    for s in samples:
        dups += s in seen
        seen.add(s)
    if dups:
        raise InputDataError(path, f"{dups} duplicate sample ID(s) in the header")
    if kind == "plain":
        _check_last_line(path, 9 + len(samples) if samples else 8)
    return samples


def _header_samples(path: str, kind: str) -> list[str]:
    """Sample IDs from the #CHROM line, after checking the header's shape."""
    opener = gzip.open if kind != "plain" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            first = fh.readline()
            if not first.startswith("##fileformat=VCF"):
                raise InputDataError(path, "not a VCF header: line 1 is not ##fileformat=VCF…", line=1)
            line_no = 1
            for line in fh:
                line_no += 1
                if line.startswith("#CHROM"):
                    fields = line.rstrip("\r\n").split("\t")
                    fixed = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
                    if fields[:8] != fixed or (len(fields) > 8 and fields[8] != "FORMAT"):
                        raise InputDataError(path, "bad #CHROM header line (expected the 8 fixed "
                                                   "columns, then FORMAT and samples)", line=line_no)
                    return fields[9:]
                if not line.startswith("##"):
                    break
    except (EOFError, OSError, gzip.BadGzipFile) as e:
        raise InputDataError(path, f"unreadable header ({type(e).__name__})") from None
    raise InputDataError(path, "not a VCF header: no #CHROM line before the first record")


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
    """Check every file; all must hold the same samples in the same order. Returns the samples."""
    samples = None
    for p in paths:
        s = check_vcf(p)
        if samples is None:
            samples = s
        elif s != samples:
            raise InputDataError(p, f"sample list differs from {paths[0]} "
                                    f"({len(s)} vs {len(samples)} samples or a different order)")
    return samples or []
