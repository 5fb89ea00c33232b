"""LD clumping (as PLINK 1.9's --clump): walk variants from the smallest p-value up; each variant
not yet clumped becomes an index variant and clumps every variant within ``window_bp`` whose
squared genotype correlation with it reaches ``r2``."""
from __future__ import annotations

import hail as hl
import numpy as np


def standardized_genotypes(mt: hl.MatrixTable) -> tuple[np.ndarray, "pd.DataFrame"]:
    """Dosage matrix (variants x samples), mean-imputed and standardised per variant, with the
    row keys (chromosome, position, ref, alt) in the same order. Use on a candidate subset."""
    from hail.linalg import BlockMatrix
    rows = mt.rows().key_by()
    keys = rows.select(chromosome=rows.locus.contig, position=rows.locus.position,
                       ref=rows.alleles[0], alt=rows.alleles[1]).to_pandas()
    if len(keys) == 0:
        return np.zeros((0, mt.count_cols()), dtype=np.float32), keys
    x = BlockMatrix.from_entry_expr(hl.float64(mt.GT.n_alt_alleles()), mean_impute=True).to_numpy()
    x = x.astype(np.float32)
    x -= x.mean(axis=1, keepdims=True)
    sd = x.std(axis=1, keepdims=True)
    np.divide(x, sd, out=x, where=sd > 0)
    x[(sd == 0).ravel()] = 0.0
    return x, keys


def clump_assign(chromosomes, positions, p_values, r2_with, r2: float = 0.1, window_bp: int = 250_000,
                 p1: float = 1.0, p2: float = 1.0) -> np.ndarray:
    """PLINK 1.9 ``--clump``: per variant, the row of the index variant whose clump it joined
    (an index variant's own row), or -1. Index variants are taken by increasing p among those
    with p <= ``p1`` and not yet clumped; each clumps the not-yet-clumped variants with
    p <= ``p2`` within ``window_bp`` whose r2 with it is at least ``r2``. ``r2_with(i, rows)``
    gives the squared correlation of variant ``i`` with ``rows`` (global rows). Missing p
    values take no part; ties in p keep the input order."""
    p_values = np.asarray(p_values, dtype=float)
    positions = np.asarray(positions)
    chromosomes = np.asarray(chromosomes)
    assign = np.full(len(p_values), -1, dtype=np.int64)
    for chrom in np.unique(chromosomes):
        rows = np.flatnonzero(chromosomes == chrom)
        rows = rows[np.argsort(positions[rows], kind="stable")]
        pos, p = positions[rows], p_values[rows]
        taken = np.isnan(p) | (p > p2)
        for i in np.argsort(np.where(np.isnan(p), np.inf, p), kind="stable"):
            if p[i] > p1 or np.isnan(p[i]):
                break
            if taken[i]:
                continue
            assign[rows[i]] = rows[i]
            taken[i] = True
            lo = np.searchsorted(pos, pos[i] - window_bp, side="left")
            hi = np.searchsorted(pos, pos[i] + window_bp, side="right")
            cand = lo + np.flatnonzero(~taken[lo:hi])
            if cand.size:
                joined = cand[np.asarray(r2_with(rows[i], rows[cand])) >= r2]
                assign[rows[joined]] = rows[i]
                taken[joined] = True
    return assign


def r2_from_calls(calls: np.ndarray, haploid: np.ndarray | None = None, max_iter: int = 200):
    """``r2_with`` over alt-allele counts (int8, -1 missing; variants x samples), as PLINK 1.9's
    ``--clump`` computes r2: from haplotype frequencies estimated by EM from the unphased
    genotypes (the double heterozygotes' phase unknown), over the samples called at both
    variants. ``haploid`` (variants x samples, bool): samples whose call (0 or 2) is one
    haplotype there (males on non-PAR chrX), as the index variant has it."""
    onehot = np.stack([(calls == a) for a in (0, 1, 2)]).astype(np.float64)    # (3, V, n)
    hap = np.zeros(calls.shape, bool) if haploid is None else np.asarray(haploid, bool)

    def r2_with(i, rows):
        dip_i = onehot[:, i] * ~hap[i]                                        # (3, n)
        hap_i = onehot[:, i] * hap[i]
        oj = onehot[:, rows]                                                  # (3, m, n)
        c = np.einsum("bmn,an->mab", oj, dip_i)                              # diploid 3x3 counts
        h = np.einsum("bmn,an->mab", oj, hap_i)                              # haploid: 0 and 2 only
        n11 = 2 * c[:, 2, 2] + c[:, 2, 1] + c[:, 1, 2] + h[:, 2, 2]
        n10 = 2 * c[:, 2, 0] + c[:, 2, 1] + c[:, 1, 0] + h[:, 2, 0]
        n01 = 2 * c[:, 0, 2] + c[:, 1, 2] + c[:, 0, 1] + h[:, 0, 2]
        n00 = 2 * c[:, 0, 0] + c[:, 0, 1] + c[:, 1, 0] + h[:, 0, 0]
        dh = c[:, 1, 1]
        total = n11 + n10 + n01 + n00 + 2 * dh
        with np.errstate(divide="ignore", invalid="ignore"):
            pa, pb = (n11 + n10 + dh) / total, (n11 + n01 + dh) / total
            p11 = pa * pb
            for _ in range(max_iter):
                p10, p01, p00 = pa - p11, pb - p11, 1 - pa - pb + p11
                f = np.where(dh > 0, p11 * p00 / (p11 * p00 + p10 * p01), 0.0)
                new = (n11 + dh * np.nan_to_num(f)) / total
                if np.nanmax(np.abs(new - p11), initial=0) < 1e-12:
                    p11 = new
                    break
                p11 = new
            d = p11 - pa * pb
            var = pa * (1 - pa) * pb * (1 - pb)
            r2 = d * d / var
        return np.where((var > 0) & (total > 0), r2, 0.0)
    return r2_with


def clump(chromosomes: np.ndarray, positions: np.ndarray, p_values: np.ndarray, genotypes: np.ndarray,
          r2: float = 0.1, window_bp: int = 250_000) -> np.ndarray:
    """Boolean mask of index variants (every variant a candidate). ``genotypes`` holds
    standardised dosages (variants x samples), so r = g_i . g_j / n_samples."""
    n = genotypes.shape[1] if genotypes.ndim == 2 else 0
    assign = clump_assign(chromosomes, positions, p_values,
                          lambda i, rows: (genotypes[rows] @ genotypes[i] / max(n, 1)) ** 2, r2=r2 if n else np.inf,
                          window_bp=window_bp)
    return assign == np.arange(len(assign))
