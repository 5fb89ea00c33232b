"""Write an alt-allele count matrix as a PLINK 1 binary fileset (.bed/.bim/.fam), for handing
the numpy genotypes to Hail (``hl.import_plink``) or PLINK.

Format (PLINK 1.9 "PLINK 1 binary", https://www.cog-genomics.org/plink/1.9/formats#bed):

* .bed: the magic bytes 0x6c 0x1b then 0x01 (variant-major); per variant ceil(n/4) bytes, sample
  i in bits 2(i mod 4) of byte i div 4, codes 00 hom A1, 01 missing, 10 het, 11 hom A2, the
  pad bits 0. Packing is vectorised per block of variants.
* .bim: chromosome, ID ``chrom:pos:ref:alt``, 0 cM, position, A1 = ALT, A2 = REF. So
  ``hl.import_plink(..., a2_reference=True)`` gives alleles [REF, ALT] and GT counting ALT, and
  PLINK 2 (A2 read as REF) counts ALT_CTS as the matrix does.
* .fam: FID = IID = the sample ID, no parents, the given sex (1 male, 2 female, 0 unknown),
  phenotype -9 (missing).

PLINK 1 has no haploid calls: given ``haploid``, a haploid call (male chrX outside the PARs)
is written homozygous, as PLINK does, and comes back from ``hl.import_plink`` as 0/0 or 1/1.
(Without it a haploid ALT call, count 1, would be written as a het.)
``restore_haploid`` turns those calls back into the haploid calls ``hl.call(0)``/``hl.call(1)``
(what ``hl.import_vcf`` reads), so that ``GT.n_alt_alleles()`` equals the matrix everywhere
when every haploid call is a haploid sample's (male) call in a haploid region (non-PAR chrX).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from genomics.genotype_arrays import as_index as _as_index, sparse_rows

BLOCK_ROWS = 4096
MAGIC = bytes([0x6C, 0x1B, 0x01])
# .bed code of an alt-allele count (index count + 1: missing, 0, 1, 2) with A1 = ALT
_CODE = np.array([0b01, 0b11, 0b10, 0b00], np.uint8)


def variant_ids(variants: pd.DataFrame) -> pd.Series:
    """``chrom:pos:ref:alt`` per row (as ``jobs/genotypes.py`` names variants)."""
    return (variants["contig"].astype(str) + ":" + variants["position"].astype(str) + ":"
            + variants["ref"].astype(str) + ":" + variants["alt"].astype(str))


def pack_bed_rows(gt: np.ndarray) -> np.ndarray:
    """The .bed bytes of rows of alt-allele counts (-1 missing): uint8 (rows, ceil(n/4))."""
    m, n = gt.shape
    codes = _CODE[gt.astype(np.int16) + 1] if gt.dtype != np.int8 else _CODE[(gt + 1).view(np.uint8)]
    width = (n + 3) // 4
    if n % 4:
        codes = np.concatenate([codes, np.zeros((m, 4 * width - n), np.uint8)], axis=1)
    c = codes.reshape(m, width, 4)
    return c[:, :, 0] | (c[:, :, 1] << 2) | (c[:, :, 2] << 4) | (c[:, :, 3] << 6)


def write_bed(prefix: str, gt: np.ndarray, variants: pd.DataFrame, samples: list[str], rows=None,
              cols=None, *, haploid=None, sex=None, block_rows: int = BLOCK_ROWS) -> int:
    """Write ``prefix``.bed/.bim/.fam (module docstring) for the variants ``rows`` and samples
    ``cols`` (bool masks or indices; default all, in the matrix's order) of ``gt`` (int8
    alt-allele counts, -1 missing). ``variants``: contig, position, ref, alt per row of ``gt``;
    ``haploid``: ``(haploid_rows, haploid_mask)`` of ``GenotypeArrays``, whose ALT calls are
    written 1/1; ``sex``: per sample of ``samples`` 1/2/0 (or 'M'/'F'), default 0. Returns the
    number of variants written."""
    m, n = gt.shape
    ridx = _as_index(rows, m)
    cidx = None if cols is None else _as_index(cols, n)
    ids = np.asarray(samples, dtype=object) if cidx is None else np.asarray(samples, dtype=object)[cidx]
    for s in ids:
        if not s or any(ch.isspace() for ch in s):
            raise ValueError("PLINK .fam sample IDs cannot be empty or contain whitespace")
    v = variants.iloc[ridx]
    if v["contig"].astype(str).str.contains(r"\s").any():
        raise ValueError("PLINK .bim contig names cannot contain whitespace")
    sex_codes = np.zeros(len(ids), np.int64)
    if sex is not None:
        sx = pd.Series(np.asarray(sex, dtype=object) if cidx is None else np.asarray(sex, dtype=object)[cidx])
        sex_codes = sx.map(lambda x: {"M": 1, "F": 2, 1: 1, 2: 2}.get(x, 0)).to_numpy()
    pd.DataFrame({"fid": ids, "iid": ids, "pat": 0, "mat": 0, "sex": sex_codes, "pheno": -9}).to_csv(
        prefix + ".fam", sep="\t", header=False, index=False)
    pd.DataFrame({"chrom": v["contig"].astype(str).to_numpy(), "id": variant_ids(v).to_numpy(), "cm": 0,
                  "pos": v["position"].to_numpy(), "a1": v["alt"].to_numpy(), "a2": v["ref"].to_numpy()}).to_csv(
        prefix + ".bim", sep="\t", header=False, index=False)
    contiguous = len(ridx) == 0 or (ridx[-1] - ridx[0] + 1 == len(ridx) and np.all(np.diff(ridx) == 1))
    with open(prefix + ".bed", "wb") as f:
        f.write(MAGIC)
        for a in range(0, len(ridx), block_rows):
            rb = ridx[a:a + block_rows]
            g = gt[rb[0]:rb[-1] + 1] if contiguous else gt[rb]
            g = _haploid_as_hom(g, rb, haploid)
            if cidx is not None:
                g = g[:, cidx]
            f.write(pack_bed_rows(g).tobytes())
    return len(ridx)


def _haploid_as_hom(g, rb, haploid):
    """``g`` (the rows ``rb``, all samples) with its haploid ALT calls as 2."""
    if haploid is None:
        return g
    hrows, mask = haploid
    hit, pos = sparse_rows(hrows, rb)
    if hit is None:
        return g
    g = g.copy()
    sub = g[hit]
    sub[mask[pos] & (sub == 1)] = 2
    g[hit] = sub
    return g


def restore_haploid(mt, haploid_samples_expr, nonpar_expr, field: str = "GT"):
    """``mt`` with the homozygous calls of the haploid samples in the haploid regions turned
    back into haploid calls: 0/0 -> ``hl.call(0)``, 1/1 -> ``hl.call(1)``; hets, missing calls
    and every other call unchanged. ``haploid_samples_expr``: a column boolean (e.g.
    ``~mt.is_female`` from a .fam written with ``sex``, or
    ``hl.literal(ids).contains(mt.s)``); ``nonpar_expr``: a row boolean (e.g.
    ``mt.locus.in_x_nonpar()``). Missing values of either count as False.

    After ``hl.import_plink`` of a ``write_bed(..., haploid=...)`` fileset this gives
    ``GT.n_alt_alleles()`` (and the ploidy) equal to the matrix's calls when the haploid calls
    are exactly the haploid samples' calls in the haploid region."""
    import hail as hl
    gt = mt[field]
    on = hl.coalesce(haploid_samples_expr, False) & hl.coalesce(nonpar_expr, False)
    hom = hl.coalesce(gt.is_hom_ref() | gt.is_hom_var(), False)
    return mt.annotate_entries(**{field: hl.if_else(on & hom, hl.call(gt[0]), gt)})


# alt-allele count of each 2-bit .bed code (A1 = ALT): 00 -> 2, 01 -> missing, 10 -> 1, 11 -> 0
_COUNT_OF_CODE = np.array([2, -1, 1, 0], np.int8)
# per byte value, the 4 samples' counts
_BYTE_LUT = _COUNT_OF_CODE[(np.arange(256)[:, None] >> (2 * np.arange(4))[None, :]) & 3]


def read_bed_rows(prefix: str, n_samples: int, start: int, stop: int, cols=None) -> np.ndarray:
    """Alt-allele counts (int8, -1 missing) of variants [start, stop) of ``prefix``.bed, as
    written by ``write_bed`` (A1 = ALT), restricted to the sample indices ``cols``. Haploid
    calls come back as written: homozygous (0 or 2)."""
    width = (n_samples + 3) // 4
    with open(prefix + ".bed", "rb") as f:
        if f.read(3) != MAGIC:
            raise ValueError(f"{prefix}.bed: not a variant-major PLINK 1 .bed")
        f.seek(3 + start * width)
        raw = np.frombuffer(f.read((stop - start) * width), np.uint8).reshape(stop - start, width)
    g = _BYTE_LUT[raw].reshape(stop - start, 4 * width)[:, :n_samples]
    return g if cols is None else g[:, cols]


def read_bed_selected(prefix: str, n_samples: int, rows, cols=None) -> np.ndarray:
    """As ``read_bed_rows`` for the variant rows ``rows`` (any order, read in that order)."""
    width = (n_samples + 3) // 4
    rows = np.asarray(rows, dtype=np.int64)
    bed = np.memmap(prefix + ".bed", dtype=np.uint8, mode="r")
    if bytes(bed[:3]) != MAGIC:
        raise ValueError(f"{prefix}.bed: not a variant-major PLINK 1 .bed")
    raw = bed[3:3 + (len(bed) - 3) // width * width].reshape(-1, width)[rows]
    g = _BYTE_LUT[raw].reshape(len(rows), 4 * width)[:, :n_samples]
    return g if cols is None else g[:, cols]


def read_bim_fam(prefix: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    bim = pd.read_csv(prefix + ".bim", sep="\t", header=None, dtype={0: str, 1: str, 4: str, 5: str},
                      names=["chromosome", "id", "cm", "position", "alt", "ref"])
    fam = pd.read_csv(prefix + ".fam", sep=r"\s+", header=None, dtype={0: str, 1: str},
                      names=["fid", "iid", "pat", "mat", "sex", "pheno"])
    return bim, fam
