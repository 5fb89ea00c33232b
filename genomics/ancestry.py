"""Ancestry: principal components of LD-pruned common autosomal variants."""
from __future__ import annotations

import hail as hl


def compute_pcs(mt: hl.MatrixTable, n_pcs: int = 10, min_maf: float = 0.05, ld_r2: float = 0.2,
                ld_window_bp: int = 500_000):
    """Return ``(scores_ht, eigenvalues, n_variants)``.

    ``scores_ht`` is keyed by ``s`` with fields ``PC1`` … ``PC<n_pcs>`` (``hwe_normalized_pca``
    on variants with MAF >= ``min_maf``, pruned to pairwise r2 < ``ld_r2`` within
    ``ld_window_bp``). ``mt`` must carry the row field ``alt_af``.
    """
    mt = mt.filter_rows(mt.locus.in_autosome() & (hl.min(mt.alt_af, 1 - mt.alt_af) >= min_maf))
    pruned = hl.ld_prune(mt.GT, r2=ld_r2, bp_window_size=ld_window_bp)
    mt = mt.filter_rows(hl.is_defined(pruned[mt.row_key]))
    n_variants = mt.count_rows()
    k = min(n_pcs, mt.count_cols() - 1, n_variants - 1)
    eigenvalues, scores, _ = hl.hwe_normalized_pca(mt.GT, k=k, compute_loadings=False)
    scores = scores.select(**{f"PC{i + 1}": scores.scores[i] for i in range(k)})
    return scores, eigenvalues, n_variants
