"""KING-robust kinship for all pairs as matrix products, PLINK 2's --make-king-table
definition (KING's between-family estimator):

    kinship = (N_het,het - 2 N_ibs0) / (2 m) + 1/2 - (N_het,i + N_het,j) / (4 m),
    m = min(N_het,i, N_het,j),

every count over the variants both samples have called."""
from __future__ import annotations

import numpy as np
import pandas as pd


def king_robust(codes: np.ndarray, block: int = 4096) -> np.ndarray:
    """Kinship matrix (samples x samples, float32) from alt-allele counts (-1 = missing)."""
    n, m = codes.shape
    het = (codes == 1).astype(np.float32)
    hom0 = (codes == 0).astype(np.float32)
    hom2 = (codes == 2).astype(np.float32)
    called = (codes >= 0).astype(np.float32)
    hethet = np.zeros((n, n), np.float32)
    ibs0 = np.zeros((n, n), np.float32)
    het_i = np.zeros((n, n), np.float32)
    for a in range(0, m, block):
        sl = slice(a, a + block)
        h, c = het[:, sl], called[:, sl]
        hethet += h @ h.T
        ibs0 += hom0[:, sl] @ hom2[:, sl].T
        het_i += h @ c.T            # het in i, called in j
    ibs0 = ibs0 + ibs0.T   # not +=: ibs0.T is a view of ibs0
    het_j = het_i.T
    m = np.minimum(het_i, het_j)
    with np.errstate(invalid="ignore", divide="ignore"):
        kin = (hethet - 2 * ibs0) / (2 * m) + 0.5 - (het_i + het_j) / (4 * m)
    return np.where(m > 0, kin, np.nan).astype(np.float32)


def kinship_pairs(kin: np.ndarray, samples: list[str], min_kinship: float) -> pd.DataFrame:
    """Pairs (i < j in sample order) with kinship >= ``min_kinship``: columns i, j, kinship."""
    iu, ju = np.triu_indices(len(samples), k=1)
    k = kin[iu, ju]
    keep = k >= min_kinship
    s = np.asarray(samples, dtype=object)
    return pd.DataFrame({"i": s[iu[keep]], "j": s[ju[keep]], "kinship": k[keep].astype(float)})
