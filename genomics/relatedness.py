"""Relatedness: KING-robust kinship for all pairs, and a maximal unrelated set."""
from __future__ import annotations

import hail as hl

# KING's kinship cut-offs (Manichaikul et al. 2010): > 0.354 duplicate / MZ twin,
# 0.177-0.354 first degree, 0.0884-0.177 second, 0.0442-0.0884 third.
KING_DEGREES = [(0.354, "duplicate"), (0.177, "first"), (0.0884, "second"), (0.0442, "third")]


def king_pairs(mt: hl.MatrixTable, min_kinship: float = 0.0442) -> hl.Table:
    """Pairs (``i`` < ``j``) with KING-robust kinship ``kinship`` >= ``min_kinship`` and their
    ``degree``. ``mt`` should hold good-quality autosomal variants (e.g. the PCA set)."""
    king = hl.king(mt.GT)
    pairs = king.entries()
    # hl.king keys rows by `s_1` and columns by the data's own column key (`s`).
    pairs = pairs.filter((pairs.s_1 < pairs.s) & (pairs.phi >= min_kinship))
    pairs = pairs.key_by()
    pairs = pairs.select(i=pairs.s_1, j=pairs.s, kinship=pairs.phi)
    degree = hl.case()
    for cut, name in KING_DEGREES:
        degree = degree.when(pairs.kinship > cut, name)
    return pairs.annotate(degree=degree.default("unrelated"))


def king_degree(kinship: "pd.Series") -> "pd.Series":
    """KING's degree for each kinship value."""
    import numpy as np
    import pandas as pd
    out = np.full(len(kinship), "unrelated", dtype=object)
    for cut, name in reversed(KING_DEGREES):
        out[kinship.to_numpy() > cut] = name
    return pd.Series(out, index=kinship.index)


def related_to_drop(pairs: hl.Table, max_kinship: float, preferred: set[str]) -> set[str]:
    """Samples to drop so that no pair with kinship > ``max_kinship`` remains (a maximal
    independent set, greedy by degree); ties keep ``preferred`` samples (e.g. phenotyped)."""
    close = pairs.filter(pairs.kinship > max_kinship)
    if close.count() == 0:
        return set()
    pref = hl.literal(preferred)
    close = close.key_by(i=hl.struct(id=close.i, keep=pref.contains(close.i)),
                         j=hl.struct(id=close.j, keep=pref.contains(close.j)))

    def tie_breaker(l, r):
        return hl.if_else(l.keep & ~r.keep, -1, hl.if_else(~l.keep & r.keep, 1, 0))

    drop = hl.maximal_independent_set(close.i, close.j, keep=False, tie_breaker=tie_breaker)
    return set(drop.node.id.collect())
