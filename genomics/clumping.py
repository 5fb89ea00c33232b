"""LD clumping (as PLINK 1.9's --clump): walk variants from the smallest p-value up; each variant
not yet clumped becomes an index variant and clumps every variant within ``window_bp`` whose
r2 with it reaches ``r2`` (``r2_from_calls``: PLINK 1.9's EM haplotype r2)."""
from __future__ import annotations

import numpy as np
from scipy.special import xlogy


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


def _em_r2(n11, n10, n01, n00, dh) -> np.ndarray:
    """r2 from two-locus haplotype counts (alt-alt n11 ... ref-ref n00, known phase) and ``dh``
    double heterozygotes of unknown phase, at the maximum-likelihood split of the double
    heterozygotes: x of them 11/00 solves the EM fixed point, the cubic
    2x^3 + (a+d-b-c-h)x^2 + (ad+bc-h(a+d))x - h ad = 0 (a = n11, b = n10+h, c = n01+h,
    d = n00, h = dh); of its real roots in [0, h] (and the ends) the likeliest is taken."""
    a, b, c, d, h = n11, n10 + dh, n01 + dh, n00, dh
    coef = np.stack([np.full_like(a, 2.0), a + d - b - c - h, a * d + b * c - h * (a + d), -h * a * d], axis=1)
    comp = np.zeros((len(a), 3, 3))
    comp[:, 0, :] = -coef[:, 1:] / 2
    comp[:, 1, 0] = comp[:, 2, 1] = 1
    roots = np.linalg.eigvals(comp) if len(a) else np.zeros((0, 3))
    cand = np.where(np.abs(roots.imag) < 1e-6 * (1 + np.abs(roots.real)), roots.real, np.nan)
    cand = np.column_stack([np.clip(cand, 0, h[:, None]), np.zeros(len(a)), h])
    total = n11 + n10 + n01 + n00 + 2 * dh
    with np.errstate(divide="ignore", invalid="ignore"):
        p11, p10 = (a[:, None] + cand) / total[:, None], (b[:, None] - cand) / total[:, None]
        p01, p00 = (c[:, None] - cand) / total[:, None], (d[:, None] + cand) / total[:, None]
        ll = (xlogy(n11[:, None], p11) + xlogy(n10[:, None], p10) + xlogy(n01[:, None], p01)
              + xlogy(n00[:, None], p00) + xlogy(dh[:, None], p11 * p00 + p10 * p01))
        best = np.take_along_axis(p11, np.nanargmax(np.where(np.isnan(cand), -np.inf, ll), axis=1)[:, None],
                                  axis=1)[:, 0]
        pa, pb = (n11 + n10 + dh) / total, (n11 + n01 + dh) / total
        dd = best - pa * pb
        var = pa * (1 - pa) * pb * (1 - pb)
        r2 = dd * dd / var
    return np.where((var > 0) & (total > 0), r2, 0.0)


def r2_from_calls(calls: np.ndarray, haploid: np.ndarray | None = None):
    """``r2_with`` over alt-allele counts (int8, -1 missing; variants x samples), as PLINK 1.9's
    ``--clump`` computes r2: from haplotype frequencies estimated by EM from the unphased
    genotypes (the double heterozygotes' phase unknown), over the samples called at both
    variants. ``haploid`` (variants x samples, bool): samples whose call (0 or 2) is one
    haplotype there (males on non-PAR chrX), as the index variant has it."""
    hap = np.zeros(calls.shape, bool) if haploid is None else np.asarray(haploid, bool)

    def r2_with(i, rows):
        ci, cj = calls[i], calls[rows]
        onehot_i = np.stack([ci == a for a in (0, 1, 2)]).astype(np.float32)          # (3, n)
        both = np.concatenate([onehot_i * ~hap[i], onehot_i * hap[i]]).T                # (n, 6)
        c = np.empty((len(rows), 3, 3))
        h = np.empty((len(rows), 3, 3))
        for b in (0, 1, 2):
            x = (cj == b).astype(np.float32) @ both                                     # (m, 6)
            c[:, :, b], h[:, :, b] = x[:, :3], x[:, 3:]
        n11 = 2 * c[:, 2, 2] + c[:, 2, 1] + c[:, 1, 2] + h[:, 2, 2]
        n10 = 2 * c[:, 2, 0] + c[:, 2, 1] + c[:, 1, 0] + h[:, 2, 0]
        n01 = 2 * c[:, 0, 2] + c[:, 1, 2] + c[:, 0, 1] + h[:, 0, 2]
        n00 = 2 * c[:, 0, 0] + c[:, 0, 1] + c[:, 1, 0] + h[:, 0, 0]
        return _em_r2(n11, n10, n01, n00, c[:, 1, 1])
    return r2_with
