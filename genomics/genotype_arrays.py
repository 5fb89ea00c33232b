"""VCF genotypes -> numpy: a variants table and an int8 matrix of alt-allele counts.

What Hail's ``import_vcf`` then ``split_multi_hts``-style splitting reads, in memory, for the
genotype job's QC (``genomics.qc_arrays``)::

    ga = read_vcfs(paths, workers=2)
    ga.gt           # int8 (variants x samples): copies of the row's ALT allele, -1 = missing
    ga.variants     # one row per gt row: contig, position, ref, alt, n_alleles, was_split, ...

Definitions (as Hail reads a VCF and splits it):

* One row per usable ALT allele. A multi-allelic record gives one row per ALT allele k, holding
  the number of copies of allele k in each call (Hail's ``downcode``: 1/2 counts 1 for allele 1
  and 1 for allele 2); its position/REF/ALT are minimally represented as ``hl.min_rep`` does, and
  ``was_split`` is True. Biallelic records are kept as they are.
* Missing (-1): ``./.``, ``.``, a call with any missing allele (the half-calls ``./1``, ``1/.``,
  which Hail reads as missing and PLINK 2 with ``--vcf-half-call missing``), a record without GT,
  and calls of ploidy > 2 (Hail cannot hold them; counted).
* Haploid calls (e.g. male chrX outside the PARs: ``0``, ``1``) count 0 or 1. Which calls were
  haploid is kept in ``haploid_rows``/``haploid`` (only rows that have any), because allele
  numbers count them once and the HWE test uses diploid calls only.
* ALT alleles that are ``*``, symbolic (``<DEL>``, ``<NON_REF>``) or breakends are skipped and
  counted; records with ALT ``.`` are dropped and counted.
* Phase (``keep_phase=True``): which diploid calls are phased, as htslib encodes it (the phase
  bit of the 2nd allele: the ``|`` of ``0|1``; haploid calls are unphased, as Hail reads them),
  and which phased heterozygous calls carry the row's ALT allele first (``1|0``; after splitting,
  ``2|1`` is ``1|0`` in the row of allele 2, as ``hl.downcode`` keeps the order). Both are kept
  like the haploid calls, for the rows that have any, as bits packed along the samples
  (``phased_rows``, ``phased``, ``alt_first``; ``phase_block`` unpacks). ``calls_table`` turns
  them into the genotype strings of the ``genotype_calls`` table (as ``hl.str`` of the call).

Genotypes are read with cyvcf2 (htslib): per record only ``format('GT', int)`` (htslib's
encoded GT, cheaper than ``genotype.array()``; ``gt_types`` is slower still and collapses
multi-allelic calls) and one int8 copy into a chunk buffer; the conversion to counts is
vectorised per chunk. Files are read in threads (``workers``): htslib's parsing, most of the
time, runs with the GIL released. Peak memory is about twice the matrix (chunks, then one
concatenation).
"""
from __future__ import annotations

import gzip
import os
import struct
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

VECTOR_END = -2147483647      # htslib's bcf_int32_vector_end: the absent 2nd allele of a haploid call


@dataclass
class ReadCounts:
    """What ``read_vcfs`` kept and dropped."""

    n_records: int = 0            # data lines in all files
    n_no_alt: int = 0             # records with ALT '.', dropped
    n_multiallelic: int = 0       # records with 2+ ALT alleles, split
    n_alt_alleles: int = 0        # ALT alleles of all records
    n_dropped_star: int = 0       # '*' alleles skipped
    n_dropped_symbolic: int = 0   # '<DEL>', '<*>', '<NON_REF>', ... alleles skipped
    n_dropped_breakend: int = 0   # breakend alleles ('A[2:321[', '.A', 'A.') skipped
    n_rows: int = 0               # rows of the matrix
    n_no_gt_records: int = 0      # records without a GT field (all calls missing)
    n_half_calls: int = 0         # calls such as './1' read as missing (each split row counts)
    n_polyploid_calls: int = 0    # calls of ploidy > 2 read as missing (per record)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class GenotypeArrays:
    samples: list[str]
    variants: pd.DataFrame     # contig, position, ref, alt, n_alleles, was_split, a_index, record
    gt: np.ndarray             # int8 (n_variants, n_samples): alt-allele count, -1 missing
    haploid_rows: np.ndarray   # int64, sorted: the rows that have at least one haploid call
    haploid: np.ndarray        # bool (len(haploid_rows), n_samples): True where the call is haploid
    counts: ReadCounts
    # with keep_phase=True (else None): the rows that have a phased call, and per such row the
    # phased calls and the phased hets written ALT first ("1|0"), as bits packed along the
    # samples (np.packbits(..., axis=1, bitorder="little"); ``phase_block`` unpacks)
    phased_rows: np.ndarray | None = None
    phased: np.ndarray | None = None
    alt_first: np.ndarray | None = None

    def haploid_block(self, start: int, stop: int) -> np.ndarray | None:
        """Dense bool (stop - start, n_samples) of haploid calls in rows [start, stop), or None
        when those rows have none."""
        return haploid_block(self.haploid_rows, self.haploid, start, stop, self.gt.shape[1])

    def phase_block(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Dense bool (stop - start, n_samples) ``(phased, alt_first)`` for rows [start, stop),
        or None when those rows have no phased call. Needs ``read_vcfs(..., keep_phase=True)``."""
        if self.phased_rows is None:
            raise ValueError("phase was not kept: read_vcfs(..., keep_phase=True)")
        n = self.gt.shape[1]
        a, b = np.searchsorted(self.phased_rows, [start, stop])
        if a == b:
            return None
        rows = self.phased_rows[a:b] - start
        out = []
        for packed in (self.phased, self.alt_first):
            dense = np.zeros((stop - start, n), bool)
            dense[rows] = np.unpackbits(packed[a:b], axis=1, count=n, bitorder="little").view(bool)
            out.append(dense)
        return out[0], out[1]


def haploid_block(rows: np.ndarray, mask: np.ndarray, start: int, stop: int, n_samples: int
                  ) -> np.ndarray | None:
    """``GenotypeArrays.haploid_block`` on the two arrays (for code that holds only them)."""
    if rows is None or len(rows) == 0:
        return None
    a, b = np.searchsorted(rows, [start, stop])
    if a == b:
        return None
    out = np.zeros((stop - start, n_samples), bool)
    out[rows[a:b] - start] = mask[a:b]
    return out


def allele_class(a: str) -> str:
    """'star' (``*``), 'symbolic' (``<…>``), 'breakend' (``A[2:321[``, ``.A``, ``A.``) or 'ok'
    """
    if a == "*":
        return "star"
    if a.startswith("<"):
        return "symbolic"
    if "[" in a or "]" in a or a.startswith(".") or a.endswith("."):
        return "breakend"
    return "ok"


def min_rep(position: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Hail's ``min_rep`` for one REF/ALT pair: trim the common suffix, then the common prefix,
    keeping at least one base in each allele (the position moves by the trimmed prefix)."""
    n = min(len(ref), len(alt))
    back = 0
    while back < n - 1 and ref[-1 - back] == alt[-1 - back]:
        back += 1
    front = 0
    while front < n - back - 1 and ref[front] == alt[front]:
        front += 1
    return position + front, ref[front:len(ref) - back], alt[front:len(alt) - back]


def read_vcfs(paths: list[str], *, threads: int = 0, workers: int = 1, chunk_rows: int = 1024,
              contig_recoding: dict[str, str] | None = None, keep_phase: bool = False) -> GenotypeArrays:
    """Read bgzipped or plain VCFs (the same samples in each, in any order: the first file's
    order is kept) into a ``GenotypeArrays``. Files with disjoint sample sets are read set by
    set and merged by variant (``genomics.genotype_merge.merge_by_variant``, as ``bcftools
    merge``); sets that overlap without being equal raise ``InputDataError`` naming the file. ``workers`` files are read at once in threads (htslib parses with the
    GIL released); ``threads`` > 0 gives each file that many htslib decompression threads.
    ``contig_recoding`` renames contigs (e.g. {'1': 'chr1'}). Rows keep the files' order;
    ``record`` in the variants table is the record's index over all files. ``keep_phase`` also
    keeps which calls are phased (``phased_rows``, ``phased``, ``alt_first``)."""
    import cyvcf2

    if not paths:
        raise ValueError("no input files")
    sample_lists = [_samples_of(p) for p in paths]
    if len(paths) > 1:
        from genomics.genotype_merge import group_by_samples, merge_by_variant
        groups = group_by_samples(sample_lists, list(paths))
        if len(groups) > 1:
            return merge_by_variant([read_vcfs([paths[i] for i in g], threads=threads, workers=workers,
                                               chunk_rows=chunk_rows, contig_recoding=contig_recoding,
                                               keep_phase=keep_phase) for g in groups])
    samples = sample_lists[0]
    buf, rooms = _preallocate(paths, len(samples), chunk_rows)
    jobs = list(zip(paths, rooms))
    if workers > 1 and len(paths) > 1:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(min(workers, len(paths))) as ex:
            parts = list(ex.map(lambda job: _read_one(*job, samples, threads, chunk_rows, keep_phase), jobs))
    else:
        parts = [_read_one(*job, samples, threads, chunk_rows, keep_phase) for job in jobs]

    counts = ReadCounts()
    for part in parts:
        for k, v in part.counts.as_dict().items():
            setattr(counts, k, getattr(counts, k) + v)
    gt = _assemble(buf, parts, len(samples))
    hap_rows, hap, meta, row0, rec0 = [], [], {}, 0, 0
    ph_rows, ph, ph_alt = [], [], []
    for part in parts:
        hap_rows += [r + row0 for r in part.hap_rows]
        hap += part.hap
        ph_rows += [r + row0 for r in part.ph_rows]
        ph += part.ph
        ph_alt += part.ph_alt
        for k, v in part.meta.items():
            meta.setdefault(k, []).append(np.asarray(v) + rec0 if k == "record" else v)
        row0 += part.n_done
        rec0 += part.counts.n_records
    contig = pd.Categorical([c for m in meta["contig"] for c in m])
    if contig_recoding:
        contig = contig.rename_categories([contig_recoding.get(c, c) for c in contig.categories])
    variants = pd.DataFrame({
        "contig": contig,
        "position": np.concatenate(meta["position"]).astype(np.int64),   # never wrapped
        "ref": [x for m in meta["ref"] for x in m],
        "alt": [x for m in meta["alt"] for x in m],
        "n_alleles": np.concatenate(meta["n_alleles"]).astype(np.int16),
        "a_index": np.concatenate(meta["a_index"]).astype(np.int16),
        "record": np.concatenate(meta["record"]).astype(np.int64),
    })
    variants["was_split"] = variants["n_alleles"] > 2
    counts.n_rows = len(variants)
    phase = {}
    if keep_phase:
        width = (len(samples) + 7) // 8
        phase = dict(phased_rows=_concat(ph_rows, (0,), np.int64), phased=_concat(ph, (0, width), np.uint8),
                     alt_first=_concat(ph_alt, (0, width), np.uint8))
    return GenotypeArrays(samples=samples, variants=variants, gt=gt,
                          haploid_rows=_concat(hap_rows, (0,), np.int64),
                          haploid=_concat(hap, (0, len(samples)), bool), counts=counts, **phase)


def _samples_of(path: str) -> list[str]:
    import cyvcf2
    head = cyvcf2.VCF(path)
    try:
        return list(head.samples)
    finally:
        head.close()


def _concat(arrays, empty_shape, dtype):
    return np.concatenate(arrays) if arrays else np.empty(empty_shape, dtype)


def _preallocate(paths, n_samples, chunk_rows):
    """When every file has a tabix/CSI index giving its record count: one matrix with room for
    each file's rows (records + 2%), and each file's first row in it, so that rows are written
    once (touching fresh memory is slow on some VMs) rather than into chunks and then copied."""
    sizes = [indexed_record_count(p) for p in paths]
    if any(s is None for s in sizes):
        return None, [None] * len(paths)
    caps = [s + max(chunk_rows, s // 50) for s in sizes]
    buf = np.empty((sum(caps), n_samples), np.int8)       # rows never written cost no memory
    starts = np.cumsum([0, *caps[:-1]])
    return buf, [(int(a), buf[a:a + c]) for a, c in zip(starts, caps)]


def _assemble(buf, parts, n_samples):
    """The rows of all files, in order, as one matrix: the preallocated one with the gaps between
    files closed in place, or else (no index, or a file outgrew its room) a concatenation."""
    if buf is not None and not any(part.chunks for part in parts):
        dst = 0
        for part in parts:
            _move_rows(buf, part.target_start, dst, part.n_done)
            dst += part.n_done
        return buf[:dst]          # a view: the unused room at the end was never touched
    pieces = []
    for part in parts:
        if part.target is not None:
            pieces.append(part.target[:part.n_in_target])
        pieces += part.chunks
    return _concat(pieces, (0, n_samples), np.int8)


def _move_rows(buf, src: int, dst: int, n: int) -> None:
    """buf[dst:dst + n] = buf[src:src + n] for dst <= src, in blocks no larger than the gap so
    that no block overlaps the rows it is copied from."""
    gap = src - dst
    if gap == 0:
        return
    for a in range(0, n, gap):
        b = min(a + gap, n)
        buf[dst + a:dst + b] = buf[src + a:src + b]


def indexed_record_count(path: str) -> int | None:
    """Number of records of a bgzipped VCF from its .tbi or .csi index (the n_mapped and
    n_unmapped of every contig's pseudo-bin, plus records without coordinates), or None without
    a readable, up-to-date index."""
    for ext in (".tbi", ".csi"):
        idx = path + ext
        if not os.path.exists(idx) or os.path.getmtime(idx) < os.path.getmtime(path):
            continue
        try:
            with gzip.open(idx, "rb") as f:
                data = f.read()
            return _count_from_index(data)
        except (OSError, EOFError, struct.error, ValueError):
            return None
    return None


def _count_from_index(data: bytes) -> int:
    magic = data[:4]
    if magic == b"TBI\1":
        n_ref, = struct.unpack_from("<i", data, 4)
        l_nm, = struct.unpack_from("<i", data, 32)
        pos, pseudo, has_loffset = 36 + l_nm, 37450, False
    elif magic == b"CSI\1":
        _, depth, l_aux = struct.unpack_from("<3i", data, 4)
        n_ref, = struct.unpack_from("<i", data, 16 + l_aux)
        pos, pseudo, has_loffset = 20 + l_aux, ((1 << ((depth + 1) * 3)) - 1) // 7 + 1, True
    else:
        raise ValueError("not a tabix or CSI index")
    total = 0
    for _ in range(n_ref):
        n_bin, = struct.unpack_from("<i", data, pos)
        pos += 4
        for _ in range(n_bin):
            bin_id, = struct.unpack_from("<I", data, pos)
            pos += 12 if has_loffset else 4
            n_chunk, = struct.unpack_from("<i", data, pos)
            pos += 4
            if bin_id == pseudo and n_chunk == 2:
                mapped, unmapped = struct.unpack_from("<QQ", data, pos + 16)
                total += mapped + unmapped
            pos += 16 * n_chunk
        if not has_loffset:
            n_intv, = struct.unpack_from("<i", data, pos)
            pos += 4 + 8 * n_intv
    if pos + 8 <= len(data):
        total += struct.unpack_from("<Q", data, pos)[0]
    return total


def _read_one(path: str, room: tuple[int, np.ndarray] | None, samples: list[str], threads: int,
              chunk_rows: int, keep_phase: bool = False) -> "_Builder":
    import cyvcf2

    vcf = cyvcf2.VCF(path, lazy=True, threads=threads) if threads else cyvcf2.VCF(path, lazy=True)
    try:
        own = list(vcf.samples)
        if sorted(own) != sorted(samples):
            raise ValueError(f"{path}: its samples differ from those of the first file")
        b = _Builder(len(samples), chunk_rows, room, keep_phase)
        if own != samples:                     # the same samples in another order
            at = {x: i for i, x in enumerate(own)}
            b.order = np.array([at[x] for x in samples])
        counts, classes, rec_i = b.counts, b.classes, -1
        for rec in vcf:
            rec_i += 1
            alts = rec.ALT
            if len(alts) == 1:
                counts.n_alt_alleles += 1
                a = alts[0]
                cls = classes.get(a) or b.classify(a)
                if cls == "ok":
                    b.add_biallelic(rec, rec_i, a)
                else:
                    b.drop(cls)
            elif not alts:
                counts.n_no_alt += 1
            else:
                b.add_multiallelic(rec, rec_i, alts)
        counts.n_records = rec_i + 1
        b.flush()
        return b
    finally:
        vcf.close()


# GT as htslib stores it (bcf_get_genotypes, via cyvcf2's format('GT', int)): int32
# (allele + 1) << 1 | phased, 0/1 for a missing allele, VECTOR_END for the absent 2nd allele of
# a haploid call. Rows are kept as int8 max(raw, -1): VECTOR_END becomes -1, the rest is kept
# (alleles 0 and 1 only: a multi-allelic record is downcoded first), and ``raw >> 1`` gives
# -1 (haploid end), 0 (missing), 1 (REF), 2 (ALT); ``raw & 1`` of the 2nd allele is its phase bit.
_RAW_MISSING, _RAW_END = 0, -1


class _Builder:
    """Collects one file's rows: per record one int8 copy of its GT into a chunk buffer; per full
    chunk the vectorised conversion to alt-allele counts."""

    def __init__(self, n_samples: int, chunk_rows: int, room: tuple[int, np.ndarray] | None = None,
                 keep_phase: bool = False):
        self.n = n_samples
        self.c = chunk_rows
        # preallocated rows (their first row in the whole matrix, and the view), filled first;
        # rows that do not fit go to self.chunks
        self.target_start, self.target = room if room is not None else (0, None)
        self.n_in_target = 0
        self.counts = ReadCounts()
        self.classes: dict[str, str] = {}
        self.raw = np.empty((chunk_rows, 2, n_samples), np.int8)
        self.j = 0
        self.chunks: list[np.ndarray] = []
        self.hap_rows: list[np.ndarray] = []
        self.hap: list[np.ndarray] = []
        self.keep_phase = keep_phase
        self.ph_rows: list[np.ndarray] = []
        self.ph: list[np.ndarray] = []
        self.ph_alt: list[np.ndarray] = []
        self.n_done = 0
        self.order = None          # the file's columns in the first file's sample order
        self.meta = {k: [] for k in ("contig", "position", "ref", "alt", "n_alleles", "a_index", "record")}

    def classify(self, a: str) -> str:
        cls = self.classes[a] = allele_class(a)
        return cls

    def drop(self, cls: str) -> None:
        c = self.counts
        if cls == "star":
            c.n_dropped_star += 1
        elif cls == "symbolic":
            c.n_dropped_symbolic += 1
        else:
            c.n_dropped_breakend += 1

    def _gt(self, rec):
        g = rec.format("GT", int)
        return g if g is None or self.order is None else g[self.order]

    def add_biallelic(self, rec, rec_i: int, alt: str) -> None:
        g = self._gt(rec)
        dst = self.raw[self.j]
        if g is not None and g.shape[1] == 2:
            np.maximum(g.T, _RAW_END, out=dst, casting="unsafe")
        else:
            self._put_other(g, dst)
        self._row(rec.CHROM, rec.POS, rec.REF, alt, 2, 1, rec_i)

    def add_multiallelic(self, rec, rec_i: int, alts: list[str]) -> None:
        """One row per usable ALT allele k: the GT downcoded to k (Hail's ``downcode``)."""
        self.counts.n_multiallelic += 1
        self.counts.n_alt_alleles += len(alts)
        g = self._gt(rec)
        alleles = None
        if g is None:
            self.counts.n_no_gt_records += 1
        else:
            if g.shape[1] > 2:
                g = self._polyploid_to_missing(g)
            alleles = np.maximum((g >> 1) - 1, -2)           # -2 vector end, -1 missing
        pos, ref, chrom = rec.POS, rec.REF, rec.CHROM
        for k, a in enumerate(alts, 1):
            cls = self.classes.get(a) or self.classify(a)
            if cls != "ok":
                self.drop(cls)
                continue
            dst = self.raw[self.j]
            if alleles is None:
                dst[:] = _RAW_MISSING
            else:
                d = np.where(alleles == k, 1, np.minimum(alleles, 0))   # k -> 1, other called -> 0
                self._put_other(((d + 1) << 1) | (g & 1), dst)            # phase bits kept
            p, r, x = min_rep(pos, ref, a)
            self._row(chrom, p, r, x, len(alts) + 1, k, rec_i)

    def _put_other(self, g, dst) -> None:
        """No GT (all missing), haploid-only (one column) or polyploid records."""
        if g is None:
            self.counts.n_no_gt_records += 1
            dst[:] = _RAW_MISSING
            return
        if g.shape[1] > 2:
            g = self._polyploid_to_missing(g)
        if g.shape[1] == 1:
            np.maximum(g[:, 0], _RAW_END, out=dst[0], casting="unsafe")
            dst[1] = _RAW_END
        else:
            np.maximum(g.T, _RAW_END, out=dst, casting="unsafe")

    def _polyploid_to_missing(self, g: np.ndarray) -> np.ndarray:
        """Calls with a 3rd allele become missing; returns the first two columns."""
        poly = (g[:, 2:] != VECTOR_END).any(axis=1)
        self.counts.n_polyploid_calls += int(poly.sum())
        out = g[:, :2].copy()
        out[poly] = _RAW_MISSING
        return out

    def _row(self, chrom, pos, ref, alt, n_alleles, k, rec_i) -> None:
        m = self.meta
        m["contig"].append(chrom)
        m["position"].append(pos)
        m["ref"].append(ref)
        m["alt"].append(alt)
        m["n_alleles"].append(n_alleles)
        m["a_index"].append(k)
        m["record"].append(rec_i)
        self.j += 1
        if self.j == self.c:
            self.flush()

    def flush(self) -> None:
        j = self.j
        if j == 0:
            return
        u = self.raw[:j] >> 1                  # -1 haploid end, 0 missing, 1 REF, 2 ALT
        u0, u1 = u[:, 0], u[:, 1]
        if max(u0.max(), u1.max()) > 2:
            raise ValueError("a GT allele index is larger than the record's number of ALT alleles")
        cnt = u0 + u1
        cnt -= 2                                # diploid calls: 0/1/2
        special = np.flatnonzero(np.minimum(u0, u1) <= 0)     # missing or haploid
        if special.size:
            s0, s1 = u0.ravel()[special], u1.ravel()[special]
            hap = (s1 == -1) & (s0 > 0)
            self.counts.n_half_calls += int(np.count_nonzero((s0 > 0) & (s1 == 0) | (s0 == 0) & (s1 > 0)))
            cnt.ravel()[special] = np.where(hap, s0 - 1, -1)
            hap_flat = special[hap]
            if hap_flat.size:
                rows = np.unique(hap_flat // self.n)
                mask = np.zeros((j, self.n), bool)
                mask.ravel()[hap_flat] = True
                self.hap_rows.append(rows + self.n_done)
                self.hap.append(mask[rows])
        if self.keep_phase:
            self._phase(j, u0, u1)
        t = self.target
        if t is not None and not self.chunks and self.n_in_target + j <= len(t):
            t[self.n_in_target:self.n_in_target + j] = cnt
            self.n_in_target += j
        else:
            self.chunks.append(cnt)
        self.n_done += j
        self.j = 0

    def _phase(self, j, u0, u1) -> None:
        """The phased calls of the chunk (htslib's phase bit of a present 2nd allele) and the
        phased hets with the ALT allele first, packed, for the rows that have any."""
        r1 = self.raw[:j, 1]
        ph = (r1 & 1).view(bool) & (r1 >= 0)
        rows = np.flatnonzero(ph.any(1))
        if rows.size:
            ph = ph[rows]
            alt_first = ph & (u0[rows] == 2) & (u1[rows] == 1)
            self.ph_rows.append(rows + self.n_done)
            self.ph.append(np.packbits(ph, axis=1, bitorder="little"))
            self.ph_alt.append(np.packbits(alt_first, axis=1, bitorder="little"))


# --------------------------------------------------------------------------------------------
# row order and the carrier calls table


def contig_sort_key(name: str) -> tuple:
    """Natural contig order, the order of GRCh37/GRCh38's primary contigs in Hail: 1..22, X, Y,
    M/MT (with or without ``chr``), then any other contig by name."""
    c = name[3:] if name.lower().startswith("chr") else name
    if c.isdigit():
        return (0, int(c), "")
    rank = {"X": 23, "Y": 24, "M": 25, "MT": 25}.get(c.upper())
    return (0, rank, "") if rank is not None else (1, 0, name)


def locus_order(variants: pd.DataFrame, rows=None, contig_order: list[str] | None = None) -> np.ndarray:
    """Indices of ``rows`` (all, a bool mask or indices) sorted as Hail keys a MatrixTable: by
    contig (``contig_order``, default ``contig_sort_key``), position, REF, then ALT; stable, so
    duplicate keys keep their order."""
    idx = as_index(rows, len(variants))
    contig = variants["contig"].astype(str).to_numpy()[idx]
    names = sorted(set(contig), key=contig_sort_key) if contig_order is None else list(contig_order)
    rank = {c: i for i, c in enumerate(names)}
    missing = set(contig) - set(rank)
    if missing:
        raise ValueError(f"locus_order: contigs not in contig_order: {sorted(missing)}")
    keys = [pd.factorize(variants[k].to_numpy()[idx], sort=True)[0] for k in ("alt", "ref")]
    keys += [variants["position"].to_numpy()[idx], np.array([rank[c] for c in contig])]
    return idx[np.lexsort(keys)]


def as_index(sel, n: int) -> np.ndarray:
    """Row or column selection: None (all), a bool mask of length n, or indices -> int64 indices."""
    if sel is None:
        return np.arange(n, dtype=np.int64)
    sel = np.asarray(sel)
    if sel.dtype == bool:
        if sel.shape != (n,):
            raise ValueError(f"a bool mask of length {n} was expected, got shape {sel.shape}")
        return np.flatnonzero(sel)
    return sel.astype(np.int64, copy=False)


def sparse_rows(rows_with: np.ndarray | None, idx: np.ndarray):
    """For the matrix rows ``idx``: which of them (positions in ``idx``) are among ``rows_with``
    (sorted, e.g. ``haploid_rows``) and, for those, their index in ``rows_with``; (None, None)
    when none is."""
    if rows_with is None or len(rows_with) == 0 or idx.size == 0:
        return None, None
    pos = np.minimum(np.searchsorted(rows_with, idx), len(rows_with) - 1)
    hit = rows_with[pos] == idx
    return (np.flatnonzero(hit), pos[hit]) if hit.any() else (None, None)


CALLS_SCHEMA_FIELDS = [("participant", "string"), ("chromosome", "string"), ("position", "int32"),
                       ("ref", "string"), ("alt", "string"), ("genotype", "string"), ("n_alt", "int32")]
# genotype strings as Hail writes a biallelic call with n_alt > 0 (hl.str(GT))
_GT_STRINGS = ["0/1", "1/1", "0|1", "1|0", "1|1", "1"]


def calls_table(ga: GenotypeArrays, rows=None, samples=None, *, order: str = "locus",
                contig_order: list[str] | None = None, block_rows: int = 4096):
    """The non-reference calls of ``ga`` as a ``pyarrow.Table`` with exactly the rows and columns
    of the ``genotype_calls`` table (``genomics.carriers``):
    participant, chromosome, position (int32), ref, alt, genotype, n_alt (int32); one row per
    call with n_alt > 0, ordered by variant (locus, then REF and ALT, as the MatrixTable is keyed;
    ``order="given"`` keeps the order of ``rows``) and, within a variant, by sample (the order of
    ``samples``: ascending indices are the VCFs' order, Hail's column order).

    ``rows``/``samples``: None (all), bool masks or index arrays. ``genotype`` is the call as
    ``hl.str`` writes it: unphased "0/1", "1/1"; phased "0|1", "1|0", "1|1" (needs
    ``keep_phase=True``, else every diploid call is written unphased); haploid "1".
    Vectorised per block of ``block_rows`` variants; each block is one record batch
    (``iter_calls`` yields them one at a time, for writing without holding the whole table).

    The order is that of the entries of a written (checkpointed) Hail MatrixTable of the same
    split genotypes."""
    import pyarrow as pa

    batches = list(iter_calls(ga, rows, samples, order=order, contig_order=contig_order, block_rows=block_rows))
    return pa.Table.from_batches(batches, schema=calls_schema())


def calls_schema():
    """The ``pyarrow.Schema`` of ``calls_table``."""
    import pyarrow as pa
    return pa.schema([(k, getattr(pa, t)()) for k, t in CALLS_SCHEMA_FIELDS])


def iter_calls(ga: GenotypeArrays, rows=None, samples=None, *, order: str = "locus",
               contig_order: list[str] | None = None, block_rows: int = 4096):
    """``calls_table``'s record batches, in order, one per block of variants with any call."""
    import pyarrow as pa

    m, n = ga.gt.shape
    if order == "locus":
        ridx = locus_order(ga.variants, rows, contig_order)
    elif order == "given":
        ridx = as_index(rows, m)
    else:
        raise ValueError(f"calls_table: order must be 'locus' or 'given', not {order!r}")
    cidx = as_index(samples, n)
    schema = calls_schema()
    v = ga.variants
    participant = pa.array(np.asarray(ga.samples, dtype=object)[cidx], pa.string())
    contig = pa.array(v["contig"].astype(str).to_numpy()[ridx], pa.string())
    position = v["position"].to_numpy().astype(np.int32)[ridx]
    ref = pa.array(v["ref"].to_numpy()[ridx], pa.string())
    alt = pa.array(v["alt"].to_numpy()[ridx], pa.string())
    gt_strings = pa.array(_GT_STRINGS, pa.string())
    cols_all = cidx.size == n and np.array_equal(cidx, np.arange(n))
    for a in range(0, len(ridx), block_rows):
        rb = ridx[a:a + block_rows]
        g = ga.gt[rb] if cols_all else ga.gt[np.ix_(rb, cidx)]
        r, c = np.nonzero(g > 0)                     # row-major: by variant, then sample
        if r.size == 0:
            continue
        n_alt = g[r, c]
        code = (n_alt - 1).astype(np.int8)           # unphased 0/1, 1/1
        if ga.phased_rows is not None:
            code = _phased_codes(ga, rb, cidx, r, c, n_alt, code)
        hit, pos = sparse_rows(ga.haploid_rows, rb)
        if hit is not None:
            hap = np.zeros(g.shape, bool)
            hap[hit] = ga.haploid[pos][:, cidx]
            code[hap[r, c]] = 5
        take_r = pa.array(r + a)
        yield pa.RecordBatch.from_arrays([
            participant.take(pa.array(c)), contig.take(take_r), pa.array(position[r + a], pa.int32()),
            ref.take(take_r), alt.take(take_r), gt_strings.take(pa.array(code)),
            pa.array(n_alt.astype(np.int32), pa.int32())], schema=schema)


def _phased_codes(ga, rb, cidx, r, c, n_alt, code):
    hit, pos = sparse_rows(ga.phased_rows, rb)
    if hit is None:
        return code
    shape = (len(rb), ga.gt.shape[1])
    phased, alt_first = np.zeros(shape, bool), np.zeros(shape, bool)
    n = ga.gt.shape[1]
    phased[hit] = np.unpackbits(ga.phased[pos], axis=1, count=n, bitorder="little").view(bool)
    alt_first[hit] = np.unpackbits(ga.alt_first[pos], axis=1, count=n, bitorder="little").view(bool)
    ph = phased[:, cidx][r, c]
    af = alt_first[:, cidx][r, c]
    return np.where(ph, np.where(n_alt == 2, 4, np.where(af, 3, 2)), code).astype(np.int8)


def duplicate_rows(variants: pd.DataFrame) -> np.ndarray:
    """Boolean per row: True where (contig, position, ref, alt) repeats an earlier row."""
    if variants.empty:
        return np.zeros(0, bool)
    key = variants[["contig", "position", "ref", "alt"]].astype({"contig": str})
    return key.duplicated(keep="first").to_numpy()


def take_samples(ga: GenotypeArrays, idx: np.ndarray) -> GenotypeArrays:
    """``ga`` with its sample columns ``idx`` (a selection or a reordering), haploid and phase
    bits moved with their samples."""
    import dataclasses
    n = ga.gt.shape[1]
    changes = dict(gt=np.ascontiguousarray(ga.gt[:, idx]), samples=[ga.samples[i] for i in idx],
                   haploid=ga.haploid.reshape(-1, n)[:, idx])
    for k in ("phased", "alt_first"):
        packed = getattr(ga, k, None)
        if packed is not None:
            # (rows, bytes); a file with no phased call has none of either
            bits = np.unpackbits(packed.reshape(-1, (n + 7) // 8), axis=1, count=n, bitorder="little").astype(bool)
            changes[k] = np.packbits(bits[:, idx], axis=1, bitorder="little")
    return dataclasses.replace(ga, **changes)


def concat_arrays(parts: list[GenotypeArrays], sources: list[str] | None = None) -> GenotypeArrays:
    """Several files' arrays (the same samples; another order is put in the first part's) as one, rows in the order
    of ``parts``, as ``read_vcfs`` on all the files would give them: haploid and phase rows
    and the variants' ``record`` renumbered, counts summed.

    Parts with pairwise disjoint sample sets (batch-split files) are grouped by sample set, each
    group concatenated as above, and the groups merged by variant as ``bcftools merge`` does
    (``genomics.genotype_merge.merge_by_variant``). Sets that overlap without being equal raise
    ``InputDataError`` naming the file (``sources[i]``, the files the parts were read from)."""
    if not parts:
        raise ValueError("concat_arrays: no parts")
    if len(parts) == 1:
        return parts[0]
    from genomics.genotype_merge import group_by_samples, merge_by_variant
    names = list(sources) if sources is not None else [f"input {i}" for i in range(len(parts))]
    groups = group_by_samples([list(p.samples) for p in parts], names)
    if len(groups) > 1:
        return merge_by_variant([_concat_same_samples([parts[i] for i in g]) for g in groups])
    return _concat_same_samples(parts)


def _concat_same_samples(parts: list[GenotypeArrays]) -> GenotypeArrays:
    """``concat_arrays`` for parts that hold the same samples (in any order)."""
    if len(parts) == 1:
        return parts[0]
    parts = list(parts)
    samples = list(parts[0].samples)
    for i, p in enumerate(parts[1:], start=1):
        if list(p.samples) != samples:
            if sorted(p.samples) != sorted(samples):
                raise ValueError("concat_arrays: the parts do not have the same samples")
            at = {x: j for j, x in enumerate(p.samples)}
            parts[i] = take_samples(p, np.array([at[x] for x in samples]))
    offsets = np.cumsum([0] + [p.gt.shape[0] for p in parts[:-1]])
    rec0 = np.cumsum([0] + [p.counts.n_records for p in parts[:-1]])
    variants = pd.concat([p.variants.assign(record=p.variants["record"] + r) for p, r in zip(parts, rec0)],
                         ignore_index=True)
    variants["contig"] = variants["contig"].astype(str).astype("category")   # each part had its own categories
    counts = ReadCounts()
    for p in parts:
        for k, v in p.counts.as_dict().items():
            setattr(counts, k, getattr(counts, k) + v)
    width = parts[0].haploid.shape[1] if parts[0].haploid.ndim == 2 else len(samples)
    hap_rows = np.concatenate([p.haploid_rows + o for p, o in zip(parts, offsets)]).astype(np.int64)
    hap = np.concatenate([p.haploid.reshape(-1, width) for p in parts]).astype(bool)
    phase = {}
    if all(p.phased_rows is not None for p in parts):
        pw = next((p.phased.shape[1] for p in parts if p.phased is not None and p.phased.ndim == 2), (len(samples) + 7) // 8)
        phase = dict(phased_rows=np.concatenate([p.phased_rows + o for p, o in zip(parts, offsets)]).astype(np.int64),
                     phased=np.concatenate([p.phased.reshape(-1, pw) for p in parts]).astype(np.uint8),
                     alt_first=np.concatenate([p.alt_first.reshape(-1, pw) for p in parts]).astype(np.uint8))
    return GenotypeArrays(samples=samples, variants=variants, gt=np.concatenate([p.gt for p in parts]),
                          haploid_rows=hap_rows, haploid=hap, counts=counts, **phase)
