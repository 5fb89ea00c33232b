"""LD clumping (as PLINK's --clump): walk variants from the smallest p-value up; each variant
not yet clumped becomes an index variant and clumps every variant within ``window_bp`` whose
squared genotype correlation with it exceeds ``r2``."""
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


def clump(chromosomes: np.ndarray, positions: np.ndarray, p_values: np.ndarray, genotypes: np.ndarray,
          r2: float = 0.1, window_bp: int = 250_000) -> np.ndarray:
    """Boolean mask of index variants. Inputs are aligned per variant; ``genotypes`` holds
    standardised dosages (variants x samples), so r = g_i . g_j / n_samples. Variants with a
    missing p-value are neither index variants nor clumped. Ties in p keep the input order."""
    p_values = np.asarray(p_values, dtype=float)
    positions = np.asarray(positions)
    chromosomes = np.asarray(chromosomes)
    index = np.zeros(len(p_values), dtype=bool)
    n = genotypes.shape[1] if genotypes.ndim == 2 else 0
    for chrom in np.unique(chromosomes):
        rows = np.flatnonzero(chromosomes == chrom)
        rows = rows[np.argsort(positions[rows], kind="stable")]
        pos, p, g = positions[rows], p_values[rows], genotypes[rows]
        removed = np.isnan(p)
        for i in np.argsort(np.where(removed, np.inf, p), kind="stable"):
            if removed[i]:
                continue
            index[rows[i]] = True
            removed[i] = True
            lo = np.searchsorted(pos, pos[i] - window_bp, side="left")
            hi = np.searchsorted(pos, pos[i] + window_bp, side="right")
            cand = lo + np.flatnonzero(~removed[lo:hi])
            if cand.size and n:
                r = g[cand] @ g[i] / n
                removed[cand[r * r > r2]] = True
    return index
