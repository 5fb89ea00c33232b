"""Genetic sex from chrX inbreeding on an alt-allele count matrix (as PLINK 1.9's --check-sex).

Definition (Hail's ``hl.impute_sex(call, aaf_threshold=0.0, include_par=False)`` on calls whose
haploid calls are recoded homozygous, which is how PLINK 1.9's ``--check-sex`` sees a male's
chrX; its F statistic, ``hl.agg.inbreeding``):

* Variants: chrX outside the pseudo-autosomal regions (``nonpar_rows``), with alt allele
  frequency 0 < AF < 1, AF counted over the called samples with haploid calls as two copies
  (``hl.agg.call_stats`` on the recoded calls).
* Per sample, over those variants where it has a call: N called calls, O homozygous calls
  (haploid calls included), E = sum of 1 - 2 AF (1 - AF); F = (O - E) / (N - E).
* ``genetic_sex``: 'F' if F < ``female_max_f``, 'M' if F > ``male_min_f``, else 'U' (also when F
  is NaN: no call). PLINK 1.9's defaults are 0.2 and 0.8.

On the test cohort's biallelic chrX records, PLINK 1.9's ``--check-sex`` (after ``--split-x
b38``) gives the same F to the 4 significant digits it prints, and the same calls.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from genomics.genotype_arrays import sparse_rows

BLOCK_ROWS = 2048

# chrX pseudo-autosomal regions, 1-based inclusive (Hail's reference genomes)
PAR = {"GRCh38": [("chrX", 10001, 2781479), ("chrX", 155701383, 156030895)],
       "GRCh37": [("X", 60001, 2699520), ("X", 154931044, 155260560)]}
X_CONTIGS = {"GRCh38": "chrX", "GRCh37": "X"}


def x_nonpar_rows(variants: pd.DataFrame, reference_genome: str = "GRCh38") -> np.ndarray:
    """Bool per row of ``variants`` (columns contig, position): chrX outside its PARs, as
    Hail's ``locus.in_x_nonpar()``."""
    if reference_genome not in PAR:
        raise ValueError(f"x_nonpar_rows: PARs known for {', '.join(PAR)}, not {reference_genome!r}")
    contig = variants["contig"].astype(str).to_numpy()
    pos = variants["position"].to_numpy()
    out = contig == X_CONTIGS[reference_genome]
    for c, start, end in PAR[reference_genome]:
        out &= ~((contig == c) & (pos >= start) & (pos <= end))
    return out


def genetic_sex_f(gt: np.ndarray, haploid, nonpar_rows, female_max_f: float = 0.2,
                  male_min_f: float = 0.8, *, cols=None, block_rows: int = BLOCK_ROWS
                  ) -> pd.DataFrame | None:
    """Per sample (the columns of ``gt``, or ``cols``): ``f_stat``, ``n_x_called``,
    ``expected_homs``, ``observed_homs`` and ``genetic_sex`` (module docstring). None when
    ``nonpar_rows`` selects no row, as ``impute_genetic_sex``.

    ``gt``: int8 alt-allele counts, -1 missing (``GenotypeArrays.gt``); ``haploid``: which calls
    are haploid, as ``(haploid_rows, haploid_mask)`` of ``GenotypeArrays``, a dense bool matrix
    like ``gt``, or None; ``nonpar_rows``: bool mask or indices of the chrX non-PAR rows
    (``x_nonpar_rows``); ``cols``: bool mask or indices of the samples to use (the AF is over
    them)."""
    m, n = gt.shape
    rows = np.asarray(nonpar_rows)
    rows = np.flatnonzero(rows) if rows.dtype == bool else np.sort(rows.astype(np.int64))
    if rows.size == 0:
        return None
    cidx = np.arange(n) if cols is None else np.asarray(cols)
    cidx = np.flatnonzero(cidx) if cidx.dtype == bool else cidx
    k = len(cidx)
    n_called = np.zeros(k, np.int64)
    homs = np.zeros(k, np.int64)
    expected = np.zeros(k)
    for a in range(0, rows.size, block_rows):
        rb = rows[a:a + block_rows]
        x = gt[np.ix_(rb, cidx)]
        hap = _haploid(haploid, rb, cidx, x.shape)
        if hap is not None:
            x = np.where(hap & (x == 1), np.int8(2), x)          # haploid 1 -> 1/1
        called = x >= 0
        nc = called.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            af = np.where(called, x, 0).sum(1) / (2.0 * nc)
        use = (nc > 0) & (af > 0) & (af < 1)
        if not use.any():
            continue
        x, called, af = x[use], called[use], af[use]
        n_called += called.sum(0)
        homs += ((x == 0) | (x == 2)).sum(0)
        expected += (1.0 - 2.0 * af * (1.0 - af)) @ called
    with np.errstate(invalid="ignore", divide="ignore"):
        f = (homs - expected) / (n_called - expected)
    sex = np.where(f < female_max_f, "F", np.where(f > male_min_f, "M", "U"))
    return pd.DataFrame({"f_stat": f, "n_x_called": n_called, "expected_homs": expected,
                         "observed_homs": homs, "genetic_sex": sex})


def _haploid(haploid, rb, cidx, shape):
    """Dense bool (len(rb), len(cidx)) of haploid calls, or None."""
    if haploid is None:
        return None
    if isinstance(haploid, tuple):
        hrows, mask = haploid
        hit, pos = sparse_rows(hrows, rb)
        if hit is None:
            return None
        out = np.zeros(shape, bool)
        out[hit] = mask[pos][:, cidx]
        return out
    return haploid[np.ix_(rb, cidx)]
